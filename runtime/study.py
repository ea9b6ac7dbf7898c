"""A study: space + storage + strategy + executor + one :class:`SearchConfig` (Optuna/NNI-style).

:class:`SearchConfig` is every option of a search, frozen; ``genolang search`` builds it from
its flags and ``summary.json`` records it (key ``search_config``). A :class:`Study` holds the space,
the data and the config (and what cannot be written in a config: a trial function, pre-trained
backbones, a feature cache), and a strategy drives it: ``strategy.run(study)``
(:mod:`genolang.runtime.strategy`). Trial strategies call :meth:`Study.run_trials`; one-shot
strategies train the supernet with the study's data and folder.

The storage (``config.storage``; ``"sqlite"``: ``OUT/ledger.sqlite``,
:class:`~genolang.runtime.ledger.Ledger`) is the one truth; the executor (``config.executor``,
:mod:`genolang.runtime.executors`) is where trials run. With weight sharing
(``share_weights``, the default) the driver's bank is the only one, whatever the executor:
each job carries it, each outcome brings the trial's tensors back, and it is saved to
``OUT/shared_weights.pt`` after each trial, in step with the ledger
(:mod:`genolang.runtime.bankfile`: a kill at any moment loses no trained weights and lets no
trial start from other weights than in an uninterrupted run), and reloaded on resume. Since
trial ``k`` starts from the bank trials ``0..k-1`` left, sharing chains the trials: they run
one at a time (one worker is started, and a warning says so when ``workers > 1``), and the
trials equal a one-worker run's for every executor; ``--no-share`` runs ``workers`` at once.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from genolang.runtime.bankfile import BankFile
from genolang.runtime.bilevel import BilevelConfig
from genolang.runtime.dataset import MultimodalDataset
from genolang.runtime.errors import SearchError
from genolang.runtime.executors import executor_named
from genolang.runtime.ledger import Storage, open_storage
from genolang.runtime.runfolder import (
    BANK_FILE,
    LEDGER_FILE,
    SUMMARY_FILE,
    check_out_dir,
    check_resumed_ledger,
    locked,
    space_file_of,
    write_summary,
)
from genolang.runtime.search import Proposer, SearchResult, SearchRun
from genolang.runtime.search_trial import TrialContext, TrialFn, train_trial
from genolang.runtime.sharing import Scheme
from genolang.runtime.ssl import SslConfig
from genolang.runtime.train import TrainConfig
from genolang.space import Space

__all__ = ["SEARCH_CONFIG_KEY", "SearchConfig", "Study", "load_data", "record_config"]

#: the key of ``summary.json`` that holds the study's :class:`SearchConfig`
SEARCH_CONFIG_KEY = "search_config"

log = logging.getLogger(__name__)


class SearchConfig(BaseModel):
    """Every option of one search (what ``summary.json`` records under ``search_config``).

    Trial strategies use ``budget`` (trials to finish, done + failed), ``steps`` (per trial;
    default: the strategy's ``DEFAULT_STEPS``), ``train``, ``executor``/``workers`` (with the
    ``ray`` executor: ``ray_address``, ``cpus_per_trial``, ``gpus_per_trial``),
    ``share_weights``, ``features`` and ``final_epochs``; one-shot strategies use ``epochs``,
    ``bilevel`` and (``ssl-bmnas``) ``ssl``. Each strategy refuses options it does not take
    (:meth:`~genolang.runtime.strategy.Strategy.check_config`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    searcher: str = "random"
    searcher_options: dict[str, Any] = Field(default_factory=dict)
    out_dir: str
    data: str = "avdigits"
    space_file: str | None = None
    seed: int = 0
    resume: bool = False
    storage: Literal["sqlite"] = "sqlite"
    budget: int | None = Field(None, ge=1)
    steps: int | None = Field(None, ge=1)
    epochs: int | None = Field(None, ge=1)
    executor: str = "auto"
    workers: int = Field(1, ge=1)
    ray_address: str | None = None
    cpus_per_trial: float = Field(1.0, gt=0)
    gpus_per_trial: float = Field(0.0, ge=0)
    share_weights: bool = True
    features: bool = True
    final_epochs: int = Field(0, ge=0)
    device: str | None = None
    train: TrainConfig | None = None
    bilevel: BilevelConfig | None = None
    ssl: SslConfig | None = None

    def record(self) -> dict[str, Any]:
        """The JSON form written to ``summary.json``."""
        return self.model_dump(mode="json")


def record_config(out: Path, config: SearchConfig) -> None:
    """Add the config to ``out/summary.json`` (a one-shot search writes its own summary first)."""
    path = out / SUMMARY_FILE
    summary = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    write_summary(out, {**summary, SEARCH_CONFIG_KEY: config.record()})


def load_data(spec: str, *, seed: int) -> MultimodalDataset:
    from genolang.runtime.data import load_dataset

    return load_dataset(spec, seed=seed)


class Study:
    """One search's space, data, config and the extras a config cannot hold (see the module doc).

    ``data`` is a dataset or a spec for ``load_dataset``; ``trial_fn(job, ctx)`` replaces
    :func:`~genolang.runtime.search_trial.train_trial`; ``pretrained`` (backbone node ->
    :class:`~genolang.runtime.pretrain.Pretrained`) is loaded into every trial's network;
    ``features`` (a FeatureCache, or None: ``config.features`` decides) trains trials on their
    static prefix's cached outputs, on disk under ``cache_dir``; ``announce(text)`` is told
    when a phase starts; ``phases`` holds phase times measured before the study (data loading).
    """

    def __init__(self, space: Space, data: MultimodalDataset | str, config: SearchConfig, *,
                 trial_fn: TrialFn | None = None, pretrained: Mapping[str, Any] | None = None,
                 features: Any = None, cache_dir: str | Path | None = None, progress: bool = False,
                 announce: Callable[[str], Any] | None = None, phases: Mapping[str, float] | None = None):
        self.space, self.config, self.source = space, config, data
        self.trial_fn, self.pretrained = trial_fn or train_trial, dict(pretrained or {})
        self.features, self.cache_dir, self.progress, self.announce = features, cache_dir, progress, announce
        self.out, self.phases = Path(config.out_dir), dict(phases or {})
        self._data: MultimodalDataset | None = data if isinstance(data, MultimodalDataset) else None

    @property
    def data(self) -> MultimodalDataset:
        """The dataset (a spec is loaded once, with the config's seed)."""
        if self._data is None:
            self._data = load_data(str(self.source), seed=self.config.seed)
        return self._data

    def space_file(self) -> Path | None:
        return space_file_of(self.space, self.config.space_file)

    def run_trials(self, searcher: Proposer, *, steps: int) -> SearchResult:
        """The trial search of :mod:`genolang.runtime.search`: ``config.budget`` trials of ``steps`` steps."""
        cfg, start = self.config, time.perf_counter()
        if cfg.budget is None:
            raise SearchError(f"searcher {searcher.name!r} needs a budget (trials to finish)")
        executor = executor_named(cfg.executor, workers=cfg.workers, config=cfg)
        check_out_dir(self.out, resume=cfg.resume)
        with locked(self.out), open_storage(cfg.storage, self.out / LEDGER_FILE) as ledger:
            if cfg.resume:
                check_resumed_ledger(ledger, self.out, budget=cfg.budget)
            bank = _bank(self.out, ledger, cfg.share_weights, getattr(searcher, "sharing", None))
            recovered = open_trial_ledger(ledger, self.space, self.data, searcher=searcher.name, seed=cfg.seed,
                                          steps=steps, budget=cfg.budget)
            run = SearchRun(space=self.space, ledger=ledger, out_dir=self.out, budget=cfg.budget, steps=steps,
                            seed=cfg.seed, space_file=self.space_file(), searcher=searcher, progress=self.progress,
                            summary={SEARCH_CONFIG_KEY: cfg.record()}, chained=bank is not None)
            run.start()
            ctx = TrialContext(self.space, self.data, cfg.train, cfg.device, bank.bank if bank else None,
                               self.pretrained, self._feature_cache())
            source = self.source if isinstance(self.source, str) else self.data
            workers = _workers(cfg.workers, chained=bank is not None)
            if cfg.executor == "auto" and workers != cfg.workers:  # chained: in this process, no pool
                executor = executor_named("auto", workers=workers, config=cfg)
            with executor.open(ctx, self.trial_fn, workers=workers, data=source, data_seed=cfg.seed) as submit:
                run.drive(submit, workers=workers, bank=bank)
            best = run.finish(seconds=time.perf_counter() - start, recovered=recovered)
            counts, trials, failures = ledger.counts(), ledger.finished(), ledger.failures()
        return SearchResult(best[0] if best else None, best[1] if best else None, counts["done"], counts["failed"],
                            time.perf_counter() - start, self.out, recovered, trials, failures)

    def _feature_cache(self) -> Any:
        """The cache given, else a new one when ``config.features`` (and a cache folder or data) allow."""
        if self.features is not None:
            return self.features or None
        if not self.config.features:
            return None
        from genolang.runtime.features import FeatureCache

        return FeatureCache(self.data, cache_dir=self.cache_dir, device=self.config.device)


def open_trial_ledger(ledger: Storage, space: Space, data: MultimodalDataset, *, searcher: str, seed: int,
                      steps: int, budget: int) -> int:
    """Check (or write) the search's meta; make interrupted trials retriable (how many)."""
    expected = {"space_fingerprint": space.fingerprint, "searcher": searcher, "searcher_seed": seed,
                "budget": {"steps": steps}, "data": data.name}
    ledger.check_meta(**expected)
    meta = ledger.meta()
    if not meta:
        ledger.write_meta(**expected, space=space.name, search=os.urandom(6).hex(), created=time.time(),
                          trials=budget)
        meta = ledger.meta()
    elif meta.get("trials") != budget:
        ledger.write_meta(trials=budget)
    ledger.search = str(meta["search"])
    return ledger.recover()


def _workers(workers: int, *, chained: bool) -> int:
    """How many trials run at once: one when weight sharing chains them (said when more were asked)."""
    if chained and workers > 1:
        log.warning("weight sharing chains each trial to the previous one: trials run one at a time; "
                    "--no-share runs %d at once", workers)
        return 1
    return workers


def _bank(out: Path, ledger: Storage, share: bool, scheme: Scheme | None = None) -> BankFile | None:
    """The run folder's bank file, holding the search's only bank (None without sharing); sharing by the
    searcher's ``scheme`` (None: the default)."""
    if not share:
        return None
    bank = BankFile(out, BANK_FILE, scheme)
    bank.open(t.id for t in ledger.finished())
    return bank
