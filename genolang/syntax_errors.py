"""Syntax errors: one table of examples drives both the messages and the tests.

Each :class:`SyntaxCase` names a code, a message and help, and lists small documents that
must produce it. At the first syntax error the examples are parsed once and indexed by
(LALR state, offending token type); a real error looking up the same key gets the case's
message (lark's ``match_examples`` compares whole stacks, so it misses nested contexts).
"""

from __future__ import annotations

import functools
from collections.abc import Hashable
from dataclasses import dataclass

from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from genolang.ast import Span
from genolang.errors import Diagnostic, GenolangSyntaxError, Source
from genolang.lalr import tree_parser
from genolang.limits import BRACKETS


@dataclass(frozen=True)
class SyntaxCase:
    code: str
    message: str
    help: tuple[str, ...]
    examples: tuple[str, ...]


H = "genolang 1\n"
SYNTAX_CASES: tuple[SyntaxCase, ...] = (
    SyntaxCase("E0100", "unexpected end of file", (), (
        H + "space s version 1 {\n  x: bool\n",
        H + "space s version 1 { node n { op = conv3x3 }",
        H + "genotype g of s version 1 { x = [1, 2",
    )),
    SyntaxCase("E0101", "a decision needs ':' before its domain, e.g. `C: int(1..3)`", (), (
        H + "space s version 1 { x int(1..3) }",
        H + "space s version 1 { node n { op Op } }",
    )),
    SyntaxCase("E0102", "a domain is introduced with ':'; '=' gives a fixed value or a default",
               ("write `x: int(1..3)` for a searched decision, `x = 3` for a fixed one",), (
        H + "space s version 1 { x = int(1..3) }",
        H + "space s version 1 { g { x = choice(a, b) } }",
    )),
    SyntaxCase("E0103", "genotype values are assigned with '=', not ':'", (), (
        H + "genotype g of s version 1 { x: 3 }",
        H + "genotype g of s version 1 { a.b[0].c: relu }",
    )),
    SyntaxCase("E0104", "missing ',' between list or record items", (), (
        H + "genotype g of s version 1 { x = [1 2] }",
        H + "genotype g of s version 1 { x = {a: 1 b: 2} }",
        H + "genotype g of s version 1 { x = [{a: 1} {a: 2}] }",
        H + "space s version 1 { enum E { a b } }",
    )),
    SyntaxCase("E0105", "the file must start with a version header such as `genolang 1`", (), (
        "space s version 1 { }",
        "genotype g of s version 1 { }",
        "# a comment\nspace s version 1 { }",
    )),
    SyntaxCase("E0106", "unexpected character", ("strings use double quotes: \"text\"",), (
        H + "genotype g of s version 1 { x = 'relu' }",
    )),
    SyntaxCase("E0108", "ranges are written with two dots: `lo..hi`", (), (
        H + "space s version 1 { x: int(1...4) }",
        H + "space s version 1 { x: float(0.1.. .5) }",
    )),
    SyntaxCase("E0109", "unterminated string (strings cannot span lines)", (), (
        H + 'genotype g of s version 1 { meta { note: "abc } }\n',
    )),
    SyntaxCase("E0110", "unknown escape in string", ('allowed escapes: \\" \\\\ \\n \\t',), (
        H + 'genotype g of s version 1 { meta { note: "a\\qb" } }',
    )),
    SyntaxCase("E0111", "a space needs `version N` after its name, e.g. `space mfas version 1 { ... }`", (), (
        H + "space s { }",
        H + "genotype g of s { }",
    )),
)

_WORDS = {"NAME": "a name", "INT": "an integer", "FLOAT": "a number", "STRING": "a string",
          "QUANTITY": "a quantity such as 5M", "CMP": "a comparison", "$END": "end of file",
          "STAR": "'*'"}


@functools.lru_cache(maxsize=1)
def _terminal_words() -> dict[str, str]:
    words = dict(_WORDS)
    for term in tree_parser().terminals:
        if term.pattern.type == "str" and term.name not in words:
            words[term.name] = f"'{term.pattern.value}'"
    return words


_Key = tuple[Hashable, str]  # the parser state (opaque to lark's users) and the token type


def _key(exc: UnexpectedInput) -> _Key | None:
    if isinstance(exc, UnexpectedToken) and exc.state is not None:
        return exc.state.position, exc.token.type
    return None


@functools.lru_cache(maxsize=1)
def _index() -> dict[_Key, SyntaxCase]:
    index: dict[_Key, SyntaxCase] = {}
    for case in SYNTAX_CASES:
        for example in case.examples:
            try:
                tree_parser().parse(example)
            except UnexpectedInput as exc:
                key = _key(exc)
                if key is not None:
                    index.setdefault(key, case)
    return index


def _case(code: str) -> SyntaxCase:
    return next(c for c in SYNTAX_CASES if c.code == code)


def _unclosed(text: str, upto: int) -> tuple[str, int] | None:
    """The innermost bracket still open at ``upto`` (strings and comments skipped)."""

    stack: list[tuple[str, int]] = []
    for match in BRACKETS.finditer(text, 0, upto):
        token = match.group()
        if token in "([{":
            stack.append((token, match.start()))
        elif token in ")]}" and stack:
            stack.pop()
    return stack[-1] if stack else None


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _from_chars(exc: UnexpectedCharacters, source: Source) -> Diagnostic:
    pos = exc.pos_in_stream or 0  # lark declares it None on the base class; set here
    char = source.text[pos]
    span = Span(exc.line, exc.column, exc.line, exc.column + 1)
    if char == '"':
        rest = source.text[pos:].split("\n", 1)[0]
        bad = next((rest[i:i + 2] for i in range(1, len(rest) - 1)
                    if rest[i] == "\\" and rest[i + 1] not in '"\\nt'), None)
        case = _case("E0110" if bad else "E0109")
        message = f"unknown escape '{bad}' in string" if bad else case.message
        return Diagnostic(case.code, message, span, source, help=case.help)
    case = _case("E0106")
    help_ = case.help if char in "'`" else ()
    return Diagnostic(case.code, f"unexpected character {char!r}", span, source, help=help_)


def _expected(exc: UnexpectedToken) -> tuple[str, ...]:
    accepts = getattr(exc, "accepts", None) or exc.expected
    words = sorted({_terminal_words().get(t, t) for t in accepts})
    if not words:
        return ()
    listed = ", ".join(words[:-1]) + (" or " if len(words) > 1 else "") + words[-1]
    return (f"expected {listed}",)


def _from_token(exc: UnexpectedToken, source: Source) -> Diagnostic:
    tok = exc.token
    if tok.type == "$END":
        end = len(source.text)
        line, col = _position(source.text, end)
        open_ = _unclosed(source.text, end)
        notes: tuple[str, ...] = ()
        if open_:
            oline, ocol = _position(source.text, open_[1])
            notes = (f"the '{open_[0]}' opened at {source.name}:{oline}:{ocol} is never closed",)
        return Diagnostic("E0100", "unexpected end of file", Span(line, col, line, col + 1), source,
                          help=_expected(exc), notes=notes)
    span = Span(tok.line, tok.column, tok.end_line or tok.line, tok.end_column or tok.column + 1)
    key = _key(exc)
    case = _index().get(key) if key is not None else None
    if case is not None and case.code != "E0100":
        return Diagnostic(case.code, case.message, span, source, help=case.help or _expected(exc))
    return Diagnostic("E0199", f"unexpected {str(tok)!r}", span, source, help=_expected(exc))


def explain(exc: UnexpectedInput, source: Source) -> GenolangSyntaxError:
    """Turn a lark error into a positioned, worded :class:`GenolangSyntaxError`."""
    if isinstance(exc, UnexpectedCharacters):
        return GenolangSyntaxError(_from_chars(exc, source))
    if isinstance(exc, UnexpectedToken):
        return GenolangSyntaxError(_from_token(exc, source))
    if isinstance(exc, UnexpectedEOF):
        line, col = _position(source.text, len(source.text))
        return GenolangSyntaxError(Diagnostic("E0100", "unexpected end of file",
                                              Span(line, col, line, col + 1), source))
    return GenolangSyntaxError(Diagnostic("E0199", str(exc).splitlines()[0], None, source))
