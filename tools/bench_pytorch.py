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

With --gbad-bench PATH it also runs gbad-bench on the same cases (its benchmark names are
model/{train,infer}/{cpu,cuda}/<label>/<S>px/n:<B>) and prints the gbad/PyTorch ratios, so one
command gives the side-by-side table on one machine.

Timing: --warmup untimed steps, then --repeats rounds of at least --min-time seconds each;
the best round's img/s is reported (the machine may be shared). On CUDA every round ends with
torch.cuda.synchronize().

Examples:
  python tools/bench_pytorch.py --threads 2 --gbad-bench build/bin/gbad-bench
  python tools/bench_pytorch.py --device cuda --cases gpu --json torch_gpu.json
"""
import argparse
import json
import os
import subprocess
import sys
import time

# Same OpenMP setting as gbad-bench (set before torch loads libgomp): with the default active
# waiting, 2 threads on a busy 2-core machine run ~50x slower (measured, bench/RESULTS.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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
            out.append(dict(label="demo-resnet18-fpn-w16", arch="resnet18-fpn", width=16,
                            fpn=64, head=64, size=96, batch=int(item.split("/")[1])))
        elif ":w" in item:
            arch_w, size, batch = item.split("/")
            arch, w = arch_w.split(":w")
            out.append(dict(label=f"{arch}-w{w}", arch=arch, width=int(w), fpn=64, head=64,
                            size=int(size), batch=int(batch)))
        elif item:
            arch, size, batch = item.split("/")
            out.append(dict(label=arch, arch=arch, width=64, fpn=256, head=256, size=int(size),
                            batch=int(batch)))
    return out


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_steps(step, device, warmup, repeats, min_time):
    """Best img/s-relevant seconds per step over `repeats` rounds of >= min_time seconds."""
    for _ in range(warmup):
        step()
    sync(device)
    best = float("inf")
    for _ in range(repeats):
        n = 0
        t0 = time.perf_counter()
        while True:
            step()
            n += 1
            sync(device)
            dt = time.perf_counter() - t0
            if dt >= min_time:
                break
        best = min(best, dt / n)
    return best


def bench_case(c, device, args):
    torch.manual_seed(0)
    model = build_model(c["arch"], c["width"], c["fpn"], c["head"], c["size"]).to(device)
    x = torch.randn(c["batch"], 3, c["size"], c["size"], device=device)
    t = (torch.rand(c["batch"], NUM_CLASSES, device=device) < 0.5).float()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    loss_fn = nn.BCEWithLogitsLoss()

    def train_step():
        opt.zero_grad()
        out = model(x)
        if isinstance(out, tuple):  # InceptionV3 (train mode): logits and auxiliary logits
            loss = loss_fn(out.logits, t)
            if out.aux_logits is not None:
                loss = loss + 0.4 * loss_fn(out.aux_logits, t)
        else:
            loss = loss_fn(out, t)
        loss.backward()
        opt.step()

    def infer():
        with torch.no_grad():
            model(x)

    res = {}
    model.train()
    res["train"] = time_steps(train_step, device, args.warmup, args.repeats, args.min_time)
    model.eval()
    res["infer"] = time_steps(infer, device, args.warmup, args.repeats, args.min_time)
    return {mode: c["batch"] / s for mode, s in res.items()}


def gbad_name(c, mode, dev):
    return f"model/{mode}/{dev}/{c['label']}/{c['size']}px/n:{c['batch']}"


def run_gbad(path, cases, dev, args):
    names = [gbad_name(c, m, dev) for c in cases for m in ("train", "infer")]
    filt = "^(" + "|".join(n.replace(".", "\\.") for n in names) + ")/"
    cmd = [path, f"--benchmark_filter={filt}", f"--benchmark_min_time={args.min_time}",
           f"--benchmark_repetitions={args.repeats}", "--benchmark_format=json"]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(args.threads))
    print("running:", " ".join(cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, env=env).stdout
    data = json.loads(out)
    best = {}
    for b in data["benchmarks"]:
        if b.get("run_type") != "iteration" or "img/s" not in b:
            continue
        name = b.get("run_name", b["name"])
        for suffix in ("/real_time", "/manual_time"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        best[name] = max(best.get(name, 0.0), b["img/s"])
    return best, data.get("context", {})


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--cases", default=None, help="default: cpu (or gpu with --device cuda)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (CPU)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--min-time", type=float, default=2.0, help="seconds per timed round")
    ap.add_argument("--gbad-bench", default=None, help="path of gbad-bench: also run it")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args()

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device")
    torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = True
    cases = parse_cases(args.cases or ("gpu" if device.type == "cuda" else "cpu"))
    dev_tag = "cuda" if device.type == "cuda" else "cpu"

    gbad, gbad_ctx = ({}, {})
    if args.gbad_bench:
        gbad, gbad_ctx = run_gbad(args.gbad_bench, cases, dev_tag, args)

    rows = []
    for c in cases:
        r = bench_case(c, device, args)
        for mode in ("train", "infer"):
            g = gbad.get(gbad_name(c, mode, dev_tag))
            rows.append(dict(name=gbad_name(c, mode, dev_tag), model=c["label"], mode=mode,
                             size=c["size"], batch=c["batch"], torch_img_s=r[mode],
                             gbad_img_s=g, ratio=(g / r[mode]) if g else None))
            print(f"{rows[-1]['name']}: torch {r[mode]:.2f} img/s", file=sys.stderr, flush=True)

    desc = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"cpu, torch threads {torch.get_num_threads()}")
    print(f"\nPyTorch {torch.__version__} on {desc}; fp32; best of {args.repeats} rounds")
    hdr = f"| {'model':<24} | {'mode':<5} | {'size':>4} | {'batch':>5} | {'PyTorch img/s':>13} |"
    if gbad:
        hdr += f" {'gbad img/s':>10} | {'gbad/PyTorch':>12} |"
    print(hdr)
    print("|" + "|".join("-" * (len(p)) for p in hdr.split("|")[1:-1]) + "|")
    for r in rows:
        line = (f"| {r['model']:<24} | {r['mode']:<5} | {r['size']:>4} | {r['batch']:>5} | "
                f"{r['torch_img_s']:>13.2f} |")
        if gbad:
            g = f"{r['gbad_img_s']:.2f}" if r["gbad_img_s"] else "n/a"
            q = f"{r['ratio']:.2f}" if r["ratio"] else "n/a"
            line += f" {g:>10} | {q:>12} |"
        print(line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(torch=torch.__version__, device=desc, threads=args.threads,
                           rows=rows, gbad_context=gbad_ctx), f, indent=2)


if __name__ == "__main__":
    main()
