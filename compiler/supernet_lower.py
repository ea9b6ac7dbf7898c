"""The relaxed lowering: the same rules as :mod:`lower`, with decisions left open.

Every relaxable decision not given a value becomes a mixed node of the Graph IR, whose
weights are the softmax of its own architecture logits (DARTS, BM-NAS):

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
be given a value in ``fixed``; otherwise the supernet is refused naming the decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genolang.compiler.builder import Value
from genolang.compiler.lower import Lowering
from genolang.compiler.lower_nodes import NODE_KEYS, Frame
from genolang.compiler.lower_ops import adapt, apply_node
from genolang.conditions import all_hold
from genolang.domains import ChoiceDomain, RefDomain
from genolang.genotype import Genotype
from genolang.ir import Computed, Decided, Entity
from genolang.space import Space
from genolang.validate import active_candidates

RelaxedDomain = ChoiceDomain | RefDomain  # what a supernet relaxes: op/act choices, references

#: the op a relaxed labelled edge may also take: no edge at all (derivation excludes it)
NONE_OP = "none"


@dataclass(frozen=True)
class Relaxed:
    """A decision left open in the supernet."""

    path: str
    domain: RelaxedDomain

    @property
    def ref(self) -> RefDomain:
        """The domain of a relaxed reference decision."""
        assert isinstance(self.domain, RefDomain), f"`{self.path}` is a relaxed reference decision"
        return self.domain

    @property
    def choice(self) -> ChoiceDomain:
        """The domain of a relaxed op or activation choice."""
        assert isinstance(self.domain, ChoiceDomain), f"`{self.path}` is a relaxed choice"
        return self.domain


class RelaxedLowering(Lowering):
    """Lowers a space with its open decisions relaxed; ``alphas`` maps decision path -> logits shape."""

    def __init__(self, space: Space, fixed: dict[str, Any]):
        stub = Genotype(space=space.name, version=space.version, fingerprint=space.fingerprint,
                        values=dict(fixed), name="supernet")
        super().__init__(space, stub)
        self.values = dict(self.values)  # decisions with one possible value are added to it
        self.alphas: dict[str, tuple[int, ...]] = {}
        self.relaxed: dict[str, RelaxedDomain] = {}

    # ------------------------------------------------------------------ decisions

    def active(self, e: Entity) -> bool:
        for c in e.conds:
            open_paths = [p for p in c.paths() if p not in self.values]
            if open_paths:
                raise self.fail(f"the structure of {e.path!r} depends on `{open_paths[0]}`, which a supernet "
                                "cannot relax; give it a value", e)
        return all_hold(e.conds, self.values)

    def fields(self, e: Entity) -> dict[str, Any]:
        out = {}
        for k, v in e.fields.items():
            if isinstance(v, Computed):
                out[k] = self.computed(v, k, e)
            elif not isinstance(v, Decided):
                out[k] = v
            elif v.path in self.values:
                out[k] = self.values[v.path]
            else:
                out[k] = self.relax(v.path, k, e)
        return out

    def computed(self, c: Computed, field: str, e: Entity) -> Any:
        """A computed field: its decisions must be given (arithmetic is not relaxed)."""
        open_paths = [p for p in c.paths() if p not in self.values]
        if open_paths:
            raise self.fail(f"`{field}` of {e.path!r} is computed from decision `{open_paths[0]}`, which a "
                            "supernet cannot relax; give it a value (fixed=...)", e)
        return c.evaluate(self.values)

    def relax(self, path: str, field: str, e: Entity) -> Relaxed:
        domain = self.domains[path]
        kind = getattr(domain, "kind", "")
        if isinstance(domain, RefDomain) or (isinstance(domain, ChoiceDomain) and field in ("op", "act")):
            self.relaxed[path] = domain
            return Relaxed(path, domain)
        raise self.fail(f"decision `{path}` ({kind} of `{field}`) cannot be relaxed in a supernet; give it a "
                        "value (fixed=...)", e)

    def candidates(self, r: Relaxed, e: Entity, frame: Frame) -> list[tuple[str, Value]]:
        paths = active_candidates(r.ref, self.values)
        out = []
        for p in paths:
            v = self.resolve("@" + p, e, frame)
            if v is not None:
                out.append((p, v))
        if not out and not (r.ref.mode == "subset" and r.ref.min == 0):
            raise self.fail(f"decision `{r.path}` has no candidate this supernet builds", e)
        return out

    # ------------------------------------------------------------------ references

    def refs(self, raw: Any, e: Entity, frame: Frame, *, field: str) -> list[Value]:
        if isinstance(raw, Relaxed):
            return self.mixed_refs(raw, e, frame, f"{frame.actual(e.path)}.{field}")
        return super().refs(raw, e, frame, field=field)

    def mixed_refs(self, r: Relaxed, e: Entity, frame: Frame, name: str) -> list[Value]:
        """A plain reference decision: one mixed value, repeated k times for pick/choose."""
        found = self.candidates(r, e, frame)
        if not found:  # an empty subset: its only value is []
            self.relaxed.pop(r.path, None)
            self.values[r.path] = []
            return []
        cands = self.align([v for _, v in found], frame, e)
        mode = "softmax" if r.ref.mode == "one" else "edge"
        shape = (len(cands),) if mode == "softmax" else (len(cands), 2)
        self.alphas.setdefault(r.path, shape)
        v = self.b.add(f"{name}/mixed", "mixed_input", cands, cands[0].shape, {"decision": r.path, "mode": mode})
        return [v] * (r.ref.k if r.ref.mode in ("pick", "choose") else 1)

    def align(self, values: list[Value], frame: Frame, e: Entity) -> list[Value]:
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

    def lower_node(self, e: Entity, frame: Frame) -> Value:
        f = self.fields(e)
        if not any(isinstance(v, Relaxed) for v in f.values()):
            return super().lower_node(e, frame)
        name = frame.actual(e.path)
        keys = self.input_fields(e)
        params = {k: v for k, v in f.items() if k not in NODE_KEYS and k not in keys}
        edges: list[tuple[str | None, Value]] = []
        for k in keys:
            edges += self.node_inputs(f[k], e, frame, f"{name}.{k}")
        if not edges:
            edges = [(None, frame.ins[-1])] if frame.ins else []
        if not edges:
            raise self.fail(f"node {name!r} has no inputs", e)
        plain = {k: v for k, v in f.items() if not isinstance(v, Relaxed)}
        op, act = f.get("op"), f.get("act")
        return self.guard(lambda: self.mixed_node(plain, params, edges, frame, name, op, act), e)

    def node_inputs(self, raw: Any, e: Entity, frame: Frame, name: str) -> list[tuple[str | None, Value]]:
        if not isinstance(raw, Relaxed):
            items = raw if isinstance(raw, list) else [raw]
            out = []
            for item in items:
                v = self.resolve(item["ref"] if isinstance(item, dict) else item, e, frame)
                if v is not None:
                    out.append((item.get("op") if isinstance(item, dict) else None, v))
            return out
        if not raw.ref.labels:
            return [(None, v) for v in self.mixed_refs(raw, e, frame, name)]
        return [(None, self.mixed_edges(raw, e, frame, name))]

    def mixed_edges(self, r: Relaxed, e: Entity, frame: Frame, name: str) -> Value:
        """Op-labelled references: a mixed op (``none`` + the labels) on every candidate edge, summed."""
        from genolang.compiler.supernet_ops import mixed_op

        ops = (NONE_OP, *(r.ref.labels or ()))  # labelled: called for op= edges only
        cands = self.candidates(r, e, frame)
        self.alphas.setdefault(r.path, (len(cands), len(ops)))
        outs = [mixed_op(self.b, ops, [v], frame, f"{name}/e{j}", decision=r.path, row=j,
                         stride=frame.stride if v.name in {i.name for i in frame.ins} else 1)
                for j, (_, v) in enumerate(cands)]
        return self.b.combine("sum", outs, f"{name}/sum") if len(outs) > 1 else outs[0]

    def mixed_node(self, f: dict[str, Any], params: dict[str, Any], edges: list[tuple[str | None, Value]],
                   frame: Frame, name: str, op: Any, act: Any) -> Value:
        from genolang.compiler.supernet_ops import mixed_act, mixed_op

        if not isinstance(op, Relaxed):
            x = apply_node(self.b, {**f, "act": None}, params, edges, frame, name if act is None else f"{name}/op")
        else:
            options = tuple(op.choice.options)
            self.alphas.setdefault(op.path, (len(options),))
            xs = [v for _, v in edges]
            from genolang.compiler.ops import OPS

            spec = OPS.get(options[0])
            if spec.arity == 1 and len(xs) > 1:
                xs = [self.b.combine(str(f.get("combine", "sum")), xs, f"{name}/{f.get('combine', 'sum')}")]
            xs = [adapt(self.b, v, spec, frame) for v in xs]
            x = mixed_op(self.b, options, xs, frame, name if act is None else f"{name}/op", decision=op.path,
                         row=None, params=params, f=f)
        if isinstance(act, Relaxed):
            self.alphas.setdefault(act.path, (len(act.choice.options),))
            return mixed_act(self.b, tuple(act.choice.options), x, name, decision=act.path)
        if act is not None:
            from genolang.compiler.lower_ops import activation

            return activation(self.b, str(act), x, name)
        return x

    @staticmethod
    def bind_ins(frame: Frame, tpath: str, raw: Any, ins: list[Value]) -> None:
        """As :meth:`Lowering.bind_ins`; a relaxed pick/choose fills the slots ``in[0..k-1]``."""
        if isinstance(raw, Relaxed) and raw.ref.mode in ("pick", "choose"):
            raw = list(ins)
        Lowering.bind_ins(frame, tpath, raw, ins)
