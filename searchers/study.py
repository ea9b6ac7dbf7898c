"""Building and running a study from a :class:`~genolang.runtime.study.SearchConfig` (the driver).

:func:`run_study` is what ``genolang search`` runs: the strategy named by the config, checked
against it, then ``strategy.run(study)``. :func:`run_search` is the keyword form of a bare trial
search (no pre-training or final phase) that tests and benchmarks use.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from genolang.runtime.dataset import MultimodalDataset
from genolang.runtime.errors import SearchError
from genolang.runtime.search import SearchResult
from genolang.runtime.search_trial import TrialFn
from genolang.runtime.strategy import Outcome
from genolang.runtime.study import SearchConfig, Study
from genolang.searchers.base import Searcher, make_searcher, searcher_class
from genolang.space import Space

__all__ = ["run_search", "run_study"]


def run_study(study: Study) -> Outcome:
    """Make the config's strategy for the study's space, check the config against it, run it."""
    cfg, cls = study.config, searcher_class(study.config.searcher)
    cls.check_config(cfg)
    cls.check_space(study.space)
    strategy = make_searcher(cfg.searcher, study.space, seed=cfg.seed, **cfg.searcher_options)
    return strategy.run(study)


def run_search(space: Space, data: MultimodalDataset | str, *, searcher: str = "random", budget: int,
               out_dir: str | Path, steps: int | None = None, train_config: Any = None, seed: int = 0,
               resume: bool = False, workers: int = 1, executor: str = "auto", share_weights: bool = True,
               ray_address: str | None = None, cpus_per_trial: float = 1.0, gpus_per_trial: float = 0.0,
               progress: bool = False, trial_fn: TrialFn | None = None, space_file: str | Path | None = None,
               device: str | None = None, searcher_options: Mapping[str, Any] | None = None,
               pretrained: Mapping[str, Any] | None = None, features: Any = True,
               cache_dir: str | Path | None = None) -> SearchResult:
    """A bare trial search of ``space`` on ``data`` (a dataset, or a spec for ``load_dataset``).

    The keywords are :class:`SearchConfig`'s (``train_config`` is its ``train``); ``features``
    is True, False or a FeatureCache to share. Bad numbers raise :class:`SearchError`.
    """
    try:
        config = SearchConfig(searcher=searcher, searcher_options=dict(searcher_options or {}), out_dir=str(out_dir),
                              data=data if isinstance(data, str) else data.name, seed=seed, resume=resume,
                              budget=budget, steps=steps, executor=executor, workers=workers,
                              ray_address=ray_address, cpus_per_trial=cpus_per_trial,
                              gpus_per_trial=gpus_per_trial,
                              share_weights=share_weights, features=features is not False, device=device,
                              train=train_config, space_file=None if space_file is None else str(space_file))
    except ValidationError as exc:
        raise SearchError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
    study = Study(space, data, config, trial_fn=trial_fn, pretrained=pretrained, progress=progress,
                  features=None if isinstance(features, bool) else features, cache_dir=cache_dir)
    strategy = make_searcher(searcher, space, seed=seed, **config.searcher_options)
    if not isinstance(strategy, Searcher):
        raise SearchError(f"searcher {searcher!r} is one-shot (a supernet); a trial search needs a searcher "
                          "that proposes trials (`ask`)")
    return study.run_trials(strategy, steps=steps or strategy.DEFAULT_STEPS)
