#!/usr/bin/env python3
"""Per-op breakdown of one gbad-bench model step from a gperftools CPU profile.

Runs gbad-bench under gperftools' sampling profiler with one OpenMP and one OpenBLAS thread
(every sample attributed, CPU time robust to the machine's load), groups the self samples of
`google-pprof --text` by what the symbols do, and scales them to milliseconds per step with the
benchmark's CPU time per iteration. Needs Debian's google-perftools (scripts/deps.sh --profile).

    python3 tools/profile_step.py build-cpu/bin/gbad-bench 'model/train/cpu/demo.*n:32/'

The profile also holds the model's construction and warm-up step: with few timed iterations
(resnet34-fpn at 224 px) the "setup" row is that share, not part of a step.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

GROUPS = [
    ("Winograd convolution: filter/input/output transforms (conv2d_winograd*)",
     r"wino_\w+::.*_transform"),
    ("Winograd convolution: the 36 products per tile block (conv2d_winograd*)", r"wino_"),
    ("direct convolution: channels-last packing (conv2d_direct.cpp)", r"direct_\w+::::pack_|::pack_input|::pack_padded|::pack_dy|::pack_filters?"),
    ("direct convolution: register-tile kernels (conv2d_direct*)", r"direct_"),
    ("GEMM (OpenBLAS)", r"sgemm|cblas|blas_"),
    ("im2col / col2im / edge clearing (+ memset, memcpy)",
     r"im2col|col2im|clear_outside|memset|memcpy|shift_copy"),
    ("convolution loops and epilogue (rest of conv2d.cpp)", r"conv2d"),
    ("BatchNorm (+ fused ReLU / residual add)", r"batchnorm|plane_sums|bn_(avx512|avx2|portable)::"),
    ("max-pool forward", r"maxpool2d_forward"),
    ("max-pool backward", r"maxpool2d_backward"),
    ("add (residual; FPN before the fusion)", r"gbad::cpu::add|add_inplace|axpby"),
    ("nearest upsample forward (+ FPN add once fused)", r"upsample_nearest(2x)?_forward|upsample_fwd"),
    ("nearest upsample backward (+ FPN add once fused)", r"upsample_nearest(2x)?_backward|upsample_bwd"),
    ("global average pool forward", r"global_avgpool_forward"),
    ("global average pool backward", r"global_avgpool_backward"),
    ("ReLU (unfused)", r"relu"),
    ("losses / linear head", r"bce|loss|linear|sigmoid"),
    ("SGD / Adam step", r"sgd_step|adam_step"),
    ("setup: parameter init, random inputs", r"init_values|Rng::|logf|sinf|cosf|random_tensor"),
    ("OpenMP runtime", r"^(GOMP_|omp_|gomp_)"),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench", help="path to gbad-bench")
    ap.add_argument("filter", help="--benchmark_filter selecting ONE model case")
    ap.add_argument("--min-time", default="3", help="--benchmark_min_time (seconds)")
    ap.add_argument("--profiler", default="/usr/lib/x86_64-linux-gnu/libprofiler.so")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        prof = os.path.join(tmp, "step.prof")
        env = dict(os.environ, GBAD_NO_REEXEC="1", OMP_WAIT_POLICY="PASSIVE",
                   OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", CPUPROFILE=prof,
                   CPUPROFILE_FREQUENCY="1000", LD_PRELOAD=args.profiler)
        env.setdefault("OPENBLAS_CORETYPE", "SkylakeX")
        out = subprocess.run([args.bench, "--benchmark_filter=" + args.filter,
                              "--benchmark_min_time=" + args.min_time],
                             env=env, capture_output=True, text=True, check=True).stdout
        rows = re.findall(r"^(model/\S+)\s+[\d.]+ ms\s+([\d.]+) ms", out, re.M)
        if len(rows) != 1:
            sys.exit("error: the filter must select exactly one model case, got %d" % len(rows))
        name, step_ms = rows[0][0], float(rows[0][1])
        text = subprocess.run(["google-pprof", "--text", args.bench, prof],
                              capture_output=True, text=True, check=True).stdout
    acc = {g: 0 for g, _ in GROUPS}
    acc["other"] = 0
    total = 0
    for line in text.splitlines():
        f = line.split()
        if len(f) < 6 or not f[0].isdigit():
            continue
        n, sym = int(f[0]), " ".join(f[5:])
        total += n
        for g, rx in GROUPS:
            if re.search(rx, sym):
                acc[g] += n
                break
        else:
            acc["other"] += n
    print("%s: %.1f ms CPU per step (one thread), %d samples" % (name, step_ms, total))
    print("| part of the step | ms per step | share |")
    print("|---|---|---|")
    for g, n in acc.items():
        if n:
            print("| %s | %.1f | %.1f%% |" % (g, n * step_ms / total, 100.0 * n / total))


if __name__ == "__main__":
    main()
