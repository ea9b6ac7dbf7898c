"""The Graph IR: a DAG of op applications with explicit inputs and inferred shapes.

Produced by :mod:`genolang.compiler.lower` from a space and a genotype; consumed by the
module builder (:mod:`genolang.compiler.module`), the summary, ``draw`` and the exporter.
Plain data, no torch: a graph prints, compares and serialises without building anything.

Every tensor is one :class:`GNode`; shapes omit the batch. ``kind`` says what builds it:

============  ===============================================================================
kind          meaning (``attrs``)
============  ===============================================================================
input         a model input (``dtype``)
frontend      a registered front-end on a raw input (``name``, ``params``)
backbone      a registered backbone; its value is the LIST of its taps (``model``, ``frozen``,
              ``weights``, ``params``, ``in_shape``, ``tap_shapes``); ``shape`` is ``()``
tap           one tap of a backbone (``index``)
op            a registered op (``op``, ``c_in``, ``c_out``, ``stride``, ``params``)
act           a registered activation (``act``, ``params``)
sum, concat   element-wise sum / concatenation along the channels (dim 1) of equal-rank inputs
gap           adapter map -> vector: mean over H and W
flatten       adapter seq -> vector: (C, L) -> C*L
to_seq        adapter map or vector -> (C, L) (BM-NAS reshape: pool to L, 1x1 conv, BN, ReLU;
              ``c_in``, ``c_out``, ``length``, ``pool``)
proj          adapter for a width mismatch or a cell's input preprocessing: ReLU-1x1 conv-BN
              on maps, 1x1 conv-BN-ReLU on seqs, Linear on vectors (``c_in``, ``c_out``)
reduce        adapter halving H and W (DARTS FactorizedReduce; ``c_in``, ``c_out``)
resample      adapter resizing a map's H, W or a seq's L that no halving aligns (nearest
              neighbour by fixed gathers; ``size``)
as_map        adapter any value -> map for a map op: (D,) -> (D, 1, 1), (C, L) -> (C, L, 1)
layernorm     LayerNorm over every dimension but the batch (``shape``): a container's ``post``
head          the output layer: [Linear-ReLU-Dropout] Linear (``c_in``, ``classes``,
              ``hidden``, ``dropout``, ``task``)
============  ===============================================================================

``block`` is the top-level element of the space a node belongs to (for per-block parameter
counts); ``path`` the entity (or decision) it comes from, ``line`` its source line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

Shape = tuple[int, ...]

KINDS: frozenset[str] = frozenset({"input", "frontend", "backbone", "tap", "op", "act", "sum", "concat", "gap",
                                   "flatten", "to_seq", "proj", "reduce", "resample", "as_map", "head",
                                   "layernorm"})

#: the rank of a value (batch omitted) -> what the ops call it
RANK_KIND: dict[int, str] = {3: "map", 2: "seq", 1: "vector"}


def kind_of(shape: Shape) -> str:
    """"map", "seq" or "vector" for a shape of rank 3, 2 or 1."""
    return RANK_KIND.get(len(shape), f"rank-{len(shape)}")


@dataclass(frozen=True, slots=True)
class GNode:
    """One tensor of the graph: ``kind`` applied to ``inputs`` (names of earlier nodes)."""

    name: str
    kind: str
    inputs: tuple[str, ...]
    shape: Shape
    attrs: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)
    block: str = ""
    path: str = ""
    line: int | None = None
    macs: int = 0

    def label(self) -> str:
        """A short human label: the op or activation name, else the kind."""
        return str(self.attrs.get("op") or self.attrs.get("act") or self.attrs.get("model") or self.kind)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "inputs": list(self.inputs), "shape": list(self.shape),
                "attrs": self.attrs, "block": self.block, "path": self.path, "line": self.line, "macs": self.macs}


@dataclass(frozen=True)
class Graph:
    """A compiled architecture: nodes in topological order, named inputs and outputs."""

    nodes: tuple[GNode, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    space: str = ""
    genotype: str = ""
    digest: str = ""
    fingerprint: str = ""
    text: str = ""  # the genotype's canonical text

    @cached_property
    def _index(self) -> dict[str, GNode]:
        # cached_property writes the instance __dict__ directly, which a frozen dataclass allows
        return {n.name: n for n in self.nodes}

    def __getitem__(self, name: str) -> GNode:
        return self._index[name]

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def input_shapes(self) -> dict[str, Shape]:
        return {name: self[name].shape for name in self.inputs}

    def output_shapes(self) -> dict[str, Shape]:
        return {name: self[name].shape for name in self.outputs}

    def macs(self) -> int:
        """Multiply-accumulates per sample of the whole graph (backbones included)."""
        return sum(n.macs for n in self.nodes)

    def consumers(self) -> dict[str, list[str]]:
        """name -> the nodes reading it."""
        out: dict[str, list[str]] = {n.name: [] for n in self.nodes}
        for n in self.nodes:
            for i in n.inputs:
                out[i].append(n.name)
        return out

    def to_json(self) -> dict[str, Any]:
        return {"space": self.space, "genotype": self.genotype, "digest": self.digest,
                "fingerprint": self.fingerprint, "inputs": list(self.inputs), "outputs": list(self.outputs),
                "nodes": [n.to_json() for n in self.nodes]}

    def dumps(self) -> str:
        """A stable JSON text (golden files, diffs)."""
        return json.dumps(self.to_json(), indent=1, sort_keys=True, default=str)

    def pretty(self) -> str:
        """One line per node: ``name = label(inputs) -> shape``."""
        lines = []
        for n in self.nodes:
            args = ", ".join(n.inputs)
            lines.append(f"{n.name} = {n.label()}({args}) -> {list(n.shape)}")
        return "\n".join(lines)
