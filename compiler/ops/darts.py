"""DARTS primitives and the NASNet ops the built-in metadata adds, on (N, C, H, W) maps.

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

Shapes and MACs: :mod:`genolang.shapes` (metadata in :mod:`genolang.builtin_ops`).

Channels: DARTS ops map C -> C; here the last conv maps to ``c_out`` (DARTS's
SepConv(C_in, C_out) and DilConv(C_in, C_out) already do), pools get the 1x1 calibration of
:mod:`.base` when ``c_out != c_in``, and the MixedOp's BN after pools is the supernet's job.
"""

from __future__ import annotations

from torch import nn

from genolang.compiler.ops.base import ReLUConvBN, Zero, calibrated, identity_like, register_op


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


@register_op("none")
def none(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True) -> nn.Module:
    """DARTS ``Zero(stride)``: the absent edge of the relaxed search."""
    return Zero(c_in, c_out, stride)


@register_op("skip_connect")
def skip_connect(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True) -> nn.Module:
    """DARTS ``skip_connect``: Identity at stride 1, FactorizedReduce(C, C) at stride 2."""
    return identity_like(c_in, c_out, stride, affine=affine)


def _register_sep(k: int) -> None:
    def build(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True) -> nn.Module:
        return SepConv(c_in, c_out, k, stride, affine=affine)

    build.__doc__ = f"DARTS ``SepConv(C, C, {k}, stride, {(k - 1) // 2})``."
    register_op(f"sep_conv_{k}x{k}")(build)


def _register_dil(k: int) -> None:
    def build(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True) -> nn.Module:
        return DilConv(c_in, c_out, k, stride, affine=affine)

    build.__doc__ = f"DARTS ``DilConv(C, C, {k}, stride, {k - 1}, 2)``."
    register_op(f"dil_conv_{k}x{k}")(build)


def _register_pool(name: str, k: int, avg: bool) -> None:
    def build(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True) -> nn.Module:
        pool = (nn.AvgPool2d(k, stride=stride, padding=k // 2, count_include_pad=False) if avg
                else nn.MaxPool2d(k, stride=stride, padding=k // 2))
        return calibrated(pool, c_in, c_out, affine=affine)

    build.__doc__ = f"{'AvgPool2d' if avg else 'MaxPool2d'}({k}, stride, {k // 2})" + (
        ", count_include_pad=False" if avg else "")
    register_op(name)(build)


def _register_factorized(k: int) -> None:
    def build(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True) -> nn.Module:
        return FactorizedConv(c_in, c_out, k, stride, affine=affine)

    build.__doc__ = f"NASNet 1x{k} then {k}x1 convolution."
    register_op(f"conv1x{k}_{k}x1")(build)


@register_op("conv1x1")
def conv1x1(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True) -> nn.Module:
    """NASNet 1x1 convolution: DARTS ``ReLUConvBN(C_in, C_out, 1, stride, 0)``."""
    return ReLUConvBN(c_in, c_out, 1, stride, 0, affine=affine)


@register_op("dilated_conv3x3")
def dilated_conv3x3(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True) -> nn.Module:
    """NASNet 3x3 dilated convolution: ReLU, full 3x3 conv with dilation 2 (padding 2), BN."""
    return ReLUConvBN(c_in, c_out, 3, stride, 2, dilation=2, affine=affine)


for _k in (3, 5):
    _register_sep(_k)
    _register_dil(_k)
_register_sep(7)
_register_pool("max_pool_3x3", 3, False)
_register_pool("avg_pool_3x3", 3, True)
_register_pool("max_pool_5x5", 5, False)
_register_pool("max_pool_7x7", 7, False)
for _k in (3, 7):
    _register_factorized(_k)
