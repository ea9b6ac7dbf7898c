"""A whole search job, phase by phase: pre-train backbones, search, train the best beside baselines.

``genolang search`` runs :func:`run_job`:

1. **pretrain** — every backbone stating ``pretrain = EPOCHS`` is trained as a unimodal net
   (:mod:`genolang.runtime.pretrain`; cached, so a rerun or a resume reads it back);
2. **search** — :meth:`~genolang.runtime.study.Study.run_trials` with the pre-trained backbones and
   the frozen-prefix feature cache (:mod:`genolang.runtime.features`): every trial trains
   only what follows its static prefix;
3. **final** (``final_epochs > 0``) — the best genotype trained for ``final_epochs``, beside
   late fusion on the same backbones and the unimodal nets
   (:func:`~genolang.runtime.final.final_comparison`); its weights go to ``out/final/model.pt``.

Each phase's wall time, the pre-training results and the comparison are added to the search's
``summary.json`` (keys ``phases``, ``pretrain``, ``final``).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genolang.compiler.lower import lower
from genolang.errors import UsageError
from genolang.files import atomic_text
from genolang.runtime.features import FeatureCache
from genolang.runtime.final import Row, final_comparison
from genolang.runtime.pretrain import Pretrained, pretrain_backbones, to_pretrain
from genolang.runtime.runfolder import SUMMARY_FILE
from genolang.runtime.search import Proposer, SearchResult
from genolang.runtime.search_trial import TrialContext
from genolang.runtime.study import Study
from genolang.runtime.tables import bilevel_table, job_table
from genolang.space import Space

log = logging.getLogger(__name__)

FINAL_DIR = "final"


@dataclass
class JobResult:
    """What a job produced: the search's result, the pre-trained backbones, the final rows, phase times."""

    search: SearchResult
    pretrained: dict[str, Pretrained] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)

    def margin(self) -> float | None:
        """Test accuracy of the searched network minus late fusion's (``None`` without both)."""
        test = {r.name: r.test_accuracy for r in self.rows}
        searched, late = test.get("searched"), test.get("late fusion")
        if searched is None or late is None:
            return None
        return float(searched) - float(late)

    def table(self) -> str:
        return job_table(self)

    def to_json(self) -> dict[str, Any]:
        """The search's JSON view, then the phases, pre-training and final comparison."""
        return {**self.search.to_json(), **self.job_json()}

    def job_json(self) -> dict[str, Any]:
        return {"phases": {k: round(v, 3) for k, v in self.phases.items()},
                "pretrain": {k: v.to_json() for k, v in self.pretrained.items()},
                "final": {"rows": [r.to_json() for r in self.rows], "margin_vs_late_fusion": self.margin()}}


def run_job(study: Study, searcher: Proposer) -> JobResult:
    """Run the phases of the module doc for a trial strategy; ``study.announce(text)`` is told when
    each phase starts (the CLI prints it); ``study.phases`` holds times measured before (the
    CLI's dataset load)."""
    cfg, say = study.config, study.announce or log.info
    phases, start = dict(study.phases), time.perf_counter()
    graph = lower(study.space, study.space.default())
    study.pretrained = pretrain_backbones(graph, study.data, seed=cfg.seed, cache_dir=study.cache_dir,
                                          device=cfg.device, progress=study.progress, announce=say)
    phases["pretrain"] = time.perf_counter() - start
    if study.features is None:
        study.features = (FeatureCache(study.data, cache_dir=study.cache_dir, device=cfg.device)
                          if cfg.features else False)
    start = time.perf_counter()
    say(f"search: {searcher.name}, {cfg.budget} trials")
    result = study.run_trials(searcher, steps=cfg.steps or searcher.DEFAULT_STEPS)
    phases["search"] = time.perf_counter() - start
    job = JobResult(result, study.pretrained, phases=phases)
    if cfg.final_epochs > 0 and result.best is not None:
        start = time.perf_counter()
        say(f"final: the best genotype and late fusion, {cfg.final_epochs} epochs each")
        ctx = TrialContext(study.space, study.data, cfg.train, cfg.device, None, study.pretrained,
                           study.features or None)
        job.rows = final_comparison(ctx, result.best, epochs=cfg.final_epochs, seed=cfg.seed, config=ctx.config,
                                    out_dir=study.out / FINAL_DIR, progress=study.progress)
        phases["final"] = time.perf_counter() - start
    _record(study.out / SUMMARY_FILE, job)
    return job


def _record(path: Path, job: JobResult) -> None:
    """Add the job's phases, pre-training and comparison to ``summary.json``."""
    summary = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    summary.update(job.job_json())
    atomic_text(path, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")


@dataclass
class SupernetOutcome:
    """What a one-shot strategy returns: the search's result, the fine-tuning (ssl-bmnas), the epochs."""

    search: SearchResult
    finetune: dict[str, Any] | None
    epochs: int | None

    def to_json(self) -> dict[str, Any]:
        return {"epochs": self.epochs, **self.search.to_json(), "finetune": self.finetune}

    def table(self) -> str:
        return bilevel_table(self.search, self.finetune)


def refuse_pretrain(space: Space, searcher: str) -> None:
    """Supernet searches do not pre-train backbones yet: refuse a space that asks for it."""
    names = to_pretrain(lower(space, space.default()))
    if names:
        raise UsageError(f"searcher {searcher!r} does not pre-train backbones yet, and space {space.name!r} "
                         f"asks for it ({', '.join(names)}): use a trial searcher (random, evolution, mfas, rl), "
                         f"or give the backbones `weights` instead of `pretrain`")
