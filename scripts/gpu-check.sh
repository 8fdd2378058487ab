#!/usr/bin/env bash
# Everything worth knowing from a GPU in under 9 minutes, written into OUT_DIR (at most 8 files;
# read SUMMARY.md first). Stops at once, with the reason and exit code 2, without a usable GPU.
#
#   scripts/gpu-check.sh OUT_DIR                      build from source for this GPU, then check
#   scripts/gpu-check.sh --bundle DIR|DIR.tar.gz OUT_DIR  use a bundle made by --prepare-bundle
#   scripts/gpu-check.sh --build-dir DIR OUT_DIR      use an existing CUDA build (same machine)
#   scripts/gpu-check.sh --prepare-bundle DIR [ARCHS] make a bundle here (no GPU needed; ARCHS
#                                                     default "75;90": T4 and H100/H200)
# GBAD_BUNDLE / GBAD_BUILD_DIR in the environment do the same as the options.
#
# Stages, each with its own time limit (seconds, on a 16-core machine):
#   1. gpu.txt      nvidia-smi facts: name, driver, compute mode, compute capability, memory
#   2. build.log    configure + build for this GPU only (CMAKE_CUDA_ARCHITECTURES from
#                   nvidia-smi's compute_cap; cuDNN/cuBLAS from the system or from the pip
#                   packages nvidia-cudnn-* / nvidia-cublas-*)                           (180)
#   3. tests.log    every GPU test (ctest -R 'Cuda|Gpu' -V) with GBAD_REQUIRE_GPU=1 (a skip
#                   fails) and GBAD_CUDA_SYNC=1 (faults reported at the call); the half NHWC
#                   path's cuDNN BatchNorm forms and fallbacks copied into SUMMARY.md      (120)
#   4. sanitizer.log  compute-sanitizer memcheck and racecheck over the small kernel tests (60)
#   5. bench.json   gbad-bench, the CUDA cases (console output in bench.txt)              (20)
#      bench.txt    gbad-bench's CUDA model cases again at --precision auto (bf16 on sm_80+,
#                   fp16 on sm_7x)                                                        (15)
#      bench.txt    the half path: conv shapes (n:32) and resnet34/50/101-fpn steps at
#                   --precision fp16, and bf16 on sm_80+                               (2 x 20)
#      bench.txt    resnet34-fpn at the highest of those with GBAD_HALF_LAYOUT=boundary: the
#                   layout A/B                                                             (10)
#   6. bench.txt    tools/bench_pytorch.py --device cuda, when PyTorch with CUDA is present:
#                   PyTorch's fp32/tf32/autocast fp16/bf16 (channels_last, cudnn.benchmark)
#                   against gbad-bench --precision auto, one round                          (35)
#   7. demo.log     DEMO_FAST=1 DEMO_DEVICE=cuda scripts/demo.sh (source builds only)       (40)
#  7b. bench.txt    gbad-bench fastpath/: CUDA graph vs eager step, async vs sync input
#                   copies (issue 12), from what the stages above left of the budget        (15)
#   8. SUMMARY.md   one line per stage: ok / FAILED / skipped, and why
# The limits add up to 510 s (GBAD_GPU_CHECK_BUDGET), so the whole check stays under 9 minutes.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

die() {
  echo "gpu-check: error: $*" >&2
  exit 2
}

# ---- --prepare-bundle: build here for the GPU machine -----------------------------------------
# The bundle holds the built binaries and test programs (no object files) and the shared
# libraries they need that are not CUDA's (OpenBLAS, libsvm, OpenMP, ...), in DIR/lib. CUDA,
# cuBLAS and cuDNN come from the GPU machine. Tests refer to the source and build folders by
# absolute path: bundle.env records them, and the check links them back on the GPU machine.
if [ "${1:-}" = "--prepare-bundle" ]; then
  dir=${2:?usage: gpu-check.sh --prepare-bundle DIR [ARCHS]}
  archs=${3:-75;90}
  mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
  build="$dir/build"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_CUDA_ARCHITECTURES=$archs" || die "configure failed"
  cmake --build "$build" -j "$(nproc)" || die "build failed"
  mkdir -p "$dir/lib"
  for exe in "$build"/bin/* "$build"/tests/test_*; do
    ldd "$exe" 2>/dev/null | awk '/=> \// {print $3}'
  done | sort -u | grep -Ev '/(libc|libm|libdl|librt|libpthread|ld-linux|libstdc\+\+|libgcc_s)[.-]' |
    grep -Ev 'libcublas|libcudnn|libcuda[.]so|libnv' | while read -r lib; do cp -L "$lib" "$dir/lib/"; done
  printf 'GBAD_BUNDLE_SRC=%s\nGBAD_BUNDLE_BUILD=%s\nGBAD_BUNDLE_ARCHS="%s"\n' "$root" "$build" \
    "$archs" >"$dir/bundle.env"
  # What to carry: everything except object files and static libraries, as one tarball.
  tar -C "$dir" -chzf "$dir.tar.gz" --exclude='*.o' --exclude='*.a' --exclude=CMakeFiles \
    --exclude=Testing build lib bundle.env || die "cannot write $dir.tar.gz"
  echo "gpu-check: bundle in $dir and $dir.tar.gz ($(du -h "$dir.tar.gz" | cut -f1));" \
    "on the GPU machine: scripts/gpu-check.sh --bundle $(basename "$dir").tar.gz OUT_DIR"
  exit 0
fi

bundle=${GBAD_BUNDLE:-}
build=${GBAD_BUILD_DIR:-}
while [ $# -gt 1 ]; do
  case "$1" in
    --bundle) bundle=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    *) die "unknown option $1 (see the header of $0)" ;;
  esac
done
out=${1:?usage: gpu-check.sh [--bundle DIR | --build-dir DIR] OUT_DIR}

# ---- 1. is there a GPU at all? (before anything else) ----------------------------------------
command -v nvidia-smi >/dev/null 2>&1 ||
  die "no GPU: nvidia-smi is not installed (no NVIDIA driver on this machine)"
smi=$(nvidia-smi --query-gpu=name,driver_version,compute_mode,compute_cap,memory.total \
  --format=csv,noheader 2>&1) || die "no GPU: nvidia-smi failed: $smi"
[ -n "$smi" ] || die "no GPU: nvidia-smi lists no device"

mkdir -p "$out" && out=$(cd "$out" && pwd)
summary="$out/SUMMARY.md"
start=$(date +%s)
{
  echo "# gbad GPU check, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "Read this first; the logs beside it hold the details."
  echo
  echo "| stage | result | seconds | file |"
  echo "|---|---|---|---|"
} >"$summary"
note() { echo "| $1 | $2 | $3 | $4 |" >>"$summary"; }
# stage NAME LIMIT FILE COMMAND...: runs COMMAND with a time limit, output into FILE. The
# limits add up to the budget, and no stage may run past the overall deadline either.
deadline=$((start + ${GBAD_GPU_CHECK_BUDGET:-510}))
stage() {
  local name=$1 limit=$2 file=$3
  shift 3
  local left=$((deadline - $(date +%s)))
  [ $left -lt $limit ] && limit=$left
  if [ $limit -lt 5 ]; then
    note "$name" "FAILED: skipped, the time budget is spent" 0 "$file"
    return 1
  fi
  local t0 rc
  t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" >>"$out/$file" 2>&1
  rc=$?
  local dt=$(($(date +%s) - t0)) result=ok
  [ $rc -eq 124 ] && result="FAILED: timed out after ${limit} s"
  [ $rc -ne 0 ] && [ $rc -ne 124 ] && result="FAILED (exit $rc)"
  note "$name" "$result" "$dt" "$file"
  return $rc
}

{
  echo "nvidia-smi --query-gpu=name,driver_version,compute_mode,compute_cap,memory.total"
  echo "$smi"
  echo
  nvidia-smi 2>&1
} >"$out/gpu.txt"
cap=$(echo "$smi" | head -1 | awk -F', ' '{print $4}' | tr -d '.')
name=$(echo "$smi" | head -1 | awk -F', ' '{print $1}')
mode=$(echo "$smi" | head -1 | awk -F', ' '{print $3}')
note "GPU" "$name, driver $(echo "$smi" | head -1 | awk -F', ' '{print $2}'), compute mode $mode, sm_$cap" 0 gpu.txt
[ "$mode" = "Default" ] ||
  echo "note: compute mode $mode: GPU tests hold one ctest RESOURCE_LOCK, so they still run one at a time" >>"$out/gpu.txt"

# cuDNN / cuBLAS from pip packages (nvidia-cudnn-cu*, nvidia-cublas-cu*) when the system has none.
pip_lib_dirs=""
for pkg in cudnn cublas cuda_runtime cuda_nvrtc; do
  d=$(python3 -c "import nvidia.$pkg, os; print(os.path.dirname(nvidia.$pkg.__file__))" 2>/dev/null) &&
    pip_lib_dirs="$pip_lib_dirs:$d/lib"
done
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}$pip_lib_dirs"

# ---- 2. build (or take a prebuilt one) --------------------------------------------------------
source_build=0
if [ -n "$bundle" ] && [ -f "$bundle" ]; then  # the tarball: unpack it beside the output
  mkdir -p "$out/../gbad-bundle.$$" && tar -C "$out/../gbad-bundle.$$" -xzf "$bundle" ||
    die "cannot unpack $bundle"
  bundle="$out/../gbad-bundle.$$"
fi
if [ -n "$bundle" ]; then
  [ -f "$bundle/bundle.env" ] || die "$bundle is not a bundle (no bundle.env; see --prepare-bundle)"
  bundle=$(cd "$bundle" && pwd)
  # shellcheck disable=SC1091
  . "$bundle/bundle.env"
  # The tests know the source and build folders by the paths they had when built: link them.
  for pair in "$GBAD_BUNDLE_SRC:$root" "$GBAD_BUNDLE_BUILD:$bundle/build"; do
    want=${pair%%:*} have=${pair#*:}
    if [ "$(cd "$want" 2>/dev/null && pwd -P)" != "$(cd "$have" && pwd -P)" ]; then
      mkdir -p "$(dirname "$want")" && ln -sfn "$have" "$want" ||
        die "cannot link $want -> $have (the bundle's tests need that path)"
    fi
  done
  build=$GBAD_BUNDLE_BUILD
  export LD_LIBRARY_PATH="$bundle/lib:$LD_LIBRARY_PATH"
  case ";$GBAD_BUNDLE_ARCHS;" in
    *";$cap;"*) note "build" "prebuilt bundle (archs $GBAD_BUNDLE_ARCHS)" 0 "-" ;;
    *) note "build" "FAILED: the bundle holds code for $GBAD_BUNDLE_ARCHS, not sm_$cap" 0 "-" ;;
  esac
elif [ -n "$build" ]; then
  build=$(cd "$build" && pwd)
  note "build" "prebuilt ($build)" 0 "-"
else
  build="$root/build"
  cudnn_opt=()
  if ! ls /usr/include/cudnn.h /usr/local/cuda/include/cudnn.h >/dev/null 2>&1; then
    d=$(python3 -c "import nvidia.cudnn, os; print(os.path.dirname(nvidia.cudnn.__file__))" 2>/dev/null) &&
      cudnn_opt=("-DCUDNN_ROOT=$d")
  fi
  source_build=1
  stage "build (sm_$cap)" 180 build.log bash -c "cmake -S '$root' -B '$build' -G Ninja \
      -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=$cap ${cudnn_opt[*]} &&
      cmake --build '$build' -j $(nproc)" || {
    echo >>"$summary"
    echo "The build failed: see build.log (a machine without GoogleTest, Google Benchmark, libsvm," \
      "stb or OpenBLAS needs a bundle: scripts/gpu-check.sh --prepare-bundle DIR on a machine" \
      "that has them)." >>"$summary"
    exit 1
  }
fi

# Every shared library must resolve (a CUDA 12 pip cuDNN under a CUDA 13 build does not).
missing=$(for exe in "$build"/bin/gbad-train-cnn "$build"/tests/test_cuda_kernels; do
  ldd "$exe" 2>/dev/null | awk '/not found/ {print $1}'
done | sort -u | tr '\n' ' ')
if [ -n "$missing" ]; then
  note "libraries" "FAILED: not found: $missing (LD_LIBRARY_PATH=$LD_LIBRARY_PATH)" 0 "-"
  exit 1
fi

# ---- 3. every GPU test, none may skip ---------------------------------------------------------
(
  cd "$build" || exit 1
  stage "GPU tests (GBAD_REQUIRE_GPU=1, GBAD_CUDA_SYNC=1)" 120 tests.log \
    env GBAD_REQUIRE_GPU=1 GBAD_CUDA_SYNC=1 ctest -R 'Cuda|Gpu' -j "$(nproc)" -V \
    --output-on-failure --timeout 110
)
# What the half NHWC path ran natively (CudaVsCpu.HalfNhwcOpsMatchTheTwin's [ info ] lines: the
# cuDNN BatchNorm form per precision, native ops against twin fallbacks) and any fallback said.
grep -E "\[ info \] (fp16|bf16) (BatchNorm form|on the GPU)|warning: .*cuDNN has no NHWC form" \
  "$out/tests.log" | sed 's/^[0-9]*: //; s/^/    /' | sort -u | head -20 >>"$summary"
# The count and the names of the tests that did not pass, under the table; why no GPU, if so.
grep -m1 -o "GBAD_REQUIRE_GPU=1 but no GPU is usable: .*" "$out/tests.log" | sed 's/^/    /' \
  >>"$summary"
grep -E "tests passed|\((Failed|Timeout|Skipped|Not Run)\)|Subprocess aborted" "$out/tests.log" |
  head -30 | sed 's/^[[:space:]]*/    /' >>"$summary"

# ---- 4. compute-sanitizer over the small kernel tests ----------------------------------------
san=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer \
  /usr/local/cuda/compute-sanitizer/compute-sanitizer 2>/dev/null | head -1)
kernel_filter='CudaVsCpu.*:-CudaVsCpu.Large*:CudaVsCpu.Classifier*:CudaVsCpu.BiGan*'
if [ -n "$san" ]; then
  # Our own kernels live in the elementwise/loss/optim/pooling tests; cuDNN/cuBLAS in the conv
  # ones. racecheck only where we use shared memory (the deterministic reductions).
  for run in memcheck:test_kernels_elementwise memcheck:test_kernels_conv \
    racecheck:test_kernels_elementwise; do
    tool=${run%%:*} exe=${run#*:}
    echo "== $tool $exe" >>"$out/sanitizer.log"
    stage "compute-sanitizer $tool $exe" 20 sanitizer.log env GBAD_REQUIRE_GPU=1 \
      "$san" --tool "$tool" --error-exitcode 9 "$build/tests/$exe" --gtest_filter="$kernel_filter"
  done
  echo "    (racecheck checks shared memory only; cuDNN/cuBLAS kernels are checked as black boxes)" \
    >>"$summary"
else
  note "compute-sanitizer" "skipped: not installed here (it ships with the full CUDA toolkit, not with the pip packages)" 0 "-"
fi

# ---- 5. gbad-bench CUDA cases -----------------------------------------------------------------
if [ -x "$build/bin/gbad-bench" ]; then
  stage "gbad-bench (CUDA cases)" 20 bench.txt "$build/bin/gbad-bench" --benchmark_filter=/cuda/ \
    --benchmark_min_time=0.2 --benchmark_out="$out/bench.json" --benchmark_out_format=json
  if grep -q "Failed to match any benchmarks" "$out/bench.txt"; then
    note "gbad-bench" "FAILED: no CUDA cases registered (gbad-bench found no usable GPU)" 0 bench.txt
  fi
  echo "== gbad-bench --precision auto (CUDA model cases)" >>"$out/bench.txt"
  stage "gbad-bench (CUDA model cases, --precision auto)" 15 bench.txt "$build/bin/gbad-bench" \
    --precision auto --benchmark_filter='^model/.*/cuda/(demo|resnet34-fpn)' \
    --benchmark_min_time=0.2
  # The half path per precision (docs/mixed-precision.md): the ResNet-34 convolution shapes at
  # n:32 (each call with its layout conversions) and the resnet34/50/101-fpn training and
  # inference steps at 224. fp16 on every tensor-core GPU, bf16 on compute capability 8.0+.
  halfs=(fp16)
  [ "${cap:-0}" -ge 80 ] 2>/dev/null && halfs+=(bf16)
  for prec in "${halfs[@]}"; do
    echo "== gbad-bench --precision $prec (conv shapes n:32, resnet34/50/101-fpn 224px n:32)" \
      >>"$out/bench.txt"
    stage "gbad-bench (--precision $prec: conv shapes, ResNet-FPN steps)" 20 bench.txt \
      "$build/bin/gbad-bench" --precision "$prec" --benchmark_min_time=0.05 \
      --benchmark_filter="^(conv2d_.*/cuda/.*/n:32/$prec|model/.*/cuda/resnet(34|50|101)-fpn/224px/n:32/$prec)\$"
  done
  # The half layout A/B (docs/mixed-precision.md): the ResNet-34-FPN step with the backbone's
  # activations in fp32 NCHW converted at each convolution (GBAD_HALF_LAYOUT=boundary), against
  # the default half NHWC of the runs above.
  top=${halfs[${#halfs[@]}-1]}
  echo "== gbad-bench --precision $top, GBAD_HALF_LAYOUT=boundary (layout A/B)" >>"$out/bench.txt"
  stage "gbad-bench (--precision $top, boundary layout A/B)" 10 bench.txt \
    env GBAD_HALF_LAYOUT=boundary "$build/bin/gbad-bench" --precision "$top" \
    --benchmark_min_time=0.05 --benchmark_filter="^model/.*/cuda/resnet34-fpn/224px/n:32/$top\$"
else
  note "gbad-bench" "skipped: not built (Google Benchmark missing)" 0 "-"
fi

# ---- 6. PyTorch on the same GPU ---------------------------------------------------------------
if python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "== tools/bench_pytorch.py --device cuda" >>"$out/bench.txt"
  gbad_bench=()
  [ -x "$build/bin/gbad-bench" ] && gbad_bench=(--gbad-bench "$build/bin/gbad-bench")
  stage "PyTorch (tools/bench_pytorch.py --device cuda)" 35 bench.txt python3 \
    "$root/tools/bench_pytorch.py" --device cuda --cases demo/32,resnet34-fpn/224/32 \
    --precision auto --rounds 1 --min-time 0.5 --warmup 3 "${gbad_bench[@]}"
else
  note "PyTorch" "skipped: no PyTorch with CUDA on this machine" 0 "-"
fi

# ---- 7. the demo on the GPU -------------------------------------------------------------------
if [ $source_build = 1 ]; then
  stage "demo (DEMO_FAST=1, --device cuda)" 40 demo.log env DEMO_FAST=1 DEMO_DEVICE=cuda \
    "$root/scripts/demo.sh" "/tmp/gbad-gpu-check-demo-$$"
else
  note "demo" "skipped: scripts/demo.sh builds from source (deps.sh, build.sh); the CudaPipeline.* tests of stage 3 run every phase on the GPU" 0 "-"
fi

# ---- 7b. the fast training path: graph vs eager step, async vs sync input (issue 12) ---------
# From what the stages above left of the budget (they rarely use their whole limits).
if [ -x "$build/bin/gbad-bench" ]; then
  echo "== gbad-bench fastpath/ (CUDA graphs, asynchronous input)" >>"$out/bench.txt"
  stage "gbad-bench fastpath (graph vs eager, async vs sync input)" 15 bench.txt \
    "$build/bin/gbad-bench" --benchmark_filter='^fastpath/' --benchmark_min_time=0.1
fi

echo >>"$summary"
echo "Total: $(($(date +%s) - start)) s. Files: $(cd "$out" && ls | tr '\n' ' ')" >>"$summary"
cat "$summary"
grep -q "FAILED" "$summary" && exit 1
exit 0
