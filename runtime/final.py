"""The end of a search: the found network trained in full, beside hand-designed networks.

:func:`final_comparison` trains the best genotype for ``epochs`` epochs (best on ``val``,
then tested), and, on the same backbones with the same training config and seed, the late
fusion of :func:`genolang.compiler.baselines.late_fusion_graph` (when the network has two
backbones or more). The unimodal networks come from pre-training
(:mod:`genolang.runtime.pretrain`), already tested. Every network trains the way the search's
trials do (:func:`~genolang.runtime.search_trial.train_compiled`: pre-trained backbones
loaded, on cached static features when its prefix is static).

The result is a list of rows (name, test and val accuracy, parameters, trainable
parameters, seconds); the searched network's weights (the WHOLE network, backbones
included, loadable by ``genolang export --weights``) go to ``out_dir/final/model.pt``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genolang.compiler.baselines import backbones, late_fusion_graph
from genolang.compiler.compile import compile_genotype
from genolang.compiler.graph import Graph
from genolang.compiler.module import GraphNet, build_module
from genolang.compiler.static import ancestors
from genolang.genotype import Genotype
from genolang.runtime.search_trial import TrialContext, train_compiled
from genolang.runtime.train import TrainConfig, save_weights

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Row:
    """One network of the comparison."""

    name: str
    test_accuracy: float | None
    val_accuracy: float | None
    params: int
    trainable: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "test_accuracy": self.test_accuracy, "val_accuracy": self.val_accuracy,
                "params": self.params, "trainable_params": self.trainable, "seconds": round(self.seconds, 3)}


def final_comparison(ctx: TrialContext, genotype: Genotype, *, epochs: int, seed: int, out_dir: Path | None = None,
                     config: TrainConfig | None = None, progress: bool = False) -> list[Row]:
    """Rows: searched, late fusion (two backbones or more), then each pre-trained unimodal net."""
    config = (config or TrainConfig()).model_copy(update={"epochs": epochs, "steps": None, "seed": seed})
    torch.manual_seed(seed)
    compiled = compile_genotype(ctx.space, genotype)
    rows = [_train_row("searched", compiled.net, ctx, config, progress=progress)]
    if out_dir is not None:
        save_weights(compiled.net, Path(out_dir) / "model.pt", digest=genotype.digest)
    fused = _late_fusion(compiled.graph, ctx)
    if fused is not None:
        torch.manual_seed(seed)
        rows.append(_train_row("late fusion", build_module(fused), ctx, config, progress=progress))
    for name, done in ctx.pretrained.items():
        rows.append(Row(f"{_modality(compiled.graph, name)} only", done.test_accuracy, done.val_accuracy,
                        done.params, done.params, done.seconds))
    return rows


def _late_fusion(graph: Graph, ctx: TrialContext) -> Graph | None:
    names = [n for n in backbones(graph) if n in ctx.pretrained] or backbones(graph)
    return late_fusion_graph(graph, names) if len(names) >= 2 else None


def _train_row(name: str, net: GraphNet, ctx: TrialContext, config: TrainConfig, *, progress: bool) -> Row:
    start = time.perf_counter()
    log.info("final training of %s (%d epochs)", name, config.epochs)
    result = train_compiled(net, ctx, config, device=ctx.device, progress=progress)
    return Row(name, result.test.accuracy if result.test is not None else None, result.best_val.accuracy,
               sum(p.numel() for p in net.parameters()),
               sum(p.numel() for p in net.parameters() if p.requires_grad), time.perf_counter() - start)


def _modality(graph: Graph, backbone: str) -> str:
    inputs = [i for i in graph.inputs if i in ancestors(graph, [backbone])]
    return inputs[0] if len(inputs) == 1 else backbone


def table(rows: list[Row]) -> str:
    """The comparison as a text table (test accuracy, val accuracy, parameters, seconds)."""
    lines = [f"{'network':<16} {'test acc':>8} {'val acc':>8} {'params':>9} {'trainable':>9} {'seconds':>8}"]
    for r in rows:
        test = f"{r.test_accuracy:.4f}" if r.test_accuracy is not None else "-"
        val = f"{r.val_accuracy:.4f}" if r.val_accuracy is not None else "-"
        lines.append(f"{r.name:<16} {test:>8} {val:>8} {r.params:>9,} {r.trainable:>9,} {r.seconds:>8.1f}")
    return "\n".join(lines)
