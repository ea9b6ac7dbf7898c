"""What the language knows about ops, activations and backbones, readable without torch.

Each entry is metadata plus a reference to its builder (a ``"module:function"`` string or the
function itself); the compiler imports the builder when it builds a network, ``check`` never
does. The metadata of an op:

- ``name``; ``kind``: what it consumes, "map" (C, H, W), "seq" (C, L), "vector" (D), or "any"
  (any of the three, as it comes; element-wise ops, normalisation, attention);
- ``arity``: the number of inputs (1, or 2 for BM-NAS step ops taking (x, y));
- ``fields``: its parameters as :class:`~genolang.fields.Field` (type, default, range);
- ``shape``: the shape rule ``shape(in_shapes, *, c_out, stride, **params) -> out_shape``
  (shapes omit the batch) and ``macs``: multiply-accumulates per sample, same signature;
- ``width_param``: the node field that sets ``c_out`` ("filters" for map ops, "hidden" for
  vector ops, ``None``: the enclosing container's width); ``keeps_width``: ``c_out`` must
  equal the input's width; ``strided``: takes a node's ``stride``; ``max_stride``: the
  largest stride it takes (``None``: any); ``int_input``: reads integer ids (embeddings; no
  gradient reaches its input);
- ``fit``: the parameters the op takes on inputs of given shapes, ``fit(in_shapes, params)
  -> params`` (a divisor rule: ``heads`` of attention, ``groups`` of GroupNorm); the
  compiler applies it before the shape rule, so an op whose parameter must divide a width
  it cannot know statically never fails on a width some choice gives. A shape rule must
  accept every input of its kind once fitted (the adapters bring any value to that kind).

The registries :data:`OP_META`, :data:`ACTIVATION_META` and :data:`BACKBONE_META` hold the
built-in entries (:mod:`genolang.builtin_ops`), those added at run time with the compiler's
``register_op``, and those of installed plugins (entry point groups ``genolang.ops``,
``genolang.activations``, ``genolang.backbones``; docs/extending.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from genolang.errors import GenolangError
from genolang.fields import Field, bind_fields
from genolang.registry import Registry

Shape = tuple[int, ...]
ShapeFn = Callable[..., Shape]
MacsFn = Callable[..., int]
Builder = str | Callable[..., Any] | None

#: the ranks (batch omitted) each input kind accepts
RANKS: dict[str, tuple[int, ...]] = {"map": (3,), "vector": (1,), "seq": (2,), "any": (1, 2, 3)}
#: node fields that are not op parameters (the width field is added per op)
NODE_KEYS = frozenset({"op", "act", "combine", "stride"})
#: entry point groups a plugin registers through (docs/extending.md)
GROUPS: dict[str, str] = {"op": "genolang.ops", "activation": "genolang.activations",
                          "backbone": "genolang.backbones", "dataset": "genolang.datasets",
                          "searcher": "genolang.searchers"}


class MetaError(GenolangError, TypeError):
    """An op, activation or backbone given a parameter it does not accept, or a bad declaration."""

    default_code = "E0004"


class MetaShapeError(GenolangError, ValueError):
    """Inputs whose number, rank or size an op cannot consume (found by its shape rule)."""

    default_code = "E0005"


def no_macs(*_: Any, **__: Any) -> int:
    """MACs of parameter-free ops (zero, pools without calibration, sum, normalisation)."""
    return 0


def load_builder(ref: Builder, what: str) -> Callable[..., Any]:
    """The builder function of ``ref`` ("module:function" imported now, or the function)."""
    if callable(ref):
        return ref
    if not isinstance(ref, str) or ref.count(":") != 1:
        raise MetaError(f"{what} has no builder (expected 'module:function', got {ref!r})")
    module, _, attr = ref.partition(":")
    try:
        found: Callable[..., Any] = getattr(import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise MetaError(f"{what}: its builder {ref!r} cannot be loaded: {exc}") from None
    return found


@dataclass(frozen=True)
class OpMeta:
    """One op's metadata (see the module doc) and its builder reference."""

    name: str
    kind: str
    shape: ShapeFn
    macs: MacsFn = no_macs
    arity: int = 1
    fields: tuple[Field, ...] = ()
    width_param: str | None = None
    keeps_width: bool = False
    strided: bool | None = None
    max_stride: int | None = None
    int_input: bool = False
    fit: Callable[[tuple[Shape, ...], dict[str, Any]], dict[str, Any]] | None = None
    builder: Builder = None
    source: str = ""
    doc: str = ""

    def __post_init__(self) -> None:
        if self.kind not in RANKS:
            raise MetaError(f"op {self.name!r}: kind must be one of {sorted(RANKS)}, got {self.kind!r}")
        if self.arity not in (1, 2):
            raise MetaError(f"op {self.name!r}: arity must be 1 or 2, got {self.arity!r}")
        if self.width_param is None and not self.keeps_width:
            object.__setattr__(self, "width_param", {"map": "filters", "vector": "hidden"}.get(self.kind))
        if self.strided is None:
            object.__setattr__(self, "strided", self.kind == "map")

    @property
    def params(self) -> dict[str, Any]:
        """``{name: default}`` of the op parameters."""
        return {f.name: f.default for f in self.fields}

    def node_fields(self) -> dict[str, Field]:
        """Every field a node using this op may set besides op/act/combine and its inputs."""
        out = {f.name: f for f in self.fields}
        if self.width_param:
            out[self.width_param] = Field(self.width_param, "int", None, lo=1, optional=True,
                                          doc="output width (c_out)")
        if self.strided:
            out["stride"] = Field("stride", "int", 1, lo=1, hi=self.max_stride, doc="spatial stride")
        return out

    def bind(self, params: Mapping[str, Any], *, strict: bool = True) -> dict[str, Any]:
        """``params`` with defaults filled in; unknown keys or illegal values raise :class:`MetaError`."""
        return bind_fields(f"op {self.name!r}", self.fields, params, strict=strict, error=MetaError)

    def fitted(self, in_shapes: Sequence[Sequence[int]], params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` bound, then fitted to inputs of ``in_shapes`` (see ``fit``)."""
        bound = self.bind(params)
        return self.fit(self.check_inputs(in_shapes), bound) if self.fit is not None else bound

    def check_inputs(self, in_shapes: Sequence[Sequence[int]]) -> tuple[Shape, ...]:
        """Refuse a wrong number of inputs, a wrong rank, or unequal binary inputs."""
        shapes = tuple(tuple(int(d) for d in s) for s in in_shapes)
        if len(shapes) != self.arity:
            raise MetaShapeError(f"op {self.name!r} takes {self.arity} input(s), got {len(shapes)}")
        ranks = RANKS[self.kind]
        for s in shapes:
            if len(s) not in ranks or min(s) < 1:
                rank = " or ".join(str(r) for r in ranks)
                raise MetaShapeError(f"op {self.name!r} consumes {self.kind} inputs of rank {rank} "
                                     f"(batch omitted), got shape {list(s)}")
        if len(set(shapes)) > 1:
            raise MetaShapeError(f"op {self.name!r} needs inputs of one shape, got {[list(s) for s in shapes]}")
        return shapes

    def check_geometry(self, c_in: int, c_out: int, stride: int) -> None:
        """Refuse non-positive widths, a stride the op does not take, a width change it cannot make."""
        if c_in < 1 or c_out < 1:
            raise MetaError(f"op {self.name!r}: channels must be positive (c_in={c_in}, c_out={c_out})")
        if stride != 1 and not self.strided:
            raise MetaError(f"op {self.name!r} ({self.kind} op) takes no stride, got stride={stride}")
        if stride < 1:
            raise MetaError(f"op {self.name!r}: stride must be >= 1, got {stride}")
        if self.keeps_width and c_out != c_in:
            raise MetaError(f"op {self.name!r} keeps the width: c_out must equal c_in ({c_in}), got {c_out}")

    def out_shape(self, in_shapes: Sequence[Sequence[int]], *, c_out: int, stride: int = 1,
                  **params: Any) -> Shape:
        """The output shape (batch omitted) for inputs of ``in_shapes``, without building."""
        shapes = self.check_inputs(in_shapes)
        self.check_geometry(shapes[0][0], c_out, stride)
        return tuple(int(d) for d in self.shape(shapes, c_out=c_out, stride=stride, **self.bind(params)))

    def count_macs(self, in_shapes: Sequence[Sequence[int]], *, c_out: int, stride: int = 1, **params: Any) -> int:
        """Multiply-accumulates per sample (convs, linears, matmuls)."""
        shapes = self.check_inputs(in_shapes)
        return int(self.macs(shapes, c_out=c_out, stride=stride, **self.bind(params)))

    def load(self) -> Callable[..., Any]:
        """The builder (imports its module: may import torch)."""
        return load_builder(self.builder, f"op {self.name!r}")


@dataclass(frozen=True)
class ActivationMeta:
    """An element-wise activation: any kind of input, shape unchanged, 0 MACs."""

    name: str
    fields: tuple[Field, ...] = ()
    builder: Builder = None
    source: str = ""

    @property
    def params(self) -> dict[str, Any]:
        return {f.name: f.default for f in self.fields}

    def bind(self, params: Mapping[str, Any], *, strict: bool = True) -> dict[str, Any]:
        return bind_fields(f"activation {self.name!r}", self.fields, params, strict=strict, error=MetaError)

    def load(self) -> Callable[..., Any]:
        return load_builder(self.builder, f"activation {self.name!r}")


@dataclass(frozen=True)
class BackboneMeta:
    """A backbone: its number of feature taps (``None``: the space must say ``taps``) and parameters.

    ``builder`` names the compiler-side registration module or factory; tap shapes need the
    module (closed forms or a dry run) and are the compiler's business.
    """

    name: str
    taps: int | None = None
    fields: tuple[Field, ...] = ()
    builder: Builder = None
    source: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: why the model cannot take an input of a shape (batch omitted), or None; ``None``: not known without torch
    accepts: Callable[[Shape], str | None] | None = None

    def load(self) -> Callable[..., Any]:
        return load_builder(self.builder, f"backbone {self.name!r}")


BUILTINS = ("genolang.builtin_ops",)

#: op name -> :class:`OpMeta`
OP_META: Registry[OpMeta] = Registry("op", entry_points=GROUPS["op"], builtins=BUILTINS)
#: activation name -> :class:`ActivationMeta`
ACTIVATION_META: Registry[ActivationMeta] = Registry("activation", entry_points=GROUPS["activation"],
                                                     builtins=BUILTINS)
#: backbone name -> :class:`BackboneMeta`
BACKBONE_META: Registry[BackboneMeta] = Registry("backbone", entry_points=GROUPS["backbone"], builtins=BUILTINS)


def op_meta(name: str, kind: str, shape: ShapeFn, **meta: Any) -> OpMeta:
    """Declare and register an op's metadata (``builder=`` names its torch factory)."""
    return OP_META.add(name, OpMeta(name, kind, shape, **meta), origin=_caller())


def activation_meta(name: str, **meta: Any) -> ActivationMeta:
    """Declare and register an activation's metadata."""
    return ACTIVATION_META.add(name, ActivationMeta(name, **meta), origin=_caller())


def backbone_meta(name: str, **meta: Any) -> BackboneMeta:
    """Declare and register a backbone's metadata."""
    return BACKBONE_META.add(name, BackboneMeta(name, **meta), origin=_caller())


def _caller() -> str:
    import sys

    return str(sys._getframe(2).f_globals.get("__name__", "?"))
