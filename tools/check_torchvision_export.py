#!/usr/bin/env python3
"""Loads a gbad classifier checkpoint of a -plain architecture (resnet*, inceptionv3,
densenet121) into torchvision's model with load_state_dict(strict=True), runs it in eval mode
on images preprocessed as gbad's test loader does (RGB / 255, ImageNet mean/std; give images
already at the model's input size so no resampling differs), and prints the class confidences
(sigmoid of the logits) next to those of `gbad-predict --csv` for the same images.

    gbad-predict --cnn RUN --images a.png --csv gbad.csv
    python tools/check_torchvision_export.py RUN/model.safetensors a.png --gbad-csv gbad.csv

Exits non-zero when a tensor is missing or unexpected, or when a confidence differs by more
than --tol (default 1e-4).
"""
import argparse
import csv
import os
import sys

import numpy as np
import torch
import torchvision
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import read_safetensors  # noqa: E402

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def build(arch, num_classes, transform_input):
    if arch == "inceptionv3-plain":
        return torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False,
                                               num_classes=num_classes,
                                               transform_input=transform_input)
    if arch == "densenet121-plain":
        return torchvision.models.densenet121(weights=None, num_classes=num_classes)
    if arch.startswith("resnet") and arch.endswith("-plain"):
        return getattr(torchvision.models, arch[:-len("-plain")])(weights=None,
                                                                   num_classes=num_classes)
    sys.exit(f"error: {arch}: only -plain architectures have a torchvision twin")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("images", nargs="+")
    ap.add_argument("--gbad-csv", help="gbad-predict --csv output for the same images")
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()
    tensors, meta = read_safetensors(args.checkpoint)
    arch, k = meta["arch"], int(meta["num_classes"])
    if meta.get("width", "64") != "64":
        sys.exit(f"error: {args.checkpoint}: width {meta['width']}; torchvision's models are 64")
    model = build(arch, k, meta.get("transform_input") == "1")
    sd = {n: torch.from_numpy(np.array(v)) for n, v in tensors.items()}
    res = model.load_state_dict(sd, strict=True)  # raises on a missing or unexpected tensor
    print(f"{arch}: {len(sd)} tensors loaded into torchvision with strict=True ({res})")
    model.eval()
    ours = {}
    if args.gbad_csv:
        with open(args.gbad_csv) as f:
            for row in csv.DictReader(f):
                ours[os.path.basename(row[next(iter(row))])] = row
    worst = 0.0
    for path in args.images:
        img = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
        x = torch.from_numpy(((img - MEAN) / STD).transpose(2, 0, 1)[None].copy())
        with torch.no_grad():
            conf = torch.sigmoid(model(x)).numpy()[0]
        line = f"{os.path.basename(path)} {img.shape[1]}x{img.shape[0]} torchvision " + \
            " ".join(f"{c:.6f}" for c in conf)
        row = ours.get(os.path.basename(path))
        if row is not None:
            cols = [c for c in row if c.startswith("conf_") or c in
                    ("Gun", "Knife", "Wrench", "Pliers", "Scissors")][:k]
            g = np.array([float(row[c]) for c in cols], dtype=np.float64)
            d = float(np.max(np.abs(g - conf)))
            worst = max(worst, d)
            line += "\n" + " " * len(os.path.basename(path)) + " gbad        " + \
                " ".join(f"{c:.6f}" for c in g) + f"   max |diff| {d:.2e}"
        print(line)
    if ours:
        print(f"worst confidence difference: {worst:.2e} (tolerance {args.tol:g})")
        if worst > args.tol:
            sys.exit(1)


if __name__ == "__main__":
    main()
