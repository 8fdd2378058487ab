#!/usr/bin/env python3
"""Converts a torchvision ResNet checkpoint (.pth) to safetensors for `--pretrained FILE`.

    python tools/convert_torchvision.py resnet34-b627a593.pth resnet34.safetensors

Accepts a plain state_dict, a dict holding one under "state_dict" or "model", or a pickled
nn.Module. Every tensor is written as float32 under its state_dict name (conv1.weight,
layer1.0.bn1.running_mean, ..., fc.weight); "module." prefixes from DataParallel are removed.
The metadata records the source file and the guessed architecture. gbad's loader requires every
backbone tensor and ignores fc.* when the class count differs. Needs torch and numpy only.
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import write_safetensors  # noqa: E402


def guess_arch(sd):
    blocks = {s: len({k.split(".")[1] for k in sd if k.startswith(f"layer{s}.")})
              for s in range(1, 5)}
    bottleneck = any(k.endswith("conv3.weight") for k in sd)
    counts = (blocks[1], blocks[2], blocks[3], blocks[4])
    table = {((2, 2, 2, 2), False): 18, ((3, 4, 6, 3), False): 34, ((3, 4, 6, 3), True): 50,
             ((3, 4, 23, 3), True): 101}
    depth = table.get((counts, bottleneck))
    return f"resnet{depth}" if depth else "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input", help="torchvision .pth file")
    ap.add_argument("output", help="safetensors file to write")
    args = ap.parse_args()
    obj = torch.load(args.input, map_location="cpu", weights_only=False)
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        sys.exit(f"error: {args.input}: no state_dict found")
    sd = {}
    for k, v in obj.items():
        if not torch.is_tensor(v):
            continue
        if k.startswith("module."):
            k = k[len("module."):]
        sd[k] = v.detach().cpu().to(torch.float32).numpy().astype(np.float32)
    if "conv1.weight" not in sd:
        sys.exit(f"error: {args.input}: not a torchvision ResNet (no conv1.weight)")
    arch = guess_arch(sd)
    width = sd["conv1.weight"].shape[0]
    classes = sd["fc.weight"].shape[0] if "fc.weight" in sd else 0
    write_safetensors(args.output, sd, {"source": os.path.basename(args.input),
                                        "backbone": arch, "width": width,
                                        "num_classes": classes,
                                        "made_by": "tools/convert_torchvision.py"})
    n = sum(int(np.prod(v.shape)) for k, v in sd.items() if not k.endswith("num_batches_tracked"))
    print(f"{args.output}: {len(sd)} tensors, {n} values, {arch}, width {width}, "
          f"{classes} classes")


if __name__ == "__main__":
    main()
