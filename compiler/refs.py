"""References during lowering: ``@path``, ``@prev``/``@prev2`` and a repeat's name -> graph values.

A path is looked up from the reading entity's frame outwards; ``@g`` for a repeat ``g[...]``
names its last built instance; ``@prev`` is the previous instance of the reader's repeat (for
the first: its container's last input, or nothing). Reading a value marks it read in the frame
(the ``*_loose`` output rules leave read members out).
"""

from __future__ import annotations

import re
from typing import Any

from genolang.compiler.builder import Value
from genolang.compiler.frame import Frame
from genolang.compiler.place import Place
from genolang.ir import Entity

_INDEX = re.compile(r"^(.*)\[(\d+)\]$")

#: one input of a node: (the op on its edge, or None; the value read)
Edge = tuple[str | None, Value]


def resolve(place: Place, ref: str, e: Entity, frame: Frame) -> Value | None:
    """The value ``ref`` names for ``e`` (None: ``@prev`` with nothing before)."""
    if ref in ("@prev", "@prev2"):
        return prev(e, frame, 2 if ref == "@prev2" else 1)
    path = ref[1:]
    found = frame.lookup(path)
    if found is None:
        found = last_instance(path, frame)
    if found is None:
        raise place.fail(f"{e.path!r} reads {ref}, which this genotype does not build", e)
    frame.reads.add(found.name)
    return found


def read_edges(place: Place, raw: Any, e: Entity, frame: Frame) -> list[Edge]:
    """A field's references (one, a list, op-labelled ``{"op", "ref"}`` items) as node inputs."""
    if raw is None:
        return []
    out: list[Edge] = []
    for item in raw if isinstance(raw, list) else [raw]:
        v = resolve(place, item["ref"] if isinstance(item, dict) else item, e, frame)
        if v is not None:
            out.append((item.get("op") if isinstance(item, dict) else None, v))
    return out


def last_instance(path: str, frame: Frame) -> Value | None:
    """``@g`` for a repeat ``g[...]``: its last built instance."""
    i, last = 0, None
    while (v := frame.lookup(f"{path}[{i}]")) is not None:
        last, i = v, i + 1
    return last


def prev(e: Entity, frame: Frame, back: int) -> Value | None:
    """The instance ``back`` before ``e`` in its repeat; before the first, the container's input."""
    m = _INDEX.match(e.path)
    if m and int(m.group(2)) >= back:
        v = frame.lookup(f"{m.group(1)}[{int(m.group(2)) - back}]")
        if v is not None:
            frame.reads.add(v.name)
            return v
    return frame.ins[-1] if frame.ins else None
