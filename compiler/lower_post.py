"""A group's or cell's post-processing (``post = [project, residual, layernorm, relu]``).

Applied in order to the container's output ``v`` (after its ``out`` rule):

===========  ==================================================================================
step         graph
===========  ==================================================================================
project      ``proj`` to the container's width (``channels``): 1x1 conv-BN-ReLU on a seq (BM-NAS
             ``Conv1d(C*m, C, 1)``-BN-ReLU), ReLU-1x1 conv-BN on a map, Linear on a vector
residual     ``sum`` of ``v`` and the container's first input, adapted to ``v``'s kind and width
             by the usual adapters (BM-NAS ``out + x``, x the reshaped feature)
layernorm    ``layernorm`` over every dimension but the batch (BM-NAS ``LayerNorm([C, L])``)
relu         the ``relu`` activation
===========  ==================================================================================

The BM-NAS cell is ``post = [project, residual, layernorm]`` and its fusion network's
output ``post = [layernorm, relu]`` (before the classifier).
"""

from __future__ import annotations

from genolang.compiler.builder import GraphBuilder, Value
from genolang.compiler.errors import CompileError


def apply_post(b: GraphBuilder, steps: list[str], v: Value, ins: list[Value], width: int | None,
               name: str) -> Value:
    """``v`` after each step of ``steps`` (nodes named ``{name}/post_<step>``)."""
    for step in steps:
        if step == "project":
            if width is None:
                raise CompileError(f"{name}: `post = [project]` needs a width (`channels`)")
            v = b.preprocess(v, int(width), name=f"{name}/post_project") if v.width != int(width) else v
        elif step == "residual":
            if not ins:
                raise CompileError(f"{name}: `post = [residual]` needs an input")
            v = b.combine("sum", [v, _like(b, ins[0], v)], f"{name}/post_residual")
        elif step == "layernorm":
            v = b.add(f"{name}/post_layernorm", "layernorm", [v], v.shape, {"shape": list(v.shape)},
                      macs=2 * _size(v))
        elif step == "relu":
            v = b.add(f"{name}/post_relu", "act", [v], v.shape, {"act": "relu", "params": {}})
        else:
            raise CompileError(f"{name}: unknown post-processing step {step!r}")
    return v


def _like(b: GraphBuilder, x: Value, v: Value) -> Value:
    """The input ``x`` brought to ``v``'s kind by the adapters (a tap read as (C, L) is reshaped
    once, as the ops reading it are)."""
    if v.kind == "seq" and x.kind != "seq":
        return b.to_seq(x, channels=v.width, length=v.shape[1])
    if v.kind == "vector" and x.kind != "vector":
        return b.to_vector(x)
    return x


def _size(v: Value) -> int:
    n = 1
    for d in v.shape:
        n *= d
    return n
