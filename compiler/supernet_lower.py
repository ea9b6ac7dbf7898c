"""The supernet's mixed rules: what a lowering builds for a decision left open.

The supernet is lowered by the same :class:`~genolang.compiler.lower.Lowering` as any genotype,
over the value map of :func:`~genolang.compiler.relaxed.relaxed_values`; every relaxed decision
it meets becomes a mixed node of the Graph IR built here (:class:`Mixer`), whose weights are
the softmax of its own architecture logits (DARTS, BM-NAS):

==========================  ===============================================================
decision                    relaxed as (logits shape)
==========================  ===============================================================
``op: choice(...)``         ``mixed_op``: sum of every candidate op, weighted (n_ops,)
``act: choice(...)``        ``mixed_act``: sum of every candidate activation (n_acts,)
``one(REFS)``               ``mixed_input``: softmax over the candidates (n,)
``pick``/``choose``/        ``mixed_input``: each candidate an edge in {none, skip} (n, 2),
``subset(REFS)``            summed (BM-NAS mixed edges); pick/choose give k copies (x = y)
``one/choose/...(op=E)``    one ``mixed_op`` per candidate edge over ``none`` + E (n, 1+|E|),
                            all edges summed (DARTS)
==========================  ===============================================================

Anything else (counts, booleans, numbers, ``combine``, a choice feeding an op parameter) must
be given a value in ``fixed``; otherwise the lowering refuses the supernet naming the decision.
"""

from __future__ import annotations

from typing import Any

from genolang.compiler.builder import Value
from genolang.compiler.frame import Frame
from genolang.compiler.node import activation, adapt, apply_node, input_fields, op_params
from genolang.compiler.place import Place
from genolang.compiler.refs import Edge, read_edges, resolve
from genolang.compiler.relaxed import Relaxed, RelaxedDomain, decided
from genolang.domains import ChoiceDomain, RefDomain
from genolang.ir import Entity
from genolang.validate import active_candidates

#: the op a relaxed labelled edge may also take: no edge at all (derivation excludes it)
NONE_OP = "none"


class Mixer:
    """The mixed nodes of one supernet lowering (a :class:`~genolang.compiler.relaxed.Mixing`).

    ``alphas`` maps each relaxed decision met to the shape of its logits, ``relaxed`` to its
    domain. An empty ``subset`` (no candidate built) has one value, ``[]``: it is written into
    ``values``, the lowering's value map, and not relaxed.
    """

    def __init__(self, place: Place, values: dict[str, Any]):
        self.place, self.b, self.values = place, place.b, values
        self.domains = {d.path: d.domain for d in place.ir.decisions}
        self.alphas: dict[str, tuple[int, ...]] = {}
        self.relaxed: dict[str, RelaxedDomain] = {}

    def open(self, r: Relaxed, shape: tuple[int, ...]) -> None:
        """Record ``r`` as relaxed with logits of ``shape`` (a decision read twice shares them)."""
        assert isinstance(r.domain, (ChoiceDomain, RefDomain)), "only references and choices are mixed"
        self.alphas.setdefault(r.path, shape)
        self.relaxed.setdefault(r.path, r.domain)

    def candidates(self, r: Relaxed, e: Entity, frame: Frame) -> list[tuple[str, Value]]:
        """The active candidates of a relaxed reference, with their values, in declared order."""
        out = []
        for p in active_candidates(r.ref, decided(self.values)):
            v = resolve(self.place, "@" + p, e, frame)
            if v is not None:
                out.append((p, v))
        if not out and not (r.ref.mode == "subset" and r.ref.min == 0):
            raise self.place.fail(f"decision `{r.path}` has no candidate this supernet builds", e)
        return out

    # ------------------------------------------------------------------ references

    def refs(self, r: Relaxed, e: Entity, frame: Frame, name: str) -> list[Value]:
        """A plain reference decision: one mixed value, repeated k times for pick/choose."""
        found = self.candidates(r, e, frame)
        if not found:  # an empty subset: its only value is []
            self.values[r.path] = []
            return []
        cands = self.align([v for _, v in found], frame)
        mode = "softmax" if r.ref.mode == "one" else "edge"
        self.open(r, (len(cands),) if mode == "softmax" else (len(cands), 2))
        v = self.b.add(f"{name}/mixed", "mixed_input", cands, cands[0].shape, {"decision": r.path, "mode": mode})
        return [v] * (r.ref.k if r.slotted else 1)

    def align(self, values: list[Value], frame: Frame) -> list[Value]:
        """Candidates brought to one shape: (C, L) in a group with a length, else the widest width."""
        if frame.length is not None and frame.width is not None:
            return [self.b.to_seq(v, channels=frame.width, length=frame.length) for v in values]
        kinds = {v.kind for v in values}
        if len(kinds) > 1:
            values = [self.b.to_vector(v) for v in values]
        if values[0].kind == "map":
            size = min(((v.shape[1], v.shape[2]) for v in values), key=lambda s: s[0] * s[1])  # maps: (C, H, W)
            values = [self.b.align_spatial(v, size) for v in values]
        width = max(v.width for v in values)
        return [self.b.project(v, width) for v in values]

    # ------------------------------------------------------------------ nodes

    def node(self, e: Entity, f: dict[str, Any], frame: Frame) -> Value:
        """A node some of whose fields ``f`` (inputs, op, act) are relaxed."""
        name = frame.actual(e.path)
        keys = input_fields(e, self.domains)
        edges = [edge for k in keys for edge in self.inputs(f.get(k), e, frame, f"{name}.{k}")]
        if not edges:
            edges = [(None, frame.ins[-1])] if frame.ins else []
        if not edges:
            raise self.place.fail(f"node {name!r} has no inputs", e)
        params = op_params(f, keys)
        plain = {k: v for k, v in f.items() if not isinstance(v, Relaxed)}
        op, act = f.get("op"), f.get("act")
        return self.place.guard(lambda: self.mixed_node(plain, params, edges, frame, name, op, act), e)

    def inputs(self, raw: Any, e: Entity, frame: Frame, name: str) -> list[Edge]:
        """A node's input field as edges: plain references, mixed inputs or mixed labelled edges."""
        if not isinstance(raw, Relaxed):
            return read_edges(self.place, raw, e, frame)
        if not raw.ref.labels:
            return [(None, v) for v in self.refs(raw, e, frame, name)]
        return [(None, self.mixed_edges(raw, e, frame, name))]

    def mixed_edges(self, r: Relaxed, e: Entity, frame: Frame, name: str) -> Value:
        """Op-labelled references: a mixed op (``none`` + the labels) on every candidate edge, summed."""
        from genolang.compiler.supernet_ops import mixed_op

        ops = (NONE_OP, *(r.ref.labels or ()))  # labelled: called for op= edges only
        cands = self.candidates(r, e, frame)
        self.open(r, (len(cands), len(ops)))
        outs = [mixed_op(self.b, ops, [v], frame, f"{name}/e{j}", decision=r.path, row=j,
                         stride=frame.stride if v.name in {i.name for i in frame.ins} else 1)
                for j, (_, v) in enumerate(cands)]
        return self.b.combine("sum", outs, f"{name}/sum") if len(outs) > 1 else outs[0]

    def mixed_node(self, f: dict[str, Any], params: dict[str, Any], edges: list[Edge], frame: Frame, name: str,
                   op: Any, act: Any) -> Value:
        """``act(op(inputs))`` with the op and/or the activation mixed."""
        from genolang.compiler.supernet_ops import mixed_act

        if isinstance(op, Relaxed):
            x = self.mixed_op(op, f, params, [v for _, v in edges], frame, name, name if act is None else f"{name}/op")
        else:
            x = apply_node(self.b, {**f, "act": None}, params, edges, frame, name if act is None else f"{name}/op")
        if isinstance(act, Relaxed):
            self.open(act, (len(act.choice.options),))
            return mixed_act(self.b, tuple(act.choice.options), x, name, decision=act.path)
        if act is not None:
            return activation(self.b, str(act), x, name)
        return x

    def mixed_op(self, op: Relaxed, f: dict[str, Any], params: dict[str, Any], xs: list[Value], frame: Frame,
                 node: str, name: str) -> Value:
        """Every candidate op on the inputs of ``node`` (combined, adapted), weighted, as ``name``."""
        from genolang.compiler.ops import OPS
        from genolang.compiler.supernet_ops import mixed_op

        options = tuple(op.choice.options)
        self.open(op, (len(options),))
        spec = OPS.get(options[0])
        how = str(f.get("combine", "sum"))
        if spec.arity == 1 and len(xs) > 1:
            xs = [self.b.combine(how, xs, f"{node}/{how}")]
        xs = [adapt(self.b, v, spec, frame) for v in xs]
        return mixed_op(self.b, options, xs, frame, name, decision=op.path, row=None, params=params, f=f)
