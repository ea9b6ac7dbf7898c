"""Where a lowering is: the graph being built, the entity whose nodes are added, and its errors.

Every node added is attributed to the entity being lowered (its block, path and source line:
per-block counts, ``draw``, located errors). A building block's error (a shape that does not
fit, an op refusing a parameter) carries no place; :meth:`Place.guard` re-raises it at the
entity, with the decisions that shaped it as notes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from genolang.compiler.builder import GraphBuilder
from genolang.compiler.errors import CompileError, ShapeError
from genolang.compiler.frame import Frame
from genolang.compiler.relaxed import Relaxed
from genolang.errors import Diagnostic
from genolang.ir import Computed, Decided, Entity, SpaceIR

T = TypeVar("T")


class Place:
    """The graph under construction over a space's value map (decision path -> value)."""

    def __init__(self, ir: SpaceIR, values: Mapping[str, Any]):
        self.ir, self.values = ir, values
        self.b = GraphBuilder()
        self.entity: Entity | None = None

    def at(self, e: Entity, frame: Frame) -> None:
        """Attribute the nodes added next to ``e`` (its block, path and line)."""
        self.entity = e
        self.b.path = frame.actual(e.path)
        self.b.block = self.b.path.split(".")[0].split("[")[0]
        self.b.line = e.span.line if e.span else None

    def fail(self, message: str, e: Entity | None = None, *, notes: tuple[str, ...] = ()) -> CompileError:
        """A compile error at ``e`` (by default the entity being lowered)."""
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
        """The decisions (given a value) that ``e``'s fields read, in field order."""
        if e is None:
            return []
        paths = [p for v in e.fields.values()
                 for p in ([v.path] if isinstance(v, Decided) else v.paths() if isinstance(v, Computed) else [])]
        return [p for p in dict.fromkeys(paths) if p in self.values and not isinstance(self.values[p], Relaxed)]
