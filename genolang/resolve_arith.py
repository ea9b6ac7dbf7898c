"""Field values that name decisions or compute with them: ``filters = w``, ``filters = W * 2 + w``.

Semantics (docs/language.md, "Field values from decisions and arithmetic"):

* A bare name in a field value that names a ``let`` or a decision visible there (declared
  earlier in this block or an enclosing one, innermost-out: the rule of references) takes
  its value; any other bare name is a symbol (``relu``, ``concat_all``).
* A decision named by a field is checked as one declared on it (E0290, E0291).
* The decision must be active wherever the field is: its activity conditions must be among
  the field's (E0282). A reference decision is read with ``@name`` instead (E0283).
* Arithmetic ``+ - *`` and unary ``-`` over numbers, ``let`` constants and numeric decisions
  (``int`` or a ``choice`` of numbers; E0284 otherwise). int op int is an int; a float
  operand makes a float. Without decisions it folds to a constant (E0221 over 10^18); with
  decisions the field holds a :class:`Computed`, every possible value of which is checked
  against the field's type and range (:mod:`genolang.fieldtypes`) at check time (E0290).
"""

from __future__ import annotations

import itertools
from typing import Any

from genolang import ast as A
from genolang.catalog import field_catalog
from genolang.domains import ChoiceDomain, Domain, IntDomain
from genolang.errors import did_you_mean
from genolang.fieldtypes import UNSEARCHED, bad_domain, bad_value
from genolang.ir import Computed, Decided, DecisionIR
from genolang.limits import MAX_CONSTANT
from genolang.resolve_base import ResolverBase
from genolang.scope import Binding, Scope

#: outcomes enumerated exactly up to this many combinations; beyond, interval bounds
MAX_ENUMERATED = 4096


class _Fail(Exception):
    def __init__(self, code: str, message: str, span: A.Span | None, help: tuple[str, ...] = ()):
        super().__init__(message)
        self.code, self.message, self.span, self.help = code, message, span, help


class ArithResolver(ResolverBase):
    """Mixin of the resolver: decisions and arithmetic in field values."""

    def named_value(self, b: Binding, scope: Scope, span: A.Span | None) -> Any:
        """A bare name bound to a ``let`` (its value) or a decision (:class:`Decided`)."""
        if b.kind == "let":
            return b.value
        try:
            return Decided(self._decision_leaf(b, scope, span, numeric=False))
        except _Fail as exc:
            self.err(exc.code, exc.message, exc.span, help=exc.help)
            return None

    def computed(self, expr: A.Expr, scope: Scope, span: A.Span | None) -> Any:
        """A value expression: a folded constant, a :class:`Computed`, or None after an error."""
        try:
            tree = self._tree(expr, scope)
            if not Computed(tree).paths():
                value = _evaluate_const(tree)
                if not -MAX_CONSTANT <= value <= MAX_CONSTANT:
                    raise _Fail("E0221", f"constant out of range (limit: magnitude {MAX_CONSTANT:.0e})", span)
                return value
            return Computed(tree)
        except _Fail as exc:
            self.err(exc.code, exc.message, exc.span or span, help=exc.help)
            return None

    def _tree(self, e: A.Expr, scope: Scope) -> Any:
        if isinstance(e, A.NumE):
            return e.value
        if isinstance(e, A.NegE):
            return ("neg", self._tree(e.operand, scope))
        if isinstance(e, A.BinE):
            return (e.op, self._tree(e.left, scope), self._tree(e.right, scope))
        assert isinstance(e, A.QName), "value arithmetic holds no strings (value_exprs.to_expr makes none)"
        name = str(e.parts[0])
        b = scope.lookup(name, ("let", "decision"))
        if b is None:
            names = [n for s in scope.chain() for n, x in s.names.items() if x.kind in ("let", "decision")]
            raise _Fail("E0220", f"unknown name '{name}'", e.span, help=did_you_mean(name, names))
        if b.kind == "decision":
            return ("@", self._decision_leaf(b, scope, e.span, numeric=True))
        if type(b.value) not in (int, float):
            raise _Fail("E0284", f"'{name}' is {b.value!r}, not a number: arithmetic takes numbers", e.span)
        return b.value

    def _decision_leaf(self, b: Binding, scope: Scope, span: A.Span | None, *, numeric: bool) -> str:
        ir: DecisionIR = b.value
        if ir.domain.kind == "ref":
            raise _Fail("E0283", f"'{b.path}' selects references; a field reads it as `@{span_name(b)}`",
                        span, help=(f"did you mean '@{span_name(b)}'? (the element it selects)",))
        missing = [c for c in ir.conds if c not in scope.conds]
        if missing:
            raise _Fail("E0282", f"decision '{b.path}' is not active everywhere this field is "
                                 f"(it needs {missing[0].text()})", span,
                        help=("declare the decision where it is always active with the field, "
                              "e.g. outside the `when` block or the repeated block",))
        if numeric and not _numeric(ir.domain):
            raise _Fail("E0284", f"decision '{b.path}' ({ir.domain.text()}) is not a number: arithmetic "
                                 "takes int decisions and choices of numbers", span)
        return b.path

    def check_possible(self, kind: str, m: A.FieldM, value: Any) -> None:
        """Every value a decided or computed field can take must fit the field (E0290, E0291)."""
        if kind in UNSEARCHED:
            self.err("E0291", f"{'an' if kind == 'input' else 'a'} {kind}'s `{m.name}` cannot take a decision's "
                              f"value: it describes the {'data' if kind == 'input' else 'pretrained model'}, "
                              "not the architecture", m.value.span, help=("give it a fixed value",))
            return
        if isinstance(value, Decided):
            domain = self.by_path[value.path].domain
            if field_catalog(kind, m.name) is not None and domain.kind == "choice":
                self.check_names(kind, m.name, [(v, m.value.span) for v in domain.values()])
            problem = bad_domain(kind, m.name, domain)
            if problem is not None:
                self.err("E0290", f"{problem} (decision '{value.path}')", m.value.span)
            return
        if field_catalog(kind, m.name) is not None:  # a number where a name is needed
            self.check_names(kind, m.name, [(v, m.value.span) for v in computed_outcomes(value, self.by_path)[:1]])
            return
        by = " and ".join(dict.fromkeys(value.paths()))
        for v in computed_outcomes(value, self.by_path):
            problem = bad_value(kind, m.name, v)
            if problem is not None:
                self.err("E0290", f"`{m.name}` can be {v!r} (by {by}): {problem}", m.value.span,
                         help=("restrict the decisions' domains, or `forbid` the combination",))
                return


def span_name(b: Binding) -> str:
    return b.path.rsplit(".", 1)[-1]


def _numeric(domain: Domain) -> bool:
    if isinstance(domain, IntDomain):
        return True
    return isinstance(domain, ChoiceDomain) and all(type(o) in (int, float) for o in domain.options)


def _evaluate_const(tree: Any) -> Any:
    return Computed(tree).evaluate({})


def computed_outcomes(c: Computed, by_path: dict[str, DecisionIR]) -> list[Any]:
    """Every value ``c`` can take (exact up to MAX_ENUMERATED combinations), else its bounds.

    The bounds come from interval arithmetic, which is exact when each decision appears
    once and otherwise wider (never narrower) than the true range.
    """
    paths = list(dict.fromkeys(c.paths()))
    domains = [by_path[p].domain for p in paths]
    total = 1
    for d in domains:
        total *= len(d.values())
    if total <= MAX_ENUMERATED:
        return [c.evaluate(dict(zip(paths, combo))) for combo in itertools.product(*(d.values() for d in domains))]
    lo, hi = _interval(c.expr, {p: (min(_ends(d)), max(_ends(d))) for p, d in zip(paths, domains)})
    return [lo, hi]


def _ends(domain: Domain) -> list[Any]:
    values = domain.values()
    return [values[0], values[-1]] if isinstance(values, range) else list(values)


def _interval(e: Any, bounds: dict[str, tuple[Any, Any]]) -> tuple[Any, Any]:
    if not isinstance(e, tuple):
        return e, e
    if e[0] == "@":
        return bounds[e[1]]
    if e[0] == "neg":
        lo, hi = _interval(e[1], bounds)
        return -hi, -lo
    (a, b), (c, d) = _interval(e[1], bounds), _interval(e[2], bounds)
    if e[0] == "+":
        return a + c, b + d
    if e[0] == "-":
        return a - d, b - c
    products = [a * c, a * d, b * c, b * d]
    return min(products), max(products)
