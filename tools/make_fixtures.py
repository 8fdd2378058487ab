#!/usr/bin/env python3
"""Writes the PyTorch agreement fixtures of tests/models (test_torch_agreement.cpp).

For a width-reduced ResNet-18 and ResNet-50 with the plain head (torchvision's layout and
parameter names, written out here because torchvision has no base-width setting), and a
width-reduced ResNet-18-FPN with the GBAD head (ResNetFpn below), it stores:
random weights (BatchNorm affine parameters and running statistics randomised too), an input
batch, 0/1 targets, the training-mode logits, dL/dx and dL/dparam of
BCEWithLogits(reduction='mean'), and the eval-mode logits after that one training forward
(so the running-statistics update is checked too).

Usage: python tools/make_fixtures.py [OUT_DIR]   (default tests/models/fixtures)
Needs torch and numpy only. Deterministic (fixed seeds, CPU, float64 reference computed in
float32 like our code).
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import write_safetensors  # noqa: E402


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        idt = x if self.downsample is None else self.downsample(x)
        return F.relu(out + idt)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)  # v1.5
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = None
        if stride != 1 or cin != planes * 4:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes * 4, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        idt = x if self.downsample is None else self.downsample(x)
        return F.relu(out + idt)


class ResNet(nn.Module):
    """torchvision.models.resnet.ResNet with a base-width setting (64 = torchvision)."""

    def __init__(self, depth, width, num_classes):
        super().__init__()
        block, layers = {18: (BasicBlock, [2, 2, 2, 2]), 34: (BasicBlock, [3, 4, 6, 3]),
                         50: (Bottleneck, [3, 4, 6, 3]), 101: (Bottleneck, [3, 4, 23, 3])}[depth]
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = width
        for s, n in enumerate(layers):
            blocks = []
            for b in range(n):
                blocks.append(block(cin, width << s, 2 if (b == 0 and s > 0) else 1))
                cin = (width << s) * block.expansion
            setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class ResNetFpn(nn.Module):
    """GBAD's classifier (models/classifier.cpp, resnet<depth>-fpn) from its description: the
    ResNet backbone's C2..C5 (layer1..layer4), torchvision's FeaturePyramidNetwork (1x1 lateral
    convs with bias fpn.inner_blocks.i, top-down nearest upsampling to the lateral's size plus
    addition, 3x3 output convs with bias fpn.layer_blocks.i) -> P2..P5, then the GBAD head:
    h_i = ReLU(FC_i(GAP(P_i))) (head.fc1..fc4), f = mean_i h_i, logits = FC5(f) (head.fc5)."""

    def __init__(self, depth, width, num_classes, fpn_channels, head_dim):
        super().__init__()
        base = ResNet(depth, width, num_classes)
        for k in ["conv1", "bn1", "maxpool", "layer1", "layer2", "layer3", "layer4"]:
            setattr(self, k, getattr(base, k))
        expansion = 4 if depth >= 50 else 1
        cins = [(width << s) * expansion for s in range(4)]
        self.fpn = nn.Module()
        self.fpn.inner_blocks = nn.ModuleList([nn.Conv2d(c, fpn_channels, 1) for c in cins])
        self.fpn.layer_blocks = nn.ModuleList(
            [nn.Conv2d(fpn_channels, fpn_channels, 3, 1, 1) for _ in cins])
        self.head = nn.Module()
        for i in range(4):
            setattr(self.head, f"fc{i + 1}", nn.Linear(fpn_channels, head_dim))
        self.head.fc5 = nn.Linear(head_dim, num_classes)

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        c = []
        for k in ["layer1", "layer2", "layer3", "layer4"]:
            x = getattr(self, k)(x)
            c.append(x)
        merged = [None] * 4
        merged[3] = self.fpn.inner_blocks[3](c[3])
        for i in (2, 1, 0):
            lat = self.fpn.inner_blocks[i](c[i])
            merged[i] = lat + F.interpolate(merged[i + 1], size=lat.shape[-2:], mode="nearest")
        hs = []
        for i in range(4):
            p = self.fpn.layer_blocks[i](merged[i])
            fc = getattr(self.head, f"fc{i + 1}")
            hs.append(F.relu(fc(torch.flatten(F.adaptive_avg_pool2d(p, 1), 1))))
        f = torch.stack(hs, 0).mean(0)
        return self.head.fc5(f)


def make(out_dir, name, depth, width, n, size, num_classes, seed, fpn=None):
    torch.manual_seed(seed)
    if fpn:
        model = ResNetFpn(depth, width, num_classes, fpn[0], fpn[1])
    else:
        model = ResNet(depth, width, num_classes)
    with torch.no_grad():
        for mname, m in model.named_modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    tensors = {}
    for k, v in model.state_dict().items():
        tensors[k] = v.detach().numpy().astype(np.float32)  # num_batches_tracked too
    x = torch.randn(n, 3, size, size, requires_grad=True)
    t = (torch.rand(n, num_classes) < 0.4).float()
    model.train()
    logits = model(x)
    loss = F.binary_cross_entropy_with_logits(logits, t)  # mean over N x K
    loss.backward()
    model.eval()
    with torch.no_grad():
        logits_eval = model(x)
    tensors["input"] = x.detach().numpy()
    tensors["target"] = t.numpy()
    tensors["logits"] = logits.detach().numpy()
    tensors["logits_eval"] = logits_eval.numpy()
    tensors["loss"] = np.array([loss.item()], dtype=np.float32)
    tensors["grad.input"] = x.grad.numpy()
    for k, p in model.named_parameters():
        tensors["grad." + k] = p.grad.numpy()
    path = os.path.join(out_dir, name + ".safetensors")
    meta = {"fpn_channels": fpn[0], "head_dim": fpn[1]} if fpn else {}
    write_safetensors(path, tensors, {
        **meta,
        "arch": f"resnet{depth}-{'fpn' if fpn else 'plain'}", "width": width,
        "num_classes": num_classes,
        "torch_version": torch.__version__, "loss": "bce_with_logits mean over N x K",
        "made_by": "tools/make_fixtures.py"})
    nparams = sum(p.numel() for p in model.parameters())
    print(f"{path}: {nparams} parameters, {os.path.getsize(path)} bytes, loss {loss.item():.6f}")


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "models", "fixtures")
    os.makedirs(out_dir, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    make(out_dir, "resnet18_w4", 18, 4, 2, 40, 5, seed=18)
    make(out_dir, "resnet50_w2", 50, 2, 2, 40, 5, seed=50)
    make(out_dir, "resnet18_fpn_w4", 18, 4, 2, 40, 5, seed=181, fpn=(8, 6))


if __name__ == "__main__":
    main()
