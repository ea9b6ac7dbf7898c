"""The one-shot supernet of a space, and the genotype derived from its architecture weights.

``build_supernet(space, fixed=..., seed=...)`` lowers the space by the same lowering and op
table as the final network, over a value map whose open decisions are relaxed (:mod:`relaxed`),
which become mixed nodes (:mod:`supernet_lower`); it builds the graph with BN without affine
parameters (DARTS). The architecture logits live in :attr:`Supernet.arch`, apart from the
weights (:meth:`Supernet.weight_parameters`).

:meth:`Supernet.derive` reads the weights back into a validated :class:`Genotype`:

- ``choice`` (op, act) and ``one``: the argmax;
- op-labelled references: DARTS's rule (:func:`~genolang.compiler.derive.darts_top_k`: the k
  edges of largest non-``none`` weight, each with its best non-``none`` op);
- plain ``pick``/``choose``: the k candidates of largest ``skip`` weight (``rule="darts"``), or
  BM-NAS's pair rule for 2-input ``choose`` decisions (``rule="bmnas"``: pairs scored by the
  product of strengths, no pair both of whose inputs were taken by an earlier decision, only
  the candidates every such decision shares, i.e. the backbone features, unless
  ``restrict=False``);
- ``subset``: every candidate whose ``skip`` weight beats ``none`` (at least ``min``).

With one-hot weights, a supernet computes exactly the derived network for ``choice``, ``one``
and op-labelled references summed into a node (DARTS). Plain ``pick``/``choose`` decisions feed
the same mixed value to every slot (BM-NAS's search-time ``x = y``), as the reference does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch
from torch import nn

from genolang.compiler.derive import argmax_op, bmnas_pair_rule, darts_top_k, top_k_inputs
from genolang.compiler.graph import Graph
from genolang.compiler.lower import Lowering
from genolang.compiler.module import GraphNet, build_module
from genolang.compiler.place import Place
from genolang.compiler.relax import ArchParams
from genolang.compiler.relaxed import RelaxedDomain, decided, relaxed_values
from genolang.compiler.supernet_lower import NONE_OP, Mixer
from genolang.domains import ChoiceDomain
from genolang.genotype import Genotype
from genolang.space import Space
from genolang.validate import active_candidates
from genolang.walk import active_decisions


class Supernet(nn.Module):
    """A relaxed network: ``forward`` as the graph's; ``arch`` holds the architecture logits."""

    def __init__(self, space: Space, graph: Graph, arch: ArchParams, relaxed: dict[str, RelaxedDomain],
                 fixed: Mapping[str, Any]):
        super().__init__()
        self.space, self.graph = space, graph
        self.relaxed, self.fixed = relaxed, dict(fixed)
        self.net: GraphNet = build_module(graph, affine=False, arch=arch)

    @property
    def arch(self) -> ArchParams:
        return self.net.arch

    def forward(self, *inputs: torch.Tensor) -> Any:
        return self.net(*inputs)

    def arch_parameters(self) -> list[nn.Parameter]:
        return list(self.arch.parameters())

    def weight_parameters(self) -> list[nn.Parameter]:
        """Trainable network weights (frozen backbones and arch logits left out)."""
        arch = {id(p) for p in self.arch.parameters()}
        return [p for p in self.net.parameters() if id(p) not in arch and p.requires_grad]

    def candidates(self, path: str) -> tuple[str, ...]:
        """The candidate paths of a relaxed reference decision, in the order of its logits' rows."""
        d = self.relaxed[path]
        return active_candidates(d, self.fixed) if d.kind == "ref" else ()

    def derive(self, *, rule: Literal["darts", "bmnas"] = "darts", restrict: bool = True,
               name: str = "derived") -> Genotype:
        """The genotype the architecture weights point to, validated against the space."""
        weights = self.arch.snapshot()
        shared = _pair_prefix(self) if rule == "bmnas" else 0
        taken: set[int] = set()  # BM-NAS: the candidates earlier pair decisions took

        def value(path: str) -> Any:
            d, w = self.relaxed[path], weights[path]
            if rule != "bmnas" or not _pair_decision(d):
                return derive_value(d, w, self.candidates(path))
            pair = bmnas_pair_rule(w[:shared] if restrict else w, op_names=(NONE_OP, "skip"), selected=taken)
            taken.update(pair)
            return ["@" + self.candidates(path)[j] for j in pair]

        values: dict[str, Any] = {}
        for d in active_decisions(self.space.ir.decisions, values):
            if d.path in self.fixed:
                values[d.path] = self.fixed[d.path]
            elif d.path in self.relaxed:
                values[d.path] = value(d.path)
        return self.space.validate({**self.fixed, **values}, name=name)  # a fixed inactive value is refused


def derive_value(d: RelaxedDomain, w: torch.Tensor, cands: tuple[str, ...]) -> Any:
    """One decision's value from its softmax weights (see the module doc)."""
    if isinstance(d, ChoiceDomain):
        return argmax_op(w, [str(o) for o in d.options])
    if d.labels:
        names = (NONE_OP, *d.labels)
        k = {"one": 1, "subset": len(cands)}.get(d.mode, d.k)
        edges = darts_top_k(w, op_names=names, k=k)
        if d.mode == "subset":
            kept = [(j, op) for j, op in edges if float(w[j].max()) > float(w[j, 0])]
            edges = kept if len(kept) >= d.min else edges[:max(d.min, 0)]
        if d.mode != "pick":
            edges = sorted(edges)
        items = [{"op": op, "ref": "@" + cands[j]} for j, op in edges]
        return items[0] if d.mode == "one" else items
    if d.mode == "one":
        return "@" + cands[top_k_inputs(w, 1)[0]]
    skip = w[:, 1]
    if d.mode == "subset":
        on = [j for j in range(len(cands)) if float(w[j, 1]) > float(w[j, 0])]
        if len(on) < d.min:
            on = top_k_inputs(skip, d.min, order="index")
        return ["@" + cands[j] for j in on]
    order: Literal["strength", "index"] = "strength" if d.mode == "pick" else "index"
    return ["@" + cands[j] for j in top_k_inputs(skip, d.k, order=order)]


def _pair_decision(d: RelaxedDomain) -> bool:
    return d.kind == "ref" and d.mode == "choose" and d.k == 2 and not d.labels


def _pair_prefix(net: Supernet) -> int:
    """The candidates every pair decision shares (BM-NAS: the backbone features)."""
    lists = [net.candidates(p) for p, d in net.relaxed.items() if _pair_decision(d)]
    if not lists:
        return 0
    n = min(len(c) for c in lists)
    while n and any(c[:n] != lists[0][:n] for c in lists):
        n -= 1
    return n


def _decision_order(space: Space, relaxed: Mapping[str, RelaxedDomain]) -> list[str]:
    return [d.path for d in space.ir.decisions if d.path in relaxed]


def lower_supernet(space: Space, *, fixed: Mapping[str, Any] | None = None
                   ) -> tuple[Graph, dict[str, tuple[int, ...]], dict[str, RelaxedDomain], dict[str, Any]]:
    """(graph, {decision: logits shape}, {decision: domain}, fixed values) of the relaxed space.

    The fixed values are ``fixed`` plus the decisions with one possible value (empty subsets).
    """
    values = relaxed_values(space, fixed or {})
    place = Place(space.ir, values)
    mixer = Mixer(place, values)
    meta = {"space": space.name, "genotype": "supernet", "fingerprint": space.fingerprint}
    graph = Lowering(space, place, mixing=mixer).run(meta)
    return graph, mixer.alphas, mixer.relaxed, decided(values)


def build_supernet(space: Space, *, fixed: Mapping[str, Any] | None = None, seed: int = 0) -> Supernet:
    """The supernet of ``space`` with the decisions in ``fixed`` set and every other one relaxed.

    Refuses (a located :class:`~genolang.compiler.errors.CompileError`) a space with an open
    decision it cannot relax (a count, a boolean, a number, ``combine``, an op parameter).
    """
    graph, shapes, relaxed, values = lower_supernet(space, fixed=fixed)
    order = _decision_order(space, relaxed)
    arch = ArchParams({p: shapes[p] for p in order}, seed=seed)
    return Supernet(space, graph, arch, {p: relaxed[p] for p in order}, values)
