"""The search driver: ask a searcher, train each genotype S steps, tell it the val accuracy.

RandomNet's protocol (Alletto et al. 2020, Algorithm 2): E architectures, each trained for
S steps (RandomNet: 10% of the training set, :func:`default_steps`; here by default the
searcher's ``DEFAULT_STEPS``, chosen by ``benchmarks/bench_ranking.py``) starting from the weights that
earlier architectures left at the same graph node (:mod:`genolang.runtime.sharing`), scored by
validation accuracy; the best is kept (ties: the later trial, as the paper's ``>=``). Any
registered searcher plugs in (ask/tell).

Every state change goes to the SQLite ledger (``out_dir/ledger.sqlite``) as it happens, so a
search killed at any moment (even by SIGKILL) resumes with ``resume=True``: the ledger's meta
is checked, trials left running are retried, the finished history is replayed into a fresh
searcher seeded the same way, and the search goes on until ``budget`` trials are finished
(done + failed). A finished trial is never trained again.

A trial that diverges, runs out of memory or does not compile is recorded as failed with its
reason, and the search goes on (:mod:`genolang.runtime.search_trial`). Outputs: ``best.geno``
(the best genotype, importing the space file), ``trials.jsonl`` (one line per finished
trial), ``summary.json`` (with ``failures``: failed trials per reason class, e.g.
``{"CompileError E0400": 4}``).

``workers > 1`` runs trials in a "spawn" ``ProcessPoolExecutor``: each worker loads the
dataset once, and the parent alone writes the ledger. Weight sharing is then per worker
process (each has its own bank, lost when the search ends); with one worker the bank is saved
to ``out_dir/shared_weights.pt`` after each trial and reloaded on resume.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from genolang.genotype import Genotype
from genolang.runtime.dataset import MultimodalDataset
from genolang.runtime.errors import SearchError
from genolang.runtime.ledger import SCORE_KEY, Ledger, Trial
from genolang.runtime.search_trial import (FAILURES, TrialContext, TrialFn, TrialJob, TrialOutcome, execute,
                                           train_trial, trial_executor)
from genolang.runtime.sharing import WeightBank
from genolang.searchers.base import Searcher, make_searcher, searcher_class
from genolang.space import Space

__all__ = ["FAILURES", "SearchResult", "SearchRun", "TrialContext", "TrialFn", "TrialJob", "TrialOutcome",
           "default_steps", "execute", "run_search", "train_trial"]

log = logging.getLogger(__name__)

LEDGER_FILE, BANK_FILE, LOCK_FILE = "ledger.sqlite", "shared_weights.pt", ".lock"
BEST_FILE, TRIALS_FILE, SUMMARY_FILE = "best.geno", "trials.jsonl", "summary.json"
MAX_REPEATS = 100  # asks in a row that hit finished trials before the space counts as exhausted


@dataclass(frozen=True)
class SearchResult:
    """The best genotype found (``None`` if every trial failed), the counts, the wall time.

    ``failures``: how many trials failed per reason class (``"CompileError E0400"``,
    ``"DivergedError"``, ...; :meth:`Ledger.failures`), most frequent first.
    """

    best: Genotype | None
    best_score: float | None
    done: int
    failed: int
    seconds: float
    out_dir: Path
    recovered: int = 0
    trials: list[Trial] = field(default_factory=list, repr=False)
    failures: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"best_digest": self.best.digest if self.best else None, "best_val_accuracy": self.best_score,
                "done": self.done, "failed": self.failed, "failures": dict(self.failures),
                "seconds": round(self.seconds, 3), "recovered": self.recovered, "out_dir": str(self.out_dir)}


# ------------------------------------------------------------------ the parent's loop
class SearchRun:
    """The parent's side of a search: searcher, ledger, counts, output files and progress."""

    def __init__(self, *, space: Space, ledger: Ledger, out_dir: Path, budget: int, steps: int, seed: int,
                 space_file: Path | None, searcher: Searcher, progress: bool = False):
        self.space, self.ledger, self.out, self.searcher = space, ledger, out_dir, searcher
        self.budget, self.steps, self.seed, self.space_file = budget, steps, seed, space_file
        self.progress, self.key = progress, {"steps": steps}
        counts = ledger.counts()
        self.finished, self.idx, self.repeats = counts["done"] + counts["failed"], ledger.next_idx(), 0
        top = ledger.best()
        self.best_score: float | None = top.score if top is not None else None
        self.best_idx: int = top.idx if top is not None else -1

    def replay(self) -> int:
        """Tell the searcher the ledger's finished trials (in planned order); how many."""
        history = self.ledger.finished()
        self.searcher.replay([(self.genotype(t), t.score, t.status == "failed") for t in history])
        _atomic_write(self.out / TRIALS_FILE, "".join(_jsonl(t) for t in history))
        return len(history)

    def genotype(self, trial: Trial) -> Genotype:
        return self.space.from_json(json.loads(trial.genotype))

    def next_job(self) -> tuple[Trial, TrialJob] | None:
        """Ask until a genotype not finished under this budget comes; ``None`` once the space looks spent."""
        while self.repeats < MAX_REPEATS:
            genotype = self.searcher.ask()
            trial = self.ledger.begin(genotype=genotype, budget=self.key, seed=self.seed, idx=self.idx)
            if not trial.reused:
                self.idx, self.repeats = self.idx + 1, 0
                return trial, TrialJob(trial.idx, genotype, self.steps, self.seed)
            self.repeats += 1
            if trial.status != "running":
                self.searcher.tell(genotype, trial.score, failed=trial.status == "failed")
        log.warning("%d asks in a row repeated finished trials: the space looks exhausted; stopping at %d",
                    MAX_REPEATS, self.finished)
        return None

    def record(self, trial: Trial, job: TrialJob, outcome: TrialOutcome) -> Trial:
        """Commit a trial's outcome, tell the searcher, append to ``trials.jsonl``."""
        if outcome.metrics is None:
            trial = self.ledger.fail(trial, outcome.error or "failed", outcome.seconds)
        else:
            trial = self.ledger.finish(trial, outcome.metrics, outcome.seconds)
        self.searcher.tell(job.genotype, trial.score, failed=trial.status == "failed")
        self.finished += 1
        with open(self.out / TRIALS_FILE, "a", encoding="utf-8") as handle:
            handle.write(_jsonl(trial))
        score = trial.score
        if self.improves(score, trial.idx):
            self.best_score, self.best_idx = score, trial.idx
            self.write_best((job.genotype, score, trial))
        log.info("trial %d/%d %s %s (%.1fs)", self.finished, self.budget, job.genotype.digest[7:19],
                 f"val acc {score:.4f}" if score is not None else trial.status, outcome.seconds)
        return trial

    def improves(self, score: float | None, idx: int) -> bool:
        """Whether a trial becomes the best: a higher score, or an equal one at a later index.

        Ties go to the later trial, as RandomNet's Algorithm 2 keeps a new architecture whose
        accuracy is >= the best (and as :meth:`Ledger.best` picks): with parallel workers, a
        trial that finishes last but was planned earlier does not take an equal best's place.
        """
        if score is None:
            return False
        if self.best_score is None or score > self.best_score:
            return True
        return score == self.best_score and idx > self.best_idx

    def drive(self, executor: Any, submit: Callable[[TrialJob], TrialOutcome], *, workers: int,
              after: Callable[[], None]) -> None:
        """Keep ``workers`` trials in flight until ``budget`` are finished; interrupted ones are released."""
        pending: dict[Future, tuple[Trial, TrialJob]] = {}
        with _progress_bar(self.progress, self.budget, self.finished) as advance:
            try:
                while True:
                    while len(pending) < workers and self.finished + len(pending) < self.budget:
                        job = self.next_job()
                        if job is None:
                            break
                        pending[self.submit(executor, submit, job)] = job
                    if not pending:
                        return
                    for future in wait(pending, return_when=FIRST_COMPLETED)[0]:
                        outcome = future.result()
                        self.record(*pending.pop(future), outcome)
                        after()
                        advance(self.best_score)
            except BaseException:
                for trial, _ in pending.values():
                    self.ledger.release(trial)
                raise

    def submit(self, executor: Any, submit: Callable[[TrialJob], TrialOutcome],
               job: tuple[Trial, TrialJob]) -> Future:
        """Hand a job to the executor; a trial interrupted before it is handed over is released."""
        try:
            return executor.submit(submit, job[1])
        except BaseException:
            self.ledger.release(job[0])
            raise

    def write_best(self, best: tuple[Genotype, float, Trial]) -> None:
        """``best.geno``: the genotype named ``best``, importing the space file relative to the folder."""
        genotype, score, trial = best
        named = self.space.validate(genotype.values, name="best",
                                    meta={"val_accuracy": round(score, 6), "trial": trial.idx})
        imports = (_relative(self.space_file, self.out),) if self.space_file else ()
        _atomic_write(self.out / BEST_FILE, named.to_text(imports=imports))

    def finish(self, *, seconds: float, recovered: int) -> tuple[Genotype, float] | None:
        """Rewrite ``trials.jsonl`` from the ledger, write ``best.geno`` and ``summary.json``."""
        trials = self.ledger.finished()
        _atomic_write(self.out / TRIALS_FILE, "".join(_jsonl(t) for t in trials))
        top = self.ledger.best()
        best = (self.genotype(top), float(top.score or 0.0), top) if top is not None else None
        if best is not None:
            self.write_best(best)
        counts = self.ledger.counts()
        summary = {"space": self.space.name, "fingerprint": self.space.fingerprint,
                   "searcher": self.searcher.name, "seed": self.seed, "budget": self.budget, "steps": self.steps,
                   "done": counts["done"], "failed": counts["failed"], "failures": self.ledger.failures(),
                   "recovered": recovered,
                   "seconds": round(seconds, 3), "trial_seconds": round(sum(t.seconds or 0 for t in trials), 3),
                   "best": None if best is None else {"digest": best[0].digest, SCORE_KEY: best[1],
                                                      "idx": best[2].idx, "values": best[0].values}}
        _atomic_write(self.out / SUMMARY_FILE, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        return None if best is None else best[:2]


def _jsonl(trial: Trial) -> str:
    return json.dumps(trial.to_json(), ensure_ascii=False, sort_keys=True) + "\n"


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


@contextmanager
def _progress_bar(enabled: bool, total: int, completed: int) -> Iterator[Callable[[float | None], None]]:
    """A rich progress bar over finished trials (a no-op when disabled); yields ``advance(best)``."""
    if not enabled:
        yield lambda best: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn()) as bar:
        task = bar.add_task("search", total=total, completed=completed)
        yield lambda best: bar.update(task, advance=1, description=f"search (best {best or 0:.4f})")


# ------------------------------------------------------------------ the driver
def run_search(space: Space, data: MultimodalDataset | str, *, searcher: str = "random", budget: int,
               out_dir: str | Path, steps: int | None = None, train_config: Any = None, seed: int = 0,
               resume: bool = False, workers: int = 1, share_weights: bool = True, progress: bool = False,
               trial_fn: TrialFn | None = None, space_file: str | Path | None = None,
               device: str | None = None, searcher_options: Mapping[str, Any] | None = None,
               pretrained: Mapping[str, Any] | None = None, features: Any = True,
               cache_dir: str | Path | None = None) -> SearchResult:
    """Search ``space`` on ``data`` (a dataset, or a spec for ``load_dataset``); see the module doc.

    ``budget``: trials to finish (done + failed); ``steps``: S per trial (default: the
    searcher's ``DEFAULT_STEPS``; :func:`default_steps` is RandomNet's rule); ``seed`` seeds the
    searcher and every trial's training; ``space_file`` is what ``best.geno`` imports (default:
    the file the space was loaded from);
    ``trial_fn(job, ctx)`` replaces :func:`train_trial`; ``pretrained`` (backbone node ->
    :class:`~genolang.runtime.pretrain.Pretrained`) is loaded into every trial's network;
    ``features`` (True, False or a FeatureCache to share) trains trials on their static
    prefix's cached outputs (:mod:`genolang.runtime.features`, on disk under ``cache_dir``).
    """
    if budget < 1 or workers < 1 or (steps is not None and steps < 1):
        raise SearchError(f"budget, workers and steps must be at least 1 (got {budget}, {workers}, {steps})")
    out, start = Path(out_dir), time.perf_counter()
    _check_out_dir(out, resume=resume)
    with _locked(out):
        dataset = data if isinstance(data, MultimodalDataset) else _load(str(data), seed=seed)
        config = train_config if train_config is not None else _default_config()
        steps = steps or searcher_class(searcher).DEFAULT_STEPS
        with Ledger(out / LEDGER_FILE) as ledger:
            recovered = _open_ledger(ledger, space, dataset, searcher=searcher, seed=seed, steps=steps, budget=budget)
            run = SearchRun(space=space, ledger=ledger, out_dir=out, budget=budget, steps=steps, seed=seed,
                            space_file=_space_file(space, space_file), progress=progress,
                            searcher=make_searcher(searcher, space, seed=seed, **dict(searcher_options or {})))
            run.replay()
            bank = _bank(out, share_weights, workers)
            ctx = TrialContext(space, dataset, config, device, bank, dict(pretrained or {}),
                               _feature_cache(dataset, features, cache_dir, device))
            with trial_executor(ctx, trial_fn or train_trial, workers=workers, data_seed=seed,
                                data=data if isinstance(data, str) else dataset) as (executor, submit):
                run.drive(executor, submit, workers=workers, after=partial(_save_bank, bank, out, workers))
            best = run.finish(seconds=time.perf_counter() - start, recovered=recovered)
            counts, trials, failures = ledger.counts(), ledger.finished(), ledger.failures()
    return SearchResult(best[0] if best else None, best[1] if best else None, counts["done"], counts["failed"],
                        time.perf_counter() - start, out, recovered, trials, failures)


def _feature_cache(data: MultimodalDataset, use: Any, cache_dir: str | Path | None, device: str | None) -> Any:
    """``use``: a FeatureCache (kept), True (a new one), False or None (none)."""
    from genolang.runtime.features import FeatureCache

    if isinstance(use, FeatureCache) or not use:
        return use or None
    return FeatureCache(data, cache_dir=cache_dir, device=device)


def _space_file(space: Space, given: str | Path | None) -> Path | None:
    """The file ``best.geno`` imports: the one given, else the file the space was loaded from."""
    if given is not None:
        return Path(given)
    source = getattr(space.ir.source, "name", "") if space.ir.source is not None else ""
    return Path(source) if source and Path(source).is_file() else None


def default_steps(data: MultimodalDataset, batch_size: int) -> int:
    """10% of the training set, in optimizer steps of ``batch_size`` (at least 1)."""
    return max(1, math.ceil(0.1 * len(data["train"]) / batch_size))


def _check_out_dir(out: Path, *, resume: bool) -> None:
    if out.exists() and not out.is_dir():
        raise SearchError(f"{out} is a file, not a folder")
    if out.exists() and any(out.iterdir()) and not resume:
        raise SearchError(f"{out} is not empty: resume the search there (--resume) or pick another folder")
    out.mkdir(parents=True, exist_ok=True)


@contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out`` (the OS releases it even on SIGKILL)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    with open(out / LOCK_FILE, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SearchError(f"another search is running in {out}") from None
        yield


def _load(spec: str, *, seed: int) -> MultimodalDataset:
    from genolang.runtime.data import load_dataset

    return load_dataset(spec, seed=seed)


def _default_config() -> Any:
    try:
        from genolang.runtime.train import TrainConfig
    except ImportError:  # a trainer-less install: trial_fn must not need one
        return None
    return TrainConfig()


def _open_ledger(ledger: Ledger, space: Space, data: MultimodalDataset, *, searcher: str, seed: int,
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


def _bank(out: Path, share: bool, workers: int) -> WeightBank | None:
    if not share:
        return None
    path = out / BANK_FILE
    return WeightBank.load(path) if workers == 1 and path.exists() else WeightBank()


def _save_bank(bank: WeightBank | None, out: Path, workers: int) -> None:
    if bank is not None and workers == 1:
        bank.save(out / BANK_FILE)
