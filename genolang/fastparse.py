"""A fast path for genotype-only documents (what searchers and ledgers read by the thousand).

It accepts the genotype subset of the grammar (header, imports, genotypes) and builds the
very AST the lark parser builds, spans included. On anything else (a space, an unusual
token, a syntax error) it gives up by returning None and the lark parser takes over, so
lark stays the only source of syntax errors and the reference for every construct.
Tests check both paths agree on every example and on sampled and mutated genotypes.
"""

from __future__ import annotations

import json
import math
import re

from genolang import ast as A

_TOKEN = re.compile(r"""
    (?P<WS>[ \t\f\r\n]+|\#[^\n]*)
  | (?P<FLOAT>\d[\d_]*\.\d[\d_]*(?:[eE][+-]?\d+)?|\d[\d_]*[eE][+-]?\d+)
  | (?P<INT>\d[\d_]*)
  | (?P<PATH>[A-Za-z_]\w*(?:\[\d+\])?(?:\.[A-Za-z_]\w*(?:\[\d+\])?)+|[A-Za-z_]\w*\[\d+\])
  | (?P<NAME>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<STRING>"(?:[^"\\\n]|\\["\\nt])*")
  | (?P<P>[{}\[\]()=:,.@;*-])
""", re.VERBOSE)

_FIRST_SEG = re.compile(r"[A-Za-z_]\w*")
_LEADING_ZEROS = re.compile(r"\[0+(\d)")


Tok = tuple[str, str, int, int, int, int]  # (type, text, line, column, end_line, end_column)


class _GiveUp(Exception):
    pass


def _tokens(text: str) -> list[Tok]:
    """(type, text, line, column, end_line, end_column); punctuation's type is its text."""
    out: list[Tok] = []
    pos, line, start = 0, 1, 0
    append = out.append
    for m in _TOKEN.finditer(text):
        if m.start() != pos:
            raise _GiveUp
        kind, value = m.lastgroup, m.group()
        assert kind is not None, "every alternative of _TOKEN is a named group"
        if kind == "WS":
            nl = value.count("\n")
            if nl:
                line += nl
                start = pos + value.rfind("\n") + 1
        else:
            col = pos - start + 1
            if kind == "P":
                kind = value
            append((kind, value, line, col, line, col + len(value)))
        pos = m.end()
    if pos != len(text):
        raise _GiveUp
    return out


class _Parser:
    def __init__(self, toks: list[Tok]):
        self.toks, self.i = toks, 0

    def peek(self) -> str:
        return self.toks[self.i][0] if self.i < len(self.toks) else "$END"

    def take(self, kind: str) -> Tok:
        if self.i >= len(self.toks) or self.toks[self.i][0] != kind:
            raise _GiveUp
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def accept(self, kind: str) -> Tok | None:
        return self.take(kind) if self.peek() == kind else None

    def word(self, text: str) -> Tok:
        """A keyword: lark's contextual lexer reads it as one only where it may occur."""
        tok = self.take("NAME")
        if tok[1] != text:
            raise _GiveUp
        return tok

    def at_word(self, text: str) -> bool:
        return self.i < len(self.toks) and self.toks[self.i][0] == "NAME" and self.toks[self.i][1] == text

    # -------------------------------------------------------------- document
    def module(self) -> A.Module:
        first = self.word("genolang")
        version = int(self.take("INT")[1].replace("_", ""))
        items: list[A.Item] = []
        while self.peek() != "$END":
            items.append(self.import_() if self.at_word("import") else self.genotype())
        last = self.toks[self.i - 1]
        return A.Module.make(version=version, items=tuple(items),
                                        span=A.Span(first[2], first[3], last[4], last[5]))

    def import_(self) -> A.Import:
        kw, s = self.word("import"), self.take("STRING")
        return A.Import.make(path=json.loads(s[1], strict=False), span=_join(kw, s))

    def genotype(self) -> A.GenotypeDecl:
        self.word("genotype")
        name = self.take("NAME")
        self.word("of")
        space = self.take("NAME")[1]
        self.word("version")
        version = int(self.take("INT")[1].replace("_", ""))
        fp = None
        if self.at_word("fingerprint"):
            self.i += 1
            fp = json.loads(self.take("STRING")[1], strict=False)
        self.take("{")
        assigns: list[A.Assign] = []
        metas: list[A.RecordField] = []
        while not self.accept("}"):
            if self.accept(";"):
                continue
            if self.at_word("meta"):
                metas += self.meta()
            else:
                assigns.append(self.assign())
        return A.GenotypeDecl.make(name=name[1], space=space, version=version, fingerprint=fp,
                                              assigns=tuple(assigns), meta=tuple(metas), span=_tspan(name))

    def meta(self) -> list[A.RecordField]:
        self.word("meta")
        return self.fields("}")

    def fields(self, close: str) -> list[A.RecordField]:
        self.take("{")
        out = []
        while not self.accept(close):
            name = self.take("NAME")
            self.take(":")
            out.append(A.RecordField.make(name=name[1], value=self.value(), span=_tspan(name)))
            if self.peek() != close:
                self.take(",")
        return out

    def assign(self) -> A.Assign:
        path, pspan = self.path(assign=True)
        self.take("=")
        value = self.value()
        last = self.toks[self.i - 1]
        return A.Assign.make(path=path, value=value, path_span=pspan,
                                        span=A.Span(pspan.line, pspan.column, last[4], last[5]))

    def path(self, assign: bool = False) -> tuple[str, A.Span]:
        first = self.toks[self.i]
        if first[0] == "PATH":  # a whole `a.b[2].c` lexed at once (the common case)
            self.i += 1
            if assign and first[1].startswith("meta"):
                seg = _FIRST_SEG.match(first[1])  # matches: the text starts with a letter
                if seg is not None and seg.group() == "meta":
                    raise _GiveUp  # where a member starts, lark reads `meta` as the keyword
            return _LEADING_ZEROS.sub(r"[\1", first[1]), _tspan(first)
        if assign and self.at_word("meta"):
            raise _GiveUp
        parts = [self.seg()]
        while self.accept("."):
            parts.append(self.seg())
        return ".".join(parts), _join(first, self.toks[self.i - 1])

    def seg(self) -> str:
        name = self.take("NAME")[1]
        if self.accept("["):
            index = int(self.take("INT")[1].replace("_", ""))
            self.take("]")
            return f"{name}[{index}]"
        return name

    # -------------------------------------------------------------- values
    def value(self) -> A.Value:
        if self.i >= len(self.toks):
            raise _GiveUp
        tok = self.toks[self.i]
        kind = tok[0]
        if kind == "NAME" and tok[1] in ("true", "false"):
            self.i += 1
            return _scalar(tok[1], tok[1], _tspan(tok), 1)
        if kind == "NAME":
            self.i += 1
            if self.peek() == "(":
                self.take("(")
                ref = self.ref()
                end = self.take(")")
                return A.LabelledV.make(label=tok[1], ref=ref, span=_join(tok, end))
            if self.peek() == "*":
                raise _GiveUp
            return A.Sym.make(name=tok[1], span=_tspan(tok))
        if kind == "@":
            return self.ref()
        if kind in ("INT", "FLOAT", "STRING"):
            self.i += 1
            return _scalar(kind, tok[1], _tspan(tok), 1)
        if kind == "-":
            self.i += 1
            num = self.toks[self.i] if self.i < len(self.toks) else None
            if num is None or num[0] not in ("INT", "FLOAT"):
                raise _GiveUp
            self.i += 1
            return _scalar(num[0], num[1], _join(tok, num), -1)
        if kind == "[":
            return self.list_()
        if kind == "{":
            first = tok
            fields = self.fields("}")
            return A.RecordV.make(fields=tuple(fields), span=_join(first, self.toks[self.i - 1]))
        raise _GiveUp

    def ref(self) -> A.RefV:
        at = self.take("@")
        path, pspan = self.path()
        return A.RefV.make(path=path, span=A.Span(at[2], at[3], pspan.end_line, pspan.end_column))

    def list_(self) -> A.ListV:
        first = self.take("[")
        items: list[A.Value] = []
        while not self.accept("]"):
            items.append(self.value())
            if self.peek() != "]":
                self.take(",")
        return A.ListV.make(items=tuple(items), span=_join(first, self.toks[self.i - 1]))


def _scalar(kind: str, text: str, span: A.Span, sign: int) -> A.IntV | A.FloatV | A.StrV | A.BoolV:
    if kind == "INT":
        return A.IntV.make(value=sign * int(text.replace("_", "")), span=span)
    if kind == "FLOAT":
        value = float(text.replace("_", ""))
        if not math.isfinite(value):
            raise _GiveUp  # the full parser reports it
        return A.FloatV.make(value=sign * value, span=span)
    if kind == "STRING":
        return A.StrV.make(value=json.loads(text, strict=False), span=span)
    return A.BoolV.make(value=kind == "true", span=span)


def _tspan(tok: Tok) -> A.Span:
    return A.Span(tok[2], tok[3], tok[4], tok[5])


def _join(first: Tok, last: Tok) -> A.Span:
    return A.Span(first[2], first[3], last[4], last[5])


def fast_parse(text: str) -> A.Module | None:
    """The genotype document's AST, or None when the text needs the full parser."""
    try:
        return _Parser(_tokens(text)).module()
    except (_GiveUp, IndexError, ValueError):
        return None
