"""Checking values against a Space IR: activity, domains, references, forbids.

Input is a flat ``{path: (plain value, span)}`` map; nested genotype text (``fusion = [{...}]``)
is flattened first by :func:`flatten` using the space's structure.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from typing import Any

from genolang import ast as A
from genolang.conditions import Condition, all_hold
from genolang.domains import Mismatch, RefDomain
from genolang.errors import Collector, GenotypeError, Source, did_you_mean
from genolang.genotype import Genotype
from genolang.ir import DecisionIR, SpaceIR
from genolang.values import plain
from genolang.walk import is_active

MAX_LISTED = 4
_INDEX = re.compile(r"\[\d+\]")


def flatten(ir: SpaceIR, assigns: tuple[A.Assign, ...], diag: Collector,
            quiet: set[str] | None = None) -> dict[str, tuple[Any, Any]]:
    """``{path: (plain value, span)}``; repeats given a list of the wrong length (E0330) are
    added to ``quiet``, under which :func:`check_values` reports no missing or inactive values."""
    flat: dict[str, tuple[Any, Any]] = {}
    decisions = _decision_index(ir)
    firsts: dict[str, Any] = {}
    lists: list[tuple[str, int, Any]] = []

    def put(path: str, value: A.Value, span: A.Span | None) -> None:
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
            lists.append((path, len(value.items), value.span))
            for i, item in enumerate(value.items):
                if f"{path}[{i}]" in ir.entities:
                    put(f"{path}[{i}]", item, item.span)
                else:  # more entries than instances: E0320 once, for the first extra one
                    flat.setdefault(f"{path}[{i}]", (None, item.span))
                    break
        elif ent is not None and ent.kind in ("group", "node", "cell") and isinstance(value, A.RecordV):
            for f in value.fields:
                put(f"{path}.{f.name}", f.value, f.span)
        else:  # unknown: reported by check_values, which knows what is missing
            flat.setdefault(path, (None, span))

    for a in assigns:
        put(a.path, a.value, a.path_span or a.span)
    for path, given, span in lists:
        if _check_length(ir, path, given, flat, span, diag) and quiet is not None:
            quiet.add(path)
    return flat


def _check_length(ir: SpaceIR, path: str, given: int, flat: dict[str, tuple[Any, Any]], span: A.Span | None,
                  diag: Collector) -> bool:
    """E0330 when a list for the repeat ``path`` has another length than its count; True if so."""
    instances = _instance_count(ir, path)
    count_path = ir.entities[f"{path}[0]"].count
    if given > instances:
        return True  # E0320 for the first extra entry
    if count_path is None:
        if given == instances:
            return False
        diag.add("E0330", f"{given} entries given for '{path}', which has {instances} instance(s)", span,
                 help=(f"give {instances} entries",))
        return True
    d = _decision_index(ir)[count_path]
    count = flat[count_path][0] if count_path in flat else d.default if d.has_default else None
    if type(count) is not int or count == given:
        return False  # a missing or mistyped count is reported on its own
    diag.add("E0330", f"{given} entries given for '{path}' but {count_path} = {count}", span,
             help=(f"set {count_path} = {given} or give {count} entries",))
    return True


def _instance_count(ir: SpaceIR, base: str) -> int:
    """How many instances ``base[0]``, ``base[1]``, ... exist (binary search: they are contiguous)."""
    lo, hi = 0, 1
    while f"{base}[{hi - 1}]" in ir.entities:
        lo, hi = hi, hi * 2
    while hi - lo > 1:  # instances lo-1 exists (or lo == 0), hi-1 does not
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if f"{base}[{mid - 1}]" in ir.entities else (lo, mid)
    return lo if f"{base}[{lo - 1}]" in ir.entities else 0


def _decision_index(ir: SpaceIR) -> dict[str, DecisionIR]:
    index = ir._index
    if index is None:
        index = {d.path: d for d in ir.decisions}
        ir._index = index
    return index


def _unknown(ir: SpaceIR, path: str, decisions: dict[str, DecisionIR], span: A.Span | None,
             diag: Collector) -> list[str]:
    """E0320 when an index in ``path`` names a missing instance, else E0321; the names suggested."""
    if diag.full:
        return []  # enough said; spare the suggestions
    for match in _INDEX.finditer(path):
        if path[:match.end()] in ir.entities:
            continue  # this instance exists: look further right
        base = path[:match.start()]
        if base + "[0]" in ir.entities:
            count = _instance_count(ir, base)
            diag.add("E0320", f"'{path}' does not exist: index out of range", span,
                     help=(f"the space allows at most {count} instance(s) here",))
            return []
        break
    close = _close_decisions(ir, path)
    diag.add("E0321", f"unknown decision '{path}'", span, help=did_you_mean(path, close, n=2))
    return close


MAX_POOL = 2_000


def _close_decisions(ir: SpaceIR, path: str) -> list[str]:
    """Decisions whose path is close to ``path``, compared with indices taken out (``n[].op``):
    a few hundred declarations rather than thousands of expanded paths."""
    patterns = ir._patterns
    if patterns is None:
        patterns = {}
        for d in ir.decisions:
            patterns.setdefault(_INDEX.sub("[]", d.path), d.path)
        ir._patterns = patterns
    pattern, indices = _INDEX.sub("[]", path), _INDEX.findall(path)
    pool = list(patterns) if len(patterns) <= MAX_POOL else [
        p for p in patterns if p.rpartition(".")[0] == pattern.rpartition(".")[0]][:MAX_POOL]
    out = []
    for near in difflib.get_close_matches(pattern, pool, n=2, cutoff=0.6):
        pieces = near.split("[]")
        same = "".join(a + b for a, b in zip(pieces, indices + [""])) if len(pieces) == len(indices) + 1 else ""
        out.append(same if same in _decision_index(ir) else patterns[near])
    return out


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


def active_candidates(domain: RefDomain, values: Mapping[str, Any]) -> tuple[str, ...]:
    """The candidate paths of a reference domain that are active under ``values``."""
    if domain.unconditional is not None:
        return domain.unconditional
    return tuple(c.path for c in domain.candidates if all_hold(c.conds, values))


def check_values(ir: SpaceIR, given: dict[str, tuple[Any, Any]], diag: Collector, *,
                 quiet: set[str] | frozenset[str] = frozenset(), where: A.Span | None = None) -> dict[str, Any]:
    """Check every decision; ``where`` is the span blamed for missing values."""
    values: dict[str, Any] = {}
    missing: list[str] = []
    invalid: set[str] = set()  # what depends on an invalid value is not checked (cascades)
    spans: dict[str, Any] = {}
    hushed = tuple(q + "[" for q in quiet)
    for d in ir.decisions:
        item = given.pop(d.path, None)
        if item is not None:
            spans[d.path] = item[1]
        if not is_active(d, values):  # the walk's rule; inactive decisions are met too, to refuse their values
            if item is not None and not d.path.startswith(hushed) and not _depends(d.conds, invalid):
                failed = next(c for c in d.conds if not c.holds(values))
                diag.add("E0332", f"'{d.path}' is set but inactive", item[1],
                         help=(f"it is active only when {failed.text()}",))
            continue
        if item is None:
            if d.has_default:
                values[d.path] = d.default
            elif not d.path.startswith(hushed):
                missing.append(d.path)
            continue
        raw, span = item
        active: tuple[str, ...] = ()
        if d.domain.kind == "ref":
            raw = absolute(raw, d.path, ir)
            active = active_candidates(d.domain, values)
        try:
            if d.domain.kind == "ref":
                _check_resolved(ir, raw, d.domain)
            values[d.path] = d.domain.convert(raw, active)
            _check_slot_order(ir, d, raw, values[d.path])
        except Mismatch as exc:
            invalid.add(d.path)
            diag.add(exc.code, f"{exc.message} for '{d.path}'", span, help=exc.help)
    for path, (_, span) in given.items():
        misspelt = _unknown(ir, path, _decision_index(ir), span, diag)
        if misspelt and misspelt[0] in missing:  # already said: "did you mean ...?"
            missing.remove(misspelt[0])
    if missing:
        shown = ", ".join(missing[:MAX_LISTED]) + (f", ... (+{len(missing) - MAX_LISTED} more)"
                                                   if len(missing) > MAX_LISTED else "")
        diag.add("E0331", f"{len(missing)} missing value(s)", where, help=(f"missing: {shown}",))
    check_forbids(ir, values, diag, spans)
    return values


def _depends(conds: tuple[Condition, ...], invalid: set[str]) -> bool:
    return bool(invalid) and any(p in invalid for c in conds for p in c.paths())


def _check_resolved(ir: SpaceIR, raw: Any, domain: RefDomain) -> None:
    """E0362 for a reference (made absolute where it resolves) that names nothing."""
    for ref in _field_refs(raw):
        if (ref.startswith("@") and ref[1:] not in ir.entities
                and not any(c.path == ref[1:] for c in domain.candidates)):
            raise Mismatch("E0362", f"'{ref}' does not name anything in space {ir.name}")


def _check_slot_order(ir: SpaceIR, d: DecisionIR, raw: Any, value: Any) -> None:
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
    targets = ir._slot_targets
    if targets is None:
        refs = {c.path for d in ir.decisions for c in getattr(d.domain, "candidates", ())}
        refs |= {r[1:] for e in ir.entities.values() for r in _field_refs(list(e.fields.values()))}
        targets = {r.rpartition("[")[0] for r in refs if r.endswith("]")}
        ir._slot_targets = targets
    return targets


def _field_refs(value: Any) -> Iterator[str]:
    if isinstance(value, str) and value.startswith("@"):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _field_refs(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _field_refs(v)


def check_forbids(ir: SpaceIR, values: Mapping[str, Any], diag: Collector | None,
                  spans: Mapping[str, Any] | None = None) -> bool:
    """False if a `forbid` applies; E0350 with the caret on the last value it reads."""
    ok = True
    for f in ir.forbids:
        if all_hold(f.conds, values) and f.cond.holds(values):
            ok = False
            if diag is not None:
                where = f"{ir.source.name}:{f.span.line}:{f.span.column}" if f.span else ir.source.name
                culprit = [spans[p] for p in f.cond.paths() if spans and spans.get(p) is not None]
                diag.add("E0350", f"forbidden combination in '{f.scope or ir.name}'",
                         max(culprit, default=None),
                         help=(f"values: {f.cond.text()}",), notes=(f"forbid declared at {where}",))
    return ok


def genotype_from_decl(ir: SpaceIR, decl: A.GenotypeDecl, source: Source) -> Genotype:
    diag = Collector(source, GenotypeError)
    if decl.fingerprint is not None and decl.fingerprint != ir.fingerprint:
        diag.add("E0301", f"space '{ir.name}' version {ir.version} changed since genotype "
                          f"'{decl.name}' was written (fingerprint mismatch)", decl.span,
                 help=("bump the space version when you change it, or re-validate and re-pin the "
                       "fingerprint with `genolang fmt`",))
    quiet: set[str] = set()
    flat = flatten(ir, decl.assigns, diag, quiet)
    values = check_values(ir, flat, diag, quiet=quiet, where=decl.span)
    diag.raise_if_any()
    meta = {f.name: plain(f.value) for f in decl.meta}
    return Genotype(space=ir.name, version=ir.version, fingerprint=ir.fingerprint, values=values,
                    name=decl.name, meta=meta)
