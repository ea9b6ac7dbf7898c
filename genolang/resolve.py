"""Space AST -> Space IR: names, constants, repeats, references, conditions, budgets.

One pass in declaration order. Every problem found is collected; the pass raises them all
together as a :class:`SpaceError`.
"""

from __future__ import annotations

from typing import Any

from genolang import ast as A
from genolang import catalog
from genolang.conditions import Compare, Condition, CountCond, Logic, Member
from genolang.domains import IntDomain, Mismatch
from genolang.errors import Collector, Source, SpaceError, did_you_mean
from genolang.ir import Decided, DecisionIR, Entity, ForbidIR, RequireIR, SpaceIR
from genolang.limits import MAX_CONSTANT, MAX_COUNT, MAX_INSTANCES, expansion, too_many
from genolang.resolve_domain import DomainBuilder
from genolang.scope import Binding, RefError, Scope, resolve_refset, split_path
from genolang.structure import check_structure
from genolang.values import FieldChecker, plain

KINDS = tuple(catalog.BLOCK_FIELDS)


class Resolver(DomainBuilder, FieldChecker):
    def __init__(self, source: Source):
        self.source = source
        self.diag = Collector(source, SpaceError)
        self.decisions: list[DecisionIR] = []
        self.by_path: dict[str, DecisionIR] = {}
        self.entities: dict[str, Entity] = {}
        self.forbids: list[ForbidIR] = []
        self.requires: list[RequireIR] = []
        self.spent = 0  # expanded things so far, against MAX_INSTANCES

    # ------------------------------------------------------------ driver
    def space(self, decl: A.SpaceDecl) -> SpaceIR:
        self.members(decl.members, Scope("", None))
        self.diag.raise_if_any()
        ir = SpaceIR(decl.name, decl.version, self.source, decl.span, tuple(self.decisions),
                     self.entities, tuple(self.forbids), tuple(self.requires))
        check_structure(ir, self.diag)  # every genotype builds a network (E0293, E0294)
        self.diag.raise_if_any()
        ir.fingerprint = ir.compute_fingerprint()
        return ir

    def members(self, members: tuple[A.Member, ...], scope: Scope) -> None:
        for m in members:
            getattr(self, "m_" + m.kind)(m, scope)

    def err(self, code: str, message: str, span: A.Span | None, **kw: Any) -> None:
        self.diag.add(code, message, span, **kw)

    def declare(self, scope: Scope, name: str, binding: Binding) -> None:
        first = scope.names.get(name)
        if first is not None:
            where = f"{self.source.name}:{first.span.line}:{first.span.column}" if first.span else "earlier"
            in_when = scope.parent is not None and scope.names is scope.parent.names
            hint = (f"a name is declared once even in exclusive `when` branches: declare `{name}` once and "
                    "make what differs a decision, with `when` inside it for the members of one variant",
                    ) if in_when else ()
            self.err("E0211", f"'{name}' is defined twice", binding.span, label="redefined",
                     notes=(f"first defined at {where}",), help=hint)
            return
        scope.names[name] = binding

    def spend(self, n: int, span: A.Span | None) -> None:
        """Count expanded entities, decisions, forbids, options and candidates; refuse too many."""
        self.spent += n
        if self.spent > MAX_INSTANCES:
            raise too_many("this space", self.spent, MAX_INSTANCES, span, self.source)

    def entity(self, path: str, kind: str, scope: Scope, span: A.Span | None, name: str = "") -> Entity:
        self.spend(1, span)
        ent = Entity(path, kind, scope.conds, span, parent=scope.prefix or None, name=name)
        self.entities[path] = ent
        return ent

    # ------------------------------------------------------------ members
    def m_enum(self, m: A.EnumDecl, scope: Scope) -> None:
        self.spend(len(m.members), m.span)
        seen: set[str] = set()
        for sym in m.members:
            if sym.name in seen:
                self.err("E0210", f"duplicate member '{sym.name}' in enum {m.name}", sym.span)
            seen.add(sym.name)
        from genolang.domains import ChoiceDomain

        dom = ChoiceDomain(tuple(dict.fromkeys(s.name for s in m.members)), enum=m.name)
        self.declare(scope, m.name, Binding("enum", scope.path(m.name), m.span, value=(dom, m.members)))

    def m_let(self, m: A.Let, scope: Scope) -> None:
        value = self.const(m.value, scope)
        self.declare(scope, m.name, Binding("let", scope.path(m.name), m.span, value=value))

    def m_decision(self, m: A.Decision, scope: Scope) -> None:
        self.spend(1, m.span)
        path = scope.path(m.name)
        domain = self.domain(m.domain, scope, m.name)
        if domain is None:
            return
        self.check_decided(scope.kind, m, domain)
        default, has_default = None, m.default is not None
        if m.default is not None:
            default = self.default_value(m.default, domain, path)
        ir = DecisionIR(path, domain, default, scope.conds, m.span, scope.kind, m.name, has_default)
        self.decisions.append(ir)
        self.by_path[path] = ir
        slots = self.ref_slots(path, domain, scope, m.span)
        self.declare(scope, m.name, Binding("decision", path, m.span, scope.conds, items=slots, value=ir))
        self.set_field(scope, m.name, Decided(path))

    def m_field(self, m: A.FieldM, scope: Scope) -> None:
        self.spend(len(getattr(m.value, "items", ())) + 1, m.span)
        path = scope.path(m.name)
        value = self.field_value(m, scope)
        if value is None:
            return
        slots = self.value_slots(path, value, scope, m.span)
        self.declare(scope, m.name, Binding("field", path, m.span, scope.conds, items=slots, value=value))
        self.set_field(scope, m.name, value)

    def set_field(self, scope: Scope, name: str, value: Any) -> None:
        ent = self.entities.get(scope.prefix)
        if ent is not None:
            ent.fields[name] = value

    def m_block(self, m: A.Block, scope: Scope) -> None:
        kind = m.block_kind or "group"
        if kind not in KINDS:
            self.err("E0245", f"unknown block kind '{kind}'", m.kind_span,
                     help=did_you_mean(kind, KINDS) or (f"kinds: {', '.join(KINDS)}",))
            return
        path = scope.path(m.name)
        if m.count is None:
            sub = self.block_scope(m, scope, kind, path, None, None, scope.conds)
            self.members(m.members, sub)
            self.finish_block(m, sub, kind)
            self.declare(scope, m.name, self.block_binding(kind, path, m, sub))
            return
        if kind not in ("group", "node"):
            self.err("E0246", f"a {kind} block cannot be repeated; only groups and nodes take a count",
                     m.count.span, help=("a cell is stacked with `stack s { cells = [cell * N] }`",))
            return
        counted = self.count(m.count, scope)
        if counted is None:
            return
        n, count_path, lo = counted
        need = n * (1 + expansion(m.members, lambda e: self.static_count(e, scope)))
        if self.spent + need > MAX_INSTANCES:  # refuse before expanding
            raise too_many(f"'{path}'", self.spent + need, MAX_INSTANCES, m.count.span, self.source)
        instances: list[Binding] = []
        self.declare(scope, m.name, Binding("repeat", path, m.name_span or m.span, scope.conds, items=instances))
        for i in range(n):
            before = self.spent
            conds = scope.conds + ((CountCond(count_path, i),) if count_path and i >= lo else ())
            sub = self.block_scope(m, scope, kind, f"{path}[{i}]", i, instances, conds)
            self.entities[sub.prefix].count = count_path
            instances.append(Binding("block", sub.prefix, m.span, conds, scope=sub))
            self.members(m.members, sub)
            self.finish_block(m, sub, kind)
            self.refuse_early(path, i, n, self.spent - before, m.count.span)

    def refuse_early(self, path: str, i: int, n: int, cost: int, span: A.Span | None) -> None:
        """Refuse a repeat whose later instances cannot fit, before building them.

        An instance costs at least what the first did (reference sets such as ``x.before``
        only grow with the index), so ``cost`` per remaining instance is a lower bound.
        """
        if i == 0 and self.spent + (n - 1) * cost > MAX_INSTANCES:
            raise too_many(f"'{path}'", self.spent + (n - 1) * cost, MAX_INSTANCES, span, self.source)

    def block_scope(self, m: A.Block, scope: Scope, kind: str, path: str, index: int | None,
                    siblings: list[Binding] | None, conds: tuple[Condition, ...]) -> Scope:
        sub = Scope(path, scope, kind, m.name, index, siblings, conds)
        self.entity(path, kind, sub, m.name_span or m.span, m.name)
        return sub

    def block_binding(self, kind: str, path: str, m: A.Block, sub: Scope) -> Binding:
        items = None
        if kind == "backbone":
            ent = self.entities[path]
            taps = ent.fields.get("taps", 0) if isinstance(ent.fields.get("taps"), int) else 0
            items = [Binding("tap", f"{path}.tap[{i}]", m.span, sub.conds) for i in range(taps)]
        elif kind == "stack":
            items = self.stack_items(path)
        return Binding("block" if kind in ("group", "node") else kind, path,
                       m.name_span or m.span, sub.conds, scope=sub, items=items)

    def stack_items(self, path: str) -> list[Binding]:
        prefix = path + "["
        return [Binding("item", p, e.span, e.conds) for p, e in self.entities.items()
                if e.kind == "item" and p.startswith(prefix)]

    def m_when(self, m: A.When, scope: Scope) -> None:
        cond = self.condition(m.cond, scope)
        if cond is None:
            return
        sub = Scope(scope.prefix, scope, scope.kind, None, None, None, scope.conds + (cond,))
        sub.names = scope.names  # a when block adds conditions, not a namespace
        self.members(m.members, sub)

    def m_forbid(self, m: A.Forbid, scope: Scope) -> None:
        self.spend(1, m.span)
        cond = self.condition(m.cond, scope)
        if cond is not None:
            self.forbids.append(ForbidIR(cond, scope.conds, scope.prefix, m.span))

    def m_require(self, m: A.Require, scope: Scope) -> None:
        units = catalog.METRICS.get(m.metric)
        if units is None:
            self.err("E0280", f"unknown metric '{m.metric}'", m.span,
                     help=did_you_mean(m.metric, catalog.METRICS) or (f"metrics: {', '.join(catalog.METRICS)}",))
            return
        number = m.amount.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        unit = m.amount[len(number):]
        if unit not in units:
            shown = ", ".join(u or "(none)" for u in units)
            hint = ("'m' would be milli; use 'M' for 10^6",) if unit == "m" else ()
            self.err("E0281", f"'{unit}' is not a unit for {m.metric}", m.span, label=f"units: {shown}", help=hint)
            return
        amount = float(number.replace("_", "")) * units[unit]
        self.requires.append(RequireIR(m.metric, m.op, amount, f"{m.metric} {m.op} {m.amount}", m.span))

    # ------------------------------------------------------------ counts and constants
    def static_count(self, expr: A.Expr, scope: Scope) -> int:
        """A repeat count known before expansion: a literal, a `let`, an int decision's maximum."""
        if isinstance(expr, A.NumE) and type(expr.value) is int:
            return max(expr.value, 0)
        b = scope.lookup(str(expr.parts[0])) if isinstance(expr, A.QName) and len(expr.parts) == 1 else None
        if b is not None and b.kind == "let" and type(b.value) is int:
            return max(b.value, 0)
        if b is not None and b.kind == "decision" and isinstance(b.value.domain, IntDomain):
            return max(b.value.domain.hi, 0)
        return 1

    def count(self, expr: A.Expr, scope: Scope) -> tuple[int, str | None, int] | None:
        """(instances to expand, the count decision's path or None, its lower bound)."""
        if isinstance(expr, A.QName) and len(expr.parts) == 1:
            b = scope.lookup(str(expr.parts[0]))
            if b is not None and b.kind == "decision":
                dom = b.value.domain
                if not isinstance(dom, IntDomain) or dom.lo < 0:
                    self.err("E0224", f"repeat count '{b.path}' must be a non-negative int decision", expr.span)
                    return None
                if dom.hi > MAX_COUNT:
                    raise too_many(f"repeat count '{b.path}'", dom.hi, MAX_COUNT, expr.span, self.source)
                return dom.hi, b.path, dom.lo
        value = self.const(expr, scope)
        if value is None:
            return None
        if type(value) is not int or value < 0:
            self.err("E0225", f"a repeat count must be a non-negative integer, got {value!r}", expr.span)
            return None
        if value > MAX_COUNT:
            raise too_many("this repeat", value, MAX_COUNT, expr.span, self.source)
        return value, None, value

    def const(self, expr: A.Expr, scope: Scope, bound: bool = False) -> Any:
        """A constant's value; ``bound``: it is a domain bound or option (E0223 for a decision)."""
        if isinstance(expr, (A.NumE, A.StrE)):
            return expr.value
        if isinstance(expr, A.NegE):
            inner = self.const(expr.operand, scope, bound)
            return -inner if isinstance(inner, (int, float)) else None
        if isinstance(expr, A.BinE):
            left, right = self.const(expr.left, scope, bound), self.const(expr.right, scope, bound)
            if not all(isinstance(x, (int, float)) for x in (left, right)):
                return None
            value = left + right if expr.op == "+" else left - right if expr.op == "-" else left * right
            if not -MAX_CONSTANT <= value <= MAX_CONSTANT:  # also refuses inf and nan
                self.err("E0221", f"constant out of range (limit: magnitude {MAX_CONSTANT:.0e})", expr.span)
                return None
            return value
        name = str(expr.parts[0])
        b = scope.lookup(name)
        if b is None or len(expr.parts) > 1:
            self.err("E0220", f"unknown name '{name}'", expr.span,
                     help=did_you_mean(name, [n for s in scope.chain() for n, x in s.names.items()
                                              if x.kind == "let"]))
            return None
        if b.kind == "decision" and bound:
            self.err("E0223", f"'{name}' is a searched decision; domain bounds must be constants",
                     expr.span, help=("a domain cannot depend on another decision (samplers cannot "
                                      "handle that); exclude combinations with `forbid` instead",))
            return None
        if b.kind != "let":
            self.err("E0222", f"'{name}' is a {b.kind}, but a constant is needed here", expr.span,
                     help=("only `let` constants and literals may appear in bounds and fixed counts",))
            return None
        return b.value

    # ------------------------------------------------------------ conditions
    def condition(self, cond: A.Cond, scope: Scope) -> Condition | None:
        if isinstance(cond, A.BoolOp):
            left, right = (self.condition(c, scope) for c in (cond.left, cond.right))  # both: every error
            return None if left is None or right is None else Logic(cond.kind, (left, right))
        if isinstance(cond, A.Not):
            inner = self.condition(cond.operand, scope)
            return None if inner is None else Logic("not", (inner,))
        decision = self.cond_decision(cond.path, scope, cond.span)
        if decision is None:
            return None
        if isinstance(cond, A.Truthy):
            return Compare(decision.path, "==", True)
        values = (cond.value,) if isinstance(cond, A.Cmp) else cond.values
        checked = []
        for v in values:
            try:
                checked.append(decision.domain.convert(plain(v), ()))
            except Mismatch as exc:
                self.err("E0271", f"{exc.message} ('{decision.path}')", v.span, help=exc.help)
                return None
        if isinstance(cond, A.In):
            return Member(decision.path, tuple(checked))
        return Compare(decision.path, cond.op, checked[0])

    def cond_decision(self, path: str, scope: Scope, span: A.Span | None) -> DecisionIR | None:
        for s in scope.chain():
            found = self.by_path.get(s.path(path))
            if found is not None:
                return found
        self.err("E0270", f"unknown decision '{path}'", span,
                 help=did_you_mean(path, [d.path for d in self.decisions]))
        return None


def resolve_space(decl: A.SpaceDecl, source: Source) -> SpaceIR:
    return Resolver(source).space(decl)


__all__ = ["RefError", "Resolver", "resolve_refset", "resolve_space", "split_path"]
