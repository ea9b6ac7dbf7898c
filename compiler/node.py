"""A node: which fields are its inputs, and its computation over them.

``act(op(combine(inputs)))``, or ``combine(op_k(input_k))`` when the references carry an op
(``op=Enum`` domains); a binary op takes its two inputs as (x, y). Used by the lowering of a
genotype and by the supernet's mixed nodes alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from genolang.compiler.builder import GraphBuilder, Value
from genolang.compiler.errors import ShapeError
from genolang.compiler.frame import Frame
from genolang.domains import Domain
from genolang.ir import Decided, Entity

if TYPE_CHECKING:
    from genolang.compiler.ops import OpSpec

#: node fields that are not op parameters
NODE_KEYS = frozenset({"op", "act", "combine", "stride"})


def input_fields(e: Entity, domains: Mapping[str, Domain]) -> list[str]:
    """The fields of a node holding references, in declaration order."""
    out = []
    for k, v in e.fields.items():
        if isinstance(v, Decided):
            if getattr(domains.get(v.path), "kind", "") == "ref":
                out.append(k)
        elif _is_ref(v):
            out.append(k)
    return out


def op_params(f: Mapping[str, Any], inputs: list[str]) -> dict[str, Any]:
    """The fields of a node that are parameters of its op."""
    return {k: v for k, v in f.items() if k not in NODE_KEYS and k not in inputs}


def _is_ref(v: Any) -> bool:
    if isinstance(v, str):
        return v.startswith("@")
    if isinstance(v, dict):
        return set(v) == {"op", "ref"}
    return isinstance(v, list) and bool(v) and all(_is_ref(i) for i in v)


def apply_node(b: GraphBuilder, f: dict[str, Any], params: dict[str, Any], edges: list[tuple[str | None, Value]],
               frame: Frame, name: str) -> Value:
    """The value of a node with fields ``f`` reading ``edges`` ((op or None, value) pairs)."""
    from genolang.compiler.ops import OPS

    op_name, act = f.get("op"), f.get("act")
    how = str(f.get("combine", "sum"))
    spec = OPS.get(str(op_name)) if op_name is not None else None
    last = "act" if act else ("op" if spec else "combine")
    stride = int(f.get("stride", 1))
    if any(op is not None for op, _ in edges):
        outs = [edge(b, OPS.get(op), v, frame, f"{name}/e{i}", stride) if op else v
                for i, (op, v) in enumerate(edges)]
        x = b.combine(how, outs, name if last == "combine" else f"{name}/{how}")
        if spec is not None:
            x = apply_op(b, spec, [adapt(b, x, spec, frame)], f, params, frame,
                         name if last == "op" else f"{name}/{spec.name}", stride=stride)
    elif spec is not None and spec.arity == 2:
        if len(edges) != 2:
            raise ShapeError(f"op {spec.name!r} takes two inputs (x, y), the node gives {len(edges)}")
        xs = b.align([adapt(b, v, spec, frame) for _, v in edges])
        xs = [b.project(x, xs[0].width) for x in xs]  # a binary op takes inputs of one shape
        x = apply_op(b, spec, xs, f, params, frame, name if last == "op" else f"{name}/{spec.name}")
    else:
        xs = [adapt(b, v, spec, frame) if spec else v for _, v in edges]
        x = b.combine(how, xs, name if last == "combine" else f"{name}/{how}")
        if spec is not None:
            x = apply_op(b, spec, [x], f, params, frame, name if last == "op" else f"{name}/{spec.name}",
                         stride=max(stride, frame.stride) if x.name in {v.name for v in frame.ins} else stride)
    if act:
        x = activation(b, str(act), x, name)
    return x


def edge(b: GraphBuilder, spec: OpSpec, v: Value, frame: Frame, name: str, stride: int) -> Value:
    """An op on one input edge; edges reading a strided cell's inputs take its stride."""
    if v.name in {i.name for i in frame.ins}:
        stride = max(stride, frame.stride)
    return apply_op(b, spec, [adapt(b, v, spec, frame)], {}, {}, frame, name, stride=stride)


def adapt(b: GraphBuilder, v: Value, spec: OpSpec | None, frame: Frame) -> Value:
    """``v`` in the kind ``spec`` consumes (pooled, flattened, reshaped by rule); "any" ops take it as it is."""
    if spec is None or spec.kind == "any":
        return v
    if spec.kind == "seq" and (v.kind != "seq" or (frame.width, frame.length) != (None, None)):
        return b.to_seq(v, channels=frame.width or v.width, length=frame.length)
    if spec.kind == "vector":
        return b.to_vector(v)
    return b.to_map(v) if spec.kind == "map" else v


def apply_op(b: GraphBuilder, spec: OpSpec, xs: list[Value], f: dict[str, Any], params: dict[str, Any],
             frame: Frame, name: str, *, stride: int = 1) -> Value:
    """``spec`` applied to ``xs`` with the node's width, stride and op parameters."""
    c_in = xs[0].width
    if spec.keeps_width:
        c_out = c_in
    elif spec.width_param and spec.width_param in f:
        c_out = int(f[spec.width_param])
    else:
        c_out = int(frame.width) if frame.width is not None else c_in
    op_params = {k: v for k, v in params.items() if k != spec.width_param}
    if spec.kind == "seq" and "length" in spec.params:  # the length the op is built for; inputs brought to it
        length = int(op_params.setdefault("length", xs[0].shape[1]))
        xs = [b.align_length(x, length) if x.kind == "seq" else x for x in xs]
    op_params = spec.fitted([x.shape for x in xs], op_params)  # divisor rules (heads, groups)
    shape = spec.out_shape([x.shape for x in xs], c_out=c_out, stride=stride, **op_params)
    macs = spec.macs([x.shape for x in xs], c_out=c_out, stride=stride, **op_params)
    attrs = {"op": spec.name, "c_in": c_in, "c_out": c_out, "stride": stride, "params": spec.bind(op_params)}
    return b.add(name, "op", xs, shape, attrs, macs=macs)


def activation(b: GraphBuilder, act: str, x: Value, name: str) -> Value:
    from genolang.compiler.activations import ACTIVATIONS

    spec = ACTIVATIONS.get(act)
    return b.add(name, "act", [x], x.shape, {"act": spec.name, "params": {}})
