"""The activation registry: a node is ``act(op(combine(inputs)))`` and ``act`` comes from here.

Sources: MFAS's fusion activations (seed_algorithms.md section 2.1: ids 0 ReLU, 1 Sigmoid,
2 LeakyReLU, PyTorch's default slope 0.01), RandomNet's activation set A = {ReLU, tanh,
identity, sigmoid} (section 6, examples/spaces/randomnet_avmnist.geno), and GELU (exact, erf
form; ONNX opset 18 has no Gelu op, the exporters write it with Erf).

Activations are element-wise: any kind of input ("map", "vector", "seq"), shape unchanged,
no parameters to learn, 0 MACs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from genolang.compiler.errors import OpParamError, RegistryError
from genolang.compiler.registry import Registry, first_line
from genolang.fields import Field, bind_fields, fields_from_params
from genolang.opmeta import ACTIVATION_META, ActivationMeta, MetaError

Shape = tuple[int, ...]


@dataclass(frozen=True)
class ActivationSpec:
    """One registered activation: ``build(**params)`` and its accepted parameters."""

    name: str
    factory: Callable[..., nn.Module]
    params: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""
    fields: tuple[Field, ...] = ()

    def bind(self, params: Mapping[str, Any], *, strict: bool = True) -> dict[str, Any]:
        """``params`` with defaults filled in; unknown keys or illegal values raise :class:`OpParamError`."""
        fields = self.fields or fields_from_params(self.params)
        return bind_fields(f"activation {self.name!r}", fields, params, strict=strict, error=OpParamError)

    def build(self, **params: Any) -> nn.Module:
        """A fresh module."""
        return self.factory(**self.bind(params))

    def out_shape(self, in_shape: Shape) -> Shape:
        """Element-wise: the input shape."""
        return tuple(in_shape)

    def macs(self, in_shape: Shape) -> int:
        """Element-wise ops count 0 multiply-accumulates."""
        return 0


def _spec(meta: ActivationMeta, factory: Callable[..., nn.Module]) -> ActivationSpec:
    return ActivationSpec(meta.name, factory, meta.params, meta.source or first_line(factory), meta.fields)


def _wrap(name: str, factory: Callable[..., nn.Module], *, params: Mapping[str, Any] | None = None,
          fields: Sequence[Field] = (), source: str = "") -> ActivationSpec:
    """The spec of ``factory``: on the built-in metadata of ``name``, or on metadata declared here."""
    if params is None and not fields and name in ACTIVATION_META and ACTIVATION_META.get(name).builder is None:
        return _spec(ACTIVATION_META.get(name), factory)
    if name in ACTIVATION_META:
        raise RegistryError(f"activation {name!r} is already registered (by {ACTIVATION_META.origin(name)}); "
                            f"registering it again from {getattr(factory, '__module__', '?')} is refused")
    meta = ActivationMeta(name, tuple(fields) or fields_from_params(params or {}), builder=factory, source=source)
    ACTIVATION_META.add(name, meta, origin=getattr(factory, "__module__", "?"))
    return _spec(meta, factory)


def _from_meta(name: str) -> ActivationSpec | None:
    """A plugin activation's spec, its constructor loaded from its metadata's builder."""
    if name not in ACTIVATION_META:
        return None
    meta = ACTIVATION_META.get(name)
    try:
        return _spec(meta, meta.load())
    except MetaError as err:
        raise OpParamError(err.first.message) from None


#: the activation registry: ``ACTIVATIONS.get(name).build()``
ACTIVATIONS: Registry[ActivationSpec] = Registry("activation", wrap=_wrap, fallback=_from_meta,
                                                 extra_names=ACTIVATION_META.names)


def register_activation(name: str, **meta: Any) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering an activation constructor (``params=`` or typed ``fields=``); ``check`` accepts it."""
    return ACTIVATIONS.register(name, **meta)


@ACTIVATIONS.register("relu")
def relu() -> nn.Module:
    """ReLU (MFAS id 0, RandomNet, ENAS/DARTS)."""
    return nn.ReLU(inplace=False)


@ACTIVATIONS.register("sigmoid")
def sigmoid() -> nn.Module:
    """Sigmoid (MFAS id 1, RandomNet)."""
    return nn.Sigmoid()


@ACTIVATIONS.register("leaky_relu")
def leaky_relu(*, negative_slope: float = 0.01) -> nn.Module:
    """LeakyReLU (MFAS id 2; PyTorch's default slope 0.01)."""
    return nn.LeakyReLU(negative_slope, inplace=False)


@ACTIVATIONS.register("tanh")
def tanh() -> nn.Module:
    """Tanh (RandomNet)."""
    return nn.Tanh()


@ACTIVATIONS.register("identity")
def identity() -> nn.Module:
    """Identity: no activation (RandomNet)."""
    return nn.Identity()


@ACTIVATIONS.register("gelu")
def gelu(*, approximate: str = "none") -> nn.Module:
    """GELU, exact (erf) unless ``approximate="tanh"``."""
    return nn.GELU(approximate=approximate)
