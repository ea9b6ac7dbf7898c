"""Structural validity, checked once on the Space IR: every genotype builds a network.

Two rules, each refused at the culprit's line (the compiler can then trust the structure):

* E0293: a fixed reference (``in = @b``) names an element that some genotype activating
  the reader does not build (``b`` sits in a ``when`` or a searched repeat the reader is not
  under). The reader's conditions must imply the target's.
* E0294: a node may end up with no input: every reference it reads may be unselected
  (``subset`` without ``min``), or it reads ``@prev`` first in its repeat, or it has no
  reference at all, and its container has no ``in`` to fall back on. Likewise a reference
  decision that may find fewer active candidates than it must choose (``one(a[*])`` with a
  searched count that may be 0).

* E0295: an op that consumes maps (C, H, W) reads an element that is never a map (an input
  of shape [D], a node whose op makes vectors): the compiler has no rule to make a map of a
  vector. Element kinds are inferred from input shapes and the ops' metadata; where a kind
  is not known statically (backbone taps, containers), nothing is refused.

Implication is decided syntactically, which is exact for the conditions the language
builds: the reader's own conditions contain the target's, or a repeat instance ``i``
follows from an instance ``j >= i`` of the same count.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from genolang.ast import Span
from genolang.backbone_inputs import check_backbone_inputs
from genolang.conditions import Condition, CountCond
from genolang.domains import ChoiceDomain, RefDomain
from genolang.errors import Collector
from genolang.ir import Decided, DecisionIR, Entity, SpaceIR
from genolang.op_arity import check_arity
from genolang.opfields import check_op_fields

PREV = ("@prev", "@prev2")
READERS = ("node", "group", "stack", "head", "backbone", "cell")


def check_structure(ir: SpaceIR, diag: Collector) -> None:
    """Report every E0293 and E0294 of ``ir`` into ``diag``.

    Only a space with a ``head`` describes a network; a space without one is a plain set of
    decisions (hyperparameters, tests of the language) that the compiler refuses as a whole.
    """
    if not any(e.kind == "head" for e in ir.entities.values()):
        return
    check_op_fields(ir, diag)  # E0296
    check_backbone_inputs(ir, diag)  # E0297, E0298
    check_arity(ir, diag)  # E0299
    domains = {d.path: d for d in ir.decisions}
    reported: set[Span | None] = set()  # one error per declaration, not one per instance of a repeat
    for e in ir.entities.values():
        if e.span is not None and e.span in reported:
            continue
        before = len(diag.items)
        if e.kind in READERS:
            _check_refs(e, ir.entities, diag)
        if e.kind == "node":
            _check_inputs(e, ir.entities, domains, diag)
        if len(diag.items) > before:
            reported.add(e.span)
    kinds = _kinds(ir, domains)
    for e in ir.entities.values():
        if e.kind == "node" and (e.span is None or e.span not in reported) and _check_kinds(e, kinds, domains, diag):
            reported.add(e.span)
    for d in ir.decisions:
        if (d.span is None or d.span not in reported) and _check_candidates(d, diag):
            reported.add(d.span)


def implies(conds: tuple[Condition, ...], target: tuple[Condition, ...]) -> bool:
    """Whether ``conds`` holding guarantees ``target`` holds (syntactically)."""
    have = set(conds)
    counts: dict[str, int] = {}
    for c in conds:
        if isinstance(c, CountCond):
            counts[c.path] = max(counts.get(c.path, -1), c.index)
    return all(c in have or (isinstance(c, CountCond) and counts.get(c.path, -1) >= c.index) for c in target)


# ------------------------------------------------------------------ E0293
def _check_refs(e: Entity, entities: dict[str, Entity], diag: Collector) -> None:
    for name, ref in _fixed_refs(e):
        target = entities.get(ref[1:]) or entities.get(ref[1:] + "[0]")  # `@g`: g's last active instance
        if target is None or implies(e.conds, target.conds):
            continue
        unmet = " and ".join(c.text() for c in target.conds if not implies(e.conds, (c,)))
        diag.add("E0293", f"`{name}` of '{e.path}' reads {ref}, which is built only when {unmet}",
                 e.span, help=("put the reader under the same condition (`when`), or read it through a "
                               "reference decision (`one(...)`), whose candidates follow their conditions",))
        return


def _fixed_refs(e: Entity) -> Iterator[tuple[str, str]]:
    for name, value in e.fields.items():
        for item in value if isinstance(value, list) else [value]:
            ref = item.get("ref") if isinstance(item, dict) else item
            if isinstance(ref, str) and ref.startswith("@") and ref not in PREV:
                yield name, ref


# ------------------------------------------------------------------ E0294
def _check_inputs(e: Entity, entities: dict[str, Entity], domains: dict[str, Any], diag: Collector) -> None:
    if _sure_input(e, domains) or _container_in(e, entities, domains):
        return
    diag.add("E0294", f"node '{e.path}' may have no input: in some genotype it reads nothing, and "
                      f"{'its container has' if _owner(e.path, entities) else 'outside a group there is'} no `in` to "
                      "fall back on",
             e.span, help=("give the `subset` a `min=1`, add a fixed reference, or give the enclosing "
                           "group an `in`",))


def _sure_input(e: Entity, domains: dict[str, Any]) -> bool:
    """Whether ``e`` reads at least one element in every genotype, whatever its container."""
    index = _index(e.path)
    for value in e.fields.values():
        if isinstance(value, Decided):
            dom = getattr(domains.get(value.path), "domain", None)
            if isinstance(dom, RefDomain) and _needed(dom) >= 1:
                return True
            continue
        for item in value if isinstance(value, list) else [value]:
            ref = item.get("ref") if isinstance(item, dict) else item
            if isinstance(ref, str) and ref.startswith("@"):
                back = 2 if ref == "@prev2" else 1 if ref == "@prev" else 0
                if back == 0 or (index is not None and index >= back):
                    return True
    return False


def _container_in(e: Entity, entities: dict[str, Entity], domains: dict[str, Any]) -> bool:
    """Whether ``e``'s container always gives it an input to fall back on."""
    box = _owner(e.path, entities)
    if box is None or box.kind not in ("group", "cell"):
        return False
    raw = box.fields.get("in", "@prev" if box.kind == "cell" else None)
    if box.kind == "cell" and raw is not None and not isinstance(raw, Decided):
        return True  # a cell placed in a stack always reads the stack's history
    if isinstance(raw, Decided):
        dom = getattr(domains.get(raw.path), "domain", None)
        return isinstance(dom, RefDomain) and _needed(dom) >= 1
    return bool(raw)


def _owner(path: str, entities: dict[str, Entity]) -> Entity | None:
    """The block declaring ``path`` (None at the top level), as the compiler nests them."""
    parts = path.split(".")
    return next((entities[p] for i in range(len(parts) - 1, 0, -1) if (p := ".".join(parts[:i])) in entities),
                None)


def _index(path: str) -> int | None:
    if not path.endswith("]"):
        return None
    head = path[path.rindex("[") + 1:-1]
    return int(head) if head.isdigit() else None


def _needed(dom: RefDomain) -> int:
    """How many references a reference domain always chooses."""
    return dom.min if dom.mode == "subset" else dom.k


# ------------------------------------------------------------------ candidates
def _check_candidates(d: DecisionIR, diag: Collector) -> bool:
    dom = d.domain
    if not isinstance(dom, RefDomain) or dom.unconditional is not None:
        return False
    sure = sum(1 for c in dom.candidates if implies(d.conds, c.conds))
    if sure >= _needed(dom):
        return False
    diag.add("E0294", f"'{d.path}' must choose {_needed(dom)} reference(s), but in some genotype fewer of its "
                      f"candidates are built (only {sure} always are)", d.span,
             help=("lower `min`/`k`, or add a candidate that is always built",))
    return True


# ------------------------------------------------------------------ E0295
RANK_KINDS = {1: "vector", 2: "seq", 3: "map"}


def _op_kind(name: Any) -> str | None:
    from genolang.opmeta import OP_META

    try:
        return OP_META.get(str(name)).kind
    except Exception:  # an unknown op is reported elsewhere (E0236)
        return None


def _op_names(e: Entity, domains: dict[str, Any]) -> list[Any] | None:
    """The ops ``e`` may apply (None: it has no op field, or they are not known)."""
    op = e.fields.get("op")
    if isinstance(op, Decided):
        dom = getattr(domains.get(op.path), "domain", None)
        return list(dom.options) if isinstance(dom, ChoiceDomain) else None
    return None if op is None else [op]


def _kinds(ir: SpaceIR, domains: dict[str, Any]) -> dict[str, frozenset[str]]:
    """Path -> the kinds of value the element may be, where statically known."""
    kinds: dict[str, frozenset[str]] = {}
    for e in ir.entities.values():
        if e.kind == "input" and isinstance(e.fields.get("shape"), list):
            kind = RANK_KINDS.get(len(e.fields["shape"]))
            if kind is not None:
                kinds[e.path] = frozenset({kind})
        elif e.kind == "node":
            ops = _op_names(e, domains)
            found = {_op_kind(o) for o in ops} if ops else {None}
            if None not in found and "any" not in found:
                kinds[e.path] = frozenset(k for k in found if k is not None)
    return kinds


def _check_kinds(e: Entity, kinds: dict[str, frozenset[str]], domains: dict[str, Any], diag: Collector) -> bool:
    ops = [o for o in (_op_names(e, domains) or ()) if _op_kind(o) == "map"]
    if not ops:
        return False
    for name, ref in _read_refs(e, domains):
        kind = kinds.get(ref[1:])
        if kind is not None and "map" not in kind:
            diag.add("E0295", f"op '{ops[0]}' of '{e.path}' consumes maps (C, H, W), but `{name}` may read "
                              f"{ref}, which is a {'/'.join(sorted(kind))}", e.span,
                     help=("use an op of that kind (`fc` for vectors), or read a map",))
            return True
    return False


def _read_refs(e: Entity, domains: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Every reference ``e`` may read: fixed ones and the candidates of its reference decisions."""
    yield from _fixed_refs(e)
    for name, value in e.fields.items():
        dom = getattr(domains.get(value.path), "domain", None) if isinstance(value, Decided) else None
        if isinstance(dom, RefDomain):
            for c in dom.candidates:
                yield name, "@" + c.path
