"""One-line canonical text for values, expressions, domains and conditions (``genolang fmt``).

Every function here takes an AST node and returns text that parses back to an equal node.
Parentheses are the minimal set the grammar's precedence needs: ``*`` over ``+``/``-``
(left-associative) in expressions, ``not`` over ``and`` over ``or`` in conditions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from genolang import ast as A

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}


def string(text: str) -> str:
    """A double-quoted literal using only the grammar's escapes (``\\" \\\\ \\n \\t``)."""
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in text) + '"'


def number(value: int | float) -> str:
    """Ints in plain decimal (no underscores), floats by ``repr`` (always with ``.`` or ``e``)."""
    if isinstance(value, bool) or not isinstance(value, float):
        return str(int(value))
    if math.isinf(value):  # a literal too large for a double reads back as infinity
        return "-1e999" if value < 0 else "1e999"
    return repr(value)


# ------------------------------------------------------------------ values
def value(v: A.Value) -> str:
    """A value on one line: ``[a, b]``, ``{ k: v }``, ``op(@x)``, ``cell * 6`` ..."""
    return _VALUE[v.kind](v)


def record_field(f: A.RecordField) -> str:
    return f"{f.name}: {value(f.value)}"


def _list(v: A.ListV) -> str:
    return "[" + ", ".join(value(i) for i in v.items) + "]"


def _record(v: A.RecordV) -> str:
    if not v.fields:
        return "{}"
    return "{ " + ", ".join(record_field(f) for f in v.fields) + " }"


_VALUE: dict[str, Callable[[Any], str]] = {  # value kind -> its text (the kind says the node class)
    "sym": lambda v: v.name,
    "int": lambda v: number(v.value),
    "float": lambda v: number(float(v.value)),
    "bool": lambda v: "true" if v.value else "false",
    "str": lambda v: string(v.value),
    "ref": lambda v: f"@{v.path}",
    "labelled": lambda v: f"{v.label}(@{v.ref.path})",
    "repeated": lambda v: f"{v.name} * {v.count}",
    "expr": lambda v: expr(v.expr),
    "list": _list,
    "record": _record,
}


# ------------------------------------------------------------------ expressions
_EXPR_PREC = {"+": 1, "-": 1, "*": 2}
_ATOM = 3


def _expr_prec(e: A.Expr) -> int:
    return _EXPR_PREC[e.op] if e.kind == "bin" else _ATOM


def qname(parts: tuple[str | int, ...]) -> str:
    out = str(parts[0])
    for part in parts[1:]:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += "[*]" if part == "*" else f".{part}"
    return out


def expr(e: A.Expr) -> str:
    """``a + 2 * b``, ``-(n - 1)``, ``(a - b) - (c - d)``: parenthesised only where needed."""
    if e.kind == "num":
        return number(e.value)
    if e.kind == "str":
        return string(e.value)
    if e.kind == "qname":
        return qname(e.parts)
    if e.kind == "neg":
        inner = expr(e.operand)
        return f"-({inner})" if e.operand.kind in ("bin", "neg") else f"-{inner}"
    prec = _EXPR_PREC[e.op]
    left, right = expr(e.left), expr(e.right)
    if _expr_prec(e.left) < prec:
        left = f"({left})"
    if _expr_prec(e.right) <= prec:
        right = f"({right})"
    return f"{left} {e.op} {right}"


# ------------------------------------------------------------------ domains
def arg(a: A.Arg) -> str:
    if a.kind == "range":
        return f"{expr(a.lo)}..{expr(a.hi)}"
    if a.kind == "kwarg":
        return f"{a.name}={expr(a.value)}"
    return expr(a)


def domain(d: A.DomainExpr) -> str:
    """``Op``, ``int(1..4, log, step=2)``, ``pick(2, a.tap[*], op=Op)``."""
    if d.kind == "enum_ref":
        return d.name
    return f"{d.name}(" + ", ".join(arg(a) for a in d.args) + ")"


# ------------------------------------------------------------------ conditions
_COND_PREC = {"or": 1, "and": 2, "not": 3}
_COND_ATOM = 4


def _cond_prec(c: A.Cond) -> int:
    return _COND_PREC.get(c.kind, _COND_ATOM)


def cond(c: A.Cond) -> str:
    """``not a and (b or c == 2)``, ``x in { a, b }``: parenthesised only where needed."""
    if c.kind == "cmp":
        return f"{c.path} {c.op} {value(c.value)}"
    if c.kind == "in":
        return f"{c.path} in {{ " + ", ".join(value(v) for v in c.values) + " }"
    if c.kind == "truthy":
        return c.path
    if c.kind == "not":
        inner = cond(c.operand)
        return f"not ({inner})" if _cond_prec(c.operand) < _COND_PREC["not"] else f"not {inner}"
    prec = _COND_PREC[c.kind]
    left, right = cond(c.left), cond(c.right)
    if _cond_prec(c.left) < prec:
        left = f"({left})"
    if _cond_prec(c.right) <= prec:
        right = f"({right})"
    return f"{left} {c.kind} {right}"
