"""Binary ops read exactly two values in every genotype (E0299), checked once on the Space IR.

An op of arity 2 (the BM-NAS step ops: ``attention``, ``linear_glu``, ...) takes ``(x, y)``.
The compiler aligns the two (adapters) but cannot invent or drop one, so a node that may
apply such an op must read exactly two values whatever the choices: two fixed references,
``pick(2, ...)``, ``subset(..., min=2)`` over two candidates, and so on. Counting:

* a fixed reference is one value (E0293 makes it built whenever the node is); ``@prev``
  after the first instance of its repeat is one, before it the container's input (one or
  none);
* ``one(...)`` is one, ``pick(k, ...)`` and ``choose(k, ...)`` are ``k``, ``subset`` is
  anything from its ``min`` to its number of candidates;
* a node reading nothing reads its container's ``in`` (one);
* references that carry their own op (``one(a, b, op=Ops)``, ``{op, ref}`` items) are
  combined into one value before the node's op: refused for a binary op.
"""

from __future__ import annotations

from typing import Any

from genolang.domains import ChoiceDomain, RefDomain
from genolang.errors import Collector
from genolang.ir import Decided, DecisionIR, Entity, SpaceIR

PREV = {"@prev": 1, "@prev2": 2}


def check_arity(ir: SpaceIR, diag: Collector) -> None:
    """Report every node that may apply a binary op to other than two values (E0299)."""
    domains = {d.path: d for d in ir.decisions}
    reported: set[Any] = set()
    for e in ir.entities.values():
        if e.kind != "node" or (e.span is not None and e.span in reported):
            continue
        binary = [op for op in _ops(e, domains) if _arity(op) == 2]
        if not binary:
            continue
        lo, hi, labelled = _count(e, domains)
        if labelled or (lo, hi) != (2, 2):
            got = "edges with their own ops" if labelled else f"{lo}" if lo == hi else f"from {lo} to {hi}"
            diag.add("E0299", f"op '{binary[0]}' of '{e.path}' takes two inputs (x, y), but the node reads {got} "
                              "value(s) in some genotype", e.span,
                     help=("read exactly two: two fixed references, pick(2, ...), or subset(a, b, min=2)",))
            reported.add(e.span)


def _ops(e: Entity, domains: dict[str, DecisionIR]) -> list[str]:
    op = e.fields.get("op")
    if isinstance(op, Decided):
        dom = getattr(domains.get(op.path), "domain", None)
        return [str(o) for o in dom.options] if isinstance(dom, ChoiceDomain) else []
    return [] if op is None else [str(op)]


def _arity(name: str) -> int:
    from genolang.opmeta import OP_META

    try:
        return OP_META.get(name).arity
    except Exception:  # an unknown op is reported elsewhere (E0236)
        return 1


def _count(e: Entity, domains: dict[str, DecisionIR]) -> tuple[int, int, bool]:
    """(fewest, most) values ``e`` reads, and whether some carry their own op."""
    lo = hi = 0
    labelled = False
    index = _index(e.path)
    for value in e.fields.values():
        if isinstance(value, Decided):
            dom = getattr(domains.get(value.path), "domain", None)
            if isinstance(dom, RefDomain):
                labelled = labelled or dom.labels is not None
                n = {"one": (1, 1), "subset": (dom.min, len(dom.candidates))}.get(dom.mode, (dom.k, dom.k))
                lo, hi = lo + n[0], hi + n[1]
            continue
        for item in value if isinstance(value, list) else [value]:
            labelled = labelled or (isinstance(item, dict) and "op" in item)
            ref = item.get("ref") if isinstance(item, dict) else item
            if isinstance(ref, str) and ref.startswith("@"):
                sure = ref not in PREV or (index is not None and index >= PREV[ref])
                lo, hi = lo + int(sure), hi + 1
    return max(lo, 1), max(hi, 1), labelled  # reading nothing, a node reads its container's `in`


def _index(path: str) -> int | None:
    if not path.endswith("]"):
        return None
    head = path[path.rindex("[") + 1:-1]
    return int(head) if head.isdigit() else None
