"""Lowering of nodes, references and container outputs (the rules are in :mod:`lower`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from genolang.compiler.builder import GraphBuilder, Value
from genolang.compiler.errors import CompileError, ShapeError
from genolang.conditions import all_hold
from genolang.domains import Domain
from genolang.errors import Diagnostic
from genolang.genotype import Genotype
from genolang.ir import Computed, Decided, Entity
from genolang.space import Space

T = TypeVar("T")
_INDEX = re.compile(r"^(.*)\[(\d+)\]$")
#: node fields that are not op parameters
NODE_KEYS = frozenset({"op", "act", "combine", "stride"})


@dataclass
class Frame:
    """A container being lowered: where its members' values live and what it feeds them."""

    path: str   # the actual path ("net[3]")
    tpath: str  # the path its members are declared under ("normal" for a copy of cell normal)
    ins: list[Value] = field(default_factory=list)
    width: int | None = None
    length: int | None = None
    stride: int = 1
    parent: Frame | None = None
    values: dict[str, Value] = field(default_factory=dict)
    members: list[Value] = field(default_factory=list)
    reads: set[str] = field(default_factory=set)

    def child(self, path: str, tpath: str, *, ins: list[Value], width: Any = None, length: Any = None,
              stride: int = 1) -> Frame:
        return Frame(path, tpath, ins, int(width) if width is not None else self.width,
                     int(length) if length is not None else self.length, stride, parent=self)

    def bind(self, tpath: str, value: Value, *, member: bool = False) -> None:
        self.values[tpath] = value
        if member:
            self.members.append(value)

    def lookup(self, tpath: str) -> Value | None:
        frame: Frame | None = self
        while frame is not None:
            if tpath in frame.values:
                return frame.values[tpath]
            frame = frame.parent
        return None

    def actual(self, tpath: str) -> str:
        """The graph name of a member declared at ``tpath`` in this frame."""
        if self.tpath and self.path != self.tpath and tpath.startswith(self.tpath):
            return self.path + tpath[len(self.tpath):]
        return self.parent.actual(tpath) if self.parent is not None else tpath


class NodeLowering:
    """State and node-level rules shared by the lowering of every entity kind."""

    def __init__(self, space: Space, genotype: Genotype):
        self.space, self.genotype, self.ir = space, genotype, space.ir
        self.values = genotype.values
        self.domains: dict[str, Domain] = {d.path: d.domain for d in self.ir.decisions}
        self.b = GraphBuilder()
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.children, self.items = _tree(self.ir.entities)
        self.entity: Entity | None = None

    # ------------------------------------------------------------------ bookkeeping

    def active(self, e: Entity) -> bool:
        return all_hold(e.conds, self.values)

    def at(self, e: Entity, frame: Frame) -> None:
        """Attribute the nodes added next to ``e`` (its block, path and line)."""
        self.entity = e
        self.b.path = frame.actual(e.path)
        self.b.block = self.b.path.split(".")[0].split("[")[0]
        self.b.line = e.span.line if e.span else None

    def fields(self, e: Entity) -> dict[str, Any]:
        """``e``'s fields with the genotype's values in place of decided ones."""
        return {k: self.field_value(v) for k, v in e.fields.items()
                if not (isinstance(v, Decided) and v.path not in self.values)}  # inactive (`when`): absent

    def field_value(self, v: Any) -> Any:
        """A field's value under the genotype: decided and computed fields evaluated."""
        if isinstance(v, Decided):
            return self.values.get(v.path)
        if isinstance(v, Computed):
            return v.evaluate(self.values)
        return v

    def fail(self, message: str, e: Entity | None = None, *, notes: tuple[str, ...] = ()) -> CompileError:
        e = e or self.entity
        span = e.span if e is not None else None
        return CompileError(Diagnostic("E0400", message, span=span, source=self.ir.source, notes=notes))

    def guard(self, fn: Callable[[], T], e: Entity | None = None) -> T:
        """``fn()``, with a building block's error re-raised at ``e``'s place."""
        try:
            return fn()
        except CompileError as err:
            if err.first.span is not None:
                raise
            notes = tuple(f"decided by `{p}` = {self.values[p]!r}" for p in self.decided_paths(e or self.entity))
            code = "E0380" if isinstance(err, ShapeError) else err.code  # the catalogue's shape mismatch
            place = e or self.entity
            raise CompileError(Diagnostic(code, err.first.message, span=place.span if place else None,
                                          source=self.ir.source, notes=notes)) from None

    def decided_paths(self, e: Entity | None) -> list[str]:
        if e is None:
            return []
        paths = [p for v in e.fields.values()
                 for p in ([v.path] if isinstance(v, Decided) else v.paths() if isinstance(v, Computed) else [])]
        return [p for p in dict.fromkeys(paths) if p in self.values]

    # ------------------------------------------------------------------ references

    def ref(self, raw: Any, e: Entity, frame: Frame, *, field: str) -> Value:
        values = self.refs(raw, e, frame, field=field)
        if len(values) != 1:
            raise self.fail(f"`{field}` of {e.path!r} must name one element, names {len(values)}", e)
        return values[0]

    def refs(self, raw: Any, e: Entity, frame: Frame, *, field: str) -> list[Value]:
        """The values a field's reference(s) name (``@prev`` resolved); plain refs only."""
        if raw is None:
            return []
        items = raw if isinstance(raw, list) else [raw]
        out = []
        for item in items:
            v = self.resolve(item["ref"] if isinstance(item, dict) else item, e, frame)
            if v is not None:
                out.append(v)
        return out

    def resolve(self, ref: str, e: Entity, frame: Frame) -> Value | None:
        if ref in ("@prev", "@prev2"):
            return self.prev(e, frame, 2 if ref == "@prev2" else 1)
        path = ref[1:]
        found = frame.lookup(path)
        if found is None:
            found = self.last_instance(path, frame)
        if found is None:
            raise self.fail(f"{e.path!r} reads {ref}, which this genotype does not build", e)
        frame.reads.add(found.name)
        return found

    def last_instance(self, path: str, frame: Frame) -> Value | None:
        """``@g`` for a repeat ``g[...]``: its last built instance."""
        i, last = 0, None
        while (v := frame.lookup(f"{path}[{i}]")) is not None:
            last, i = v, i + 1
        return last

    def prev(self, e: Entity, frame: Frame, back: int) -> Value | None:
        """The instance ``back`` before ``e`` in its repeat; before the first, the container's input."""
        m = _INDEX.match(e.path)
        if m and int(m.group(2)) >= back:
            v = frame.lookup(f"{m.group(1)}[{int(m.group(2)) - back}]")
            if v is not None:
                frame.reads.add(v.name)
                return v
        return frame.ins[-1] if frame.ins else None

    # ------------------------------------------------------------------ nodes

    def input_fields(self, e: Entity) -> list[str]:
        """The fields of a node holding references, in declaration order."""
        out = []
        for k, v in e.fields.items():
            if isinstance(v, Decided):
                if getattr(self.domains.get(v.path), "kind", "") == "ref":
                    out.append(k)
            elif _is_ref(v):
                out.append(k)
        return out

    def lower_node(self, e: Entity, frame: Frame) -> Value:
        from genolang.compiler.lower_ops import apply_node

        f = self.fields(e)
        keys = self.input_fields(e)
        params = {k: v for k, v in f.items() if k not in NODE_KEYS and k not in keys}
        edges: list[tuple[str | None, Value]] = []
        for k in keys:
            items = f[k] if isinstance(f[k], list) else [f[k]]
            for item in items:
                v = self.resolve(item["ref"] if isinstance(item, dict) else item, e, frame)
                if v is not None:
                    edges.append((item.get("op") if isinstance(item, dict) else None, v))
        if not edges:
            if not frame.ins:
                raise self.fail(f"node {frame.actual(e.path)!r} has no inputs in this genotype "
                                "(every reference it could read is unselected) and its container has no `in`",
                                e, notes=tuple(f"decided by `{p}` = []" for p in self.decided_paths(e)))
            edges = [(None, frame.ins[-1])]
        return self.guard(lambda: apply_node(self.b, f, params, edges, frame, frame.actual(e.path)), e)

    def output(self, frame: Frame, rule: str, e: Entity) -> Value:
        """A container's value by its ``out`` rule over its direct members."""
        members = frame.members
        if rule.endswith("_loose"):
            members = [v for v in members if v.name not in frame.reads]
        if not members:
            raise self.fail(f"{frame.path or e.path!r} has no members to output (`out = {rule}`)", e)
        if rule == "last":
            return members[-1]
        how = "sum" if rule.startswith("sum") else "concat"
        self.at(e, frame.parent or frame)
        return self.guard(lambda: self.b.combine(how, members, f"{frame.path}/out"), e)


def _is_ref(v: Any) -> bool:
    if isinstance(v, str):
        return v.startswith("@")
    if isinstance(v, dict):
        return set(v) == {"op", "ref"}
    return isinstance(v, list) and bool(v) and all(_is_ref(i) for i in v)


def _tree(entities: dict[str, Entity]) -> tuple[dict[str, list[Entity]], dict[str, list[Entity]]]:
    """(container path -> structural children in order, stack path -> its items)."""
    children: dict[str, list[Entity]] = {"": []}
    items: dict[str, list[Entity]] = {}
    for e in entities.values():
        if e.kind in ("group", "cell", "stack", "node", "backbone"):
            children.setdefault(e.path, [])
            items.setdefault(e.path, [])
        if e.kind == "item":
            items.setdefault(e.parent or "", []).append(e)
        elif e.kind in ("input", "backbone", "node", "group", "cell", "stack", "head"):
            parts = e.path.split(".")
            owner = next((".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)
                          if ".".join(parts[:i]) in entities), "")
            children.setdefault(owner, []).append(e)
    return children, items
