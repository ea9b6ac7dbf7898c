"""Decision domains: what values a decision ranges over, counted, sampled and checked.

Values are plain JSON data: ``int``, ``float``, ``bool``, ``str`` (a symbol), references as
``"@absolute.path"`` strings, lists of references, and ``{"op": ..., "ref": ...}`` records
for labelled references (an edge carrying an op, as in DARTS and NASNet cells).

Reference decisions (``one``, ordered ``pick``, unordered ``choose`` and ``subset``) range over
candidates, earlier entities of the space (a DAG by construction). ``active`` arguments are the
candidate paths active under the values decided so far, in declaration order. Unordered
values are canonically sorted by that order; ordered ``pick`` values are kept.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

from genolang.conditions import Condition
from genolang.errors import did_you_mean


class Mismatch(Exception):
    """A value outside its domain; the caller attaches the source position."""

    def __init__(self, code: str, message: str, help: tuple[str, ...] = ()):
        super().__init__(message)
        self.code, self.message, self.help = code, message, help


def _grid_help(values: Sequence[int]) -> tuple[str, ...]:
    shown = ", ".join(map(str, values[:8])) + (", ..." if len(values) > 8 else "")
    return (f"allowed values: [{shown}]",)


@dataclass(frozen=True, slots=True)
class IntDomain:
    lo: int
    hi: int
    step: int = 1
    log: bool = False
    kind: Literal["int"] = "int"

    def values(self) -> list[int] | range:
        """The allowed values in order: a lazy range (domains can be huge) unless log-stepped."""
        if self.log and self.step > 1:
            out: list[int] = []
            v = self.lo
            while v <= self.hi:
                out.append(v)
                v *= self.step
            return out
        return range(self.lo, self.hi + 1, self.step)

    def size(self, active: tuple[str, ...] = ()) -> int:
        if self.log and self.step > 1:
            return len(self.values())
        return (self.hi - self.lo) // self.step + 1

    def sample(self, rng: random.Random, active: tuple[str, ...] = ()) -> int:
        if self.log and self.step == 1:
            return min(self.hi, int(math.exp(rng.uniform(math.log(self.lo), math.log(self.hi + 1)))))
        if self.log:
            return rng.choice(self.values())
        return self.lo + self.step * rng.randrange(self.size())

    def convert(self, value: Any, active: tuple[str, ...] = ()) -> int:
        if type(value) is not int:
            raise Mismatch("E0341", f"needs an integer, got {_describe(value)}")
        if not self.lo <= value <= self.hi:
            raise Mismatch("E0342", f"{value} is outside {self.lo}..{self.hi}")
        if self.step > 1 and value not in self.values():
            raise Mismatch("E0343", f"{value} is not on the grid", _grid_help(self.values()))
        return value

    def first(self, active: tuple[str, ...] = ()) -> int:
        return self.lo

    def text(self) -> str:
        opts = "".join([", log" if self.log else "", f", step={self.step}" if self.step != 1 else ""])
        return f"int({self.lo}..{self.hi}{opts})"

    def to_json(self) -> dict[str, Any]:
        return {"kind": "int", "lo": self.lo, "hi": self.hi, "step": self.step, "log": self.log}

    def schema(self, active: tuple[str, ...] = ()) -> dict[str, Any]:
        if self.step > 1 and self.size() <= 10_000:
            return {"enum": list(self.values())}
        return {"type": "integer", "minimum": self.lo, "maximum": self.hi}


@dataclass(frozen=True, slots=True)
class FloatDomain:
    lo: float
    hi: float
    log: bool = False
    kind: Literal["float"] = "float"

    def values(self) -> list[float]:
        raise Mismatch("E0229", "a float domain is continuous and cannot be enumerated")

    def size(self, active: tuple[str, ...] = ()) -> int:
        raise Mismatch("E0229", "a float domain is continuous: the space has infinitely many genotypes")

    def sample(self, rng: random.Random, active: tuple[str, ...] = ()) -> float:
        if self.log:
            return math.exp(rng.uniform(math.log(self.lo), math.log(self.hi)))
        return rng.uniform(self.lo, self.hi)

    def convert(self, value: Any, active: tuple[str, ...] = ()) -> float:
        if type(value) not in (int, float):
            raise Mismatch("E0341", f"needs a number, got {_describe(value)}")
        if not self.lo <= value <= self.hi:
            raise Mismatch("E0342", f"{value} is outside {self.lo}..{self.hi}")
        return float(value)

    def first(self, active: tuple[str, ...] = ()) -> float:
        return self.lo

    def text(self) -> str:
        return f"float({self.lo!r}..{self.hi!r}{', log' if self.log else ''})"

    def to_json(self) -> dict[str, Any]:
        return {"kind": "float", "lo": self.lo, "hi": self.hi, "log": self.log}

    def schema(self, active: tuple[str, ...] = ()) -> dict[str, Any]:
        return {"type": "number", "minimum": self.lo, "maximum": self.hi}


@dataclass(frozen=True, slots=True)
class ChoiceDomain:
    options: tuple[Any, ...]  # symbols (str), ints, floats or bools
    enum: str | None = None
    kind: Literal["choice"] = "choice"

    def values(self) -> list[Any]:
        return list(self.options)

    def size(self, active: tuple[str, ...] = ()) -> int:
        return len(self.options)

    def sample(self, rng: random.Random, active: tuple[str, ...] = ()) -> Any:
        return rng.choice(self.options)

    def convert(self, value: Any, active: tuple[str, ...] = ()) -> Any:
        for option in self.options:
            if type(option) is type(value) and option == value:
                return option
        owner = f"enum {self.enum}" if self.enum else "the choice"
        from genolang.errors import did_you_mean

        names = [str(o) for o in self.options]
        return _raise(Mismatch("E0340", f"{_show(value)} is not a member of {owner}",
                               did_you_mean(str(value), names) or (f"allowed: {', '.join(names)}",)))

    def first(self, active: tuple[str, ...] = ()) -> Any:
        return self.options[0]

    def text(self) -> str:
        return self.enum or f"choice({', '.join(_show(o) for o in self.options)})"

    def to_json(self) -> dict[str, Any]:
        return {"kind": "choice", "options": list(self.options)}

    def schema(self, active: tuple[str, ...] = ()) -> dict[str, Any]:
        return {"enum": list(self.options)}


@dataclass(frozen=True, slots=True)
class BoolDomain:
    p: float = 0.5
    kind: Literal["bool"] = "bool"

    def values(self) -> list[bool]:
        return [False, True]

    def size(self, active: tuple[str, ...] = ()) -> int:
        return 2

    def sample(self, rng: random.Random, active: tuple[str, ...] = ()) -> bool:
        return rng.random() < self.p

    def convert(self, value: Any, active: tuple[str, ...] = ()) -> bool:
        if type(value) is not bool:
            raise Mismatch("E0341", f"needs true or false, got {_describe(value)}")
        return value

    def first(self, active: tuple[str, ...] = ()) -> bool:
        return False

    def text(self) -> str:
        return "bool" if self.p == 0.5 else f"bernoulli({self.p!r})"

    def to_json(self) -> dict[str, Any]:
        return {"kind": "bool", "p": self.p}

    def schema(self, active: tuple[str, ...] = ()) -> dict[str, Any]:
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


def _raise(exc: Exception) -> NoReturn:
    raise exc

MODES = ("one", "pick", "choose", "subset")


@dataclass(frozen=True, slots=True)
class RefDomain:
    mode: str
    candidates: tuple[Candidate, ...]
    k: int = 1
    p: float = 0.5
    min: int = 0
    labels: tuple[str, ...] | None = None
    label_enum: str | None = None
    kind: Literal["ref"] = "ref"
    #: all candidate paths when none is conditional (the common case), else None
    unconditional: tuple[str, ...] | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not any(c.conds for c in self.candidates):
            object.__setattr__(self, "unconditional", tuple(c.path for c in self.candidates))

    @property
    def ordered(self) -> bool:
        return self.mode in ("one", "pick")

    def values(self) -> list[Any]:
        raise Mismatch("E0229", "reference decisions are not enumerated")

    def _labelled(self) -> int:
        return len(self.labels) if self.labels else 1

    def size(self, active: tuple[str, ...]) -> int:
        n, lab = len(active), self._labelled()
        if self.mode == "one":
            return n * lab
        if self.mode == "pick":
            return math.perm(n, self.k) * lab ** self.k if n >= self.k else 0
        if self.mode == "choose":
            return math.comb(n, self.k) * lab ** self.k if n >= self.k else 0
        return sum(math.comb(n, j) * lab ** j for j in range(self.min, n + 1))

    def _label(self, ref: str, rng: random.Random | None) -> Any:
        if not self.labels:
            return ref
        return {"op": rng.choice(self.labels) if rng else self.labels[0], "ref": ref}

    def sample(self, rng: random.Random, active: tuple[str, ...]) -> Any:
        refs = ["@" + p for p in active]
        if self.mode == "one":
            return self._label(rng.choice(refs), rng)
        if self.mode == "pick":
            return [self._label(r, rng) for r in rng.sample(refs, self.k)]
        if self.mode == "choose":
            chosen = sorted(rng.sample(range(len(refs)), self.k))
            return [self._label(refs[i], rng) for i in chosen]
        if len(refs) < self.min:
            raise Mismatch("E0235", f"subset(min={self.min}) has only {len(refs)} active candidate(s)")
        while True:
            kept = [r for r in refs if rng.random() < self.p]
            if len(kept) >= self.min:
                return [self._label(r, rng) for r in kept]

    def first(self, active: tuple[str, ...]) -> Any:
        refs = ["@" + p for p in active]
        if self.mode == "one":
            return self._label(refs[0], None)
        take = self.k if self.mode in ("pick", "choose") else self.min
        return [self._label(r, None) for r in refs[:take]]

    def convert(self, value: Any, active: tuple[str, ...]) -> Any:
        if self.mode == "one":
            if isinstance(value, list):
                raise Mismatch("E0360", "expects a single reference, not a list")
            return self._one(value, active, active)
        if not isinstance(value, list):
            raise Mismatch("E0360", "expects a list of references")
        members = frozenset(active) if len(active) > 8 else active  # many candidates: no quadratic scan
        items = [self._one(v, active, members) for v in value]
        refs = [i["ref"] if isinstance(i, dict) else i for i in items]
        if len(set(refs)) != len(refs):
            raise Mismatch("E0366", "duplicate reference")
        if self.mode in ("pick", "choose") and len(items) != self.k:
            raise Mismatch("E0365", f"needs exactly {self.k} reference(s), got {len(items)}")
        if self.mode == "subset" and len(items) < self.min:
            raise Mismatch("E0365", f"needs at least {self.min} reference(s), got {len(items)}")
        if not self.ordered:
            order = {"@" + p: i for i, p in enumerate(active)}
            items.sort(key=lambda i: order[i["ref"] if isinstance(i, dict) else i])
        return items

    def _one(self, value: Any, active: tuple[str, ...], members: Collection[str]) -> Any:
        label = None
        if isinstance(value, dict):
            label, value = value.get("op"), value.get("ref")
        if not isinstance(value, str) or not value.startswith("@"):
            raise Mismatch("E0361", "expects references written as @path")
        if value[1:] not in members:
            known = {c.path for c in self.candidates}
            allowed = ", ".join("@" + p for p in active[:8]) or "(none)"
            allowed += f", ... ({len(active)} in all)" if len(active) > 8 else ""
            if value[1:] in known:
                raise Mismatch("E0364", f"'{value}' refers to an inactive instance",
                               (f"active candidates: {allowed}",))
            raise Mismatch("E0363", f"'{value}' is not an allowed input",
                           (f"allowed: {allowed}", "references may only point to earlier entities "
                            "(the graph is a DAG)"))
        if self.labels is None:
            if label is not None:
                raise Mismatch("E0367", "this decision takes plain references, not op(@ref)")
            return value
        if label is None:
            raise Mismatch("E0367", f"each reference needs an op, e.g. {self.labels[0]}({value})")
        if label not in self.labels:
            raise Mismatch("E0340", f"'{label}' is not a member of {self.label_enum or 'the op set'}",
                           did_you_mean(label, self.labels) or (f"allowed: {', '.join(self.labels)}",))
        return {"op": label, "ref": value}

    def text(self) -> str:
        args = [str(self.k)] if self.mode in ("pick", "choose") else []
        args += ["@" + c.path for c in self.candidates[:6]]
        if len(self.candidates) > 6:
            args.append(f"... ({len(self.candidates)})")
        if self.mode == "subset":
            args += [f"p={self.p!r}"] + ([f"min={self.min}"] if self.min else [])
        if self.labels:
            args.append(f"op={self.label_enum or '(' + ', '.join(self.labels) + ')'}")
        return f"{self.mode}({', '.join(args)})"

    def to_json(self) -> dict[str, Any]:
        return {"kind": "ref", "mode": self.mode, "k": self.k, "p": self.p, "min": self.min,
                "labels": list(self.labels) if self.labels else None,
                "candidates": [[c.path, [x.to_json() for x in c.conds]] for c in self.candidates]}

    def schema(self, active: tuple[str, ...]) -> dict[str, Any]:
        refs: dict[str, Any] = {"enum": ["@" + c.path for c in self.candidates]}
        item = refs if not self.labels else {
            "type": "object", "additionalProperties": False, "required": ["op", "ref"],
            "properties": {"op": {"enum": list(self.labels)}, "ref": refs}}
        if self.mode == "one":
            return item
        out: dict[str, Any] = {"type": "array", "items": item, "uniqueItems": True}
        if self.mode in ("pick", "choose"):
            out.update(minItems=self.k, maxItems=self.k)
        else:
            out.update(minItems=self.min, maxItems=len(self.candidates))
        return out


Domain = IntDomain | FloatDomain | ChoiceDomain | BoolDomain | RefDomain
