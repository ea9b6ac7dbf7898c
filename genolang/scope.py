"""Lexical scopes and reference-set resolution (``a.b[*]``, ``g.before``, ``x.tap[2]``).

Names resolve innermost-out. In each enclosing scope, the name of the repeated block that
scope is an instance of refers to that very instance (so ``cell.in`` inside ``cell[1]``
means ``cell[1].in`` and ``node.before`` means the earlier ``node`` instances). Only names
declared before the reference are visible, which makes every graph a DAG by construction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from genolang.ast import Span
from genolang.conditions import Condition
from genolang.domains import Candidate


@dataclass
class Binding:
    kind: str  # decision, field, block, repeat, stack, backbone, input, cell, head, enum, let
    path: str
    span: Any
    conds: tuple[Condition, ...] = ()
    scope: Scope | None = None           # block: its scope
    items: list[Binding] | None = None   # repeat instances, stack items, taps, slots
    value: Any = None                    # let value, enum ChoiceDomain, decision IR


@dataclass
class Scope:
    prefix: str
    parent: Scope | None
    kind: str = "space"
    block_name: str | None = None
    index: int | None = None
    siblings: list[Binding] | None = None  # instances of the repeat this scope belongs to
    conds: tuple[Condition, ...] = ()
    names: dict[str, Binding] = field(default_factory=dict)

    def path(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def chain(self) -> Iterator[Scope]:
        scope: Scope | None = self
        while scope is not None:
            yield scope
            scope = scope.parent

    def lookup(self, name: str, kinds: tuple[str, ...] | None = None) -> Binding | None:
        for scope in self.chain():
            found = scope.names.get(name)
            if found is not None and (kinds is None or found.kind in kinds):
                return found
        return None

    def visible(self) -> set[str]:
        names: set[str] = set()
        for scope in self.chain():
            names |= set(scope.names)
            if scope.block_name:
                names.add(scope.block_name)
        return names


class RefError(Exception):
    def __init__(self, code: str, message: str, help: tuple[str, ...] = ()):
        super().__init__(message)
        self.code, self.message, self.help = code, message, help
        self.span: Span | None = None  # where, when the caller knows it


def _instance_binding(scope: Scope) -> Binding:
    return Binding("block", scope.prefix, None, scope.conds, scope=scope)


def find_head(name: str, scope: Scope) -> Binding:
    """The binding a reference's first name denotes, innermost-out."""
    from genolang.errors import did_you_mean

    enclosing = None
    for s in scope.chain():
        if s.block_name == name and s.index is not None:
            return _instance_binding(s)
        if name in s.names:
            return s.names[name]
        if s.block_name == name and enclosing is None:
            enclosing = s
    if enclosing is not None:
        raise RefError("E0253", f"'{enclosing.prefix}' contains this declaration: referring to it "
                                "would make a cycle")
    raise RefError("E0251", f"unknown name '{name}'",
                   did_you_mean(name, scope.visible()) + ("references may only name things declared earlier",))


def _step(things: list[Binding] | Binding, part: str | int, origin: Scope) -> list[Binding] | Binding:
    if isinstance(things, list):
        raise RefError("E0251", f"cannot apply '{part}' to a set of references")
    b = things
    if part == "before":
        inst = next((s for s in origin.chain() if s.prefix == b.path and s.index is not None), None)
        if inst is None or inst.siblings is None:
            raise RefError("E0250", f"'{b.path}.before' used outside of a repeated '{b.path}[...]' block")
        return inst.siblings[: inst.index]
    if part == "*":
        if b.items is None:
            raise RefError("E0251", f"'{b.path}' has no instances to expand with [*]")
        return list(b.items)
    if isinstance(part, int):
        if b.items is None:
            raise RefError("E0251", f"'{b.path}' cannot be indexed")
        if not 0 <= part < len(b.items):
            raise RefError("E0320", f"'{b.path}[{part}]' does not exist: index out of range",
                           (f"'{b.path}' has {len(b.items)} instance(s)",))
        return b.items[part]
    if part == "tap" and b.kind == "backbone":
        return Binding("taps", b.path + ".tap", b.span, b.conds, items=b.items)
    if b.scope is not None and part in b.scope.names:
        return b.scope.names[part]
    from genolang.errors import did_you_mean

    names = list(b.scope.names) if b.scope else []
    raise RefError("E0251", f"'{b.path}' has no member '{part}'", did_you_mean(str(part), names))


REFERABLE = ("block", "repeat", "stack", "backbone", "input", "head", "slot", "item", "tap", "field", "decision")


def resolve_refset(parts: tuple[str | int, ...], scope: Scope) -> list[Candidate]:
    """Expand a reference set to candidates (absolute path + activity)."""
    target: list[Binding] | Binding = find_head(str(parts[0]), scope)
    for part in parts[1:]:
        target = _step(target, part, scope)
    things = target if isinstance(target, list) else _as_slots(target)
    out = []
    for b in things:
        if b.kind not in REFERABLE or (b.kind == "decision" and b.items is None):
            raise RefError("E0252", f"'{b.path}' is a {b.kind}, not something a reference can point to")
        if b.path == scope.prefix or scope.prefix.startswith((b.path + ".", b.path + "[")):
            raise RefError("E0253", f"'{b.path}' contains this declaration: referring to it would make a cycle")
        out.append(Candidate(b.path, b.conds))
    return out


def _as_slots(b: Binding) -> list[Binding]:
    """A ref-holding field or decision stands for its slots; anything else for itself."""
    if b.kind in ("field", "decision") and b.items is not None:
        return list(b.items)
    if b.kind == "taps":
        return list(b.items or [])
    return [b]


def split_path(text: str) -> tuple[str | int, ...]:
    """``"a.b[2].c"`` -> ``("a", "b", 2, "c")``."""
    parts: list[str | int] = []
    for seg in text.split("."):
        name, _, rest = seg.partition("[")
        parts.append(name)
        if rest:
            parts.append(int(rest.rstrip("]")))
    return tuple(parts)
