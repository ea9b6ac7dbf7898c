"""Fixed field values of spaces: checked against the catalog, refs made absolute."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from genolang import ast as A
from genolang import catalog
from genolang.catalog import field_catalog
from genolang.errors import did_you_mean
from genolang.fieldtypes import UNSEARCHED, bad_domain, bad_value
from genolang.ir import Computed, Decided, Entity
from genolang.resolve_arith import ArithResolver
from genolang.scope import Binding, RefError, Scope, resolve_refset, split_path
from genolang.value_exprs import to_expr

PREV = ("prev", "prev2")
REQUIRED = {"input": ("shape",), "backbone": ("model", "in"), "head": ("in", "classes"),
            "stack": ("in", "cells")}


def plain(value: A.Value) -> Any:
    """AST value -> plain data (refs stay as written, with a leading '@')."""
    if isinstance(value, A.Sym):
        return value.name
    if isinstance(value, (A.IntV, A.FloatV, A.BoolV, A.StrV)):
        return value.value
    if isinstance(value, A.RefV):
        return "@" + value.path
    if isinstance(value, A.LabelledV):
        return {"op": value.label, "ref": "@" + value.ref.path}
    if isinstance(value, A.ListV):
        return [plain(v) for v in value.items]
    if isinstance(value, A.ExprV):
        return Arithmetic(value)
    if isinstance(value, A.RecordV):
        return {f.name: plain(f.value) for f in value.fields}
    return {"repeat": value.name, "count": value.count}


class Arithmetic:
    """Arithmetic where only a literal may stand (a condition, a default, a genotype's value)."""

    def __init__(self, value: A.ExprV):
        from genolang.formatter_exprs import value as text

        self.text = text(value)

    def __repr__(self) -> str:
        return f"`{self.text}` (arithmetic is allowed only in a space's field values)"


class FieldChecker(ArithResolver):
    def field_value(self, m: A.FieldM, scope: Scope) -> Any:
        allowed = catalog.BLOCK_FIELDS.get(scope.kind if scope.kind != "space" else "group")
        if scope.kind != "space" and allowed is not None and m.name not in allowed:
            self.err("E0244", f"a {scope.kind} has no field '{m.name}'", m.span,
                     help=did_you_mean(m.name, allowed) or (f"fields: {', '.join(sorted(allowed))}",))
            return None
        if scope.kind == "stack" and m.name == "cells":
            return self.stack_cells(m, scope)
        try:
            value = self.top_value(m.value, scope)
        except RefError as exc:
            self.err(exc.code, exc.message, getattr(exc, "span", None) or m.value.span, help=exc.help)
            return None
        if isinstance(value, (Decided, Computed)):
            self.check_possible(scope.kind, m, value)
        elif value is not None:
            self.check_field(scope.kind, m, value)
        return value

    def top_value(self, v: A.Value, scope: Scope) -> Any:
        """A whole field's value: a decision's name or arithmetic may stand here (not inside lists)."""
        if isinstance(v, A.Sym):
            b = scope.lookup(v.name, ("let", "decision"))
            return v.name if b is None else self.named_value(b, scope, v.span)
        if isinstance(v, A.ExprV):
            return self.computed(v.expr, scope, v.span)
        if isinstance(v, A.RepeatedV) and scope.lookup(v.name, ("let", "decision")) is not None:
            return self.computed(to_expr(v), scope, v.span)
        return self.fixed(v, scope)

    def fixed(self, v: A.Value, scope: Scope) -> Any:
        if isinstance(v, A.Sym):
            b = scope.lookup(v.name, ("let", "decision"))
            if b is not None and b.kind == "decision":
                err = RefError("E0292", f"'{v.name}' is a searched decision; a decision's value can be a whole "
                                        "field's value, not part of a list or record")
                err.span = v.span
                raise err
            return b.value if b is not None else v.name
        if isinstance(v, A.RefV):
            return self.fixed_ref(v, scope)
        if isinstance(v, A.LabelledV):
            return {"op": v.label, "ref": self.fixed_ref(v.ref, scope)}
        if isinstance(v, A.ListV):
            return [self.fixed(i, scope) for i in v.items]
        if isinstance(v, A.RecordV):
            return {f.name: self.fixed(f.value, scope) for f in v.fields}
        if isinstance(v, A.RepeatedV):
            err = RefError("E0247", "`name * count` is only meaningful in a stack's `cells` list "
                                    "or with a constant or decision")
            err.span = v.span
            raise err
        if isinstance(v, A.ExprV):
            err = RefError("E0292", "arithmetic can be a whole field's value, not part of a list or record")
            err.span = v.span
            raise err
        return v.value

    def fixed_ref(self, v: A.RefV, scope: Scope) -> str:
        parts = split_path(v.path)
        if parts[0] in PREV:
            if len(parts) > 1:
                err = RefError("E0254", f"'@{parts[0]}' stands alone; it has no members")
                err.span = v.span
                raise err
            return "@" + str(parts[0])
        try:
            found = resolve_refset(parts, scope)
        except RefError as exc:
            exc.span = v.span
            raise
        if len(found) != 1:
            err = RefError("E0360", f"'@{v.path}' names {len(found)} things; a fixed field takes "
                                    "one reference per item, e.g. [@a[0], @a[1]]")
            err.span = v.span
            raise err
        return found[0].ref

    def check_field(self, kind: str, m: A.FieldM, value: Any) -> None:
        known = field_catalog(kind, m.name)
        if known is not None:
            self.check_names(kind, m.name, [(value, m.value.span)])
        backbones = catalog.known_backbones() if (kind, m.name) == ("backbone", "model") else {}
        rules = {
            ("input", "shape"): (lambda x: isinstance(x, list) and x and all(type(i) is int and i > 0 for i in x),
                                 "a list of positive integers, e.g. [1, 28, 28]"),
            ("input", "dtype"): (lambda x: x in catalog.DTYPES, f"one of {sorted(catalog.DTYPES)}"),
            ("input", "frontend"): (lambda x: isinstance(x, dict) and x.get("kind") in catalog.FRONTENDS,
                                    f"a record with kind in {sorted(catalog.FRONTENDS)}"),
            ("backbone", "model"): (lambda x: x in backbones, f"one of {sorted(backbones)}"),
            ("backbone", "frozen"): (lambda x: type(x) is bool, "true or false"),
            ("backbone", "pretrain"): (lambda x: type(x) is int and 0 < x <= 1000,
                                       "a number of epochs from 1 to 1000"),
            ("backbone", "taps"): (lambda x: (type(x) is int and x > 0) or (
                isinstance(x, list) and x and all(isinstance(i, str) for i in x)),
                "a positive integer or a list of node names"),
            ("group", "post"): _POST_RULE,
            ("cell", "post"): _POST_RULE,
        }
        rule = rules.get((kind, m.name))
        problem = bad_value(kind, m.name, value) if rule is None else None
        if problem is not None:  # the types and ranges of genolang.fieldtypes
            self.err("E0242", problem, m.value.span,
                     help=did_you_mean(str(value), catalog.TASKS) if m.name == "task" else ())
            return
        if rule is not None and not _holds(rule[0], value):
            names = {"model": backbones, "task": catalog.TASKS, "post": catalog.POSTS}.get(m.name, ())
            shown = next((x for x in value if x not in names), value) if m.name == "post" and isinstance(
                value, list) else value
            self.err("E0242", f"invalid {kind} {m.name}: expected {rule[1]}", m.value.span,
                     help=did_you_mean(str(shown), names))

    def check_post(self, ent: Entity, sub: Scope, m: A.Block) -> None:
        """`project` needs a width (`channels` here or on an enclosing block), `residual` an input."""
        post = ent.fields["post"]
        span = next((x.value.span for x in m.members if isinstance(x, A.FieldM) and x.name == "post"), m.span)
        widths = [self.entities[s.prefix].fields.get("channels") for s in sub.chain() if s.prefix in self.entities]
        if "project" in post and all(w is None for w in widths):
            self.err("E0287", "`post = [project, ...]` projects to the block's width, but neither this block "
                              "nor an enclosing one sets `channels`", span,
                     help=("set `channels = C` on this block or an enclosing group",))
        if "residual" in post and "in" not in ent.fields:
            self.err("E0287", "`post = [residual, ...]` adds the block's first input, but this block has no `in`",
                     span, help=("give the block an `in` field or decision",))

    def taps_fit(self, model: str, taps: Any, fields: dict[str, Any], m: A.Block) -> bool:
        problem = _taps_problem(model, taps, fields)
        if problem is not None:
            field = "taps" if "taps" in problem else "name" if "`name`" in problem else "factory"
            where = next((x.span for x in m.members if x.kind == "field" and x.name == field),
                         m.name_span or m.span)
            self.err("E0242", f"invalid backbone: {problem}", where)
        return problem is None

    def check_decided(self, kind: str, m: A.Decision, domain: Any) -> None:
        """A decision on a field: the field must be searchable and take every value of the domain."""
        if kind in UNSEARCHED:
            self.err("E0291", f"{'an' if kind == 'input' else 'a'} {kind}'s `{m.name}` cannot be searched: "
                              f"it describes the {'data' if kind == 'input' else 'pretrained model'}, "
                              "not the architecture",
                     m.span, help=("give it a fixed value (`name = value`)",))
            return
        problem = bad_domain(kind, m.name, domain)
        if problem is not None:
            self.err("E0290", problem, m.domain.span)

    def stack_cells(self, m: A.FieldM, scope: Scope) -> Any:
        items = m.value.items if isinstance(m.value, A.ListV) else (m.value,)
        out: list[dict[str, Any]] = []
        index = 0
        for item in items:
            name, count = (item.name, item.count) if isinstance(item, A.RepeatedV) else (
                getattr(item, "name", None), 1)
            cell = scope.lookup(name, ("cell",)) if name else None
            if cell is None or not name:  # (no name, no cell)
                cells = [n for s in scope.chain() for n, b in s.names.items() if b.kind == "cell"]
                self.err("E0248", f"'{name}' is not a cell declared earlier", item.span,
                         help=did_you_mean(str(name), cells) or ("declare it with `cell NAME { ... }`",))
                return None
            n, count_path, lo = self.count(self._count_expr(count, item.span), scope) or (0, None, 0)
            for i in range(n):
                from genolang.conditions import CountCond

                conds = scope.conds + ((CountCond(count_path, i),) if count_path and i >= lo else ())
                ent = self.entity(f"{scope.prefix}[{index}]", "item", scope, item.span, name)
                ent.conds, ent.fields["cell"] = conds, cell.path
                index += 1
            out.append({"cell": cell.path, "count": "@" + count_path if count_path else n})
        return out

    @staticmethod
    def _count_expr(count: Any, span: A.Span | None) -> A.Expr:
        if isinstance(count, int):
            return A.NumE(value=count, span=span)
        return A.QName(parts=(count,), span=span)

    def value_slots(self, path: str, value: Any, scope: Scope, span: A.Span | None) -> list[Binding] | None:
        refs = value if isinstance(value, list) else [value]
        if not refs or not all(isinstance(r, str) and r.startswith("@") for r in refs):
            return None
        paths = [path] if not isinstance(value, list) else [f"{path}[{i}]" for i in range(len(refs))]
        for p in paths:
            self.entity(p, "slot", scope, span)
        return [Binding("slot", p, span, scope.conds) for p in paths]

    def finish_block(self, m: A.Block, sub: Scope, kind: str) -> None:
        ent = self.entities[sub.prefix]
        for name in REQUIRED.get(kind, ()):
            if name not in ent.fields and not _reported(m, kind, name):
                self.err("E0243", f"this {kind} needs a field '{name}'", m.name_span or m.span)
        if isinstance(ent.fields.get("post"), list):
            self.check_post(ent, sub, m)
        model = ent.fields.get("model")
        if kind != "backbone" or not isinstance(model, str):
            return
        backbones = catalog.known_backbones()
        if model not in backbones:
            return  # a wrong model is reported by check_field
        taps = ent.fields.get("taps", backbones.get(model))
        if not self.taps_fit(model, taps, ent.fields, m):
            return
        if isinstance(taps, list):
            ent.fields["tap_nodes"], taps = taps, len(taps)
        if taps is None:
            self.err("E0243", f"backbone model '{ent.fields['model']}' needs `taps` (a count or node names)",
                     m.name_span or m.span)
            return
        if type(taps) is not int or taps < 1:  # reported by check_field or check_decided (E0291)
            return
        ent.fields["taps"] = taps
        for i in range(taps):
            self.entity(f"{sub.prefix}.tap[{i}]", "tap", sub, m.name_span or m.span)


_POST_RULE = (lambda x: isinstance(x, list) and all(isinstance(i, str) and i in catalog.POSTS for i in x),
              f"a list of post-processing steps among {sorted(catalog.POSTS)}")


def _taps_problem(model: str, taps: Any, fields: dict[str, Any]) -> str | None:
    """Why a backbone's fields do not suit ``model`` (None: they do, or check_field reports it)."""
    fixed = catalog.known_backbones().get(model)
    if fixed is not None and taps != fixed and (isinstance(taps, list) or type(taps) is int):
        return f"backbone model '{model}' has {fixed} taps; `taps` may only repeat that count"
    if model == "torchvision" and type(taps) is int:
        return "a torchvision backbone is tapped by graph node names: `taps = [\"layer1\", ...]`"
    own = {"torchvision": "name", "custom": "factory"}
    for m, field in own.items():
        if field in fields and model != m:
            return f"`{field}` is a field of `model = {m}` backbones only"
        if model == m and not isinstance(fields.get(field), str):
            return f"a {m} backbone needs `{field}` (a string)"
    return None


def _reported(m: A.Block, kind: str, name: str) -> bool:
    """A missing required field was written, but refused (or misspelled): already reported."""
    written = {x.name for x in m.members if x.kind in ("field", "decision")}
    unknown = written - (catalog.BLOCK_FIELDS.get(kind) or frozenset())
    return name in written or bool(did_you_mean(name, unknown))


def _holds(rule: Callable[[Any], object], value: Any) -> bool:
    try:
        return bool(rule(value))
    except TypeError:  # e.g. a list where a name is expected (unhashable)
        return False
