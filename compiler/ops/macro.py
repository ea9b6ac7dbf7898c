"""Zoph & Le's macro convolution ``conv`` on (N, C, H, W) maps, with a searched kernel.

Source: Neural Architecture Search with Reinforcement Learning (Zoph & Le, ICLR 2017;
seed_algorithms.md section 5; examples/spaces/zoph_le_macro.geno). Each layer is
``conv2D(FH, FW, N) -> batch norm -> ReLU``; the controller picks the filter height
(``kernel_h``), width (``kernel_w``) and number (``filters``, the op's ``c_out``). The ReLU is
the node's ``act``. Padding keeps the size ('same'), so the kernels must be odd (the paper
searches {1, 3, 5, 7}); ``kernel`` sets both sides at once. No bias: BN follows.

With ``kernel_h = kernel_w = 3`` this is also exactly DARTS's stem (3x3 conv + BN, cnn/model.py).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from genolang.compiler.errors import OpParamError
from genolang.compiler.ops.base import Shape, conv_len, conv_macs, register_op

SOURCE = "Zoph & Le 2017 conv2D(FH, FW, N) - BN (seed_algorithms.md section 5)"
PARAMS: dict[str, Any] = {"kernel_h": 3, "kernel_w": 3, "kernel": None}


def kernel_size(*, kernel_h: int, kernel_w: int, kernel: int | None) -> tuple[int, int]:
    """(FH, FW), ``kernel`` overriding both; even or non-positive sizes are refused."""
    kh, kw = (kernel, kernel) if kernel is not None else (kernel_h, kernel_w)
    for side, k in (("kernel_h", kh), ("kernel_w", kw)):
        if not isinstance(k, int) or k < 1 or k % 2 == 0:
            raise OpParamError(f"op 'conv': {side} must be a positive odd integer ('same' padding), got {k!r}")
    return kh, kw


def _out_hw(in_shapes: tuple[Shape, ...], stride: int, **params: Any) -> tuple[int, int, int, int]:
    _, h, w = in_shapes[0]
    kh, kw = kernel_size(**params)
    return kh, kw, conv_len(h, kh, stride, kh // 2), conv_len(w, kw, stride, kw // 2)


def _shape(in_shapes: tuple[Shape, ...], *, c_out: int, stride: int, **params: Any) -> Shape:
    _, _, ho, wo = _out_hw(in_shapes, stride, **params)
    return (c_out, ho, wo)


def _macs(in_shapes: tuple[Shape, ...], *, c_out: int, stride: int, **params: Any) -> int:
    kh, kw, ho, wo = _out_hw(in_shapes, stride, **params)
    return conv_macs(in_shapes[0][0], c_out, kh, kw, ho, wo)


@register_op("conv", kind="map", shape=_shape, macs=_macs, params=PARAMS, source=SOURCE)
def conv(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True, kernel_h: int = 3, kernel_w: int = 3,
         kernel: int | None = None) -> nn.Module:
    """Zoph & Le layer: Conv2d(c_in, filters, (FH, FW), stride, 'same' padding, no bias) -> BN."""
    kh, kw = kernel_size(kernel_h=kernel_h, kernel_w=kernel_w, kernel=kernel)
    return nn.Sequential(nn.Conv2d(c_in, c_out, (kh, kw), stride=stride, padding=(kh // 2, kw // 2), bias=False),
                         nn.BatchNorm2d(c_out, affine=affine))
