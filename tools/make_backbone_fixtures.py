#!/usr/bin/env python3
"""Writes the PyTorch agreement fixtures of the InceptionV3 and DenseNet backbones
(tests/models/test_backbone_agreement.cpp), from torchvision's own model classes:

- densenet_g4.safetensors: torchvision.models.DenseNet(growth 4, blocks (2,3,2,2), 8 initial
  features, bn_size 4) = gbad's densenet121-plain with --width 8 and dense_blocks {2,3,2,2};
  batch 2 at 64x64.
- inception_w4_75.safetensors: torchvision.models.Inception3 with every BasicConv2d's channels
  scaled by 4/64 (the conv_block hook; the two Linear layers resized to match) = gbad's
  inceptionv3-plain --width 4; batch 4 at 75x75 (the smallest input), dropout 0.  Input by
  formula and dL/dx at every 7th element (see below), to stay under 1 MB.
- inception_w2_299_aux.safetensors: the same at width 2, batch 4 at 299x299 with the auxiliary classifier
  (loss = BCE(logits) + 0.4 BCE(aux logits)) and transform_input=True. The input is not stored:
  both sides compute x[i] = 0.5 sin(0.37 i) + 0.3 cos(0.011 i) (i = flat NCHW index), and dL/dx
  is stored at every 101st element only, to keep the file small.

Each holds random weights (BatchNorm affine parameters and running statistics randomised),
0/1 targets, training-mode logits, the loss, dL/dx and dL/dparam of BCEWithLogits (mean), and
the eval-mode logits after that forward (checks the running-statistics update), all computed
in float64, with PyTorch float32's relative error per tensor ("noise.<name>"): networks this
narrow are ill-conditioned (one float32 rounding moves some InceptionV3 gradients by 1-4 %), so
the test asks for agreement as close as PyTorch's own float32 result.

Usage: python tools/make_backbone_fixtures.py [OUT_DIR]   (default tests/models/fixtures)
"""
import copy
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models import densenet, inception

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import write_safetensors  # noqa: E402


def scaled_inception(width, num_classes, transform_input):
    """torchvision's Inception3 with every channel count scaled by width/64."""

    def c(x):
        return max(1, x * width // 64)

    class ScaledConv(inception.BasicConv2d):
        def __init__(self, cin, cout, **kw):
            super().__init__(cin if cin == 3 else c(cin), c(cout), **kw)

    blocks = [ScaledConv] + [
        (lambda cls: (lambda *a, **kw: cls(*a, conv_block=ScaledConv, **kw)))(cls)
        for cls in (inception.InceptionA, inception.InceptionB, inception.InceptionC,
                    inception.InceptionD, inception.InceptionE, inception.InceptionAux)]
    m = inception.Inception3(num_classes=num_classes, aux_logits=True,
                             transform_input=transform_input, inception_blocks=blocks,
                             init_weights=True, dropout=0.0)
    m.fc = nn.Linear(c(2048), num_classes)
    m.AuxLogits.fc = nn.Linear(c(768), num_classes)
    return m


def randomise_bn(model):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)


def formula_input(shape):
    i = np.arange(int(np.prod(shape)), dtype=np.float64)
    return (0.5 * np.sin(0.37 * i) + 0.3 * np.cos(0.011 * i)).astype(np.float32).reshape(shape)


def step(model, x, t, aux_weight, dtype, channels_last=False):
    """One training-mode forward + backward and an eval forward of a copy of `model` in dtype."""
    model = copy.deepcopy(model).to(dtype)
    x = torch.tensor(x, dtype=dtype)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    t = t.to(dtype)
    aux_module = getattr(model, "AuxLogits", None)
    if aux_weight == 0 and aux_module is not None:
        model.AuxLogits = None  # inputs below 299: no auxiliary head (its gradients are zero)
    model.train()
    out = model(x)
    aux = None
    if isinstance(out, tuple):
        out, aux = out.logits, out.aux_logits
    loss = F.binary_cross_entropy_with_logits(out, t)
    if aux_weight > 0:
        loss = loss + aux_weight * F.binary_cross_entropy_with_logits(aux, t)
    loss.backward()
    model.eval()
    with torch.no_grad():
        logits_eval = model(x)
    r = {"logits": out, "logits_eval": logits_eval, "loss": loss.reshape(1), "grad.input": x.grad}
    if aux is not None:
        r["aux_logits"] = aux
    if aux_module is not None:
        model.AuxLogits = aux_module
    for k, p in model.named_parameters():
        r["grad." + k] = p.grad if p.grad is not None else torch.zeros_like(p)
    return {k: v.detach().double() for k, v in r.items()}


def make(path, model, x, num_classes, meta, aux_weight=0.0, store_input=True, grad_stride=1):
    """The reference values are computed in float64 from the float32 weights and input; the
    relative error of PyTorch's own float32 runs (NCHW and channels_last, two summation orders)
    against them, the larger, is stored per tensor as "noise.<name>" so the test can ask for
    agreement as good as PyTorch's."""
    randomise_bn(model)
    tensors = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    t = (torch.rand(x.shape[0], num_classes) < 0.4).float()
    r64 = step(model, x, t, aux_weight, torch.float64)
    r32 = [step(model, x, t, aux_weight, torch.float32, cl) for cl in (False, True)]
    for r in [r64] + r32:
        r["grad.input"] = r["grad.input"].contiguous().reshape(-1)[::grad_stride].clone()
    for k, v in r64.items():
        tensors[k] = v.numpy().astype(np.float32)
        ref = v.norm().item()
        noise = max((r[k] - v).norm().item() for r in r32) / ref if ref > 0 else 0.0
        tensors["noise." + k] = np.array([noise], dtype=np.float32)
    if store_input:
        tensors["input"] = x
    tensors["target"] = t.numpy()
    meta = dict(meta, num_classes=num_classes, torch_version=torch.__version__,
                input_shape="x".join(str(s) for s in x.shape), grad_input_stride=grad_stride,
                aux_weight=aux_weight, made_by="tools/make_backbone_fixtures.py",
                reference="float64 (PyTorch float32's relative error in noise.*)",
                loss="bce_with_logits mean over N x K (+ aux_weight x the same on aux logits)")
    write_safetensors(path, tensors, meta)
    n = sum(p.numel() for p in model.parameters())
    worst = max(float(v[0]) for k, v in tensors.items() if k.startswith("noise."))
    print(f"{path}: {n} parameters, {os.path.getsize(path)} bytes, "
          f"loss {r64['loss'].item():.6f}, worst float32 noise {worst:.2e}")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "models", "fixtures")
    os.makedirs(out, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)

    torch.manual_seed(121)
    dn = densenet.DenseNet(growth_rate=4, block_config=(2, 3, 2, 2), num_init_features=8,
                           bn_size=4, drop_rate=0, num_classes=5)
    make(os.path.join(out, "densenet_g4.safetensors"), dn,
         torch.randn(2, 3, 64, 64).numpy(), 5,
         {"arch": "densenet121-plain", "width": 8, "dense_blocks": "2,3,2,2"})

    torch.manual_seed(75)
    m = scaled_inception(4, 5, False)
    make(os.path.join(out, "inception_w4_75.safetensors"), m, formula_input((4, 3, 75, 75)), 5,
         {"arch": "inceptionv3-plain", "width": 4, "transform_input": 0}, store_input=False,
         grad_stride=7)

    torch.manual_seed(299)
    m = scaled_inception(2, 5, True)
    make(os.path.join(out, "inception_w2_299_aux.safetensors"), m,
         formula_input((4, 3, 299, 299)), 5,
         {"arch": "inceptionv3-plain", "width": 2, "transform_input": 1}, aux_weight=0.4,
         store_input=False, grad_stride=101)


if __name__ == "__main__":
    main()
