"""Domain expressions (``int(1..4, log)``, ``Op``, ``pick(2, a.tap[*])``) -> domains."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from genolang import ast as A
from genolang.catalog import field_catalog
from genolang.domains import (
    MODES,
    BoolDomain,
    Candidate,
    ChoiceDomain,
    Domain,
    FloatDomain,
    IntDomain,
    Mismatch,
    RefDomain,
)
from genolang.errors import did_you_mean
from genolang.resolve_base import ResolverBase
from genolang.scope import Binding, RefError, Scope, resolve_refset
from genolang.values import plain

CALLS = ("int", "float", "choice", "bernoulli", *MODES)
OPTIONS = {"int": ("log", "step"), "float": ("log",), "subset": ("p", "min", "op"),
           "one": ("op",), "pick": ("op",), "choose": ("op",)}


class DomainBuilder(ResolverBase):
    def domain(self, expr: A.DomainExpr, scope: Scope, field: str) -> Domain | None:
        if isinstance(expr, A.EnumRef):
            return self.enum_domain(expr, scope, field)
        if expr.name not in CALLS:
            hint = did_you_mean(expr.name, CALLS) or (f"domains: {', '.join(CALLS)} or an enum name",)
            self.err("E0231", f"unknown domain kind '{expr.name}'", expr.span, help=hint)
            return None
        options = OPTIONS.get(expr.name, ())
        for arg in expr.args:
            name = arg.name if isinstance(arg, A.Kwarg) else None
            if isinstance(arg, A.QName) and expr.name in ("int", "float") and len(arg.parts) == 1:
                name = str(arg.parts[0])
            if name is not None and name not in options:
                self.err("E0232", f"unknown option '{name}' for {expr.name}()", arg.span,
                         help=did_you_mean(name, options) or (f"options: {', '.join(options) or 'none'}",))
                return None
        reported = len(self.diag.items)
        try:
            dom: Domain = getattr(self, "d_" + expr.name)(expr, scope, field)
            return dom
        except Mismatch as exc:
            if len(self.diag.items) == reported:  # else a cascade of an argument's error
                self.err(exc.code, f"invalid {expr.name}(): {exc.message}", expr.span, help=exc.help)
        except RefError as exc:
            self.err(exc.code, exc.message, getattr(exc, "span", None) or expr.span, help=exc.help)
        return None

    def enum_domain(self, expr: A.EnumRef, scope: Scope, field: str) -> Domain | None:
        if expr.name == "bool":
            return BoolDomain()
        b = scope.lookup(expr.name, ("enum",))
        if b is None:
            enums = [n for s in scope.chain() for n, x in s.names.items() if x.kind == "enum"] + ["bool"]
            hint = did_you_mean(expr.name, enums + list(CALLS))
            if expr.name in CALLS:
                hint = (f"{expr.name} needs arguments, e.g. {expr.name}(...)",)
            self.err("E0230", f"unknown enum '{expr.name}'", expr.span, help=hint)
            return None
        dom: ChoiceDomain
        members: tuple[A.Sym, ...]
        dom, members = b.value
        self.check_names(scope.kind, field, [(m.name, m.span) for m in members])
        return dom

    def check_names(self, kind: str, field: str, names: list[tuple[Any, Any]]) -> None:
        known = field_catalog(kind, field)
        if known is None:
            return
        allowed, what = known
        for name, span in names:
            if not isinstance(name, (str, int, float)) or name not in allowed:  # lists are not hashable
                self.err("E0236", f"unknown {what} '{name}'", span,
                         help=did_you_mean(str(name), allowed) or (f"known: {', '.join(sorted(allowed))}",))

    def _range(self, expr: A.Call, scope: Scope) -> tuple[Any, Any]:
        ranges = [a for a in expr.args if isinstance(a, A.RangeArg)]
        if len(ranges) != 1:
            raise Mismatch("E0234", "needs exactly one range `lo..hi`")
        return self.const(ranges[0].lo, scope, True), self.const(ranges[0].hi, scope, True)

    def _kw(self, expr: A.Call, name: str, scope: Scope, default: Any) -> Any:
        for a in expr.args:
            if isinstance(a, A.Kwarg) and a.name == name:
                return self.const(a.value, scope, True)
        return default

    @staticmethod
    def _flag(expr: A.Call, name: str) -> bool:
        return any(isinstance(a, A.QName) and a.parts == (name,) for a in expr.args)

    def d_int(self, expr: A.Call, scope: Scope, field: str) -> IntDomain:
        lo, hi = self._range(expr, scope)
        step, log = self._kw(expr, "step", scope, 1), self._flag(expr, "log")
        if not all(type(v) is int for v in (lo, hi, step)):
            raise Mismatch("E0234", "bounds and step must be integers")
        if lo > hi:
            raise Mismatch("E0234", f"empty range {lo}..{hi}: lower bound is greater than upper bound")
        if step < 1 or (log and step < 2 and step != 1):
            raise Mismatch("E0234", f"step must be a positive integer (got {step})")
        if log and lo <= 0:
            raise Mismatch("E0234", f"log scale needs a positive lower bound (got {lo}); "
                                    "bounds are values, not exponents")
        dom = IntDomain(lo, hi, step, log)
        if step > 1 and dom.values()[-1] != hi:
            raise Mismatch("E0234", f"step {step} does not divide {lo}..{hi} (last value would be {dom.values()[-1]})")
        return dom

    def d_float(self, expr: A.Call, scope: Scope, field: str) -> FloatDomain:
        lo, hi = self._range(expr, scope)
        log = self._flag(expr, "log")
        if not all(type(v) in (int, float) for v in (lo, hi)):
            raise Mismatch("E0234", "bounds must be numbers")
        if lo >= hi:
            raise Mismatch("E0234", f"empty range {lo}..{hi}: lower bound must be below the upper bound")
        if log and lo <= 0:
            raise Mismatch("E0234", f"log scale needs a positive lower bound (got {lo}); "
                                    "bounds are values, not exponents")
        try:
            if math.isfinite(float(hi) - float(lo)):
                return FloatDomain(float(lo), float(hi), log)
        except OverflowError:  # an integer bound too large for a float
            pass
        raise Mismatch("E0234", "the range is too wide to sample (bounds must be floats whose "
                                "difference is finite)")

    def d_choice(self, expr: A.Call, scope: Scope, field: str) -> ChoiceDomain:
        options: list[Any] = []
        spans: list[A.Span | None] = []
        for a in expr.args:
            if isinstance(a, A.QName) and len(a.parts) == 1:
                options.append(str(a.parts[0]))
            elif isinstance(a, (A.NumE, A.NegE)):
                options.append(self.const(a, scope, True))
            else:
                raise Mismatch("E0234", "options are names or numbers")
            spans.append(a.span)
        if not options:
            raise Mismatch("E0234", "needs at least one option")
        self.spend(len(options), expr.span)
        dupe = _first_duplicate(options)
        if dupe is not None:
            raise Mismatch("E0234", f"duplicate option '{dupe}'")
        self.check_names(scope.kind, field, list(zip(options, spans)))
        return ChoiceDomain(tuple(options))

    def d_bernoulli(self, expr: A.Call, scope: Scope, field: str) -> BoolDomain:
        arg = expr.args[0] if len(expr.args) == 1 else None
        if arg is None or isinstance(arg, (A.RangeArg, A.Kwarg)):
            raise Mismatch("E0234", "needs one probability, e.g. bernoulli(0.5)")
        p = self.const(arg, scope)
        if type(p) not in (int, float) or not 0 < p < 1:
            raise Mismatch("E0234", f"the probability must lie strictly between 0 and 1 (got {p})")
        return BoolDomain(float(p))

    def d_one(self, expr: A.Call, scope: Scope, field: str) -> RefDomain:
        return self.ref_domain("one", expr, scope, field, expr.args)

    def d_pick(self, expr: A.Call, scope: Scope, field: str) -> RefDomain:
        return self.counted("pick", expr, scope, field)

    def d_choose(self, expr: A.Call, scope: Scope, field: str) -> RefDomain:
        return self.counted("choose", expr, scope, field)

    def d_subset(self, expr: A.Call, scope: Scope, field: str) -> RefDomain:
        return self.ref_domain("subset", expr, scope, field, expr.args)

    def counted(self, mode: str, expr: A.Call, scope: Scope, field: str) -> RefDomain:
        first = expr.args[0] if expr.args else None
        if not isinstance(first, (A.NumE, A.BinE)) and not (
                isinstance(first, A.QName) and scope.lookup(str(first.parts[0]), ("let",))):
            raise Mismatch("E0233", f"{mode}() needs a count first, e.g. {mode}(2, a.tap[*])")
        k = self.const(first, scope)
        if type(k) is not int or k < 1:
            raise Mismatch("E0233", f"the count of {mode}() must be a positive integer (got {k})")
        return self.ref_domain(mode, expr, scope, field, expr.args[1:], k)

    def ref_domain(self, mode: str, expr: A.Call, scope: Scope, field: str, args: Sequence[A.Arg],
                   k: int = 1) -> RefDomain:
        candidates: list[Candidate] = []
        labels: tuple[str, ...] | None = None
        label_enum: str | None = None
        for a in args:
            if isinstance(a, A.QName):
                if a.parts[0] in ("prev", "prev2"):
                    raise RefError("E0254", f"'{a.parts[0]}' can only be used in fixed fields, not in {mode}()")
                try:
                    candidates += resolve_refset(a.parts, scope)
                except RefError as exc:
                    exc.span = a.span
                    raise
            elif isinstance(a, A.Kwarg) and a.name == "op":
                labels, label_enum = self.labels(a, scope)
            elif not isinstance(a, A.Kwarg):
                raise Mismatch("E0234", "arguments are reference sets such as `x.tap[*]` or `node.before`")
        self.spend(len(candidates), expr.span)
        dupe = _first_duplicate([c.path for c in candidates])
        if dupe is not None:
            raise Mismatch("E0234", f"candidate '@{dupe}' is listed twice")
        p = self._kw(expr, "p", scope, 0.5)
        minimum = self._kw(expr, "min", scope, 0)
        if mode == "subset" and (type(p) not in (int, float) or not 0 < p < 1):
            raise Mismatch("E0234", f"p must lie strictly between 0 and 1 (got {p})")
        if type(minimum) is not int or minimum < 0:
            raise Mismatch("E0234", f"min must be a non-negative integer (got {minimum})")
        needed = {"one": 1, "pick": k, "choose": k, "subset": minimum}[mode]
        if len(candidates) < needed:
            raise Mismatch("E0235", f"can never be satisfied: needs {needed} but only "
                                    f"{len(candidates)} candidate(s)")
        return RefDomain(mode, tuple(candidates), k, float(p), minimum, labels, label_enum)

    def labels(self, kw: A.Kwarg, scope: Scope) -> tuple[tuple[str, ...], str | None]:
        if isinstance(kw.value, A.QName) and len(kw.value.parts) == 1:
            b = scope.lookup(str(kw.value.parts[0]), ("enum",))
            if b is not None:
                dom: ChoiceDomain
                members: tuple[A.Sym, ...]
                dom, members = b.value
                self.check_names("node", "op", [(m.name, m.span) for m in members])
                return tuple(dom.options), b.path
        raise Mismatch("E0230", "op= names an enum of ops")

    def default_value(self, value: A.Value, domain: Domain, path: str) -> Any:
        cands = tuple(c.path for c in getattr(domain, "candidates", ()))
        try:
            return domain.convert(plain(value), cands)
        except Mismatch as exc:
            self.err("E0240", f"default {exc.message} for '{path}'", value.span, help=exc.help)
            return None

    def ref_slots(self, path: str, domain: Domain | None, scope: Scope, span: A.Span | None) -> list[Binding] | None:
        if not isinstance(domain, RefDomain) or domain.mode == "subset":
            return None
        paths = [path] if domain.mode == "one" else [f"{path}[{i}]" for i in range(domain.k)]
        for p in paths:
            self.entity(p, "slot", scope, span)
        return [Binding("slot", p, span, scope.conds) for p in paths]


def _first_duplicate(items: Sequence[Any]) -> Any:
    """The first item equal to an earlier one (by type and value: 1 and 1.0 differ), or None."""
    seen: set[tuple[type, Any]] = set()
    for item in items:
        key = (type(item), item)
        if key in seen:
            return item
        seen.add(key)
    return None
