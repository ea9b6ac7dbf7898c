"""Mixed nodes of a supernet: their Graph IR nodes, modules and generated forward code.

A mixed node's weights are ``softmax(arch.alphas[<decision>])`` (row ``row`` of it for one
edge of an op-labelled decision; column 1 of each (none, skip) row for a mixed input of
``mode = "edge"``), computed in the generated forward from the supernet's
:class:`~genolang.compiler.relax.ArchParams`, which the :class:`GraphNet` holds as ``arch``.
"""

from __future__ import annotations

import operator
from typing import Any

import torch
from torch import nn

from genolang.compiler.builder import GraphBuilder, Value
from genolang.compiler.errors import ShapeError
from genolang.compiler.frame import Frame
from genolang.compiler.graph import GNode

MIXED_KINDS: frozenset[str] = frozenset({"mixed_op", "mixed_input", "mixed_act"})


def mixed_op(b: GraphBuilder, ops: tuple[str, ...], xs: list[Value], frame: Frame, name: str, *, decision: str,
             row: int | None, stride: int = 1, params: dict[str, Any] | None = None,
             f: dict[str, Any] | None = None) -> Value:
    """A ``mixed_op`` node: every op of ``ops`` on ``xs`` at one width and stride, weighted."""
    from genolang.compiler.ops import OPS

    specs = [OPS.get(o) for o in ops]
    f, params = f or {}, dict(params or {})
    c_in = xs[0].width
    real = [s for s in specs if s.name not in ("none", "zero")] or specs
    if real[0].keeps_width:
        c_out = c_in
    elif real[0].width_param and real[0].width_param in f:
        c_out = int(f[real[0].width_param])
    else:
        c_out = int(frame.width) if frame.width is not None else c_in
    if any(x.name in {i.name for i in frame.ins} for x in xs):
        stride = max(stride, frame.stride)
    if real[0].kind == "seq":
        params.setdefault("length", xs[0].shape[1])
    shapes, macs = set(), 0
    for s in specs:
        p = {k: v for k, v in params.items() if k in s.params}
        shapes.add(s.out_shape([x.shape for x in xs], c_out=c_out, stride=stride, **p))
        macs += s.macs([x.shape for x in xs], c_out=c_out, stride=stride, **p)
    if len(shapes) != 1:
        raise ShapeError(f"the candidate ops {list(ops)} give different shapes {sorted(shapes)}")
    attrs = {"ops": list(ops), "c_in": c_in, "c_out": c_out, "stride": stride, "params": params,
             "decision": decision, "row": row}
    return b.add(name, "mixed_op", xs, shapes.pop(), attrs, macs=macs)


def mixed_act(b: GraphBuilder, acts: tuple[str, ...], x: Value, name: str, *, decision: str) -> Value:
    """A ``mixed_act`` node: every activation of ``acts`` on ``x``, weighted."""
    return b.add(name, "mixed_act", [x], x.shape, {"acts": list(acts), "decision": decision})


class MixedAct(nn.Module):
    """``forward(x, weights) = sum_k weights[k] * act_k(x)``."""

    def __init__(self, acts: list[str]):
        super().__init__()
        from genolang.compiler.activations import ACTIVATIONS

        self.acts = nn.ModuleList(ACTIVATIONS.get(a).build() for a in acts)

    def forward(self, x: torch.Tensor, *, weights: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = weights[0] * self.acts[0](x)
        for w, act in zip(weights[1:], self.acts[1:]):
            out = out + w * act(x)
        return out


class MixedSum(nn.Module):
    """A mixed input as a module: ``forward(*xs, weights) = sum_j weights[j] * xs[j]``."""

    def forward(self, *xs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        out = weights[0] * xs[0]
        for w, x in zip(weights[1:], xs[1:]):
            out = out + w * x
        return out


def build_mixed(node: GNode, affine: bool) -> nn.Module:
    """The module of a mixed node (DARTS: BN without affine parameters in the candidates)."""
    from genolang.compiler.relax import MixedOp

    if node.kind == "mixed_op":
        a = node.attrs
        return MixedOp(a["ops"], c_in=a["c_in"], c_out=a["c_out"], stride=a["stride"], affine=affine, **a["params"])
    if node.kind == "mixed_act":
        return MixedAct(node.attrs["acts"])
    return MixedSum()


def fx_mixed(g: torch.fx.Graph, node: GNode, args: list[torch.fx.Node], attr: str, key: str) -> torch.fx.Node:
    """The forward lines of a mixed node: its weights from ``arch``, then the module call."""
    logits = g.create_node("get_attr", f"arch.alphas.{key}", name=f"{attr}_logits")
    weights = g.create_node("call_function", torch.softmax, (logits,), {"dim": -1}, name=f"{attr}_w")
    row = node.attrs.get("row")
    if row is not None:
        weights = g.create_node("call_function", operator.getitem, (weights, int(row)), name=f"{attr}_row")
    if node.attrs.get("mode") == "edge":
        weights = g.create_node("call_function", operator.getitem, (weights, (slice(None), 1)), name=f"{attr}_skip")
    return g.create_node("call_module", attr, tuple(args), {"weights": weights}, name=attr)
