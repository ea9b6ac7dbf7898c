"""Hard limits that refuse hostile input before any expensive work."""

from __future__ import annotations

import re

from genolang.ast import Span
from genolang.errors import Diagnostic, LimitError, Source

MAX_SOURCE_BYTES = 2_000_000      # a space or genotype file is a few kB; 2 MB is generous
MAX_NESTING = 64                  # brackets open at once
MAX_INSTANCES = 200_000           # expanded blocks, decisions and candidates of one space
MAX_COUNT = 10_000                # one repeat count or int range feeding a count

_BRACKETS = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[\[\]{}()]')
_OPEN, _CLOSE = "([{", ")]}"


def check_text(source: Source) -> None:
    """Refuse oversized or absurdly nested text in linear time."""
    size = len(source.text.encode("utf-8", "surrogatepass"))
    if size > MAX_SOURCE_BYTES:
        raise LimitError(Diagnostic(
            "E0901", f"file is too large ({size:,} bytes; the limit is {MAX_SOURCE_BYTES:,})",
            Span(1, 1, 1, 2), source, help=("split it into several files joined with `import`",)))
    text = source.text
    if text.count("(") + text.count("[") + text.count("{") <= MAX_NESTING:
        return  # too few brackets to nest too deep: skip the scan
    depth = 0
    for match in _BRACKETS.finditer(source.text):
        token = match.group()
        if token in _OPEN:
            depth += 1
            if depth > MAX_NESTING:
                line = source.text.count("\n", 0, match.start()) + 1
                column = match.start() - (source.text.rfind("\n", 0, match.start()) + 1) + 1
                raise LimitError(Diagnostic(
                    "E0902", f"brackets nested more than {MAX_NESTING} deep",
                    Span(line, column, line, column + 1), source, label="too deep"))
        elif token in _CLOSE:
            depth = max(0, depth - 1)


def too_many(what: str, count: int, limit: int, span: Span | None, source: Source | None) -> LimitError:
    return LimitError(Diagnostic(
        "E0903", f"{what} expands to {count:,} instances (the limit is {limit:,})", span, source,
        label="too large", help=("use a smaller count; genolang refuses spaces this large",)))
