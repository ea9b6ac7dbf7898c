"""Activity conditions over decision values, with absolute paths.

A decision or candidate is active when every condition in its tuple holds. Conditions
come from repeat counts (``instance i of g[C]`` needs ``C > i``) and ``when`` blocks; the
same predicate form serves ``forbid``.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_MISSING = object()
_CMP = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
        ">": operator.gt, ">=": operator.ge}


@dataclass(frozen=True, slots=True)
class CountCond:
    """Instance ``index`` of a repeat whose count is the decision ``path``."""

    path: str
    index: int

    def holds(self, values: Mapping[str, Any]) -> bool:
        count = values.get(self.path, _MISSING)
        return count is not _MISSING and count > self.index

    def paths(self) -> tuple[str, ...]:
        return (self.path,)

    def to_json(self) -> list[Any]:
        return ["count", self.path, self.index]

    def text(self) -> str:
        return f"{self.path} > {self.index}"


@dataclass(frozen=True, slots=True)
class Compare:
    path: str
    op: str
    value: Any

    def holds(self, values: Mapping[str, Any]) -> bool:
        got = values.get(self.path, _MISSING)
        if got is _MISSING:
            return False
        try:
            return bool(_CMP[self.op](got, self.value))
        except TypeError:
            return False

    def paths(self) -> tuple[str, ...]:
        return (self.path,)

    def to_json(self) -> list[Any]:
        return ["cmp", self.path, self.op, self.value]

    def text(self) -> str:
        return f"{self.path} {self.op} {self.value}"


@dataclass(frozen=True, slots=True)
class Member:
    path: str
    options: tuple[Any, ...]

    def holds(self, values: Mapping[str, Any]) -> bool:
        return values.get(self.path, _MISSING) in self.options

    def paths(self) -> tuple[str, ...]:
        return (self.path,)

    def to_json(self) -> list[Any]:
        return ["in", self.path, list(self.options)]

    def text(self) -> str:
        return f"{self.path} in {{{', '.join(map(str, self.options))}}}"


@dataclass(frozen=True, slots=True)
class Logic:
    op: str  # "and" | "or" | "not"
    operands: tuple[Condition, ...]

    def holds(self, values: Mapping[str, Any]) -> bool:
        if self.op == "not":
            return not self.operands[0].holds(values)
        results = (c.holds(values) for c in self.operands)
        return all(results) if self.op == "and" else any(results)

    def paths(self) -> tuple[str, ...]:
        return tuple(p for c in self.operands for p in c.paths())

    def to_json(self) -> list[Any]:
        return [self.op, *(c.to_json() for c in self.operands)]

    def text(self) -> str:
        if self.op == "not":
            return f"not ({self.operands[0].text()})"
        return f" {self.op} ".join(f"({c.text()})" for c in self.operands)


Condition = CountCond | Compare | Member | Logic


def all_hold(conds: tuple[Condition, ...], values: Mapping[str, Any]) -> bool:
    return all(c.holds(values) for c in conds)
