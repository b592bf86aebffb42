#!/usr/bin/env python3
"""PyTorch reference outputs and gradients for the convolutional modules of `ebm::nn::conv`
(tests/suite/conv.rs reads them).

Writes tests/data/conv_torch.json: a list of cases, each with the layer's settings, its
weight and bias, an input batch `x`, a projection `r`, and what PyTorch computes for the
cost C = sum(r * layer(x)): the output `y`, and `grad_x`, `grad_weight`, `grad_bias`. The
inputs and weights are float32 values (drawn with torch.manual_seed(0)); PyTorch computes
in float64 from them, so the reference is the exact answer for those float32 inputs, and
the Rust test (float32) is held to 1e-5 of each tensor's largest magnitude. Floats are
written with repr(), which round-trips exactly.

Weights are drawn with PyTorch's own default initialization (nn.Conv2d /
nn.ConvTranspose2d reset_parameters), so their scale is what a user of either gets.

Rerun (from the repository root):
    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch numpy
    /tmp/torchvenv/bin/python bench/peers/conv_torch_fixture.py
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def case(kind, layer, x, extra):
    """Run `layer` (float64 copy) on `x`, backprop C = sum(r * y)."""
    x = x.to(torch.float32).to(torch.float64).requires_grad_(True)
    layer = layer.to(torch.float64)
    y = layer(x)
    r = torch.randn(y.shape, dtype=torch.float32).to(torch.float64)
    (r * y).sum().backward()
    out = {
        "kind": kind,
        "batch": x.shape[0],
        "in_shape": list(x.shape[1:]),
        "out_shape": list(y.shape[1:]),
        "x": flat(x),
        "r": flat(r),
        "y": flat(y),
        "grad_x": flat(x.grad),
    }
    if hasattr(layer, "weight") and layer.weight is not None:
        out["weight_shape"] = list(layer.weight.shape)
        out["weight"] = flat(layer.weight)
        out["bias"] = flat(layer.bias)
        out["grad_weight"] = flat(layer.weight.grad)
        out["grad_bias"] = flat(layer.bias.grad)
    out.update(extra)
    return out


def conv(c_in, h, w, c_out, k, s, p, batch=2):
    layer = nn.Conv2d(c_in, c_out, k, stride=s, padding=p)  # float32 default init
    x = torch.randn(batch, c_in, h, w)
    return case("conv2d", layer, x, {"c_out": c_out, "k": k, "stride": s, "pad": p})


def conv_t(c_in, h, w, c_out, k, s, p, op, batch=2):
    layer = nn.ConvTranspose2d(c_in, c_out, k, stride=s, padding=p, output_padding=op)
    x = torch.randn(batch, c_in, h, w)
    extra = {"c_out": c_out, "k": k, "stride": s, "pad": p, "out_pad": op}
    return case("conv_transpose2d", layer, x, extra)


def spectral(c_in, h, w, c_out, k, s, p, batch=2):
    """torch.nn.utils.spectral_norm on a conv in training mode: one power iteration from
    the stored u (recorded before and after), then W = W_orig / sigma."""
    layer = nn.utils.spectral_norm(nn.Conv2d(c_in, c_out, k, stride=s, padding=p).double())
    u0 = flat(layer.weight_u)
    v0 = flat(layer.weight_v)
    x = torch.randn(batch, c_in, h, w).to(torch.float64).requires_grad_(True)
    y = layer(x)  # training mode: updates weight_u, weight_v
    r = torch.randn(y.shape, dtype=torch.float32).to(torch.float64)
    (r * y).sum().backward()
    w_orig = layer.weight_orig
    sigma = float((w_orig / layer.weight).detach().reshape(-1)[0])
    return {
        "kind": "spectral_conv2d",
        "batch": batch,
        "in_shape": [c_in, h, w],
        "out_shape": list(y.shape[1:]),
        "c_out": c_out, "k": k, "stride": s, "pad": p,
        "x": flat(x), "r": flat(r), "y": flat(y), "grad_x": flat(x.grad),
        "weight_shape": list(w_orig.shape),
        "weight": flat(w_orig), "bias": flat(layer.bias),
        "grad_weight": flat(w_orig.grad), "grad_bias": flat(layer.bias.grad),
        "u0": u0, "v0": v0, "u1": flat(layer.weight_u), "v1": flat(layer.weight_v),
        "sigma": sigma,
    }


def pool(c, h, w, k, batch=2):
    x = torch.randn(batch, c, h, w)
    return case("avg_pool2d", nn.AvgPool2d(k), x, {"k": k})


def leaky(n, slope, batch=3):
    x = torch.randn(batch, n)
    return case("leaky_relu", nn.LeakyReLU(slope), x, {"slope": slope})


cases = [
    conv(3, 7, 7, 4, 3, 1, 1),
    conv(2, 9, 8, 3, 4, 2, 1),
    conv(3, 5, 6, 5, 1, 1, 0),
    conv(1, 8, 8, 2, 5, 1, 0, batch=3),
    conv(2, 6, 6, 3, 3, 3, 2),
    conv_t(4, 4, 4, 3, 4, 2, 1, 0),
    conv_t(2, 3, 5, 3, 3, 2, 1, 1),
    conv_t(3, 5, 5, 2, 3, 1, 1, 0),
    pool(3, 7, 7, 2),
    pool(2, 8, 6, 3),
    leaky(10, 0.2),
    spectral(2, 6, 6, 4, 3, 1, 1),
    spectral(3, 5, 5, 2, 3, 2, 0),
]

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
path = os.path.join(root, "tests", "data", "conv_torch.json")
with open(path, "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f)
print(f"wrote {len(cases)} cases to {path} ({os.path.getsize(path)} bytes)")
