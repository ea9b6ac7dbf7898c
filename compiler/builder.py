"""Building a Graph IR: unique node names, shape inference and the adapters stated once.

The adapters (ARCHITECTURE.md, "adapters by rule") are applied here and nowhere else:

- a vector consumer of a map gets a global average pool (``gap``; MFAS, RandomNet); of a
  seq, a ``flatten``;
- an (N, C, L) consumer gets BM-NAS's reshape (``to_seq``: max pooling to L, 1x1 conv to C,
  BN, ReLU) of a map or a vector, and a 1x1 projection (``proj``) of a seq of another width;
- a sum of maps of different widths projects each to the first one's width (``proj``:
  ReLU-1x1 conv-BN); maps meet at the smallest height and the smallest width among them: a
  map twice (four times, ...) as large is halved by ``reduce`` (DARTS FactorizedReduce)
  once per factor of two, any other size is resized (``resample``: nearest neighbour);
  seqs meet at the smallest length the same way (``resample``), for sums and
  concatenations;
- values of different kinds (a map and a vector, a seq and a map) meet as vectors (``gap``,
  ``flatten``);
- a map op reading a value that is not a map sees it as a map of height and width 1 (a
  seq (C, L) as (C, L, 1); ``as_map``), a seq op reading a map or a vector outside a group
  with ``length`` sees its positions as the sequence (``to_seq`` with L = H * W, or 1).

So every combination of shapes compiles: a space that ``check`` accepts never meets a shape
mismatch here (docs/language.md, "What check guarantees").

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
        """A vector: maps are globally average-pooled, seqs (and any other rank) flattened."""
        if v.kind == "vector":
            return v
        if v.kind == "map":
            return self._memoised((v.name, "gap"), lambda: self.add(f"{v.name}/gap", "gap", [v], (v.width,)))
        size = math.prod(v.shape)
        if size < 1 or not v.shape:
            raise ShapeError(f"cannot turn a value of shape {list(v.shape)} into a vector")
        return self._memoised((v.name, "flatten"), lambda: self.add(f"{v.name}/flatten", "flatten", [v], (size,)))

    def to_map(self, v: Value) -> Value:
        """A map for a map op: a vector (D,) as (D, 1, 1), a seq (C, L) as (C, L, 1), others flattened first."""
        if v.kind == "map":
            return v
        if v.kind not in ("vector", "seq"):
            v = self.to_vector(v)
        shape = (*v.shape, 1) if v.kind == "seq" else (v.width, 1, 1)
        return self._memoised((v.name, "as_map"), lambda: self.add(f"{v.name}/as_map", "as_map", [v], shape))

    def to_seq(self, v: Value, *, channels: int, length: int | None) -> Value:
        """An (C, L) = (channels, length) seq: BM-NAS reshape of maps and vectors, projection of seqs.

        Without a ``length`` (no enclosing group sets one) a seq keeps its own and a map or a
        vector takes its positions as L (H * W, or 1).
        """
        if v.kind == "seq":
            v = self.align_length(v, length if length is not None else v.shape[1])
            return v if v.width == channels else self.project(v, channels)
        if v.kind not in ("map", "vector"):
            v = self.to_vector(v)
        positions = v.shape[1] * v.shape[2] if v.kind == "map" else 1
        length = positions if length is None else length
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

    def align_spatial(self, v: Value, size: tuple[int, ...]) -> Value:
        """``v`` at H, W = ``size`` (each no larger than ``v``'s): halved while that reaches it, else resampled."""
        if v.kind != "map" or tuple(v.shape[1:]) == tuple(size):
            return v
        halved, h, w = 0, v.shape[1], v.shape[2]
        while (h, w) != tuple(size) and h > size[0] and w > size[1]:
            h, w, halved = math.ceil(h / 2), math.ceil(w / 2), halved + 1
        if (h, w) == tuple(size):
            for _ in range(halved):
                v = self.reduce(v, v.width)
            return v
        return self.resample(v, tuple(size))

    def align_length(self, v: Value, length: int) -> Value:
        """A seq ``v`` at ``length`` positions (resampled when it has another)."""
        return v if v.shape[1] == length else self.resample(v, (length,))

    def resample(self, v: Value, size: tuple[int, ...]) -> Value:
        """``v`` with its trailing sizes resized to ``size`` (nearest neighbour, a fixed gather)."""
        shape = (v.width, *size)
        return self._memoised((v.name, "resample", *size), lambda: self.add(
            f"{v.name}/resample", "resample", [v], shape, {"in_shape": list(v.shape), "size": list(size)}))

    def align(self, values: list[Value]) -> list[Value]:
        """``values`` of one kind and one size but the width: mixed kinds as vectors, sizes at the smallest."""
        if len({v.kind for v in values}) > 1 or values[0].kind not in ("map", "seq", "vector"):
            values = [self.to_vector(v) for v in values]  # different kinds meet as vectors
        if values[0].kind == "map":
            size = (min(v.shape[1] for v in values), min(v.shape[2] for v in values))
            values = [self.align_spatial(v, size) for v in values]
        elif values[0].kind == "seq":
            length = min(v.shape[1] for v in values)
            values = [self.align_length(v, length) for v in values]
        return values

    def combine(self, how: str, values: list[Value], name: str) -> Value:
        """Sum or concatenate ``values`` along the channels, aligning them by rule first."""
        if len(values) == 1:
            return values[0]
        values = self.align(values)
        if how == "sum":
            values = [self.project(v, values[0].width) for v in values]
            return self.add(name, "sum", values, values[0].shape)
        if how == "concat":
            return self.add(name, "concat", values, (sum(v.width for v in values), *values[0].shape[1:]))
        raise ShapeError(f"unknown combine rule {how!r}")

    def _memoised(self, key: MemoKey, make: Callable[[], Value]) -> Value:
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]
