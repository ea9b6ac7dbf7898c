"""Building a Graph IR: unique node names, shape inference and the adapters stated once.

The adapters (ARCHITECTURE.md, "adapters by rule") are applied here and nowhere else:

- a vector consumer of a map gets a global average pool (``gap``; MFAS, RandomNet); of a
  seq, a ``flatten``;
- an (N, C, L) consumer gets BM-NAS's reshape (``to_seq``: max pooling to L, 1x1 conv to C,
  BN, ReLU) of a map or a vector, and a 1x1 projection (``proj``) of a seq of another width;
- a sum of maps of different widths projects each to the first one's width (``proj``:
  ReLU-1x1 conv-BN), and a map twice (four times, ...) as large as the first is halved by
  ``reduce`` (DARTS FactorizedReduce) once per factor of two, for sums and concatenations;
  other mismatches are compile errors.

Adapters are memoised per (source, target): a tap read by several consumers is reshaped once
(BM-NAS reshapes each backbone feature once).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from genolang.compiler.errors import ShapeError
from genolang.compiler.graph import GNode, Graph, Shape, kind_of

MemoKey = tuple[str | int, ...]  # a value's name, the adapter, its sizes


@dataclass(frozen=True, slots=True)
class Value:
    """A tensor of the graph under construction: its node name and shape (batch omitted)."""

    name: str
    shape: Shape

    @property
    def kind(self) -> str:
        return kind_of(self.shape)

    @property
    def width(self) -> int:
        return self.shape[0]


class GraphBuilder:
    """Accumulates nodes in topological order; every add returns the new :class:`Value`."""

    def __init__(self) -> None:
        self.nodes: list[GNode] = []
        self._names: set[str] = set()
        self._memo: dict[MemoKey, Value] = {}
        self.block = ""
        self.path = ""
        self.line: int | None = None

    def unique(self, name: str) -> str:
        if name not in self._names:
            return name
        base = re.sub(r"#\d+$", "", name)
        i = 1
        while f"{base}#{i}" in self._names:
            i += 1
        return f"{base}#{i}"

    def add(self, name: str, kind: str, inputs: tuple[Value, ...] | list[Value], shape: Shape,
            attrs: dict[str, Any] | None = None, *, macs: int = 0) -> Value:
        name = self.unique(name)
        self._names.add(name)
        shape = tuple(int(d) for d in shape)
        self.nodes.append(GNode(name=name, kind=kind, inputs=tuple(v.name for v in inputs), shape=shape,
                                attrs=dict(attrs or {}), block=self.block, path=self.path, line=self.line,
                                macs=int(macs)))
        return Value(name, shape)

    def copy(self, node: GNode) -> Value:
        """Append an existing node (of another graph) under its own name."""
        if node.name in self._names:
            raise ShapeError(f"node {node.name!r} is already in the graph")
        self._names.add(node.name)
        self.nodes.append(node)
        return Value(node.name, node.shape)

    def graph(self, *, inputs: list[str], outputs: list[str], **meta: str) -> Graph:
        """The graph of the nodes the outputs depend on (dead branches pruned; inputs kept)."""
        live = set(outputs) | set(inputs)
        for node in reversed(self.nodes):
            if node.name in live:
                live.update(node.inputs)
        nodes = tuple(n for n in self.nodes if n.name in live)
        return Graph(nodes=nodes, inputs=tuple(inputs), outputs=tuple(outputs), **meta)

    # ------------------------------------------------------------------ adapters

    def to_vector(self, v: Value) -> Value:
        """A vector: maps are globally average-pooled, seqs flattened."""
        if v.kind == "vector":
            return v
        if v.kind == "map":
            return self._memoised((v.name, "gap"), lambda: self.add(f"{v.name}/gap", "gap", [v], (v.width,)))
        if v.kind == "seq":
            size = v.shape[0] * v.shape[1]
            return self._memoised((v.name, "flatten"), lambda: self.add(f"{v.name}/flatten", "flatten", [v], (size,)))
        raise ShapeError(f"cannot turn a value of shape {list(v.shape)} into a vector")

    def to_seq(self, v: Value, *, channels: int, length: int) -> Value:
        """An (C, L) = (channels, length) seq: BM-NAS reshape of maps and vectors, projection of seqs."""
        if v.kind == "seq":
            if v.shape[1] != length:
                raise ShapeError(f"a seq of length {v.shape[1]} cannot feed a consumer of length {length}")
            return v if v.width == channels else self.project(v, channels)
        if v.kind not in ("map", "vector"):
            raise ShapeError(f"cannot reshape a value of shape {list(v.shape)} to (C, L)")
        positions = v.shape[1] * v.shape[2] if v.kind == "map" else 1
        attrs = {"c_in": v.width, "c_out": channels, "length": length, "positions": positions}
        return self._memoised((v.name, "to_seq", channels, length), lambda: self.add(
            f"{v.name}/to_seq", "to_seq", [v], (channels, length), attrs, macs=v.width * channels * length))

    def project(self, v: Value, channels: int) -> Value:
        """``v`` at ``channels`` wide (1x1 projection; the identity when it already is)."""
        if v.width == channels:
            return v
        return self._memoised((v.name, "proj", channels), lambda: self.preprocess(v, channels))

    def preprocess(self, v: Value, channels: int, *, name: str | None = None) -> Value:
        """A fresh (not memoised) projection to ``channels``: a cell's input preprocessing."""
        shape = (channels, *v.shape[1:])
        positions = math.prod(v.shape[1:])
        return self.add(name or f"{v.name}/proj{channels}", "proj", [v], shape, {"c_in": v.width, "c_out": channels},
                        macs=v.width * channels * positions)

    def reduce(self, v: Value, channels: int, *, name: str | None = None, memo: bool = True) -> Value:
        """``v`` with H and W halved (rounded up) and ``channels`` wide (FactorizedReduce)."""
        if v.kind != "map":
            raise ShapeError(f"only maps can be spatially reduced, got shape {list(v.shape)}")

        def make() -> Value:
            h, w = math.ceil(v.shape[1] / 2), math.ceil(v.shape[2] / 2)
            return self.add(name or f"{v.name}/reduce", "reduce", [v], (channels, h, w),
                            {"c_in": v.width, "c_out": channels}, macs=v.width * channels * h * w)

        return self._memoised((v.name, "reduce", channels), make) if memo else make()

    def align_spatial(self, v: Value, size: tuple[int, int]) -> Value:
        """``v`` halved until its H, W equal ``size``; a mismatch no halving fixes is an error."""
        while v.kind == "map" and tuple(v.shape[1:]) != tuple(size):
            if v.shape[1] <= size[0] or v.shape[2] <= size[1]:
                raise ShapeError(f"a map of {v.shape[1]}x{v.shape[2]} cannot be aligned to {size[0]}x{size[1]} "
                                 "(only halving by factorized reduction is a rule)")
            v = self.reduce(v, v.width)
        return v

    def combine(self, how: str, values: list[Value], name: str) -> Value:
        """Sum or concatenate ``values`` along the channels, aligning them by rule first."""
        if len(values) == 1:
            return values[0]
        kinds = {v.kind for v in values}
        if len(kinds) > 1:
            raise ShapeError(f"cannot {how} values of different kinds: "
                             + ", ".join(f"{v.name} {list(v.shape)}" for v in values))
        if kinds == {"map"}:
            size = min(((v.shape[1], v.shape[2]) for v in values), key=lambda s: s[0] * s[1])  # maps: (C, H, W)
            values = [self.align_spatial(v, size) for v in values]
        if how == "sum":
            values = [self.project(v, values[0].width) for v in values]
            if len({v.shape for v in values}) > 1:
                raise ShapeError("cannot sum values of shapes " + ", ".join(str(list(v.shape)) for v in values))
            return self.add(name, "sum", values, values[0].shape)
        if how == "concat":
            if len({v.shape[1:] for v in values}) > 1:
                raise ShapeError("cannot concatenate values of shapes " + ", ".join(str(list(v.shape)) for v in values))
            return self.add(name, "concat", values, (sum(v.width for v in values), *values[0].shape[1:]))
        raise ShapeError(f"unknown combine rule {how!r}")

    def _memoised(self, key: MemoKey, make: Callable[[], Value]) -> Value:
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]
