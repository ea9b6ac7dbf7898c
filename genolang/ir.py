"""The Space IR: a flat list of decisions plus the structural skeleton (entities).

Produced by :mod:`genolang.resolve`; consumed by :class:`genolang.space.Space`, the
searchers (decisions) and the compiler (entities and their fields).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from genolang.ast import Span
from genolang.canonical import canonical_json
from genolang.conditions import Condition
from genolang.domains import Domain
from genolang.errors import Source


@dataclass(frozen=True, slots=True)
class Decided:
    """A field whose value the genotype gives, at ``path``."""

    path: str

    def to_json(self) -> dict[str, Any]:
        return {"decided": self.path}


@dataclass(frozen=True, slots=True)
class Computed:
    """A field computed from decisions (``filters = w * 2``).

    ``expr`` is a prefix tree: a number, ``("@", path)`` for a decision's value,
    ``(op, left, right)`` with op in ``+ - *``, or ``("neg", operand)``.
    """

    expr: Any

    def to_json(self) -> dict[str, Any]:
        return {"computed": self.expr}

    def paths(self) -> list[str]:
        return _paths(self.expr)

    def evaluate(self, values: Mapping[str, Any]) -> int | float:
        """The value under a genotype's values (every path of the tree must be there)."""
        value: int | float = _evaluate(self.expr, values)
        return value


def _paths(e: Any) -> list[str]:
    if not isinstance(e, tuple):
        return []
    if e[0] == "@":
        return [e[1]]
    return [p for x in e[1:] for p in _paths(x)]


def _evaluate(e: Any, values: Mapping[str, Any]) -> Any:
    if not isinstance(e, tuple):
        return e
    if e[0] == "@":
        return values[e[1]]
    if e[0] == "neg":
        return -_evaluate(e[1], values)
    left, right = _evaluate(e[1], values), _evaluate(e[2], values)
    return left + right if e[0] == "+" else left - right if e[0] == "-" else left * right


@dataclass(frozen=True, slots=True)
class DecisionIR:
    path: str
    domain: Domain
    default: Any
    conds: tuple[Condition, ...]
    span: Span | None
    owner: str  # the kind of block holding it: node, group, cell, space, ...
    field: str  # its name inside that block
    has_default: bool = False

    def to_json(self) -> list[Any]:
        return [self.path, self.domain.to_json(), self.default, [c.to_json() for c in self.conds]]


@dataclass(slots=True)
class Entity:
    """One structural element: input, backbone, tap, node, group, cell, stack, item, head, slot."""

    path: str
    kind: str
    conds: tuple[Condition, ...]
    span: Span | None
    parent: str | None = None
    name: str = ""
    fields: dict[str, Any] = field(default_factory=dict)  # fixed JSON value or Decided
    count: str | None = None  # an instance of a repeat: the decision counting them (not hashed)

    def to_json(self) -> list[Any]:
        fields = {k: (v.to_json() if isinstance(v, (Decided, Computed)) else v) for k, v in self.fields.items()}
        return [self.path, self.kind, fields, [c.to_json() for c in self.conds]]


@dataclass(frozen=True, slots=True)
class ForbidIR:
    cond: Condition
    conds: tuple[Condition, ...]  # activity of the scope it was declared in
    scope: str
    span: Span | None


@dataclass(frozen=True, slots=True)
class RequireIR:
    metric: str
    op: str
    amount: float
    text: str
    span: Span | None


@dataclass
class SpaceIR:
    name: str
    version: int
    source: Source
    span: Span | None
    decisions: tuple[DecisionIR, ...]
    entities: dict[str, Entity]
    forbids: tuple[ForbidIR, ...]
    requires: tuple[RequireIR, ...]
    fingerprint: str = ""
    # caches of genolang.validate, filled on first use (not part of the IR's value)
    _index: dict[str, DecisionIR] | None = field(default=None, init=False, repr=False, compare=False)
    _patterns: dict[str, str] | None = field(default=None, init=False, repr=False, compare=False)
    _slot_targets: set[str] | None = field(default=None, init=False, repr=False, compare=False)

    def compute_fingerprint(self) -> str:
        """sha256 over the normalised IR: spans, comments and names of lets excluded."""
        doc = {
            "space": self.name, "version": self.version,
            "decisions": [d.to_json() for d in self.decisions],
            "entities": [e.to_json() for e in self.entities.values()],
            "forbids": sorted(json.dumps([f.scope, f.cond.to_json()]) for f in self.forbids),
            "requires": sorted(json.dumps([r.metric, r.op, r.amount]) for r in self.requires),
        }
        text = canonical_json(doc)
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
