"""A node's fields against its ops' metadata, at check time (no torch).

Every op a node may apply (its fixed ``op`` or each option of a decided one) must accept
every field the node sets besides ``op``, ``act``, ``combine`` and its inputs, and every
value it may take (the fixed value, or each value of the decision's domain): otherwise
some genotype would fail in the compiler ("op 'conv3x3' has no parameter 'kernel'"). Such
a node is refused with E0296 at its line.
"""

from __future__ import annotations

from typing import Any

from genolang.ast import Span
from genolang.domains import BoolDomain, ChoiceDomain, FloatDomain, IntDomain
from genolang.errors import Collector
from genolang.fieldtypes import ENUMERATED
from genolang.ir import Decided, Entity, SpaceIR

SKIPPED = frozenset({"op", "act", "combine"})


def check_op_fields(ir: SpaceIR, diag: Collector) -> None:
    """Report E0296 for each node declaration whose fields some op it may apply refuses."""
    domains = {d.path: d.domain for d in ir.decisions}
    reported: set[Span | None] = set()
    for e in ir.entities.values():
        if e.kind != "node" or (e.span is not None and e.span in reported):
            continue
        problem = node_problem(e, domains)
        if problem is not None:
            diag.add("E0296", problem, e.span,
                     help=("set the field only where every op may take it (split the node or the op "
                           "choice), or narrow its values",))
            reported.add(e.span)


def node_problem(e: Entity, domains: dict[str, Any]) -> str | None:
    from genolang.opmeta import OP_META

    for op in _ops(e, domains):
        try:
            accepted = OP_META.get(str(op)).node_fields()
        except Exception:  # an unknown op is reported as such (E0236)
            continue
        for name, value in e.fields.items():
            if name in SKIPPED or _is_input(value, domains):
                continue
            if name not in accepted:
                shown = ", ".join(sorted(accepted)) or "none"
                return f"op '{op}' of '{e.path}' takes no field '{name}' (it takes: {shown})"
            for v in _values(value, domains):
                why = accepted[name].problem(v)
                if why is not None:
                    return f"op '{op}' of '{e.path}': field '{name}' = {v!r}: {why}"
    return None


def _ops(e: Entity, domains: dict[str, Any]) -> list[Any]:
    op = e.fields.get("op")
    if isinstance(op, Decided):
        dom = domains.get(op.path)
        return list(dom.options) if isinstance(dom, ChoiceDomain) else []
    return [] if op is None else [op]


def _is_input(value: Any, domains: dict[str, Any]) -> bool:
    if isinstance(value, Decided):
        return getattr(domains.get(value.path), "kind", "") == "ref"
    items = value if isinstance(value, list) else [value]
    return bool(items) and all(
        (isinstance(i, str) and i.startswith("@")) or (isinstance(i, dict) and set(i) == {"op", "ref"})
        for i in items)


def _values(value: Any, domains: dict[str, Any]) -> list[Any]:
    """The values a field may take (bounds only for a huge int domain; none for floats)."""
    if not isinstance(value, Decided):  # a computed value (`w * 2`) is checked by its own rules
        return [value] if isinstance(value, (int, float, str, bool, list, dict)) else []
    dom = domains.get(value.path)
    if isinstance(dom, IntDomain) and not dom.log and dom.size() > ENUMERATED:
        return [dom.lo, dom.lo + dom.step, dom.hi]
    if isinstance(dom, (IntDomain, ChoiceDomain, BoolDomain)):
        return list(dom.values())
    if isinstance(dom, FloatDomain):
        return [dom.lo, dom.hi]
    return []
