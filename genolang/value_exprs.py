"""Arithmetic in field values, as the parser builds it: ``W * 2``, ``w + 1``, ``-(n - 1)``.

Operands are names, numbers and parenthesised arithmetic, so a value expression reuses the
expression nodes of ``let`` (:class:`BinE`, :class:`NegE`, :class:`QName`, :class:`NumE`)
wrapped in an :class:`ExprV`. Two forms keep their older nodes, so existing trees do not
change: ``name * count`` alone (a count a literal >= 0 or a name) stays a :class:`RepeatedV`
(in a stack's ``cells`` it is a repeated cell, in any other field a product), and a negated
literal stays a negative :class:`IntV` / :class:`FloatV`.
"""

from __future__ import annotations

from genolang import ast as A


def value_arith(op: str, left: A.Value, right: A.Value, span: A.Span | None) -> A.Value:
    """The value ``left op right``."""
    if op == "*" and isinstance(left, A.Sym) and isinstance(right, (A.Sym, A.IntV)) and _is_count(right):
        count = right.name if isinstance(right, A.Sym) else right.value
        return A.RepeatedV.make(name=left.name, count=count, span=span)
    return A.ExprV.make(expr=A.BinE.make(op=op, left=to_expr(left), right=to_expr(right), span=span), span=span)


def value_neg(operand: A.Value, span: A.Span | None) -> A.Value:
    """The value ``-operand``: a literal stays a literal."""
    if isinstance(operand, (A.IntV, A.FloatV)):
        return type(operand).make(value=-operand.value, span=span)
    return A.ExprV.make(expr=A.NegE.make(operand=to_expr(operand), span=span), span=span)


def _is_count(v: A.Value) -> bool:
    return isinstance(v, A.Sym) or (isinstance(v, A.IntV) and v.value >= 0)


def to_expr(v: A.Value) -> A.Expr:
    """An operand as an expression node."""
    if isinstance(v, A.ExprV):
        return v.expr
    if isinstance(v, A.Sym):
        return A.QName.make(parts=(v.name,), span=v.span)
    if isinstance(v, (A.IntV, A.FloatV)):
        return A.NumE.make(value=v.value, span=v.span)
    if isinstance(v, A.RepeatedV):
        count = to_expr(A.Sym.make(name=v.count, span=v.span) if isinstance(v.count, str)
                        else A.IntV.make(value=v.count, span=v.span))
        return A.BinE.make(op="*", left=A.QName.make(parts=(v.name,), span=v.span), right=count, span=v.span)
    raise TypeError(f"not an arithmetic operand: {v.kind}")  # the grammar admits no other
