"""Hard limits that refuse hostile input before any expensive work.

Every check here is linear in the input and runs before the parser, the resolver or the
validator could spend time or memory (or recurse) on it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from genolang.ast import Expr, Member, Span
from genolang.errors import Diagnostic, LimitError, Source

if TYPE_CHECKING:
    from lark import Token, Tree

MAX_SOURCE_BYTES = 2_000_000      # a space or genotype file is a few kB; 2 MB is generous
MAX_TOKENS = 200_000              # words and punctuation of one file
MAX_SPACE_TOKENS = 25_000         # ... of a file holding spaces (the full parser: ~1 s at this size)
MAX_TOKEN_CHARS = 10_000          # one name, number or string
MAX_NESTING = 64                  # brackets open at once
MAX_DEPTH = 200                   # syntax-tree depth, e.g. a chain `1 + 1 + ...` or `not not ...`
MAX_INSTANCES = 200_000           # expanded blocks, decisions, forbids and candidates of one space
MAX_COUNT = 10_000                # one repeat count or int range feeding a count
MAX_CONSTANT = 10**18             # magnitude of a computed constant (`let X = A * B`)

BRACKETS = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[\[\]{}()]')
_TOKEN = re.compile(r"\w+|[^\w\s]")
_LONG = re.compile(r'"(?:[^"\\\n]|\\.)*"?|#[^\n]*|(?<!\w)\w{' + str(MAX_TOKEN_CHARS + 1) + ',}')
_OPEN, _CLOSE = "([{", ")]}"


def _span_at(text: str, offset: int, width: int = 1) -> Span:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return Span(line, column, line, column + max(1, width))


def check_text(source: Source) -> None:
    """Refuse oversized, long-winded or absurdly nested text in linear time."""
    size = len(source.text.encode("utf-8", "surrogatepass"))
    if size > MAX_SOURCE_BYTES:
        raise LimitError(Diagnostic(
            "E0901", f"file is too large ({size:,} bytes; the limit is {MAX_SOURCE_BYTES:,})",
            Span(1, 1, 1, 2), source, help=("split it into several files joined with `import`",)))
    if len(source.text) > MAX_TOKENS:
        _check_tokens(source)
    _check_long_tokens(source)
    _check_nesting(source)


def check_space_text(source: Source) -> None:
    """Refuse a document the full parser would take over a second to read (spaces, not genotypes)."""
    if len(source.text) <= MAX_SPACE_TOKENS:
        return
    count = len(_TOKEN.findall(source.text))
    if count > MAX_SPACE_TOKENS:
        raise LimitError(Diagnostic(
            "E0901", f"file is too large ({count:,} tokens; the limit for a file declaring spaces is "
                     f"{MAX_SPACE_TOKENS:,})", Span(1, 1, 1, 2), source,
            help=("split it into several files joined with `import`; a space of a few hundred lines "
                  "is far below the limit",)))


def _check_tokens(source: Source) -> None:
    count = len(_TOKEN.findall(source.text))
    if count > MAX_TOKENS:
        raise LimitError(Diagnostic(
            "E0901", f"file is too large ({count:,} tokens; the limit is {MAX_TOKENS:,})",
            Span(1, 1, 1, 2), source, help=("split it into several files joined with `import`",)))


def _check_long_tokens(source: Source) -> None:
    text = source.text
    if len(text) <= MAX_TOKEN_CHARS:
        return
    for match in _LONG.finditer(text):
        token = match.group()
        if len(token) > MAX_TOKEN_CHARS and token[0] != "#":
            what = "string" if token[0] == '"' else "name or number"
            raise LimitError(Diagnostic(
                "E0905", f"{what} of {len(token):,} characters (the limit is {MAX_TOKEN_CHARS:,})",
                _span_at(text, match.start()), source, label="too long"))


def _check_nesting(source: Source) -> None:
    text = source.text
    if text.count("(") + text.count("[") + text.count("{") <= MAX_NESTING:
        return  # too few brackets to nest too deep: skip the scan
    depth = 0
    for match in BRACKETS.finditer(text):
        token = match.group()
        if token in _OPEN:
            depth += 1
            if depth > MAX_NESTING:
                raise LimitError(Diagnostic(
                    "E0902", f"brackets nested more than {MAX_NESTING} deep",
                    _span_at(text, match.start()), source, label="too deep"))
        elif token in _CLOSE:
            depth = max(0, depth - 1)


def check_tree(tree: Tree[Token], source: Source) -> None:
    """Refuse a syntax tree deeper than :data:`MAX_DEPTH` (iteratively: no recursion)."""
    from lark import Tree

    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            meta = node.meta
            span = Span(meta.line, meta.column, meta.line, meta.column + 1) if not meta.empty else None
            raise LimitError(Diagnostic(
                "E0902", f"expression nested more than {MAX_DEPTH} deep", span, source,
                label="too deep", help=("split the expression with `let` constants",)))
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, Tree))


def expansion(members: Sequence[Member], count_of: Callable[[Expr], int]) -> int:
    """About how much expanding ``members`` once creates (nested repeats multiply), so that a
    repeat is refused before it is expanded; ``count_of(expr)`` evaluates a repeat count."""
    total = 0
    for m in members:
        if m.kind == "block":
            total += 1 + (1 if m.count is None else count_of(m.count)) * expansion(m.members, count_of)
        elif m.kind == "when":
            total += expansion(m.members, count_of)
        else:
            total += len(m.members) if m.kind == "enum" else 1
    return total


def too_many(what: str, count: int, limit: int, span: Span | None, source: Source | None) -> LimitError:
    return LimitError(Diagnostic(
        "E0903", f"{what} expands to {count:,} instances (the limit is {limit:,})", span, source,
        label="too large", help=("use a smaller count; genolang refuses spaces this large",)))
