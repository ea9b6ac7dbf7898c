"""The activation registry: a node is ``act(op(combine(inputs)))`` and ``act`` comes from here.

Sources: MFAS's fusion activations (seed_algorithms.md section 2.1: ids 0 ReLU, 1 Sigmoid,
2 LeakyReLU, PyTorch's default slope 0.01), RandomNet's activation set A = {ReLU, tanh,
identity, sigmoid} (section 6, examples/spaces/randomnet_avmnist.geno), and GELU (exact, erf
form; ONNX opset 18 has no Gelu op, the exporters write it with Erf).

Activations are element-wise: any kind of input ("map", "vector", "seq"), shape unchanged,
no parameters to learn, 0 MACs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from genolang.compiler.registry import Registry, bind_params, first_line

Shape = tuple[int, ...]


@dataclass(frozen=True)
class ActivationSpec:
    """One registered activation: ``build(**params)`` and its accepted parameters."""

    name: str
    factory: Callable[..., nn.Module]
    params: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""

    def bind(self, params: Mapping[str, Any], *, strict: bool = True) -> dict[str, Any]:
        """``params`` with defaults filled in; unknown keys raise (or are dropped if not strict)."""
        return bind_params(f"activation {self.name!r}", self.params, params, strict=strict)

    def build(self, **params: Any) -> nn.Module:
        """A fresh module."""
        return self.factory(**self.bind(params))

    def out_shape(self, in_shape: Shape) -> Shape:
        """Element-wise: the input shape."""
        return tuple(in_shape)

    def macs(self, in_shape: Shape) -> int:
        """Element-wise ops count 0 multiply-accumulates."""
        return 0


def _wrap(name: str, factory: Callable[..., nn.Module], *, params: Mapping[str, Any] | None = None,
          source: str = "") -> ActivationSpec:
    return ActivationSpec(name, factory, dict(params or {}), source or first_line(factory))


#: the activation registry: ``ACTIVATIONS.get(name).build()``
ACTIVATIONS: Registry[ActivationSpec] = Registry("activation", wrap=_wrap)


@ACTIVATIONS.register("relu")
def relu() -> nn.Module:
    """ReLU (MFAS id 0, RandomNet, ENAS/DARTS)."""
    return nn.ReLU(inplace=False)


@ACTIVATIONS.register("sigmoid")
def sigmoid() -> nn.Module:
    """Sigmoid (MFAS id 1, RandomNet)."""
    return nn.Sigmoid()


@ACTIVATIONS.register("leaky_relu", params={"negative_slope": 0.01})
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


@ACTIVATIONS.register("gelu", params={"approximate": "none"})
def gelu(*, approximate: str = "none") -> nn.Module:
    """GELU, exact (erf) unless ``approximate="tanh"``."""
    return nn.GELU(approximate=approximate)
