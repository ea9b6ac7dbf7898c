"""Decisions left open in a lowering: the supernet's value map and the seam to its mixed rules.

The lowering (:mod:`lower`) reads every decision from a plain value map, decision path ->
value. A genotype's values are all decided. A supernet's map (:func:`relaxed_values`) holds
its fixed values and, for every other active decision, a :class:`Relaxed` marker; the lowering
hands a field holding a marker to a :class:`Mixing` (the supernet's, :mod:`supernet_lower`),
which builds the mixed nodes, and refuses a marker where no mixed node can stand (a condition,
a computed field, a width...).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from genolang.compiler.builder import Value
from genolang.compiler.frame import Frame
from genolang.domains import ChoiceDomain, Domain, RefDomain
from genolang.ir import Entity
from genolang.space import Space
from genolang.walk import is_active

RelaxedDomain = ChoiceDomain | RefDomain  # what a supernet relaxes: op/act choices, references
#: the fields a relaxed choice may stand in (a mixed op, a mixed activation)
MIXED_FIELDS = ("op", "act")


@dataclass(frozen=True)
class Relaxed:
    """A decision left open: the value map's entry for a decision the supernet mixes."""

    path: str
    domain: Domain

    def relaxable_in(self, field: str) -> bool:
        """Whether a mixed node can stand for this decision in ``field``: references anywhere,
        choices of an op or an activation."""
        return isinstance(self.domain, RefDomain) or (isinstance(self.domain, ChoiceDomain)
                                                      and field in MIXED_FIELDS)

    @property
    def ref(self) -> RefDomain:
        """The domain of a relaxed reference decision."""
        assert isinstance(self.domain, RefDomain), f"`{self.path}` is a relaxed reference decision"
        return self.domain

    @property
    def choice(self) -> ChoiceDomain:
        """The domain of a relaxed op or activation choice."""
        assert isinstance(self.domain, ChoiceDomain), f"`{self.path}` is a relaxed choice"
        return self.domain

    @property
    def slotted(self) -> bool:
        """A relaxed ``pick``/``choose``: each of its slots ``in[0..k-1]`` holds the mixed value."""
        return isinstance(self.domain, RefDomain) and self.domain.mode in ("pick", "choose")


class Mixing(Protocol):
    """What a lowering asks of the rules that mix a relaxed decision's options."""

    def refs(self, r: Relaxed, e: Entity, frame: Frame, name: str) -> list[Value]:
        """The value(s) a relaxed plain reference field names."""
        ...

    def node(self, e: Entity, f: dict[str, Any], frame: Frame) -> Value:
        """A node some of whose fields ``f`` are relaxed."""
        ...


def relaxed_values(space: Space, fixed: Mapping[str, Any]) -> dict[str, Any]:
    """The supernet's value map: ``fixed``, and a :class:`Relaxed` for each other decision that is
    active under it (or whose activity reads an open decision: the lowering decides)."""
    values = dict(fixed)
    for d in space.ir.decisions:
        if d.path not in values and (open_paths((p for c in d.conds for p in c.paths()), values)
                                     or is_active(d, values)):
            values[d.path] = Relaxed(d.path, d.domain)
    return values


def open_paths(paths: Iterable[str], values: Mapping[str, Any]) -> list[str]:
    """The ``paths`` that ``values`` leaves open (relaxed)."""
    return [p for p in paths if isinstance(values.get(p), Relaxed)]


def decided(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` without the open decisions (what conditions may read)."""
    return {p: v for p, v in values.items() if not isinstance(v, Relaxed)}
