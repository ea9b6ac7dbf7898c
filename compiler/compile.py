"""The compiler's front door: genotype -> (Graph IR, module, summary), budgets checked.

>>> from genolang.compiler import compile_genotype
>>> compiled = compile_genotype(space, genotype)          # doctest: +SKIP
>>> compiled.net(image, audio).shape, compiled.summary.params

Budgets (``require params <= 5M``, ``require flops <= 600M``) are checked here, once the
network exists: a violation is error E0370 at the ``require`` line, naming the largest
blocks. ``latency`` budgets depend on the machine and are not checked statically (a
warning says so); measure them with the benchmarks.
"""

from __future__ import annotations

import logging
import operator
from dataclasses import dataclass

import torch

from genolang.compiler.errors import CompileError
from genolang.compiler.graph import Graph
from genolang.compiler.lower import load_genotype, lower
from genolang.compiler.module import GraphNet, build_module
from genolang.compiler.summary import Summary, summarize
from genolang.errors import Diagnostic
from genolang.genotype import Genotype
from genolang.space import Space

log = logging.getLogger(__name__)

_OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt, "==": operator.eq}


@dataclass
class Compiled:
    """A compiled genotype: its space, the Graph IR, the built network and its summary."""

    space: Space
    genotype: Genotype
    graph: Graph
    net: GraphNet
    summary: Summary


def compile_genotype(space: Space, genotype: Genotype, *, device: str | torch.device | None = None,
                     budgets: bool = True) -> Compiled:
    """Lower ``genotype``, build its network (on ``device``), check the space's budgets."""
    graph = lower(space, genotype)
    net = build_module(graph)
    if device is not None:
        net = net.to(device)
    summary = summarize(net)
    if budgets:
        check_budgets(space, summary)
    return Compiled(space, genotype, graph, net, summary)


def compile_path(path: str, *, genotype: str | None = None, device: str | torch.device | None = None) -> Compiled:
    """:func:`compile_genotype` of a file's genotype (or a space's default, see ``load_genotype``)."""
    space, geno, _ = load_genotype(path, genotype=genotype)
    return compile_genotype(space, geno, device=device)


def check_budgets(space: Space, summary: Summary) -> None:
    """Raise E0370 for every ``require`` the network breaks (all of them in one error)."""
    measured = {"params": summary.params, "flops": summary.flops}
    problems = []
    for req in space.requires:
        if req.metric not in measured:
            log.warning("%s: `require %s` is not checked statically (measure it with the benchmarks)",
                        space.name, req.text)
            continue
        value = measured[req.metric]
        if not _OPS[req.op](value, req.amount):
            biggest = sorted(summary.rows, key=lambda r: -(r.params if req.metric == "params" else r.flops))[:3]
            note = "largest contributors: " + ", ".join(
                f"{r.block} ({_si(r.params if req.metric == 'params' else r.flops)})" for r in biggest)
            problems.append(Diagnostic("E0370", f"the network has {_si(value)} {req.metric}; the space requires "
                                       f"{req.text}", span=req.span, source=space.ir.source, notes=(note,)))
    if problems:
        raise CompileError(problems)


def _si(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{n:g}"
