#!/usr/bin/env python3
"""Writes the PyTorch agreement fixtures of the paper's baselines (tests/models/test_baselines.cpp).

* chr_resnet18_w4: a width-4 ResNet-18 with the CHR head (the SIXray authors' ResNetCHR layout:
  cov4 / cov3_1 / cov3 / cov2_1 / cov2 1x1 convolutions with bias, F.interpolate bilinear
  (align_corners=False) of layer4 and of the refined layer3 to the next level's size,
  concatenated [upsampled, lateral], fc1..fc3 on global average pools). 40-pixel inputs give
  layer2/3/4 sizes 5/3/2, so the upsampling runs at non-integer scales. Stores weights, input,
  targets, training-mode o1..o3, the CHR loss (sum over heads of the mean BCE with easy
  negatives, target 0 and logit < -20, masked but counted; fc1.bias[0] is set to -30 so the mask
  is exercised), dL/dinput and dL/dparam, and eval-mode o1.
* ganomaly_g16: GANomaly's generator (encoder1 -> decoder -> encoder2, the public code's
  Encoder/Decoder) at 16x16, nz 8, ngf 4: training-mode outputs, the loss 50 L1(x', x) +
  L2(z', z) and its parameter gradients, eval-mode outputs.
* unet_g32: Skip-GANomaly's U-Net generator (pix2pix UnetSkipConnectionBlock with its in-place
  LeakyReLU, which also changes the skip path) at 32x32, ngf 2: training-mode output, the loss
  50 L1(x', x) and its parameter gradients, eval-mode output.

Usage: python tools/make_baseline_fixtures.py [OUT_DIR]   (default tests/models/fixtures)
Needs torch and numpy only. Deterministic (fixed seeds, CPU).
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import ResNet  # noqa: E402
from safetensors_io import write_safetensors  # noqa: E402


def randomise_bn(model):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)


def export(model, skip_prefix=()):
    return {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()
            if not k.startswith(skip_prefix)}


# ---- CHR -----------------------------------------------------------------------------------

class ResNetCHR(nn.Module):
    def __init__(self, depth, width, num_classes):
        super().__init__()
        self.backbone = ResNet(depth, width, num_classes)
        c2, c3, c4 = width * 2, width * 4, width * 8  # basic blocks
        self.cov4 = nn.Conv2d(c4, c4, 1)
        self.cov3 = nn.Conv2d(c4 + c3, c3, 1)
        self.cov2 = nn.Conv2d(c3 + c2, c2, 1)
        self.cov3_1 = nn.Conv2d(c3, c3, 1)
        self.cov2_1 = nn.Conv2d(c2, c2, 1)
        self.fc1 = nn.Linear(c4, num_classes)
        self.fc2 = nn.Linear(c3, num_classes)
        self.fc3 = nn.Linear(c2, num_classes)

    @staticmethod
    def up_cat(x, y):
        z = F.interpolate(x, size=y.shape[2:], mode="bilinear", align_corners=False)
        return torch.cat([z, y], 1)

    def forward(self, x):
        b = self.backbone
        x = b.maxpool(F.relu(b.bn1(b.conv1(x))))
        l2 = b.layer2(b.layer1(x))
        l3 = b.layer3(l2)
        l4 = b.layer4(l3)
        pool = lambda t: torch.flatten(F.adaptive_avg_pool2d(t, 1), 1)  # noqa: E731
        o1 = self.fc1(pool(F.relu(self.cov4(l4))))
        l3_5 = F.relu(self.cov3(self.up_cat(l4, F.relu(self.cov3_1(l3)))))
        o2 = self.fc2(pool(l3_5))
        l2_5 = F.relu(self.cov2(self.up_cat(l3_5, F.relu(self.cov2_1(l2)))))
        o3 = self.fc3(pool(l2_5))
        return o1, o2, o3


def chr_loss(outputs, t):
    total = 0
    for o in outputs:
        l = F.binary_cross_entropy_with_logits(o, t, reduction="none")
        keep = ~((t == 0) & (o < -20))
        total = total + (l * keep).mean()
    return total


def make_chr(out_dir, seed=14):
    torch.manual_seed(seed)
    model = ResNetCHR(18, 4, 5)
    randomise_bn(model)
    with torch.no_grad():
        model.fc1.bias[0] = -30.0
    tensors = {}
    for k, v in export(model).items():
        if k.startswith("backbone.fc."):
            continue
        tensors[k[len("backbone."):] if k.startswith("backbone.") else k] = v
    x = torch.randn(2, 3, 40, 40, requires_grad=True)
    t = (torch.rand(2, 5) < 0.4).float()
    t[:, 0] = 0  # easy negatives in o1's first column
    model.train()
    o = model(x)
    loss = chr_loss(o, t)
    loss.backward()
    model.eval()
    with torch.no_grad():
        o_eval = model(x)[0]
    tensors.update({"input": x.detach().numpy(), "target": t.numpy(),
                    "o1": o[0].detach().numpy(), "o2": o[1].detach().numpy(),
                    "o3": o[2].detach().numpy(), "o1_eval": o_eval.numpy(),
                    "loss": np.array([loss.item()], dtype=np.float32),
                    "grad.input": x.grad.numpy()})
    for k, p in model.named_parameters():
        if k.startswith("backbone.fc."):
            continue
        tensors["grad." + (k[len("backbone."):] if k.startswith("backbone.") else k)] = \
            p.grad.numpy()
    path = os.path.join(out_dir, "chr_resnet18_w4.safetensors")
    write_safetensors(path, tensors, {"arch": "resnet18-chr", "width": 4, "num_classes": 5,
                                      "torch_version": torch.__version__,
                                      "made_by": "tools/make_baseline_fixtures.py"})
    print(f"{path}: {os.path.getsize(path)} bytes, loss {loss.item():.6f}")


# ---- GANomaly ------------------------------------------------------------------------------

class Named(nn.Module):
    def __init__(self, **mods):
        super().__init__()
        for k, v in mods.items():
            setattr(self, k, v)


class Encoder(nn.Module):
    """GANomaly's Encoder (DCGAN): conv 4/2/1 + LeakyReLU, pyramid conv+BN+LeakyReLU, final."""

    def __init__(self, isize, nz, nc, ndf):
        super().__init__()
        self.initial = Named(conv=nn.Conv2d(nc, ndf, 4, 2, 1, bias=False))
        csize, c = isize // 2, ndf
        pyr = []
        while csize > 4:
            pyr.append(Named(conv=nn.Conv2d(c, c * 2, 4, 2, 1, bias=False),
                             bn=nn.BatchNorm2d(c * 2)))
            c, csize = c * 2, csize // 2
        self.pyramid = nn.ModuleList(pyr)
        self.final = Named(conv=nn.Conv2d(c, nz, 4, 1, 0, bias=False))

    def forward(self, x):
        h = F.leaky_relu(self.initial.conv(x), 0.2)
        for p in self.pyramid:
            h = F.leaky_relu(p.bn(p.conv(h)), 0.2)
        return self.final.conv(h)


class Decoder(nn.Module):
    def __init__(self, isize, nz, nc, ngf):
        super().__init__()
        c, t = ngf // 2, 4
        while t != isize:
            c, t = c * 2, t * 2
        self.initial = Named(convt=nn.ConvTranspose2d(nz, c, 4, 1, 0, bias=False),
                             bn=nn.BatchNorm2d(c))
        pyr, csize = [], 4
        while csize < isize // 2:
            pyr.append(Named(convt=nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False),
                             bn=nn.BatchNorm2d(c // 2)))
            c, csize = c // 2, csize * 2
        self.pyramid = nn.ModuleList(pyr)
        self.final = Named(convt=nn.ConvTranspose2d(c, nc, 4, 2, 1, bias=False))

    def forward(self, z):
        h = F.relu(self.initial.bn(self.initial.convt(z)))
        for p in self.pyramid:
            h = F.relu(p.bn(p.convt(h)))
        return torch.tanh(self.final.convt(h))


class NetG(nn.Module):
    def __init__(self, isize, nz, nc, ngf):
        super().__init__()
        self.encoder1 = Encoder(isize, nz, nc, ngf)
        self.decoder = Decoder(isize, nz, nc, ngf)
        self.encoder2 = Encoder(isize, nz, nc, ngf)

    def forward(self, x):
        z = self.encoder1(x)
        xr = self.decoder(z)
        return xr, z, self.encoder2(xr)


def weights_init(m):  # GANomaly's
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        m.weight.data.normal_(0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        m.weight.data.normal_(1.0, 0.02)
        m.bias.data.fill_(0)


def make_ganomaly(out_dir, seed=16):
    torch.manual_seed(seed)
    g = NetG(16, 8, 3, 4)
    g.apply(weights_init)
    randomise_bn(g)
    tensors = {"netg." + k: v for k, v in export(g).items()}
    x = (torch.rand(3, 3, 16, 16) * 2 - 1)
    g.train()
    xr, z, zo = g(x)
    loss = 50 * F.l1_loss(xr, x) + F.mse_loss(zo, z)
    loss.backward()
    g.eval()
    with torch.no_grad():
        xr_e, z_e, zo_e = g(x)
    tensors.update({"input": x.numpy(), "fake": xr.detach().numpy(),
                    "latent_i": z.detach().numpy(), "latent_o": zo.detach().numpy(),
                    "fake_eval": xr_e.numpy(), "latent_i_eval": z_e.numpy(),
                    "latent_o_eval": zo_e.numpy(),
                    "loss": np.array([loss.item()], dtype=np.float32)})
    for k, p in g.named_parameters():
        tensors["grad.netg." + k] = p.grad.numpy()
    path = os.path.join(out_dir, "ganomaly_g16.safetensors")
    write_safetensors(path, tensors, {"variant": "ganomaly", "isize": 16, "nz": 8, "ngf": 4,
                                      "torch_version": torch.__version__,
                                      "made_by": "tools/make_baseline_fixtures.py"})
    print(f"{path}: {os.path.getsize(path)} bytes, loss {loss.item():.6f}")


# ---- Skip-GANomaly's U-Net ------------------------------------------------------------------

class UBlock(nn.Module):
    """pix2pix UnetSkipConnectionBlock (BatchNorm, no dropout), parameters named per level."""

    def __init__(self, outer, inner, input_nc=None, sub=None, outermost=False, innermost=False):
        super().__init__()
        input_nc = input_nc or outer
        self.outermost = outermost
        self.down = nn.Conv2d(input_nc, inner, 4, 2, 1, bias=False)
        if not outermost and not innermost:
            self.down_bn = nn.BatchNorm2d(inner)
        self.up = nn.ConvTranspose2d(inner if innermost else inner * 2, outer, 4, 2, 1,
                                     bias=outermost)
        if not outermost:
            self.up_bn = nn.BatchNorm2d(outer)
        self.sub = sub
        if outermost:
            seq = [self.down, sub, nn.ReLU(True), self.up, nn.Tanh()]
        elif innermost:
            seq = [nn.LeakyReLU(0.2, True), self.down, nn.ReLU(True), self.up, self.up_bn]
        else:
            seq = [nn.LeakyReLU(0.2, True), self.down, self.down_bn, sub, nn.ReLU(True),
                   self.up, self.up_bn]
        self._seq = seq  # a plain list: the layers are registered once, by name

    def forward(self, x):
        y = x
        for m in self._seq:
            y = m(y)
        return y if self.outermost else torch.cat([x, y], 1)  # x was changed in place


def unet(isize, nc, ngf):
    levels = int(np.log2(isize))
    blk = UBlock(ngf * 8, ngf * 8, innermost=True)
    for _ in range(levels - 5):
        blk = UBlock(ngf * 8, ngf * 8, sub=blk)
    blk = UBlock(ngf * 4, ngf * 8, sub=blk)
    blk = UBlock(ngf * 2, ngf * 4, sub=blk)
    blk = UBlock(ngf, ngf * 2, sub=blk)
    return UBlock(nc, ngf, input_nc=nc, sub=blk, outermost=True)


def level_name(k):
    level = 0
    while k.startswith("sub."):
        k, level = k[4:], level + 1
    return f"netg.unet.{level}.{k}"


def make_unet(out_dir, seed=32):
    torch.manual_seed(seed)
    g = unet(32, 3, 2)
    g.apply(weights_init)
    randomise_bn(g)
    tensors = {level_name(k): v for k, v in export(g).items()}
    x = (torch.rand(2, 3, 32, 32) * 2 - 1)
    g.train()
    xr = g(x.clone())
    loss = 50 * F.l1_loss(xr, x)
    loss.backward()
    g.eval()
    with torch.no_grad():
        xr_e = g(x.clone())
    tensors.update({"input": x.numpy(), "fake": xr.detach().numpy(), "fake_eval": xr_e.numpy(),
                    "loss": np.array([loss.item()], dtype=np.float32)})
    for k, p in g.named_parameters():
        tensors["grad." + level_name(k)] = p.grad.numpy()
    path = os.path.join(out_dir, "unet_g32.safetensors")
    write_safetensors(path, tensors, {"variant": "skip-ganomaly", "isize": 32, "ngf": 2,
                                      "torch_version": torch.__version__,
                                      "made_by": "tools/make_baseline_fixtures.py"})
    print(f"{path}: {os.path.getsize(path)} bytes, loss {loss.item():.6f}")


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "models", "fixtures")
    os.makedirs(out_dir, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    make_chr(out_dir)
    make_ganomaly(out_dir)
    make_unet(out_dir)


if __name__ == "__main__":
    main()
