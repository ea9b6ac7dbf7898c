"""Metadata of the plugin's entries, importable without torch.

``genolang check`` loads this module through the entry points of pyproject.toml and learns
the names, the fields with their types and ranges, the op's kind and arity and its shape
rule; the ``builder`` strings name the factories in :mod:`genolang_example_ops.build`.
"""

from __future__ import annotations

from typing import Any

from genolang.fields import Field
from genolang.opmeta import activation_meta, op_meta

Shape = tuple[int, ...]


def se_shape(in_shapes: tuple[Shape, ...], *, c_out: int, stride: int, **_: Any) -> Shape:
    """Squeeze-and-excitation rescales channels: the output has the input's shape."""
    return in_shapes[0]


def se_macs(in_shapes: tuple[Shape, ...], *, reduction: int, **_: Any) -> int:
    """Two linears C -> C/r -> C on the pooled channels."""
    c = in_shapes[0][0]
    return 2 * c * max(1, c // reduction)


op_meta("squeeze_excite", "map", se_shape, macs=se_macs, keeps_width=True,
        fields=(Field("reduction", "int", 4, lo=1, hi=64, doc="channel reduction r of the bottleneck"),),
        builder="genolang_example_ops.build:squeeze_excite",
        source="Squeeze-and-Excitation (Hu, Shen & Sun, CVPR 2018)",
        doc="x * sigmoid(W2 relu(W1 gap(x))), per channel")

activation_meta("swish", fields=(Field("beta", "float", 1.0, lo=0.0, hi=10.0, doc="slope of the sigmoid"),),
                builder="genolang_example_ops.build:swish",
                source="Swish (Ramachandran, Zoph & Le 2017): x * sigmoid(beta * x)")
