"""The compiler's op registry: an op's torch-free metadata joined to its module constructor.

Every op has ONE keyword-only constructor, shared by the final network and the supernet
(DARTS cnn/operations.py ``OPS[name](C, stride, affine)``, widened to channel changes)::

    spec = OPS.get("sep_conv_3x3")
    module = spec.build(c_in=16, c_out=16, stride=2, affine=True)   # + op parameters

The metadata (kind, arity, typed fields, shape and MAC rules, width field, stride) is an
:class:`~genolang.opmeta.OpMeta` of the core package, which ``check`` reads without torch;
:class:`OpSpec` exposes it (``spec.kind``, ``spec.out_shape(...)``, ``spec.macs(...)``) and
re-raises its errors as the compiler's (:class:`OpParamError`, :class:`ShapeError`).

:func:`register_op` attaches a constructor to a name: to the built-in metadata of
:mod:`genolang.builtin_ops` when called with the name only, or, for a new op, to metadata it
declares (``kind=``, ``shape=``, ``macs=``, ``arity=``, ``fields=`` or ``params=``, ...),
which it also registers in :data:`~genolang.opmeta.OP_META` so ``check`` accepts the op. Ops
of installed plugins (entry point group ``genolang.ops``) are built from their metadata's
``builder`` on first use (docs/extending.md).

Channel rule: an op whose natural output keeps the input channels (pools, identity) and is
asked for ``c_out != c_in`` is followed by ReLU-1x1 conv-BN, the ENAS micro calibration
(seed_algorithms.md section 4.1: "+ ReLU-1x1conv-BN if channel count differs").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from genolang.compiler.errors import OpParamError, RegistryError, ShapeError
from genolang.compiler.registry import Registry, first_line
from genolang.fields import Field, fields_from_params
from genolang.opmeta import OP_META, MacsFn, MetaError, MetaShapeError, OpMeta, ShapeFn, no_macs
from genolang.shapes import (
    calibration_macs,
    conv_len,
    conv_macs,
    factorized_reduce_macs,
    identity_like_macs,
    identity_like_shape,
    reduce_shape,
    window_shape,
)

__all__ = [
    "OPS",
    "RANKS",
    "MacsFn",
    "OpSpec",
    "Shape",
    "ShapeFn",
    "calibration_macs",
    "conv_len",
    "conv_macs",
    "factorized_reduce_macs",
    "identity_like_macs",
    "identity_like_shape",
    "no_macs",
    "reduce_shape",
    "register_op",
    "window_shape",
]

Shape = tuple[int, ...]

#: the rank (batch omitted) of each fixed input kind ("any" ops take ranks 1 to 3)
RANKS: dict[str, int] = {"map": 3, "vector": 1, "seq": 2}


@contextmanager
def compile_errors() -> Iterator[None]:
    """Re-raise the metadata's errors as the compiler's (same message)."""
    try:
        yield
    except MetaShapeError as err:
        raise ShapeError(err.first.message) from None
    except MetaError as err:
        raise OpParamError(err.first.message) from None


@dataclass(frozen=True)
class OpSpec:
    """One buildable op: its metadata (:class:`~genolang.opmeta.OpMeta`) and its constructor."""

    meta: OpMeta
    factory: Callable[..., nn.Module]

    name = property(lambda self: self.meta.name)
    kind = property(lambda self: self.meta.kind)
    arity = property(lambda self: self.meta.arity)
    width_param = property(lambda self: self.meta.width_param)
    strided = property(lambda self: bool(self.meta.strided))
    keeps_width = property(lambda self: self.meta.keeps_width)
    int_input = property(lambda self: self.meta.int_input)
    shape_fn = property(lambda self: self.meta.shape)
    macs_fn = property(lambda self: self.meta.macs)
    fields = property(lambda self: self.meta.fields)

    @property
    def params(self) -> dict[str, Any]:
        """``{name: default}`` of the op parameters."""
        return self.meta.params

    @property
    def source(self) -> str:
        return self.meta.source or first_line(self.factory)

    def bind(self, params: Mapping[str, Any], *, strict: bool = True) -> dict[str, Any]:
        """``params`` with defaults filled in; unknown keys raise (or are dropped if not strict)."""
        with compile_errors():
            return self.meta.bind(params, strict=strict)

    def build(self, *, c_in: int, c_out: int, stride: int = 1, affine: bool = True,
              **params: Any) -> nn.Module:
        """A fresh module; ``affine=False`` gives BN without learned scale (DARTS MixedOp)."""
        with compile_errors():
            self.meta.check_geometry(c_in, c_out, stride)
        return self.factory(c_in=c_in, c_out=c_out, stride=stride, affine=affine, **self.bind(params))

    def out_shape(self, in_shapes: Sequence[Shape], *, c_out: int, stride: int = 1, **params: Any) -> Shape:
        """The output shape (batch omitted) for inputs of ``in_shapes``, without building."""
        with compile_errors():
            return self.meta.out_shape(in_shapes, c_out=c_out, stride=stride, **params)

    def macs(self, in_shapes: Sequence[Shape], *, c_out: int, stride: int = 1, **params: Any) -> int:
        """Multiply-accumulates per sample (convs, linears, matmuls)."""
        with compile_errors():
            return self.meta.count_macs(in_shapes, c_out=c_out, stride=stride, **params)

    def fitted(self, in_shapes: Sequence[Shape], params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` bound and fitted to inputs of ``in_shapes`` (the metadata's ``fit``)."""
        with compile_errors():
            return self.meta.fitted(in_shapes, params)

    def check_inputs(self, in_shapes: Sequence[Shape]) -> tuple[Shape, ...]:
        """Refuse a wrong number of inputs, a wrong rank, or unequal binary inputs."""
        with compile_errors():
            return self.meta.check_inputs(in_shapes)


def _wrap(name: str, factory: Callable[..., nn.Module], **declared: Any) -> OpSpec:
    """The spec of ``factory``: on the op's existing metadata, or on the metadata ``declared``."""
    if not declared:
        if name not in OP_META:
            raise RegistryError(f"op {name!r} has no metadata: declare it here (kind=, shape=, ...) or with "
                                "genolang.opmeta.op_meta before attaching a constructor")
        return OpSpec(OP_META.get(name), factory)
    if name in OP_META:
        raise RegistryError(f"op {name!r} is already registered (by {OP_META.origin(name)}); "
                            f"registering it again from {getattr(factory, '__module__', '?')} is refused")
    meta = declare(name, factory, **declared)
    OP_META.add(name, meta, origin=getattr(factory, "__module__", "?"))
    return OpSpec(meta, factory)


def declare(name: str, factory: Callable[..., nn.Module], *, kind: str, shape: ShapeFn, macs: MacsFn = no_macs,
            params: Mapping[str, Any] | None = None, fields: Sequence[Field] = (), **meta: Any) -> OpMeta:
    """Metadata for an op declared at run time (``params`` old style, or typed ``fields``)."""
    with compile_errors():
        return OpMeta(name, kind, shape, macs=macs, fields=tuple(fields) or fields_from_params(params or {}),
                      builder=factory, **meta)


def _from_meta(name: str) -> OpSpec | None:
    """A plugin op's spec, its constructor loaded from its metadata's builder."""
    if name not in OP_META:
        return None
    meta = OP_META.get(name)
    with compile_errors():
        return OpSpec(meta, meta.load())


#: the op registry: ``OPS.get(name)`` -> :class:`OpSpec`
OPS: Registry[OpSpec] = Registry("op", wrap=_wrap, fallback=_from_meta, extra_names=OP_META.names)


def register_op(name: str, **meta: Any) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator attaching an op constructor to ``name`` in :data:`OPS` (see :func:`declare` for ``meta``)."""
    return OPS.register(name, **meta)


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

    Three widenings, identical to DARTS on even sizes: an odd ``c_out`` gives the second conv the
    extra channel, the input is zero-padded by one row and column before the shifted view
    (as NAS-Bench-201's FactorizedReduce) so odd H, W give ceil(H/2) from both convs, and a
    single output channel (which cannot be split in two) comes from the first conv alone.
    """

    def __init__(self, c_in: int, c_out: int, *, affine: bool = True):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        first = c_out // 2 if c_out > 1 else 1
        self.conv_1 = nn.Conv2d(c_in, first, 1, stride=2, padding=0, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out - first, 1, stride=2, padding=0, bias=False) if c_out > 1 else None
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        if self.conv_2 is None:
            y: torch.Tensor = self.bn(self.conv_1(x))
            return y
        shifted = nn.functional.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        y = self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))
        return y


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
