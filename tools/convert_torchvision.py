#!/usr/bin/env python3
"""Converts a torchvision ResNet, InceptionV3 or DenseNet checkpoint (.pth) to safetensors for
`--pretrained FILE`.

    python tools/convert_torchvision.py resnet34-b627a593.pth resnet34.safetensors
    python tools/convert_torchvision.py inception_v3_google-0cc3c7bd.pth inception_v3.safetensors
    python tools/convert_torchvision.py densenet121-a639ec97.pth densenet121.safetensors

Accepts a plain state_dict, a dict holding one under "state_dict" or "model", or a pickled
nn.Module. Every tensor is written as float32 under its state_dict name (conv1.weight,
layer1.0.bn1.running_mean, ..., fc.weight); "module." prefixes from DataParallel are removed.
DenseNet checkpoints from before torchvision 0.3 name their layers "norm.1", "conv.2" ...;
they are renamed to "norm1", "conv2" as torchvision's own loader does. The metadata records the
source file and the guessed architecture. gbad's loader requires every backbone tensor and
ignores fc.* / classifier.* / AuxLogits.fc.* when the class count differs. gbad enables
InceptionV3's transform_input when it loads these weights, as torchvision does. Needs torch and
numpy only.
"""
import re
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import write_safetensors  # noqa: E402


# torchvision.models.densenet._load_state_dict's pattern for the legacy names.
_LEGACY_DENSENET = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\."
    r"(?:weight|bias|running_mean|running_var|num_batches_tracked))$")


def rename_legacy_densenet(sd):
    out = {}
    for k, v in sd.items():
        m = _LEGACY_DENSENET.match(k)
        out[m.group(1) + m.group(2) if m else k] = v
    return out


def guess_arch(sd):
    if "Conv2d_1a_3x3.conv.weight" in sd:
        return "inceptionv3"
    if "features.conv0.weight" in sd:
        blocks = tuple(len({k.split(".")[2] for k in sd
                            if k.startswith(f"features.denseblock{b}.")}) for b in range(1, 5))
        return {(6, 12, 24, 16): "densenet121", (6, 12, 32, 32): "densenet169",
                (6, 12, 48, 32): "densenet201"}.get(blocks, "densenet-unknown")
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
    sd = rename_legacy_densenet(sd)
    # Checkpoints older than PyTorch 0.4.1 have no num_batches_tracked; torch's BatchNorm loader
    # fills in 0, and so does this.
    for k in [k for k in sd if k.endswith(".running_mean")]:
        sd.setdefault(k[:-len("running_mean")] + "num_batches_tracked", np.zeros((), np.float32))
    stem = next((k for k in ("conv1.weight", "Conv2d_2b_3x3.conv.weight", "features.conv0.weight")
                 if k in sd), None)
    if stem is None:
        sys.exit(f"error: {args.input}: not a torchvision ResNet, InceptionV3 or DenseNet (none of "
                 "conv1.weight, Conv2d_2b_3x3.conv.weight, features.conv0.weight)")
    arch = guess_arch(sd)
    width = sd[stem].shape[0]  # gbad's --width: the stem's channels (64 for all three)
    head = next((k for k in ("fc.weight", "classifier.weight") if k in sd), None)
    classes = sd[head].shape[0] if head else 0
    write_safetensors(args.output, sd, {"source": os.path.basename(args.input),
                                        "backbone": arch, "width": width,
                                        "num_classes": classes,
                                        "made_by": "tools/convert_torchvision.py"})
    n = sum(int(np.prod(v.shape)) for k, v in sd.items() if not k.endswith("num_batches_tracked"))
    print(f"{args.output}: {len(sd)} tensors, {n} values, {arch}, width {width}, "
          f"{classes} classes")


if __name__ == "__main__":
    main()
