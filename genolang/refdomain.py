"""Reference decisions: ``one``, ordered ``pick``, unordered ``choose`` and ``subset``.

Candidates are earlier entities of the space (a DAG by construction). ``active`` arguments
are the candidate paths active under the values decided so far, in declaration order.
Unordered values are canonically sorted by that order; ordered ``pick`` values are kept.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from genolang.domains import Candidate, Mismatch
from genolang.errors import did_you_mean

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
    kind: str = "ref"
    #: all candidate paths when none is conditional (the common case), else None
    unconditional: tuple[str, ...] | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not any(c.conds for c in self.candidates):
            object.__setattr__(self, "unconditional", tuple(c.path for c in self.candidates))

    @property
    def ordered(self) -> bool:
        return self.mode in ("one", "pick")

    def values(self) -> list:
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
            chosen = [r for r in refs if rng.random() < self.p]
            if len(chosen) >= self.min:
                return [self._label(r, rng) for r in chosen]

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

    def _one(self, value: Any, active: tuple[str, ...], members) -> Any:
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

    def to_json(self) -> dict:
        return {"kind": "ref", "mode": self.mode, "k": self.k, "p": self.p, "min": self.min,
                "labels": list(self.labels) if self.labels else None,
                "candidates": [[c.path, [x.to_json() for x in c.conds]] for c in self.candidates]}

    def schema(self, active: tuple[str, ...]) -> dict:
        refs = {"enum": ["@" + c.path for c in self.candidates]}
        item = refs if not self.labels else {
            "type": "object", "additionalProperties": False, "required": ["op", "ref"],
            "properties": {"op": {"enum": list(self.labels)}, "ref": refs}}
        if self.mode == "one":
            return item
        out: dict = {"type": "array", "items": item, "uniqueItems": True}
        if self.mode in ("pick", "choose"):
            out.update(minItems=self.k, maxItems=self.k)
        else:
            out.update(minItems=self.min, maxItems=len(self.candidates))
        return out
