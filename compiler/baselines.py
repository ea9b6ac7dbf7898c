"""Hand-designed networks on a compiled graph's backbones: the unimodal nets and late fusion.

A fusion search is only worth its cost if it beats what anyone would build by hand on the
same backbones. From the Graph IR of any genotype this module derives, with the node names
of that graph (so weights move between them by name):

- :func:`unimodal_graph`: one backbone alone (unfrozen), its LAST tap made a vector and a
  linear classifier on it: the unimodal network MFAS pre-trains before its search (the
  reference's LeNet + Linear), used to pre-train a backbone that states ``pretrain``;
- :func:`late_fusion_graph`: every backbone's last tap made a vector, concatenated, and a
  head with one hidden layer (Linear-ReLU-Linear, ``hidden`` wide): the classic late fusion
  (MFAS's "late fusion" baseline; the one-layer point of the MFAS space with the last taps).

Vectors are made by the builder's adapters (global average pooling of maps, flattening of
seqs), as everywhere else in the compiler.
"""

from __future__ import annotations

from dataclasses import replace

from genolang.compiler.builder import GraphBuilder, Value
from genolang.compiler.errors import CompileError
from genolang.compiler.graph import GNode, Graph
from genolang.compiler.static import ancestors


def backbones(graph: Graph) -> list[str]:
    """The backbone nodes of ``graph``, in graph order."""
    return [n.name for n in graph.nodes if n.kind == "backbone"]


def head_of(graph: Graph) -> GNode:
    """The graph's first head (classes and task of the baselines)."""
    heads = [graph[o] for o in graph.outputs if graph[o].kind == "head"]
    if not heads:
        raise CompileError(f"graph of {graph.space or 'a genotype'} has no head")
    return heads[0]


def unimodal_graph(graph: Graph, backbone: str) -> Graph:
    """``backbone`` alone and trainable, a linear classifier on its last tap (see the module doc)."""
    return _baseline(graph, [backbone], hidden=None, frozen=False, name=f"{backbone} only")


def late_fusion_graph(graph: Graph, names: list[str] | None = None, *, hidden: int = 100) -> Graph:
    """The last taps of ``names`` (default: every backbone) concatenated, then a hidden layer and the head."""
    names = backbones(graph) if names is None else names
    if len(names) < 2:
        raise CompileError(f"late fusion needs two backbones or more, {graph.space or 'the graph'} has "
                           f"{len(names)}")
    return _baseline(graph, names, hidden=hidden, frozen=None, name="late fusion")


def _baseline(graph: Graph, names: list[str], *, hidden: int | None, frozen: bool | None, name: str) -> Graph:
    head = head_of(graph)
    b = GraphBuilder()
    keep = ancestors(graph, names)
    for node in graph.nodes:  # inputs, front-ends and the backbones, as they are (or unfrozen)
        if node.name in keep:
            if frozen is not None and node.kind == "backbone":
                node = replace(node, attrs={**node.attrs, "frozen": frozen})
            b.copy(node)
    features = [b.to_vector(_last_tap(graph, b, n)) for n in names]
    x = features[0] if len(features) == 1 else b.add("late_fusion/concat", "concat", features,
                                                     (sum(f.width for f in features),))
    classes = int(head.attrs["classes"])
    attrs = {"c_in": x.width, "classes": classes, "hidden": hidden, "dropout": 0.0,
             "task": head.attrs.get("task", "single_label")}
    macs = x.width * hidden + hidden * classes if hidden else x.width * classes
    out = b.add(head.name, "head", [x], (classes,), attrs, macs=macs)
    inputs = [i for i in graph.inputs if i in keep]
    return b.graph(inputs=inputs, outputs=[out.name], space=graph.space, genotype=name)


def _last_tap(graph: Graph, b: GraphBuilder, backbone: str) -> Value:
    taps = [n for n in graph.nodes if n.kind == "tap" and n.inputs == (backbone,)]
    count = len(graph[backbone].attrs.get("tap_shapes") or ())
    if not count:
        raise CompileError(f"backbone {backbone!r} has no taps")
    index = count - 1
    existing = [t for t in taps if t.attrs.get("index") == index]
    if existing:
        return b.copy(existing[0])
    shape = tuple(graph[backbone].attrs["tap_shapes"][index])
    return b.add(f"{backbone}.tap[{index}]", "tap", [Value(backbone, ())], shape, {"index": index})
