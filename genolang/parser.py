"""Text -> :class:`genolang.ast.Module`: lark LALR with positions, inline AST building."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace

from lark import Token, Transformer, v_args
from lark.exceptions import UnexpectedInput, VisitError
from lark.tree import Meta

from genolang import ast as A
from genolang.errors import GenolangError, Source
from genolang.fastparse import fast_parse
from genolang.lalr import tree_parser
from genolang.limits import check_space_text, check_text, check_tree
from genolang.syntax_errors import explain
from genolang.value_exprs import value_arith, value_neg

LANGUAGE_VERSION = 1


PathSpan = tuple[str, "A.Span | None"]  # what the ``path`` rule builds


def _span(meta: Meta) -> A.Span | None:
    if getattr(meta, "empty", True):
        return None
    return A.Span(meta.line, meta.column, meta.end_line, meta.end_column)


def _tspan(tok: Token) -> A.Span:
    # the lexer's tokens carry positions; lark types them Optional for tokens made by hand
    return A.Span(tok.line, tok.column, tok.end_line, tok.end_column)  # type: ignore[arg-type]


def _int(tok: Token) -> int:
    try:
        return int(str(tok).replace("_", ""))
    except ValueError:  # more digits than Python converts
        raise _literal_error(tok) from None


def _float(tok: Token) -> float:
    value = float(str(tok).replace("_", ""))
    if not math.isfinite(value):
        raise _literal_error(tok)
    return value


def _literal_error(tok: Token) -> GenolangError:
    from genolang.errors import Diagnostic, GenolangSyntaxError

    shown = str(tok) if len(tok) <= 20 else str(tok)[:20] + "..."
    return GenolangSyntaxError(Diagnostic("E0112", f"number {shown} is out of range", _tspan(tok),
                                          help=("numbers must be finite and shorter than 4300 digits",)))


def _string(tok: Token) -> str:
    text: str = json.loads(str(tok), strict=False)  # closed escape set, JSON semantics; a STRING token
    return text


@v_args(meta=True, inline=True)
class Builder(Transformer[Token, A.Module]):
    """One method per rule; each builds one AST node."""

    def start(self, meta: Meta, header: int, *items: A.Item) -> A.Module:
        return A.Module.make(version=header, items=items, span=_span(meta))

    def header(self, meta: Meta, version: Token) -> int:
        return _int(version)

    def import_stmt(self, meta: Meta, path: Token) -> A.Import:
        return A.Import.make(path=_string(path), span=_span(meta))

    def space(self, meta: Meta, name: Token, version: Token, *members: A.Member) -> A.SpaceDecl:
        return A.SpaceDecl.make(name=str(name), version=_int(version), members=members, span=_span(meta))

    def decision(self, meta: Meta, name: Token, domain: A.DomainExpr, default: A.Value | None) -> A.Decision:
        return A.Decision.make(name=str(name), domain=domain, default=default, span=_tspan(name))

    def field(self, meta: Meta, name: Token, value: A.Value) -> A.FieldM:
        return A.FieldM.make(name=str(name), value=value, span=_tspan(name))

    def block(self, meta: Meta, first: Token, second: Token | None, count: A.Expr | None,
              *members: A.Member) -> A.Block:
        kind, name = (first, second) if second is not None else (None, first)
        return A.Block.make(block_kind=kind and str(kind), name=str(name), count=count, members=members,
                       span=_span(meta), name_span=_tspan(name), kind_span=kind and _tspan(kind))

    def count(self, meta: Meta, expr: A.Expr) -> A.Expr:
        return expr

    def enum_decl(self, meta: Meta, name: Token, *members: Token | None) -> A.EnumDecl:
        syms = tuple(A.Sym.make(name=str(m), span=_tspan(m)) for m in members if m is not None)
        return A.EnumDecl.make(name=str(name), members=syms, span=_tspan(name))

    def let_decl(self, meta: Meta, name: Token, expr: A.Expr) -> A.Let:
        return A.Let.make(name=str(name), value=expr, span=_tspan(name))

    def when_block(self, meta: Meta, cond: A.Cond, *members: A.Member) -> A.When:
        return A.When.make(cond=cond, members=members, span=_span(meta))

    def forbid(self, meta: Meta, cond: A.Cond) -> A.Forbid:
        return A.Forbid.make(cond=cond, span=_span(meta))

    def require(self, meta: Meta, metric: Token, op: Token, amount: Token) -> A.Require:
        return A.Require.make(metric=str(metric), op=str(op), amount=str(amount), span=_span(meta))

    # domains and expressions
    def enum_ref(self, meta: Meta, name: Token) -> A.EnumRef:
        return A.EnumRef.make(name=str(name), span=_tspan(name))

    def call(self, meta: Meta, name: Token, *args: A.Arg | None) -> A.Call:
        return A.Call.make(name=str(name), args=tuple(a for a in args if a is not None), span=_tspan(name))

    def range(self, meta: Meta, lo: A.Expr, hi: A.Expr) -> A.RangeArg:
        return A.RangeArg.make(lo=lo, hi=hi, span=_span(meta))

    def kwarg(self, meta: Meta, name: Token, value: A.Expr) -> A.Kwarg:
        return A.Kwarg.make(name=str(name), value=value, span=_tspan(name))

    def add(self, meta: Meta, left: A.Expr, right: A.Expr) -> A.BinE:
        return A.BinE.make(op="+", left=left, right=right, span=_span(meta))

    def sub(self, meta: Meta, left: A.Expr, right: A.Expr) -> A.BinE:
        return A.BinE.make(op="-", left=left, right=right, span=_span(meta))

    def mul(self, meta: Meta, left: A.Expr, right: A.Expr) -> A.BinE:
        return A.BinE.make(op="*", left=left, right=right, span=_span(meta))

    def neg(self, meta: Meta, operand: A.Expr) -> A.NegE:
        return A.NegE.make(operand=operand, span=_span(meta))

    def e_int(self, meta: Meta, tok: Token) -> A.NumE:
        return A.NumE.make(value=_int(tok), span=_tspan(tok))

    def e_float(self, meta: Meta, tok: Token) -> A.NumE:
        return A.NumE.make(value=_float(tok), span=_tspan(tok))

    def e_string(self, meta: Meta, tok: Token) -> A.StrE:
        return A.StrE.make(value=_string(tok), span=_tspan(tok))

    def qname(self, meta: Meta, name: Token, *parts: str | int) -> A.QName:
        return A.QName.make(parts=(str(name), *parts), span=_span(meta))

    def attr(self, meta: Meta, name: Token) -> str:
        return str(name)

    def star(self, meta: Meta, star: Token) -> str:
        return "*"

    def index(self, meta: Meta, tok: Token) -> int:
        return _int(tok)

    # conditions
    def or_(self, meta: Meta, left: A.Cond, right: A.Cond) -> A.BoolOp:
        return A.BoolOp.make(kind="or", left=left, right=right, span=_span(meta))

    def and_(self, meta: Meta, left: A.Cond, right: A.Cond) -> A.BoolOp:
        return A.BoolOp.make(kind="and", left=left, right=right, span=_span(meta))

    def not_(self, meta: Meta, operand: A.Cond) -> A.Not:
        return A.Not.make(operand=operand, span=_span(meta))

    def cmp(self, meta: Meta, path: PathSpan, op: Token, value: A.Value) -> A.Cmp:
        return A.Cmp.make(path=path[0], op=str(op), value=value, span=_span(meta))

    def in_(self, meta: Meta, path: PathSpan, *values: A.Value) -> A.In:
        return A.In.make(path=path[0], values=values, span=_span(meta))

    def truthy(self, meta: Meta, path: PathSpan) -> A.Truthy:
        return A.Truthy.make(path=path[0], span=_span(meta))

    # genotypes and values
    def genotype(self, meta: Meta, name: Token, space: Token, version: Token, fingerprint: Token | None,
                 *items: A.Assign | A.MetaBlock) -> A.GenotypeDecl:
        assigns = tuple(i for i in items if isinstance(i, A.Assign))
        metas = tuple(f for i in items if isinstance(i, A.MetaBlock) for f in i.fields)
        fp = _string(fingerprint) if fingerprint is not None else None
        return A.GenotypeDecl.make(name=str(name), space=str(space), version=_int(version), fingerprint=fp,
                              assigns=assigns, meta=metas, span=_tspan(name))

    def assign(self, meta: Meta, path: PathSpan, value: A.Value) -> A.Assign:
        return A.Assign.make(path=path[0], value=value, span=_span(meta), path_span=path[1])

    def meta(self, meta: Meta, *fields: A.RecordField | None) -> A.MetaBlock:
        return A.MetaBlock.make(fields=tuple(f for f in fields if f is not None), span=_span(meta))

    def sym(self, meta: Meta, tok: Token) -> A.Sym:
        return A.Sym.make(name=str(tok), span=_tspan(tok))

    def int_(self, meta: Meta, tok: Token) -> A.IntV:
        return A.IntV.make(value=_int(tok), span=_tspan(tok))

    def float_(self, meta: Meta, tok: Token) -> A.FloatV:
        return A.FloatV.make(value=_float(tok), span=_tspan(tok))

    def string(self, meta: Meta, tok: Token) -> A.StrV:
        return A.StrV.make(value=_string(tok), span=_tspan(tok))

    def true(self, meta: Meta) -> A.BoolV:
        return A.BoolV.make(value=True, span=_span(meta))

    def false(self, meta: Meta) -> A.BoolV:
        return A.BoolV.make(value=False, span=_span(meta))

    def ref(self, meta: Meta, path: PathSpan) -> A.RefV:
        return A.RefV.make(path=path[0], span=_span(meta))

    def labelled(self, meta: Meta, label: Token, ref: A.RefV) -> A.LabelledV:
        return A.LabelledV.make(label=str(label), ref=ref, span=_span(meta))

    def v_add(self, meta: Meta, left: A.Value, right: A.Value) -> A.Value:
        return value_arith("+", left, right, _span(meta))

    def v_sub(self, meta: Meta, left: A.Value, right: A.Value) -> A.Value:
        return value_arith("-", left, right, _span(meta))

    def v_mul(self, meta: Meta, left: A.Value, right: A.Value) -> A.Value:
        return value_arith("*", left, right, _span(meta))

    def v_neg(self, meta: Meta, operand: A.Value) -> A.Value:
        return value_neg(operand, _span(meta))

    def list(self, meta: Meta, *items: A.Value | None) -> A.ListV:
        return A.ListV.make(items=tuple(i for i in items if i is not None), span=_span(meta))

    def record(self, meta: Meta, *fields: A.RecordField | None) -> A.RecordV:
        return A.RecordV.make(fields=tuple(f for f in fields if f is not None), span=_span(meta))

    def rfield(self, meta: Meta, name: Token, value: A.Value) -> A.RecordField:
        return A.RecordField.make(name=str(name), value=value, span=_tspan(name))

    def path(self, meta: Meta, *segs: str) -> PathSpan:
        return ".".join(segs), _span(meta)

    def seg(self, meta: Meta, name: Token, index: Token | None) -> str:
        return str(name) if index is None else f"{name}[{_int(index)}]"


_BUILDER = Builder()


def parse(text: str, name: str = "<input>", *, fast: bool = True) -> A.Module:
    """Parse one file's text; raise :class:`GenolangSyntaxError` with a caret on failure."""
    source = Source(name, text)
    check_text(source)
    module = fast_parse(text) if fast else None
    try:
        if module is None:
            check_space_text(source)  # the full parser is the slow one
            tree = tree_parser().parse(text)
            check_tree(tree, source)
            module = _BUILDER.transform(tree)
    except UnexpectedInput as exc:
        raise explain(exc, source) from None
    except VisitError as exc:  # a builder callback refused a token (e.g. a number out of range)
        orig = exc.orig_exc
        if isinstance(orig, GenolangError):
            raise type(orig)([replace(d, source=d.source or source) for d in orig.diagnostics]) from None
        raise explain_visit(exc, source) from None
    if module.version != LANGUAGE_VERSION:
        from genolang.errors import Diagnostic, GenolangSyntaxError

        raise GenolangSyntaxError(Diagnostic(
            "E0107", f"unsupported language version {module.version} "
                     f"(this tool reads genolang {LANGUAGE_VERSION})",
            _header_span(text), source, help=(f"start the file with `genolang {LANGUAGE_VERSION}`",)))
    return module


_HEADER = re.compile(r"\bgenolang\s+(\d[\d_]*)")


def _header_span(text: str) -> A.Span:
    """Where the version number of the header is written (the culprit of E0107)."""
    match = _HEADER.search(text)
    if match is None:
        return A.Span(1, 1, 1, 2)
    start = match.start(1)
    line = text.count("\n", 0, start) + 1
    column = start - (text.rfind("\n", 0, start) + 1) + 1
    return A.Span(line, column, line, column + len(match.group(1)))


def explain_visit(exc: VisitError, source: Source) -> GenolangError:
    from genolang.errors import Diagnostic, GenolangSyntaxError

    return GenolangSyntaxError(Diagnostic("E0199", f"cannot read this input: {exc.orig_exc}", None, source))
