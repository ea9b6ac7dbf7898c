"""Checking values against a Space IR: activity, domains, references, forbids.

Input is a flat ``{path: (plain value, span)}`` map; nested genotype text (``fusion = [{...}]``)
is flattened first by :func:`flatten` using the space's structure.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from genolang import ast as A
from genolang.conditions import all_hold
from genolang.domains import Mismatch
from genolang.errors import Collector, GenotypeError, Source, did_you_mean
from genolang.genotype import Genotype
from genolang.ir import SpaceIR
from genolang.values import plain

MAX_LISTED = 4
_INDEX = re.compile(r"\[\d+\]")


def flatten(ir: SpaceIR, assigns: tuple[A.Assign, ...], diag: Collector) -> dict[str, tuple[Any, Any]]:
    flat: dict[str, tuple[Any, Any]] = {}
    decisions = _decision_index(ir)
    firsts: dict[str, Any] = {}

    def put(path: str, value, span) -> None:
        if path in decisions:
            if path in flat:
                first = firsts[path]
                diag.add("E0310", f"'{path}' is assigned twice", span,
                         notes=(f"first assignment at line {first.line}",) if first else ())
                return
            flat[path], firsts[path] = (plain(value), value.span), span
            return
        ent = ir.entities.get(path)
        first = ir.entities.get(path + "[0]")
        if first is not None and first.kind in ("group", "node") and isinstance(value, A.ListV):
            for i, item in enumerate(value.items):
                put(f"{path}[{i}]", item, item.span)
        elif ent is not None and ent.kind in ("group", "node", "cell") and isinstance(value, A.RecordV):
            for f in value.fields:
                put(f"{path}.{f.name}", f.value, f.span)
        else:
            _unknown(ir, path, decisions, span, diag)

    for a in assigns:
        put(a.path, a.value, a.path_span or a.span)
    return flat


def _decision_index(ir: SpaceIR) -> dict:
    index = getattr(ir, "_index", None)
    if index is None:
        index = {d.path: d for d in ir.decisions}
        ir._index = index
    return index


def _unknown(ir: SpaceIR, path: str, decisions: dict, span, diag: Collector) -> None:
    """E0320 when an index in ``path`` names a missing instance, else E0321."""
    for match in _INDEX.finditer(path):
        if path[:match.end()] in ir.entities:
            continue  # this instance exists: look further right
        base = path[:match.start()]
        if base + "[0]" in ir.entities:
            count = sum(1 for p in ir.entities if p.startswith(base + "[") and "." not in p[len(base):])
            diag.add("E0320", f"'{path}' does not exist: index out of range", span,
                     help=(f"the space allows at most {count} instance(s) here",))
            return
        break
    diag.add("E0321", f"unknown decision '{path}'", span, help=did_you_mean(path, decisions, n=2))


def absolute(ref: Any, path: str, ir: SpaceIR) -> Any:
    """Resolve ``@rel`` innermost-out from the decision at ``path``."""
    if isinstance(ref, list):
        return [absolute(r, path, ir) for r in ref]
    if isinstance(ref, dict) and "ref" in ref:
        return {"op": ref.get("op"), "ref": absolute(ref["ref"], path, ir)}
    if not isinstance(ref, str) or not ref.startswith("@"):
        return ref
    rel, prefix = ref[1:], path
    while prefix:
        prefix = prefix.rpartition(".")[0]
        for candidate in (_in_instance(rel, prefix), f"{prefix}.{rel}" if prefix else rel):
            if candidate in ir.entities:
                return "@" + candidate
    return ref


def _in_instance(rel: str, prefix: str) -> str | None:
    """As in spaces, a repeat's name means the current instance: ``@cell.in[0]`` inside
    ``fusion.cell[1]`` is ``@fusion.cell[1].in[0]``."""
    last = prefix.rpartition(".")[2]
    name = last.partition("[")[0]
    if last.endswith("]") and rel.startswith(name + "."):
        return prefix + rel[len(name):]
    return None


def active_candidates(domain, values: Mapping[str, Any]) -> tuple[str, ...]:
    """The candidate paths of a reference domain that are active under ``values``."""
    if domain.unconditional is not None:
        return domain.unconditional
    return tuple(c.path for c in domain.candidates if all_hold(c.conds, values))


def check_values(ir: SpaceIR, given: dict[str, tuple[Any, Any]], diag: Collector) -> dict[str, Any]:
    values: dict[str, Any] = {}
    missing: list[str] = []
    for d in ir.decisions:
        item = given.pop(d.path, None)
        if d.conds and not all_hold(d.conds, values):
            if item is not None:
                failed = next(c for c in d.conds if not c.holds(values))
                diag.add("E0332", f"'{d.path}' is set but inactive", item[1],
                         help=(f"it is active only when {failed.text()}",))
            continue
        if item is None:
            if d.has_default:
                values[d.path] = d.default
            else:
                missing.append(d.path)
            continue
        raw, span = item
        active: tuple = ()
        if d.domain.kind == "ref":
            raw = absolute(raw, d.path, ir)
            active = active_candidates(d.domain, values)
        try:
            values[d.path] = d.domain.convert(raw, active)
            _check_slot_order(ir, d, raw, values[d.path])
        except Mismatch as exc:
            diag.add(exc.code, f"{exc.message} for '{d.path}'", span, help=exc.help)
    for path, (_, span) in given.items():
        _unknown(ir, path, _decision_index(ir), span, diag)
    if missing:
        shown = ", ".join(missing[:MAX_LISTED]) + (f", ... (+{len(missing) - MAX_LISTED} more)"
                                                   if len(missing) > MAX_LISTED else "")
        diag.add("E0331", f"{len(missing)} missing value(s)", None, help=(f"missing: {shown}",))
    check_forbids(ir, values, diag)
    return values


def _check_slot_order(ir: SpaceIR, d, raw: Any, value: Any) -> None:
    """A `choose` value is stored in candidate order. When other decisions or fields refer
    to its slots by position (``@cell.in[0]``), another written order would silently change
    what they point to: refuse it."""
    if getattr(d.domain, "mode", None) != "choose" or d.path not in _slot_targets(ir):
        return
    given, canonical = [_ref_of(v) for v in raw], [_ref_of(v) for v in value]
    if given != canonical:
        raise Mismatch("E0368", "unordered choice written out of order while its slots are "
                                "referred to by position",
                       (f"write [{', '.join(canonical)}]: `choose` keeps its candidates' order, so "
                        f"'@{d.path}[0]' is {canonical[0]}",))


def _ref_of(item: Any) -> Any:
    return item.get("ref") if isinstance(item, dict) else item


def _slot_targets(ir: SpaceIR) -> set[str]:
    """Paths of the decisions and fields whose slots (``path[i]``) something refers to."""
    targets = getattr(ir, "_slot_targets", None)
    if targets is None:
        refs = {c.path for d in ir.decisions for c in getattr(d.domain, "candidates", ())}
        refs |= {r[1:] for e in ir.entities.values() for r in _field_refs(list(e.fields.values()))}
        targets = {r.rpartition("[")[0] for r in refs if r.endswith("]")}
        ir._slot_targets = targets
    return targets


def _field_refs(value: Any):
    if isinstance(value, str) and value.startswith("@"):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _field_refs(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _field_refs(v)


def check_forbids(ir: SpaceIR, values: Mapping[str, Any], diag: Collector | None) -> bool:
    ok = True
    for f in ir.forbids:
        if all_hold(f.conds, values) and f.cond.holds(values):
            ok = False
            if diag is not None:
                where = f"{ir.source.name}:{f.span.line}:{f.span.column}" if f.span else ir.source.name
                diag.add("E0350", f"forbidden combination in '{f.scope or ir.name}'", None,
                         help=(f"values: {f.cond.text()}",), notes=(f"forbid declared at {where}",))
    return ok


def genotype_from_decl(ir: SpaceIR, decl: A.GenotypeDecl, source: Source) -> Genotype:
    diag = Collector(source, GenotypeError)
    if decl.fingerprint is not None and decl.fingerprint != ir.fingerprint:
        diag.add("E0301", f"space '{ir.name}' version {ir.version} changed since genotype "
                          f"'{decl.name}' was written (fingerprint mismatch)", decl.span,
                 help=("bump the space version when you change it, or re-validate and re-pin the "
                       "fingerprint with `genolang fmt`",))
    values = check_values(ir, flatten(ir, decl.assigns, diag), diag)
    diag.raise_if_any()
    meta = {f.name: plain(f.value) for f in decl.meta}
    return Genotype(space=ir.name, version=ir.version, fingerprint=ir.fingerprint, values=values,
                    name=decl.name, meta=meta)
