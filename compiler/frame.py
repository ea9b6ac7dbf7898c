"""A container being lowered (a group, a cell's copy, the space itself): its scope of values.

Members bind their values in their container's frame; a reference looks its path up from the
innermost frame outwards. ``path`` is where the container actually is (``net[3]``), ``tpath``
where its members are declared (``normal`` for a copy of cell ``normal``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from genolang.compiler.builder import Value


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
