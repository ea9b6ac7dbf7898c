"""ENAS / RandomNet cell ops on (N, C, H, W) maps: conv3x3, conv5x5, sep3x3, sep5x5,
maxpool3x3, avgpool3x3, identity.

Source: ENAS reference code (melodyguan/enas src/cifar10/general_child.py, the macro space
with ``search_whole_channels``; seed_algorithms.md section 4.2), which is the op set RandomNet
reuses (section 6: "conv 3x3/5x5, sep conv 3x3/5x5, max/avg pool"):

- ``_conv_branch``: 1x1 conv (C_in -> C_out) - BN - ReLU, then a k x k conv (``separable``:
  depthwise k x k, channel multiplier 1, then pointwise) - BN - ReLU.
- ``_pool_branch``: 1x1 conv - BN - ReLU, then a 3x3 pool, stride 1, "SAME" padding (TF's SAME
  average excludes the padding: ``count_include_pad=False``).

The branch's final ReLU is NOT part of the op: in the language a node is ``act(op(x))``, so
the node's ``act`` supplies it (``act = relu`` reproduces ENAS; RandomNet searches it).
The stride (absent from ENAS's macro branches, which reduce with separate pooling layers) is
applied by the k x k conv or the pool.

``identity`` comes from the ENAS micro cell (micro_child.py ``_enas_cell``, section 4.1):
identity, with a ReLU-1x1 conv-BN calibration when the channels differ; at stride 2 the
factorized reduction (DARTS's FactorizedReduce, the same two shifted 1x1 stride-2 paths).
"""

from __future__ import annotations

from torch import nn

from genolang.compiler.ops.base import identity_like, register_op


def inp_conv(c_in: int, c_out: int, *, affine: bool = True) -> list[nn.Module]:
    """ENAS ``inp_conv_1`` / pool branch ``conv_1``: 1x1 conv - BN - ReLU."""
    return [nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out, affine=affine), nn.ReLU(inplace=False)]


class ConvBranch(nn.Sequential):
    """ENAS ``_conv_branch`` without its last ReLU: 1x1 conv-BN-ReLU, k x k (sep) conv (stride), BN."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, *, separable: bool, affine: bool = True):
        p = (k - 1) // 2
        if separable:
            body: list[nn.Module] = [
                nn.Conv2d(c_out, c_out, k, stride=stride, padding=p, groups=c_out, bias=False),
                nn.Conv2d(c_out, c_out, 1, bias=False)]
        else:
            body = [nn.Conv2d(c_out, c_out, k, stride=stride, padding=p, bias=False)]
        super().__init__(*inp_conv(c_in, c_out, affine=affine), *body, nn.BatchNorm2d(c_out, affine=affine))


class PoolBranch(nn.Sequential):
    """ENAS ``_pool_branch``: 1x1 conv-BN-ReLU, then a 3x3 max or average pool (stride), SAME padding."""

    def __init__(self, c_in: int, c_out: int, stride: int, *, avg: bool, affine: bool = True):
        pool = (nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False) if avg
                else nn.MaxPool2d(3, stride=stride, padding=1))
        super().__init__(*inp_conv(c_in, c_out, affine=affine), pool)


def _register_conv(name: str, k: int, separable: bool) -> None:
    def build(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True) -> nn.Module:
        return ConvBranch(c_in, c_out, k, stride, separable=separable, affine=affine)

    kind = "separable " if separable else ""
    build.__doc__ = f"ENAS {kind}conv {k}x{k} branch: 1x1 conv-BN-ReLU, {kind}{k}x{k} conv, BN."
    register_op(name)(build)


def _register_pool(name: str, avg: bool) -> None:
    def build(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True) -> nn.Module:
        return PoolBranch(c_in, c_out, stride, avg=avg, affine=affine)

    build.__doc__ = f"ENAS {'avg' if avg else 'max'} pool branch: 1x1 conv-BN-ReLU, 3x3 pool."
    register_op(name)(build)


@register_op("identity")
def identity(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True) -> nn.Module:
    """ENAS micro identity: x (+ ReLU-1x1 conv-BN if the channels differ; factorized reduction at stride 2)."""
    return identity_like(c_in, c_out, stride, affine=affine)


_register_conv("conv3x3", 3, False)
_register_conv("conv5x5", 5, False)
_register_conv("sep3x3", 3, True)
_register_conv("sep5x5", 5, True)
_register_pool("maxpool3x3", False)
_register_pool("avgpool3x3", True)
