"""DARTS primitives and the NASNet ops that catalog.OPS adds, on (N, C, H, W) maps.

Source: DARTS reference code (quark0/darts cnn/operations.py; seed_algorithms.md section 3):
``none`` = Zero(stride); ``avg_pool_3x3`` = AvgPool2d(3, stride, 1, count_include_pad=False);
``max_pool_3x3`` = MaxPool2d(3, stride, 1); ``skip_connect`` = Identity at stride 1, else
FactorizedReduce; ``sep_conv_k`` = SepConv (two stacked ReLU, depthwise k x k, 1x1, BN; the
stride in the first depthwise conv); ``dil_conv_k`` = DilConv (ReLU, depthwise k x k with
dilation 2, 1x1, BN; padding 2 for 3x3, 4 for 5x5); ``sep_conv_7x7`` as in DARTS's OPS table.

NASNet ops (Zoph, Vasudevan, Shlens, Le, CVPR 2018, Section 3's list of 13 operations) that
DARTS does not define as primitives, written in DARTS's ReLU-conv-BN form: ``conv1x1``,
``conv1x3_3x1`` and ``conv1x7_7x1`` (DARTS's ``conv_7x1_1x7`` pattern: ReLU, 1 x k conv with
stride (1, s), k x 1 conv with stride (s, 1), BN), ``dilated_conv3x3`` (a full 3x3 conv with
dilation 2, not separable), ``max_pool_5x5`` and ``max_pool_7x7``.

Channels: DARTS ops map C -> C; here the last conv maps to ``c_out`` (DARTS's
SepConv(C_in, C_out) and DilConv(C_in, C_out) already do), pools get the 1x1 calibration of
:mod:`.base` when ``c_out != c_in``, and the MixedOp's BN after pools is the supernet's job.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from genolang.compiler.ops.base import (MacsFn, Shape, ReLUConvBN, Zero, calibrated, calibration_macs, conv_len,
                                         conv_macs, identity_like, identity_like_macs, identity_like_shape, no_macs,
                                         reduce_shape, register_op, window_shape)

SOURCE = "DARTS cnn/operations.py (seed_algorithms.md section 3)"
NASNET = "NASNet (Zoph et al. 2018, Section 3) in DARTS's ReLU-conv-BN form"


class SepConv(nn.Sequential):
    """DARTS ``SepConv``: [ReLU, depthwise k x k (stride), 1x1, BN] then [ReLU, depthwise k x k, 1x1 -> c_out, BN]."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, *, affine: bool = True):
        p = (k - 1) // 2
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, k, stride=stride, padding=p, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_in, 1, bias=False),
            nn.BatchNorm2d(c_in, affine=affine),
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, k, stride=1, padding=p, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class DilConv(nn.Sequential):
    """DARTS ``DilConv``: ReLU, depthwise k x k with dilation 2 (stride), 1x1 -> c_out, BN."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, *, dilation: int = 2, affine: bool = True):
        p = dilation * (k - 1) // 2
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, k, stride=stride, padding=p, dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class FactorizedConv(nn.Sequential):
    """DARTS ``conv_7x1_1x7`` pattern: ReLU, 1 x k conv (stride (1, s)), k x 1 conv -> c_out (stride (s, 1)), BN."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, *, affine: bool = True):
        p = (k - 1) // 2
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, (1, k), stride=(1, stride), padding=(0, p), bias=False),
            nn.Conv2d(c_in, c_out, (k, 1), stride=(stride, 1), padding=(p, 0), bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


def _out_hw(in_shapes: tuple[Shape, ...], k: int, stride: int, dil: int = 1) -> tuple[int, int]:
    _, h, w = in_shapes[0]
    p = dil * (k - 1) // 2
    return conv_len(h, k, stride, p, dil), conv_len(w, k, stride, p, dil)


def _sep_macs(k: int) -> MacsFn:
    def macs(in_shapes: tuple[Shape, ...], *, c_out: int, stride: int, **_: Any) -> int:
        c = in_shapes[0][0]
        h, w = _out_hw(in_shapes, k, stride)
        first = conv_macs(c, c, k, k, h, w, groups=c) + conv_macs(c, c, 1, 1, h, w)
        return first + conv_macs(c, c, k, k, h, w, groups=c) + conv_macs(c, c_out, 1, 1, h, w)
    return macs


def _dil_macs(k: int) -> MacsFn:
    def macs(in_shapes: tuple[Shape, ...], *, c_out: int, stride: int, **_: Any) -> int:
        c = in_shapes[0][0]
        h, w = _out_hw(in_shapes, k, stride, dil=2)
        return conv_macs(c, c, k, k, h, w, groups=c) + conv_macs(c, c_out, 1, 1, h, w)
    return macs


def _conv_macs(k: int, dil: int = 1) -> MacsFn:
    def macs(in_shapes: tuple[Shape, ...], *, c_out: int, stride: int, **_: Any) -> int:
        h, w = _out_hw(in_shapes, k, stride, dil)
        return conv_macs(in_shapes[0][0], c_out, k, k, h, w)
    return macs


def _factorized_macs(k: int) -> MacsFn:
    def macs(in_shapes: tuple[Shape, ...], *, c_out: int, stride: int, **_: Any) -> int:
        c, h, _ = in_shapes[0]
        h_out, w_out = _out_hw(in_shapes, k, stride)
        return conv_macs(c, c, 1, k, h, w_out) + conv_macs(c, c_out, k, 1, h_out, w_out)
    return macs


def _pool_macs(k: int) -> MacsFn:
    def macs(in_shapes: tuple[Shape, ...], *, c_out: int, stride: int, **_: Any) -> int:
        return calibration_macs(in_shapes[0][0], c_out, *_out_hw(in_shapes, k, stride))
    return macs


@register_op("none", kind="map", shape=reduce_shape, macs=no_macs, source=SOURCE)
def none(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True) -> nn.Module:
    """DARTS ``Zero(stride)``: the absent edge of the relaxed search."""
    return Zero(c_in, c_out, stride)


@register_op("skip_connect", kind="map", shape=identity_like_shape, macs=identity_like_macs,
             source=SOURCE)
def skip_connect(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True) -> nn.Module:
    """DARTS ``skip_connect``: Identity at stride 1, FactorizedReduce(C, C) at stride 2."""
    return identity_like(c_in, c_out, stride, affine=affine)


def _register_sep(k: int, source: str) -> None:
    def build(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True) -> nn.Module:
        return SepConv(c_in, c_out, k, stride, affine=affine)

    build.__doc__ = f"DARTS ``SepConv(C, C, {k}, stride, {(k - 1) // 2})``."
    register_op(f"sep_conv_{k}x{k}", kind="map", shape=window_shape(k, k), macs=_sep_macs(k),
                source=source)(build)


def _register_dil(k: int) -> None:
    def build(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True) -> nn.Module:
        return DilConv(c_in, c_out, k, stride, affine=affine)

    build.__doc__ = f"DARTS ``DilConv(C, C, {k}, stride, {k - 1}, 2)``."
    register_op(f"dil_conv_{k}x{k}", kind="map", shape=window_shape(k, k, dil=2), macs=_dil_macs(k),
                source=SOURCE)(build)


def _register_pool(name: str, k: int, avg: bool, source: str) -> None:
    def build(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True) -> nn.Module:
        pool = (nn.AvgPool2d(k, stride=stride, padding=k // 2, count_include_pad=False) if avg
                else nn.MaxPool2d(k, stride=stride, padding=k // 2))
        return calibrated(pool, c_in, c_out, affine=affine)

    build.__doc__ = f"{'AvgPool2d' if avg else 'MaxPool2d'}({k}, stride, {k // 2})" + (
        ", count_include_pad=False" if avg else "")
    register_op(name, kind="map", shape=window_shape(k, k), macs=_pool_macs(k), source=source)(build)


def _register_factorized(k: int) -> None:
    def build(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True) -> nn.Module:
        return FactorizedConv(c_in, c_out, k, stride, affine=affine)

    build.__doc__ = f"NASNet 1x{k} then {k}x1 convolution."
    register_op(f"conv1x{k}_{k}x1", kind="map", shape=window_shape(k, k), macs=_factorized_macs(k),
                source=NASNET)(build)


@register_op("conv1x1", kind="map", shape=window_shape(1, 1), macs=_conv_macs(1), source=NASNET)
def conv1x1(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True) -> nn.Module:
    """NASNet 1x1 convolution: DARTS ``ReLUConvBN(C_in, C_out, 1, stride, 0)``."""
    return ReLUConvBN(c_in, c_out, 1, stride, 0, affine=affine)


@register_op("dilated_conv3x3", kind="map", shape=window_shape(3, 3, dil=2), macs=_conv_macs(3, 2),
             source=NASNET)
def dilated_conv3x3(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True) -> nn.Module:
    """NASNet 3x3 dilated convolution: ReLU, full 3x3 conv with dilation 2 (padding 2), BN."""
    return ReLUConvBN(c_in, c_out, 3, stride, 2, dilation=2, affine=affine)


for _k in (3, 5):
    _register_sep(_k, SOURCE)
    _register_dil(_k)
_register_sep(7, "DARTS cnn/operations.py OPS['sep_conv_7x7'] (NASNet's 7x7 separable conv)")
_register_pool("max_pool_3x3", 3, False, SOURCE)
_register_pool("avg_pool_3x3", 3, True, SOURCE)
_register_pool("max_pool_5x5", 5, False, NASNET)
_register_pool("max_pool_7x7", 7, False, NASNET)
for _k in (3, 7):
    _register_factorized(_k)
