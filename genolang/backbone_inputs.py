"""Static shape rules of backbones: the one shape question the compiler's adapters cannot answer.

Every other shape agreement holds by construction: the adapters align any two values
(compiler/builder.py), a map op sees any value as a map, divisor parameters are fitted to
the width a choice gives (``fit`` in the op metadata). A backbone is a fixed model: its
input must be one it can take. Two rules, at the backbone's line:

* E0297: a backbone reads an ``input`` block, so its input shape is the same in every
  genotype (a node's shape would change with the choices before it);
* E0298: a built-in backbone's metadata (``accepts``) refuses that shape (an image too
  small for the LeNet's pooling blocks, a rank it does not take).

``torchvision`` and ``custom`` models declare no ``accepts``: whether the model takes the
input is known only by running it (with torch). Since the input is fixed (E0297), that is a
fact about the space and its data, the same for every genotype; the adapters take their
taps of whatever shape. A front-end's output shape is the compiler's (it needs the
front-end's arithmetic); its input is left to it likewise.
"""

from __future__ import annotations

from typing import Any

from genolang.errors import Collector
from genolang.ir import Entity, SpaceIR


def check_backbone_inputs(ir: SpaceIR, diag: Collector) -> None:
    """Report every E0297 and E0298 of ``ir`` into ``diag``."""
    for e in ir.entities.values():
        if e.kind == "backbone":
            _check_one(e, ir.entities, diag)


def _check_one(e: Entity, entities: dict[str, Entity], diag: Collector) -> None:
    ref = e.fields.get("in")
    if not isinstance(ref, str) or not ref.startswith("@"):
        return  # a missing or malformed `in` is reported by the field rules
    target = entities.get(ref[1:])
    if target is None or target.kind != "input":
        what = f"a {target.kind}" if target is not None else "not an input"
        diag.add("E0297", f"backbone '{e.path}' reads {ref}, which is {what}: a backbone reads an `input` "
                          "block, whose shape is the same in every genotype", e.span,
                 help=("read the input the backbone was made for; put searched nodes after the backbone's taps",))
        return
    shape, model = target.fields.get("shape"), e.fields.get("model")
    if "frontend" in target.fields or not isinstance(shape, list) or not isinstance(model, str):
        return
    problem = _refusal(model, tuple(shape), e.fields)
    if problem is not None:
        diag.add("E0298", f"backbone '{e.path}' ({model}) cannot take its input {ref} of shape {shape}: {problem}",
                 e.span, help=("give the input a shape the model takes, or use another model",))


def _refusal(model: str, shape: tuple[int, ...], fields: dict[str, Any]) -> str | None:
    from genolang.opmeta import BACKBONE_META

    try:
        meta = BACKBONE_META.get(model)
    except Exception:  # an unknown model is reported by the field rules (E0242)
        return None
    return meta.accepts(shape) if meta.accepts is not None else None
