"""A whole search job, phase by phase: pre-train backbones, search, train the best beside baselines.

``genolang search`` runs :func:`run_job`:

1. **pretrain** — every backbone stating ``pretrain = EPOCHS`` is trained as a unimodal net
   (:mod:`genolang.runtime.pretrain`; cached, so a rerun or a resume reads it back);
2. **search** — :func:`~genolang.runtime.search.run_search` with the pre-trained backbones and
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genolang.compiler.lower import lower
from genolang.runtime.dataset import MultimodalDataset
from genolang.runtime.features import FeatureCache
from genolang.runtime.files import atomic_text
from genolang.runtime.final import Row, final_comparison
from genolang.runtime.pretrain import Pretrained, pretrain_backbones
from genolang.runtime.search import SUMMARY_FILE, SearchResult, run_search
from genolang.runtime.search_trial import TrialContext
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
        if test.get("searched") is None or test.get("late fusion") is None:
            return None
        return float(test["searched"]) - float(test["late fusion"])

    def to_json(self) -> dict[str, Any]:
        return {"phases": {k: round(v, 3) for k, v in self.phases.items()},
                "pretrain": {k: v.to_json() for k, v in self.pretrained.items()},
                "final": {"rows": [r.to_json() for r in self.rows], "margin_vs_late_fusion": self.margin()}}


def run_job(space: Space, data: MultimodalDataset, *, out_dir: str | Path, seed: int = 0, final_epochs: int = 0,
            cache_dir: str | Path | None = None, features: bool = True, device: str | None = None,
            progress: bool = False, phases: dict[str, float] | None = None,
            announce: Callable[[str], Any] | None = None, **search: Any) -> JobResult:
    """Run the phases of the module doc; ``search`` holds :func:`run_search`'s other keywords;
    ``phases`` holds times measured before (the CLI's dataset load); ``announce(text)`` is
    told when each phase starts (the CLI prints it)."""
    phases, say = dict(phases or {}), announce or log.info
    start = time.perf_counter()
    graph = lower(space, space.default())
    pretrained = pretrain_backbones(graph, data, seed=seed, cache_dir=cache_dir, device=device, progress=progress,
                                    announce=say)
    phases["pretrain"] = time.perf_counter() - start
    cache = FeatureCache(data, cache_dir=cache_dir, device=device) if features else None
    start = time.perf_counter()
    say(f"search: {search.get('searcher', 'random')}, {search.get('budget')} trials")
    result = run_search(space, data, out_dir=out_dir, seed=seed, device=device, progress=progress,
                        pretrained=pretrained, features=cache or False, **search)
    phases["search"] = time.perf_counter() - start
    job = JobResult(result, pretrained, phases=phases)
    if final_epochs > 0 and result.best is not None:
        start = time.perf_counter()
        say(f"final: the best genotype and late fusion, {final_epochs} epochs each")
        ctx = TrialContext(space, data, search.get("train_config"), device, None, pretrained, cache)
        job.rows = final_comparison(ctx, result.best, epochs=final_epochs, seed=seed, config=ctx.config,
                                    out_dir=Path(out_dir) / FINAL_DIR, progress=progress)
        phases["final"] = time.perf_counter() - start
    _record(Path(out_dir) / SUMMARY_FILE, job)
    return job


def _record(path: Path, job: JobResult) -> None:
    """Add the job's phases, pre-training and comparison to ``summary.json``."""
    summary = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    summary.update(job.to_json())
    atomic_text(path, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
