#!/usr/bin/env python3
"""PyTorch side of the gbad-bench comparison: the same classifiers, batch, image size and
precision (fp32), timed the same way, printed in the same units (img/s).

Models (built here, matching models/ of gbad):
  * backbone: tools/make_fixtures.py's torchvision-layout ResNet with a base-width setting;
  * fpn head: FPN laterals (1x1 conv, bias), nearest upsampling to the lateral's size + add,
    3x3 output convs (bias) -> P2..P5; h_i = ReLU(FC_i(GAP(P_i))), f = mean_i h_i,
    logits = FC5(f), 5 outputs;
  * plain head: logits = fc(GAP(C5)).
Steps:
  * train: forward (train mode), BCEWithLogits (mean), backward, SGD(lr 0.01, momentum 0.9,
    weight decay 1e-4) step, zero_grad;
  * infer: eval-mode forward under torch.no_grad().

InceptionV3 and DenseNet-121 are torchvision's own classes (InceptionV3 at a reduced width
through tools/make_backbone_fixtures.py's channel-scaling hook; DenseNet with growth width/2 and
width initial features); their -fpn variants take the same four levels as gbad (InceptionV3:
Conv2d_4a, Mixed_5d, Mixed_6e, Mixed_7c; DenseNet: ReLU(norm) of blocks 1-4). InceptionV3
trains its auxiliary classifier (loss weight 0.4) at 299 and above, as gbad; below, it is off.

Cases (--cases, comma separated; default "cpu"):
  demo/B    resnet18-fpn, width 16, FPN 64, head 64, 96x96, batch B (the demo model)
  ARCH/S/B  full-width ARCH (resnet{18,34,50,101}-{fpn,plain}, inceptionv3-{fpn,plain},
            densenet121-{fpn,plain}) at SxS, batch B
  ARCH:wW/S/B  the same at width W (FPN 64, head 64), labelled ARCH-wW
  cpu       = demo/32,demo/8,resnet34-fpn/224/8, inceptionv3-{fpn,plain}:w16/139/8,
              densenet121-{fpn,plain}:w16/96/8           (this machine's comparison)
  gpu       = demo/32,resnet34-fpn/224/32,resnet50-fpn/224/32,resnet101-fpn/224/32,
              inceptionv3-{fpn,plain}/299/32, densenet121-{fpn,plain}/224/32

PyTorch in its best configuration (CPU): every round runs PyTorch once per configuration, each
in a fresh process (libgomp reads OMP_WAIT_POLICY only when it loads):
  omp default | passive   OMP_WAIT_POLICY unset (libgomp spins a while, then sleeps) or PASSIVE
  nchw | channels_last    memory format of the model and the input
and reports, per case and mode, the best configuration's best round (and which it was). A
quiet machine favours default waiting, a busy one passive waiting.

With --gbad-bench PATH it also runs gbad-bench on the same cases, as its binaries run (they set
OpenMP's waiting, a short spin or PASSIVE by the load, and OPENBLAS_CORETYPE themselves), once per round,
interleaved with the PyTorch processes, so that both sides see the same load; it prints the
gbad/PyTorch ratio. PATH may start with VAR=VALUE words, set for that run only (e.g.
--gbad-bench "OMP_WAIT_POLICY=PASSIVE build/bin/gbad-bench" --gbad-label gbad-passive).

Timing: --warmup untimed steps, then one round of at least --min-time seconds per process and
round; --rounds rounds. Reported: the best round (img/s) and the spread (worst round). The load
average is printed with each round. On CUDA every step ends with torch.cuda.synchronize(), and
PyTorch runs (in this process, cudnn.benchmark on) in what a PyTorch user would train with:
  cuda/fp32/nchw, cuda/fp32/channels_last, cuda/tf32/channels_last (allow_tf32 on),
  cuda/fp16/channels_last (autocast fp16 + GradScaler), cuda/bf16/channels_last (autocast bf16)
(--configs picks some); the best is the baseline. gbad-bench runs at --precision (passed on;
its case names then end in /PRECISION), so compare like with like: e.g. --precision bf16 on an
A100/H100 or fp16 on a T4 against PyTorch's autocast.

Examples:
  python tools/bench_pytorch.py --threads 2 --gbad-bench build/bin/gbad-bench
  python tools/bench_pytorch.py --cases demo/32 --configs passive/nchw,default/nchw
  python tools/bench_pytorch.py --device cuda --cases gpu --json torch_gpu.json
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import time

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import ResNet  # noqa: E402

NUM_CLASSES = 5


class FpnClassifier(nn.Module):
    """ResNet C2..C5 -> FPN P2..P5 -> GBAD head (models/classifier.h)."""

    def __init__(self, depth, width, fpn_channels, head_dim, num_classes=NUM_CLASSES):
        super().__init__()
        self.backbone = ResNet(depth, width, num_classes)
        self.backbone.fc = None  # unused: the head below replaces it
        expansion = 4 if depth >= 50 else 1
        cins = [width * expansion << s for s in range(4)]
        self.inner = nn.ModuleList(nn.Conv2d(c, fpn_channels, 1) for c in cins)
        self.layer = nn.ModuleList(nn.Conv2d(fpn_channels, fpn_channels, 3, padding=1)
                                   for _ in cins)
        self.fc = nn.ModuleList(nn.Linear(fpn_channels, head_dim) for _ in cins)
        self.fc5 = nn.Linear(head_dim, num_classes)

    def forward(self, x):
        b = self.backbone
        x = b.maxpool(F.relu(b.bn1(b.conv1(x))))
        c2 = b.layer1(x)
        c3 = b.layer2(c2)
        c4 = b.layer3(c3)
        c5 = b.layer4(c4)
        cs = [c2, c3, c4, c5]
        last = self.inner[3](c5)
        ps = [self.layer[3](last)]
        for i in (2, 1, 0):
            lat = self.inner[i](cs[i])
            last = lat + F.interpolate(last, size=lat.shape[-2:], mode="nearest")
            ps.insert(0, self.layer[i](last))
        hs = [F.relu(fc(torch.flatten(F.adaptive_avg_pool2d(p, 1), 1)))
              for fc, p in zip(self.fc, ps)]
        f = torch.stack(hs).mean(0)
        return self.fc5(f)


class LevelsFpnClassifier(nn.Module):
    """InceptionV3 / DenseNet C2..C5 (gbad's levels) -> the same FPN + GBAD head."""

    def __init__(self, family, width, fpn_channels, head_dim, num_classes=NUM_CLASSES):
        super().__init__()
        self.family = family
        self.net = backbone_model(family, width)
        if family == "inceptionv3":
            self.net.AuxLogits = None  # the FPN variants here are timed without it
            c = lambda x: max(1, x * width // 64)  # noqa: E731
            cins = [c(192), c(288), c(768), c(2048)]
        else:
            g, c0, cins = width // 2, width, []
            for b, n in enumerate((6, 12, 24, 16)):
                c0 += n * g
                cins.append(c0)
                if b < 3:
                    c0 //= 2
        self.inner = nn.ModuleList(nn.Conv2d(c, fpn_channels, 1) for c in cins)
        self.layer = nn.ModuleList(nn.Conv2d(fpn_channels, fpn_channels, 3, padding=1)
                                   for _ in cins)
        self.fc = nn.ModuleList(nn.Linear(fpn_channels, head_dim) for _ in cins)
        self.fc5 = nn.Linear(head_dim, num_classes)

    def levels(self, x):
        n = self.net
        if self.family == "inceptionv3":
            x = n.maxpool1(n.Conv2d_2b_3x3(n.Conv2d_2a_3x3(n.Conv2d_1a_3x3(x))))
            c2 = n.Conv2d_4a_3x3(n.Conv2d_3b_1x1(x))
            c3 = n.Mixed_5d(n.Mixed_5c(n.Mixed_5b(n.maxpool2(c2))))
            c4 = n.Mixed_6e(n.Mixed_6d(n.Mixed_6c(n.Mixed_6b(n.Mixed_6a(c3)))))
            c5 = n.Mixed_7c(n.Mixed_7b(n.Mixed_7a(c4)))
            return [c2, c3, c4, c5]
        f = n.features
        x = f.pool0(f.relu0(f.norm0(f.conv0(x))))
        out = []
        for b in range(1, 5):
            x = getattr(f, f"denseblock{b}")(x)
            if b < 4:
                t = getattr(f, f"transition{b}")
                y = t.relu(t.norm(x))
                out.append(y)
                x = t.pool(t.conv(y))
            else:
                out.append(F.relu(f.norm5(x)))
        return out

    def forward(self, x):
        cs = self.levels(x)
        last = self.inner[3](cs[3])
        ps = [self.layer[3](last)]
        for i in (2, 1, 0):
            lat = self.inner[i](cs[i])
            last = lat + F.interpolate(last, size=lat.shape[-2:], mode="nearest")
            ps.insert(0, self.layer[i](last))
        hs = [F.relu(fc(torch.flatten(F.adaptive_avg_pool2d(p, 1), 1)))
              for fc, p in zip(self.fc, ps)]
        return self.fc5(torch.stack(hs).mean(0))


def backbone_model(family, width, num_classes=NUM_CLASSES):
    from torchvision.models import densenet
    if family == "inceptionv3":
        from make_backbone_fixtures import scaled_inception
        m = scaled_inception(width, num_classes, False)
        m.dropout = nn.Dropout(0.5)  # torchvision's default
        return m
    return densenet.DenseNet(growth_rate=width // 2, block_config=(6, 12, 24, 16),
                             num_init_features=width, bn_size=4, num_classes=num_classes)


def build_model(arch, width, fpn_channels, head_dim, size=224):
    name, head = arch.split("-")
    if name in ("inceptionv3", "densenet121"):
        if head == "fpn":
            return LevelsFpnClassifier(name, width, fpn_channels, head_dim)
        m = backbone_model(name, width)
        if name == "inceptionv3" and size < 299:
            m.AuxLogits = None  # needs 299 (gbad turns it off below too)
        return m
    depth = int(name.replace("resnet", ""))
    if head == "fpn":
        return FpnClassifier(depth, width, fpn_channels, head_dim)
    if head == "plain":
        return ResNet(depth, width, NUM_CLASSES)
    raise SystemExit(f"unknown architecture '{arch}'")


def parse_cases(spec):
    out = []
    for item in spec.split(","):
        item = item.strip()
        if item == "cpu":
            out += parse_cases("demo/32,demo/8,resnet34-fpn/224/8,inceptionv3-fpn:w16/139/8,"
                               "inceptionv3-plain:w16/139/8,densenet121-fpn:w16/96/8,"
                               "densenet121-plain:w16/96/8")
        elif item == "gpu":
            out += parse_cases("demo/32,resnet34-fpn/224/32,resnet50-fpn/224/32,"
                               "resnet101-fpn/224/32,inceptionv3-fpn/299/32,"
                               "inceptionv3-plain/299/32,densenet121-fpn/224/32,"
                               "densenet121-plain/224/32")
        elif item.startswith("demo/"):
            out.append(dict(spec=item, label="demo-resnet18-fpn-w16", arch="resnet18-fpn",
                            width=16, fpn=64, head=64, size=96, batch=int(item.split("/")[1])))
        elif ":w" in item:
            arch_w, size, batch = item.split("/")
            arch, w = arch_w.split(":w")
            out.append(dict(spec=item, label=f"{arch}-w{w}", arch=arch, width=int(w), fpn=64,
                            head=64, size=int(size), batch=int(batch)))
        elif item:
            arch, size, batch = item.split("/")
            out.append(dict(spec=item, label=arch, arch=arch, width=64, fpn=256, head=256,
                            size=int(size), batch=int(batch)))
    return out


CONFIGS = ["default/nchw", "default/channels_last", "passive/nchw", "passive/channels_last"]
CUDA_CONFIGS = ["cuda/fp32/nchw", "cuda/fp32/channels_last", "cuda/tf32/channels_last",
                "cuda/fp16/channels_last", "cuda/bf16/channels_last"]
NAME_SUFFIX = ""  # "/PRECISION" when gbad-bench runs at --precision other than fp32


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_round(step, device, warmup, min_time):
    """Seconds per step over one round of >= min_time seconds, after `warmup` steps."""
    for _ in range(warmup):
        step()
    sync(device)
    n = 0
    t0 = time.perf_counter()
    while True:
        step()
        n += 1
        sync(device)
        dt = time.perf_counter() - t0
        if dt >= min_time:
            return dt / n


def bench_case(c, device, args, channels_last=False, amp=None):
    """img/s of one round per mode: {"train": x, "infer": y}. amp: None (fp32), "tf32",
    "fp16" (autocast + GradScaler) or "bf16" (autocast), CUDA only."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = amp == "tf32"
        torch.backends.cudnn.allow_tf32 = amp == "tf32"
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(amp)
    scaler = torch.amp.GradScaler("cuda") if amp == "fp16" else None
    torch.manual_seed(0)
    model = build_model(c["arch"], c["width"], c["fpn"], c["head"], c["size"]).to(device)
    x = torch.randn(c["batch"], 3, c["size"], c["size"], device=device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    t = (torch.rand(c["batch"], NUM_CLASSES, device=device) < 0.5).float()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    loss_fn = nn.BCEWithLogitsLoss()

    def autocast():
        return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)

    def train_step():
        opt.zero_grad()
        with autocast():
            out = model(x)
            if isinstance(out, tuple):  # InceptionV3 (train mode): logits and auxiliary logits
                loss = loss_fn(out.logits, t)
                if out.aux_logits is not None:
                    loss = loss + 0.4 * loss_fn(out.aux_logits, t)
            else:
                loss = loss_fn(out, t)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()

    def infer():
        with torch.no_grad(), autocast():
            model(x)

    res = {}
    model.train()
    res["train"] = time_round(train_step, device, args.warmup, args.min_time)
    model.eval()
    res["infer"] = time_round(infer, device, args.warmup, args.min_time)
    return {mode: c["batch"] / s for mode, s in res.items()}


def gbad_name(c, mode, dev):
    return f"model/{mode}/{dev}/{c['label']}/{c['size']}px/n:{c['batch']}{NAME_SUFFIX}"


def clean_env(threads):
    """The caller's environment without the OpenMP waiting policy, with the thread count."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["OMP_NUM_THREADS"] = str(threads)
    return env


def run_gbad(path, cases, dev, args):
    """One round of gbad-bench on `cases`: ({name: img/s}, benchmark context)."""
    names = [gbad_name(c, m, dev) for c in cases for m in ("train", "infer")]
    filt = "^(" + "|".join(n.replace(".", "\\.") for n in names) + ")(/|$)"
    words = shlex.split(path)
    env = clean_env(args.threads)
    while words and "=" in words[0] and not words[0].startswith(("/", ".")):
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    cmd = words + [f"--benchmark_filter={filt}", f"--benchmark_min_time={args.min_time}",
                   "--benchmark_format=json", f"--precision={args.precision}"]
    print("running:", path, " ".join(cmd[len(words):]), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, env=env).stdout
    data = json.loads(out)
    res = {}
    for b in data["benchmarks"]:
        if b.get("run_type") != "iteration" or "img/s" not in b:
            continue
        name = b.get("run_name", b["name"])
        for suffix in ("/real_time", "/manual_time"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        res[name] = b["img/s"]
    return res, data.get("context", {})


def run_torch_worker(config, case_spec, args):
    """One round of PyTorch in a fresh process with `config` ("omp/layout"): {name: img/s}."""
    omp, layout = config.split("/")
    env = clean_env(args.threads)
    if omp == "passive":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--layout", layout,
           "--cases", case_spec, "--threads", str(args.threads), "--warmup", str(args.warmup),
           "--min-time", str(args.min_time)]
    print(f"running: PyTorch {config} {case_spec}", file=sys.stderr, flush=True)
    try:
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, env=env,
                             timeout=args.worker_timeout).stdout
    except subprocess.TimeoutExpired:
        # OpenMP's default (spinning) waiting on a loaded machine can take minutes per step.
        print(f"  PyTorch {config} {case_spec}: no result within --worker-timeout "
              f"{args.worker_timeout:.0f} s", file=sys.stderr, flush=True)
        return {}
    return json.loads(out)


def worker(args, cases):
    torch.set_num_threads(args.threads)
    res = {}
    for c in cases:
        r = bench_case(c, torch.device("cpu"), args, args.layout == "channels_last")
        for mode, v in r.items():
            res[gbad_name(c, mode, "cpu")] = v
    json.dump(res, sys.stdout)


def loadavg():
    return "%.1f %.1f %.1f" % os.getloadavg()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--cases", default=None, help="default: cpu (or gpu with --device cuda)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (CPU)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", "--repeats", type=int, default=3, dest="rounds")
    ap.add_argument("--min-time", type=float, default=2.0, help="seconds per timed round")
    ap.add_argument("--configs", default=",".join(CONFIGS),
                    help="PyTorch CPU configurations to try, OMP/LAYOUT with OMP in "
                         "{default, passive}, LAYOUT in {nchw, channels_last}")
    ap.add_argument("--worker-timeout", type=float, default=300.0,
                    help="seconds one PyTorch process (one configuration, one case, one round) "
                         "may take; past it that round has no result for that configuration")
    ap.add_argument("--gbad-bench", action="append", default=[],
                    help="path of gbad-bench, optionally after VAR=VALUE words: also run it "
                         "(repeat to compare builds or settings, e.g. before and after a change, "
                         "in the same interleaved run)")
    ap.add_argument("--gbad-label", action="append", default=[],
                    help="column label of each --gbad-bench (default: gbad, gbad2, ...)")
    ap.add_argument("--precision", default="fp32",
                    choices=["fp32", "tf32", "fp16", "bf16", "auto"],
                    help="gbad-bench --precision (its case names then end in /PRECISION)")
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--layout", default="nchw", help=argparse.SUPPRESS)
    args = ap.parse_args()
    global NAME_SUFFIX
    NAME_SUFFIX = "" if args.precision == "fp32" else "/" + args.precision

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device")
    case_spec = args.cases or ("gpu" if device.type == "cuda" else "cpu")
    cases = parse_cases(case_spec)
    if args.worker:
        return worker(args, cases)
    dev_tag = "cuda" if device.type == "cuda" else "cpu"
    if device.type == "cuda" and args.configs == ",".join(CONFIGS):
        args.configs = ",".join(CUDA_CONFIGS)
    known = CUDA_CONFIGS if device.type == "cuda" else CONFIGS
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    for cfg in configs:
        if cfg not in known:
            raise SystemExit(f"--configs: unknown configuration '{cfg}' (one of {known})")

    labels = args.gbad_label + [("gbad" if i == 0 else f"gbad{i + 1}")
                                for i in range(len(args.gbad_label), len(args.gbad_bench))]
    gbad_paths = dict(zip(labels, args.gbad_bench))
    # samples[side][name] = list of img/s, one per round; side = a gbad label or a configuration.
    samples = {}
    gbad_ctx = {}
    loads = []
    def report(rounds_done):
        """Prints (and writes with --json) the table of the rounds so far: called after every
        round, so that a long run that is stopped still leaves its results."""
        ends = loads + [loadavg()]

        def best(side, name):
            v = samples.get(side, {}).get(name)
            return (max(v), min(v)) if v else (None, None)

        rows = []
        for c in cases:
            for mode in ("train", "infer"):
                name = gbad_name(c, mode, dev_tag)
                per_cfg = {cfg: best(cfg, name) for cfg in configs}
                top = max(configs, key=lambda cfg: per_cfg[cfg][0] or 0.0)
                t_best, t_worst = per_cfg[top]
                if t_best is None:
                    top = "none (no result)"
                gbad = {}
                for label in gbad_paths:
                    g_best, g_worst = best(label, name)
                    gbad[label] = dict(img_s=g_best, worst=g_worst,
                                       ratio=(g_best / t_best) if g_best and t_best else None)
                rows.append(dict(name=name, model=c["label"], mode=mode, size=c["size"],
                                 batch=c["batch"], torch_config=top, torch_img_s=t_best,
                                 torch_worst=t_worst,
                                 torch_by_config={k: v[0] for k, v in per_cfg.items()}, gbad=gbad))

        desc = (torch.cuda.get_device_name(device) if device.type == "cuda"
                else f"cpu, torch threads {args.threads}")
        prec = "fp32" if device.type != "cuda" else "gbad at " + args.precision
        print(f"\nPyTorch {torch.__version__} on {desc}; {prec}; best of {rounds_done} rounds "
              "(worst in brackets); load average (1/5/15 min) at each round's start and at "
              "the end: " + " | ".join(ends))
        hdr = (f"| {'model':<22} | {'mode':<5} | {'size':>4} | {'batch':>5} | "
               f"{'PyTorch best config':<21} | {'PyTorch img/s':>16} |")
        for label in gbad_paths:
            hdr += f" {label + ' img/s':>16} | {label + '/PyTorch':>14} |"
        print(hdr)
        print("|" + "|".join("-" * (len(p)) for p in hdr.split("|")[1:-1]) + "|")

        def fmt(b, w):
            return f"{b:.1f} ({w:.1f})" if b is not None else "n/a"

        for r in rows:
            line = (f"| {r['model']:<22} | {r['mode']:<5} | {r['size']:>4} | {r['batch']:>5} | "
                    f"{r['torch_config']:<21} | {fmt(r['torch_img_s'], r['torch_worst']):>16} |")
            for label in gbad_paths:
                g = r["gbad"][label]
                q = f"{g['ratio']:.2f}" if g["ratio"] else "n/a"
                line += f" {fmt(g['img_s'], g['worst']):>16} | {q:>14} |"
            print(line)
        if len(configs) > 1:
            print("\nPyTorch, best round per configuration (img/s):")
            print("| case | mode | " + " | ".join(configs) + " |")
            print("|---|---|" + "---|" * len(configs))
            for r in rows:
                print(f"| {r['model']}/{r['size']}px/n:{r['batch']} | {r['mode']} | "
                      + " | ".join(f"{r['torch_by_config'][c]:.1f}" if r['torch_by_config'][c]
                                   else "n/a" for c in configs) + " |")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(dict(torch=torch.__version__, device=desc, threads=args.threads,
                               rounds=rounds_done, loadavg=ends, samples=samples, rows=rows,
                               gbad_context=gbad_ctx), f, indent=2)

    for rnd in range(args.rounds):
        loads.append(loadavg())
        print(f"round {rnd + 1}/{args.rounds}, load average {loads[-1]}", file=sys.stderr,
              flush=True)
        # Alternate the order, so neither side always runs first in a round.
        sides = list(gbad_paths) + configs
        if rnd % 2:
            sides.reverse()
        for side in sides:
            if side in gbad_paths:
                res, gbad_ctx[side] = run_gbad(gbad_paths[side], cases, dev_tag, args)
            elif side.startswith("cuda/"):
                torch.backends.cudnn.benchmark = True
                _, prec, layout = side.split("/")
                res = {}
                for c in cases:
                    r = bench_case(c, device, args, layout == "channels_last",
                                   None if prec == "fp32" else prec)
                    for mode, v in r.items():
                        res[gbad_name(c, mode, dev_tag)] = v
            else:
                # One process per case, so that a configuration that stalls on one case still
                # reports the others.
                res = {}
                for c in cases:
                    res.update(run_torch_worker(side, c["spec"], args))
            for name, v in res.items():
                samples.setdefault(side, {}).setdefault(name, []).append(v)
        report(rnd + 1)


if __name__ == "__main__":
    main()
