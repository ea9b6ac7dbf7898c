"""The static prefix of a graph: what depends on no trainable parameter, and the cut after it.

A node is *static* when its value is a fixed function of the model inputs: an ``input``, a
``frontend`` (fixed signal processing such as the log-mel), a FROZEN ``backbone`` (no
parameter trains, its body stays in eval mode, see
:class:`~genolang.compiler.backbones.base.Backbone`), and the parameter-free kinds ``tap``,
``gap``, ``flatten``, ``sum`` and ``concat`` over static nodes. Everything else is
*trainable* (ops, adapters with weights, heads, sums and concatenations — cheap, and
not worth a cache entry per combination — and anything reading a trainable node).

:func:`split_graph` cuts a graph there. The *boundary* is the set of static tensors that
trainable nodes read (a backbone's list of taps never is: its ``tap`` nodes are). The
*prefix* graph computes the boundary from the model inputs; the *rest* graph takes the
boundary as its inputs and computes the outputs. Running the prefix once over a dataset and
training the rest on the stored boundary tensors trains exactly what the full network
trains (the runtime's feature cache, :mod:`genolang.runtime.features`).

Each boundary tensor has a *signature*: a digest of the static subgraph that computes it
(kinds, attributes and inputs, recursively; node names left out). Two genotypes that read
the same tap of the same frozen backbone get the same signature, so their cached tensors are
shared; the weights themselves are not part of it (a frozen backbone's weights are known only
once built; the runtime adds their digest to the cache key).

:func:`split_net` gives the prefix and rest networks of a built
:class:`~genolang.compiler.module.GraphNet`, SHARING its modules: training the rest trains
the full network.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from genolang.compiler.graph import GNode, Graph

if TYPE_CHECKING:
    from genolang.compiler.module import GraphNet

#: the kinds that are static when every input is (a backbone also needs ``frozen``). Sums and
#: concatenations are not: they are cheap, and combinations of cached tensors would each be
#: cached again (one per combination a search tries)
PASS_KINDS: frozenset[str] = frozenset({"tap", "gap", "flatten"})


def is_static_node(node: GNode, static: frozenset[str] | set[str]) -> bool:
    """Whether ``node`` is static, given the static nodes before it (see the module doc)."""
    if node.kind == "input":
        return True
    reads_static = all(i in static for i in node.inputs)
    if node.kind == "frontend":
        return reads_static
    if node.kind == "backbone":
        return reads_static and bool(node.attrs.get("frozen"))
    return node.kind in PASS_KINDS and reads_static


@dataclass(frozen=True)
class StaticSplit:
    """A graph cut after its static prefix: ``prefix`` computes ``boundary``, ``rest`` the outputs."""

    graph: Graph
    static: frozenset[str]
    boundary: tuple[str, ...]
    prefix: Graph
    rest: Graph
    signatures: dict[str, str]

    @property
    def cached(self) -> tuple[str, ...]:
        """The boundary tensors worth storing: those that are not model inputs themselves."""
        return tuple(b for b in self.boundary if self.graph[b].kind != "input")

    @property
    def useful(self) -> bool:
        """Whether the prefix computes anything (a graph whose boundary is only its inputs gains nothing)."""
        return bool(self.cached)


def split_graph(graph: Graph) -> StaticSplit:
    """Cut ``graph`` after its static prefix (see the module doc)."""
    static: set[str] = set()
    for node in graph.nodes:
        if is_static_node(node, static):
            static.add(node.name)
    outputs, consumers = set(graph.outputs), graph.consumers()
    boundary = tuple(n.name for n in graph.nodes if n.name in static and n.shape and (
        n.name in outputs or any(c not in static for c in consumers[n.name])))
    prefix = prefix_graph(graph, boundary)
    rest = _rest_graph(graph, static, boundary)
    signatures = {b: signature(graph, b) for b in boundary}
    return StaticSplit(graph, frozenset(static), boundary, prefix, rest, signatures)


def prefix_graph(graph: Graph, boundary: tuple[str, ...]) -> Graph:
    """The part of ``graph`` computing the static nodes ``boundary`` (its outputs) from the inputs."""
    needed = ancestors(graph, boundary)
    nodes = tuple(n for n in graph.nodes if n.name in needed)
    inputs = tuple(i for i in graph.inputs if i in needed)
    return Graph(nodes, inputs, boundary, graph.space, graph.genotype, graph.digest, graph.fingerprint, graph.text)


def _rest_graph(graph: Graph, static: set[str], boundary: tuple[str, ...]) -> Graph:
    as_input = {b: GNode(b, "input", (), graph[b].shape, {"dtype": "float32"}, graph[b].block, graph[b].path,
                         graph[b].line) for b in boundary}
    nodes = tuple(as_input.get(n.name, n) for n in graph.nodes if n.name not in static or n.name in as_input)
    return Graph(nodes, boundary, graph.outputs, graph.space, graph.genotype, graph.digest, graph.fingerprint,
                 graph.text)


def with_sibling_taps(graph: Graph, names: tuple[str, ...] | list[str]) -> tuple[Graph, tuple[str, ...]]:
    """``graph`` with a node for every vector tap of the backbones that the taps in ``names`` read.

    A search reads a few taps of a frozen backbone per genotype, and another genotype other
    taps: computing all of a backbone's vector taps in the one pass that computes any of them
    spares a pass per new tap (map taps are left out: they can be large). Returns the graph
    (extra ``tap`` nodes appended) and the names of every tap of those backbones, in order.
    """
    wanted = {graph[n].inputs[0] for n in names if graph[n].kind == "tap"}
    extra, taps = [], []
    for backbone in (n for n in graph.nodes if n.name in wanted):
        for i, shape in enumerate(backbone.attrs.get("tap_shapes") or ()):
            name = f"{backbone.name}.tap[{i}]"
            if name not in graph and len(shape) == 1:
                extra.append(GNode(name, "tap", (backbone.name,), tuple(shape), {"index": i}, backbone.block,
                                   name, backbone.line))
            if name in graph or len(shape) == 1:
                taps.append(name)
    out = Graph(graph.nodes + tuple(extra), graph.inputs, graph.outputs, graph.space, graph.genotype, graph.digest,
                graph.fingerprint, graph.text)
    return out, tuple(taps)


def ancestors(graph: Graph, names: tuple[str, ...] | list[str]) -> set[str]:
    """``names`` and every node they read, transitively."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph[name].inputs)
    return seen


def signature(graph: Graph, name: str) -> str:
    """A digest of the subgraph computing ``name``: kinds, attributes and inputs, names left out."""
    memo: dict[str, str] = {}

    def sig(n: str) -> str:
        if n not in memo:
            node = graph[n]
            doc = {"kind": node.kind, "shape": list(node.shape), "attrs": node.attrs,
                   "inputs": [sig(i) for i in node.inputs], "input": node.name if node.kind == "input" else None}
            text = json.dumps(doc, sort_keys=True, default=str)
            memo[n] = hashlib.sha256(text.encode()).hexdigest()
        return memo[n]

    return sig(name)


def split_net(net: GraphNet) -> tuple[GraphNet, GraphNet, StaticSplit]:
    """(prefix net, rest net, split) of a built GraphNet; both nets share its modules."""
    cut = split_graph(net.graph)
    return sub_net(net, cut.prefix), sub_net(net, cut.rest), cut


def sub_net(net: GraphNet, graph: Graph) -> GraphNet:
    """The GraphNet of ``graph`` (a part of ``net.graph``) with ``net``'s own modules."""
    from genolang.compiler.module import GraphNet

    modules = {n.name: m for n in graph.nodes if n.name in net.names and (m := net.module_of(n.name)) is not None}
    return GraphNet(graph, affine=net.affine, modules=modules)
