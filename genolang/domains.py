"""Decision domains: what values a decision ranges over, counted, sampled and checked.

Values are plain JSON data: ``int``, ``float``, ``bool``, ``str`` (a symbol), references as
``"@absolute.path"`` strings, lists of references, and ``{"op": ..., "ref": ...}`` records
for labelled references (an edge carrying an op, as in DARTS and NASNet cells).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Union

from genolang.conditions import Condition


class Mismatch(Exception):
    """A value outside its domain; the caller attaches the source position."""

    def __init__(self, code: str, message: str, help: tuple[str, ...] = ()):
        super().__init__(message)
        self.code, self.message, self.help = code, message, help


def _grid_help(values: list) -> tuple[str, ...]:
    shown = ", ".join(map(str, values[:8])) + (", ..." if len(values) > 8 else "")
    return (f"allowed values: [{shown}]",)


@dataclass(frozen=True, slots=True)
class IntDomain:
    lo: int
    hi: int
    step: int = 1
    log: bool = False
    kind: str = "int"

    def values(self) -> list[int] | range:
        """The allowed values in order: a lazy range (domains can be huge) unless log-stepped."""
        if self.log and self.step > 1:
            out, v = [], self.lo
            while v <= self.hi:
                out.append(v)
                v *= self.step
            return out
        return range(self.lo, self.hi + 1, self.step)

    def size(self, active: tuple = ()) -> int:
        if self.log and self.step > 1:
            return len(self.values())
        return (self.hi - self.lo) // self.step + 1

    def sample(self, rng: random.Random, active: tuple = ()) -> int:
        if self.log and self.step == 1:
            return min(self.hi, int(math.exp(rng.uniform(math.log(self.lo), math.log(self.hi + 1)))))
        if self.log:
            return rng.choice(self.values())
        return self.lo + self.step * rng.randrange(self.size())

    def convert(self, value: Any, active: tuple = ()) -> int:
        if type(value) is not int:
            raise Mismatch("E0341", f"needs an integer, got {_describe(value)}")
        if not self.lo <= value <= self.hi:
            raise Mismatch("E0342", f"{value} is outside {self.lo}..{self.hi}")
        if self.step > 1 and value not in self.values():
            raise Mismatch("E0343", f"{value} is not on the grid", _grid_help(self.values()))
        return value

    def first(self, active: tuple = ()) -> int:
        return self.lo

    def text(self) -> str:
        opts = "".join([", log" if self.log else "", f", step={self.step}" if self.step != 1 else ""])
        return f"int({self.lo}..{self.hi}{opts})"

    def to_json(self) -> dict:
        return {"kind": "int", "lo": self.lo, "hi": self.hi, "step": self.step, "log": self.log}

    def schema(self, active: tuple = ()) -> dict:
        if self.step > 1 and self.size() <= 10_000:
            return {"enum": list(self.values())}
        return {"type": "integer", "minimum": self.lo, "maximum": self.hi}


@dataclass(frozen=True, slots=True)
class FloatDomain:
    lo: float
    hi: float
    log: bool = False
    kind: str = "float"

    def values(self) -> list:
        raise Mismatch("E0229", "a float domain is continuous and cannot be enumerated")

    def size(self, active: tuple = ()) -> int:
        raise Mismatch("E0229", "a float domain is continuous: the space has infinitely many genotypes")

    def sample(self, rng: random.Random, active: tuple = ()) -> float:
        if self.log:
            return math.exp(rng.uniform(math.log(self.lo), math.log(self.hi)))
        return rng.uniform(self.lo, self.hi)

    def convert(self, value: Any, active: tuple = ()) -> float:
        if type(value) not in (int, float):
            raise Mismatch("E0341", f"needs a number, got {_describe(value)}")
        if not self.lo <= value <= self.hi:
            raise Mismatch("E0342", f"{value} is outside {self.lo}..{self.hi}")
        return float(value)

    def first(self, active: tuple = ()) -> float:
        return self.lo

    def text(self) -> str:
        return f"float({self.lo!r}..{self.hi!r}{', log' if self.log else ''})"

    def to_json(self) -> dict:
        return {"kind": "float", "lo": self.lo, "hi": self.hi, "log": self.log}

    def schema(self, active: tuple = ()) -> dict:
        return {"type": "number", "minimum": self.lo, "maximum": self.hi}


@dataclass(frozen=True, slots=True)
class ChoiceDomain:
    options: tuple  # symbols (str), ints, floats or bools
    enum: str | None = None
    kind: str = "choice"

    def values(self) -> list:
        return list(self.options)

    def size(self, active: tuple = ()) -> int:
        return len(self.options)

    def sample(self, rng: random.Random, active: tuple = ()) -> Any:
        return rng.choice(self.options)

    def convert(self, value: Any, active: tuple = ()) -> Any:
        for option in self.options:
            if type(option) is type(value) and option == value:
                return option
        owner = f"enum {self.enum}" if self.enum else "the choice"
        from genolang.errors import did_you_mean

        names = [str(o) for o in self.options]
        return _raise(Mismatch("E0340", f"{_show(value)} is not a member of {owner}",
                               did_you_mean(str(value), names) or (f"allowed: {', '.join(names)}",)))

    def first(self, active: tuple = ()) -> Any:
        return self.options[0]

    def text(self) -> str:
        return self.enum or f"choice({', '.join(_show(o) for o in self.options)})"

    def to_json(self) -> dict:
        return {"kind": "choice", "options": list(self.options)}

    def schema(self, active: tuple = ()) -> dict:
        return {"enum": list(self.options)}


@dataclass(frozen=True, slots=True)
class BoolDomain:
    p: float = 0.5
    kind: str = "bool"

    def values(self) -> list:
        return [False, True]

    def size(self, active: tuple = ()) -> int:
        return 2

    def sample(self, rng: random.Random, active: tuple = ()) -> bool:
        return rng.random() < self.p

    def convert(self, value: Any, active: tuple = ()) -> bool:
        if type(value) is not bool:
            raise Mismatch("E0341", f"needs true or false, got {_describe(value)}")
        return value

    def first(self, active: tuple = ()) -> bool:
        return False

    def text(self) -> str:
        return "bool" if self.p == 0.5 else f"bernoulli({self.p!r})"

    def to_json(self) -> dict:
        return {"kind": "bool", "p": self.p}

    def schema(self, active: tuple = ()) -> dict:
        return {"type": "boolean"}


@dataclass(frozen=True, slots=True)
class Candidate:
    """A reference a ref decision may take; active under ``conds``."""

    path: str
    conds: tuple[Condition, ...] = ()

    @property
    def ref(self) -> str:
        return "@" + self.path


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {_show(value)}"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _raise(exc: Exception):
    raise exc


Domain = Union[IntDomain, FloatDomain, ChoiceDomain, BoolDomain, "RefDomain"]

from genolang.refdomain import RefDomain  # noqa: E402  (ref domains live in their own module)
