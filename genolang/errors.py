"""Diagnostics and the exception hierarchy.

Every error genolang raises derives from :class:`GenolangError`. An error holds one or
more :class:`Diagnostic` records (code, message, source span, help and notes) and renders
them rustc-style: ``file:line:col``, the source line and a caret under the culprit.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from genolang.ast import Span


@dataclass(frozen=True)
class Source:
    """A named text that diagnostics point into."""

    name: str
    text: str

    def line(self, number: int) -> str:
        lines = self.text.splitlines()
        return lines[number - 1] if 0 < number <= len(lines) else ""


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span | None = None
    source: Source | None = None
    label: str = ""
    help: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    severity: str = "error"

    @property
    def line(self) -> int:
        return self.span.line if self.span else 1

    @property
    def column(self) -> int:
        return self.span.column if self.span else 1

    @property
    def location(self) -> str:
        name = self.source.name if self.source else "<input>"
        return f"{name}:{self.line}:{self.column}"

    def render(self) -> str:
        out = [f"{self.severity}[{self.code}]: {self.message}"]
        if self.span or self.source:
            out.append(f"  --> {self.location}")
        if self.span and self.source:
            text = self.source.line(self.span.line)
            gutter = " " * len(str(self.span.line))
            end = self.span.end_column if self.span.end_line == self.span.line else len(text) + 1
            text, column, width = _window(text, self.span.column, max(1, end - self.span.column))
            caret = " " * (column - 1) + "^" * width
            out += [f" {gutter} |", f" {self.span.line} | {text}", f" {gutter} | {caret} {self.label}".rstrip()]
        out += [f"   = help: {h}" for h in self.help]
        out += [f"   = note: {n}" for n in self.notes]
        return "\n".join(out)

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "file": self.source.name if self.source else None,
            "line": self.line,
            "column": self.column,
            "help": list(self.help),
            "notes": list(self.notes),
        }


SHOWN_LINE = 160  # longer source lines are shown as a window around the caret


def _window(text: str, column: int, width: int) -> tuple[str, int, int]:
    """(shown text, caret column in it, caret width) for a source line of any length."""
    if len(text) <= SHOWN_LINE:
        return text, column, width
    start = max(0, min(column - 1 - SHOWN_LINE // 4, len(text) - SHOWN_LINE))
    shown = text[start:start + SHOWN_LINE]
    lead = "..." if start > 0 else ""
    tail = "..." if start + SHOWN_LINE < len(text) else ""
    column = column - start + len(lead)
    return lead + shown + tail, column, max(1, min(width, len(lead) + len(shown) + 1 - column))


class GenolangError(Exception):
    """Root of every genolang error; carries the diagnostics that explain it."""

    default_code = "E0000"

    def __init__(self, diagnostics: Diagnostic | Sequence[Diagnostic] | str):
        if isinstance(diagnostics, str):
            diagnostics = [Diagnostic(self.default_code, diagnostics)]
        elif isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics: tuple[Diagnostic, ...] = tuple(_dedupe(diagnostics))
        super().__init__(self.render())

    @property
    def first(self) -> Diagnostic:
        return self.diagnostics[0]

    @property
    def code(self) -> str:
        return self.first.code

    @property
    def line(self) -> int:
        return self.first.line

    @property
    def column(self) -> int:
        return self.first.column

    def render(self) -> str:
        return "\n\n".join(d.render() for d in self.diagnostics)


class GenolangSyntaxError(GenolangError):
    default_code = "E0199"


class SpaceError(GenolangError):
    default_code = "E0200"


class GenotypeError(GenolangError):
    default_code = "E0300"


class LimitError(GenolangError):
    """Hostile or oversized input refused before any expensive work."""

    default_code = "E0900"


class UsageError(GenolangError):
    """A well-formed request that cannot be served (missing file, unknown name)."""

    default_code = "E0001"


class FileWriteError(GenolangError, OSError):
    """A file that could not be written (a full disk, no permission): the previous file is kept.

    Also an :class:`OSError`, so code that survives a failed write (a cache) still catches it.
    """

    default_code = "E0720"


def _dedupe(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    seen: dict[tuple[str, str, Span | None], int] = {}
    out: list[Diagnostic] = []
    for d in diags:
        key = (d.code, d.message, d.span)
        if key not in seen:
            seen[key] = len(out)
            out.append(d)
    return sorted(out, key=lambda d: (d.source.name if d.source else "", d.line, d.column))


def did_you_mean(word: str, candidates: Iterable[str], n: int = 3) -> tuple[str, ...]:
    """``help`` lines suggesting the closest names, or nothing."""
    close = difflib.get_close_matches(word, sorted(set(candidates)), n=n, cutoff=0.6)
    if not close:
        return ()
    return ("did you mean " + " or ".join(f"'{c}'" for c in close) + "?",)


MAX_DIAGNOSTICS = 100


@dataclass
class Collector:
    """Gathers diagnostics for one pass (at most :data:`MAX_DIAGNOSTICS`); raises them together."""

    source: Source | None
    error_type: type[GenolangError] = GenolangError
    items: list[Diagnostic] = field(default_factory=list)
    dropped: int = 0

    @property
    def full(self) -> bool:
        return len(self.items) >= MAX_DIAGNOSTICS

    def add(self, code: str, message: str, span: Span | None, *, label: str = "",
            help: Sequence[str] = (), notes: Sequence[str] = ()) -> None:
        if self.full:
            self.dropped += 1
            return
        self.items.append(Diagnostic(code, message, span, self.source, label, tuple(help), tuple(notes)))

    def raise_if_any(self) -> None:
        if self.dropped:
            last = self.items[-1]
            self.items[-1] = replace(last, notes=last.notes + (f"{self.dropped} more problem(s) not shown",))
        if self.items:
            raise self.error_type(self.items)
