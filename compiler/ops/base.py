"""The op registry, its entry type and the modules several op families share.

Every op has ONE keyword-only constructor, shared by the final network and the supernet
(DARTS cnn/operations.py ``OPS[name](C, stride, affine)``, widened to channel changes)::

    spec = OPS.get("sep_conv_3x3")
    module = spec.build(c_in=16, c_out=16, stride=2, affine=True)   # + op parameters

and metadata for static shape inference without building anything:

- ``kind``: what it consumes and produces: "map" (N, C, H, W), "vector" (N, D) or
  "seq" (N, C, L) (BM-NAS); shapes handed to the shape functions omit the batch.
- ``arity``: 1 (unary) or 2 (BM-NAS step ops take (x, y)).
- ``out_shape(in_shapes, c_out=..., stride=..., **params)`` and ``macs(...)`` (multiply-
  accumulates of the convolutions, linears and matmuls per sample; BN, pools and
  element-wise ops count 0).
- ``params``: the op parameters it accepts, with defaults; ``width_param``: the node field
  that sets ``c_out`` ("filters" for map ops, "hidden" for ``fc``), else the cell width;
  ``keeps_width``: ``c_out`` must equal ``c_in`` (BM-NAS step ops); ``strided``: takes a stride.

Channel rule: an op whose natural output keeps the input channels (pools, identity) and is
asked for ``c_out != c_in`` is followed by ReLU-1x1 conv-BN, the ENAS micro calibration
(seed_algorithms.md section 4.1: "+ ReLU-1x1conv-BN if channel count differs").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from genolang.compiler.errors import OpParamError, ShapeError
from genolang.compiler.registry import Registry, bind_params, first_line

Shape = tuple[int, ...]
ShapeFn = Callable[..., Shape]
MacsFn = Callable[..., int]

#: the rank (batch omitted) of each input kind
RANKS: dict[str, int] = {"map": 3, "vector": 1, "seq": 2}


@dataclass(frozen=True)
class OpSpec:
    """One registered op: its constructor and its static metadata (see the module doc)."""

    name: str
    factory: Callable[..., nn.Module]
    kind: str
    shape_fn: ShapeFn
    macs_fn: MacsFn
    arity: int = 1
    params: Mapping[str, Any] = field(default_factory=dict)
    width_param: str | None = None
    strided: bool = False
    keeps_width: bool = False
    source: str = ""

    def bind(self, params: Mapping[str, Any], *, strict: bool = True) -> dict[str, Any]:
        """``params`` with defaults filled in; unknown keys raise (or are dropped if not strict)."""
        return bind_params(f"op {self.name!r}", self.params, params, strict=strict)

    def build(self, *, c_in: int, c_out: int, stride: int = 1, affine: bool = True,
              **params: Any) -> nn.Module:
        """A fresh module; ``affine=False`` gives BN without learned scale (DARTS MixedOp)."""
        self._check_geometry(c_in, c_out, stride)
        return self.factory(c_in=c_in, c_out=c_out, stride=stride, affine=affine, **self.bind(params))

    def out_shape(self, in_shapes: Sequence[Shape], *, c_out: int, stride: int = 1, **params: Any) -> Shape:
        """The output shape (batch omitted) for inputs of ``in_shapes``, without building."""
        shapes = self.check_inputs(in_shapes)
        self._check_geometry(shapes[0][0], c_out, stride)
        return tuple(int(d) for d in self.shape_fn(shapes, c_out=c_out, stride=stride, **self.bind(params)))

    def macs(self, in_shapes: Sequence[Shape], *, c_out: int, stride: int = 1, **params: Any) -> int:
        """Multiply-accumulates per sample (convs, linears, matmuls)."""
        shapes = self.check_inputs(in_shapes)
        return int(self.macs_fn(shapes, c_out=c_out, stride=stride, **self.bind(params)))

    def check_inputs(self, in_shapes: Sequence[Shape]) -> tuple[Shape, ...]:
        """Refuse a wrong number of inputs, a wrong rank, or unequal binary inputs."""
        shapes = tuple(tuple(int(d) for d in s) for s in in_shapes)
        if len(shapes) != self.arity:
            raise ShapeError(f"op {self.name!r} takes {self.arity} input(s), got {len(shapes)}")
        rank = RANKS[self.kind]
        for s in shapes:
            if len(s) != rank or min(s) < 1:
                raise ShapeError(f"op {self.name!r} consumes {self.kind} inputs of rank {rank} "
                                 f"(batch omitted), got shape {list(s)}")
        if len(set(shapes)) > 1:
            raise ShapeError(f"op {self.name!r} needs inputs of one shape, got {[list(s) for s in shapes]}")
        return shapes

    def _check_geometry(self, c_in: int, c_out: int, stride: int) -> None:
        if c_in < 1 or c_out < 1:
            raise OpParamError(f"op {self.name!r}: channels must be positive (c_in={c_in}, c_out={c_out})")
        if stride != 1 and not self.strided:
            raise OpParamError(f"op {self.name!r} ({self.kind} op) takes no stride, got stride={stride}")
        if stride < 1:
            raise OpParamError(f"op {self.name!r}: stride must be >= 1, got {stride}")
        if self.keeps_width and c_out != c_in:
            raise OpParamError(f"op {self.name!r} keeps the width: c_out must equal c_in ({c_in}), got {c_out}")


def _wrap(name: str, factory: Callable[..., nn.Module], *, kind: str, shape: ShapeFn, macs: MacsFn,
          arity: int = 1, params: Mapping[str, Any] | None = None, width_param: str | None = None,
          keeps_width: bool = False, source: str = "") -> OpSpec:
    if kind not in RANKS:
        raise ValueError(f"op {name!r}: kind must be one of {sorted(RANKS)}, got {kind!r}")
    if width_param is None:
        width_param = {"map": "filters", "vector": "hidden"}.get(kind)
    return OpSpec(name=name, factory=factory, kind=kind, shape_fn=shape, macs_fn=macs, arity=arity,
                  params=dict(params or {}), width_param=width_param, strided=kind == "map",
                  keeps_width=keeps_width, source=source or first_line(factory))


#: the op registry: ``OPS.get(name)`` -> :class:`OpSpec`
OPS: Registry[OpSpec] = Registry("op", wrap=_wrap)


def register_op(name: str, **meta: Any) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering an op constructor in :data:`OPS` (see :func:`_wrap` for ``meta``)."""
    return OPS.register(name, **meta)


# ---------------------------------------------------------------- shape and MAC arithmetic


def no_macs(*_: Any, **__: Any) -> int:
    """MACs of parameter-free ops (zero, pools without calibration, sum)."""
    return 0


def conv_len(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Output length of a convolution or pooling window (PyTorch floor rule)."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def window_shape(kh: int, kw: int, *, dil: int = 1, channels: str = "out") -> ShapeFn:
    """Shape function of a ``kh x kw`` window with 'same' padding ``d*(k-1)//2`` at the stride.

    ``channels="out"`` gives ``c_out`` channels (convs, and channel-keeping ops which are
    calibrated to ``c_out``).
    """

    def shape(in_shapes: tuple[Shape, ...], *, c_out: int, stride: int, **_: Any) -> Shape:
        _, h, w = in_shapes[0]
        ph, pw = dil * (kh - 1) // 2, dil * (kw - 1) // 2
        return (c_out, conv_len(h, kh, stride, ph, dil), conv_len(w, kw, stride, pw, dil))

    return shape


def reduce_shape(in_shapes: tuple[Shape, ...], *, c_out: int, stride: int, **_: Any) -> Shape:
    """Shape of identity-like ops: H and W divided by the stride, rounded up."""
    _, h, w = in_shapes[0]
    return (c_out, math.ceil(h / stride), math.ceil(w / stride))


def conv_macs(c_in: int, c_out: int, kh: int, kw: int, h_out: int, w_out: int, groups: int = 1) -> int:
    """MACs of one 2-D convolution producing a ``c_out x h_out x w_out`` map."""
    return c_out * h_out * w_out * (c_in // groups) * kh * kw


def calibration_macs(c_in: int, c_out: int, h_out: int, w_out: int) -> int:
    """MACs of the 1x1 calibration a channel-keeping op gets when ``c_out != c_in``."""
    return 0 if c_in == c_out else conv_macs(c_in, c_out, 1, 1, h_out, w_out)


# ---------------------------------------------------------------- shared modules


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv (no bias) -> BN (DARTS cnn/operations.py ``ReLUConvBN``; dilation added)."""

    def __init__(self, c_in: int, c_out: int, kernel: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0, *, dilation: int = 1, affine: bool = True):
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, dilation=dilation,
                                   bias=False),
                         nn.BatchNorm2d(c_out, affine=affine))


class FactorizedReduce(nn.Module):
    """DARTS ``FactorizedReduce``: ReLU, two 1x1 stride-2 convs (the second on x[:, :, 1:, 1:]), cat, BN.

    Two widenings, identical to DARTS on even sizes: an odd ``c_out`` gives the second conv the
    extra channel, and the input is zero-padded by one row and column before the shifted view
    (as NAS-Bench-201's FactorizedReduce) so odd H, W give ceil(H/2) from both convs.
    """

    def __init__(self, c_in: int, c_out: int, *, affine: bool = True):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out - c_out // 2, 1, stride=2, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = nn.functional.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


def factorized_reduce_macs(c_in: int, c_out: int, h: int, w: int) -> int:
    """MACs of :class:`FactorizedReduce` on an ``h x w`` input."""
    return conv_macs(c_in, c_out, 1, 1, math.ceil(h / 2), math.ceil(w / 2))


class Zero(nn.Module):
    """DARTS ``Zero(stride)``: ``x * 0`` subsampled by the stride; ``c_out`` channels."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.c_in, self.c_out, self.stride = c_in, c_out, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.c_out == self.c_in:
            return x.mul(0.0)
        return x[:, :1].mul(0.0).repeat(1, self.c_out, 1, 1)


def calibrated(op: nn.Module, c_in: int, c_out: int, *, affine: bool = True) -> nn.Module:
    """``op`` followed by ReLU-1x1 conv-BN when the channels differ (ENAS micro calibration)."""
    if c_in == c_out:
        return op
    return nn.Sequential(op, ReLUConvBN(c_in, c_out, 1, affine=affine))


def identity_like(c_in: int, c_out: int, stride: int, *, affine: bool = True) -> nn.Module:
    """Identity at stride 1 (1x1 calibration if the channels differ), FactorizedReduce at stride 2."""
    if stride == 1:
        return calibrated(nn.Identity(), c_in, c_out, affine=affine)
    if stride == 2:
        return FactorizedReduce(c_in, c_out, affine=affine)
    raise OpParamError(f"identity-like ops support stride 1 or 2, got {stride}")


def identity_like_shape(in_shapes: tuple[Shape, ...], *, c_out: int, stride: int, **_: Any) -> Shape:
    """Shape of :func:`identity_like` (stride 1 or 2 only)."""
    if stride > 2:
        raise OpParamError(f"identity-like ops support stride 1 or 2, got {stride}")
    return reduce_shape(in_shapes, c_out=c_out, stride=stride)


def identity_like_macs(in_shapes: tuple[Shape, ...], *, c_out: int, stride: int, **_: Any) -> int:
    """MACs of :func:`identity_like`."""
    c_in, h, w = in_shapes[0]
    if stride == 1:
        return calibration_macs(c_in, c_out, h, w)
    return factorized_reduce_macs(c_in, c_out, h, w)
