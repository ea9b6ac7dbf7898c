"""The trial loop: ask the strategy, train each genotype S steps, record the val accuracy.

RandomNet's protocol (Alletto et al. 2020, Algorithm 2): E architectures, each trained for
S steps (RandomNet: 10% of the training set, :func:`default_steps`; here by default the
searcher's ``DEFAULT_STEPS``, chosen by ``benchmarks/bench_ranking.py``) starting from the weights that
earlier architectures left at the same graph node (:mod:`genolang.runtime.sharing`), scored by
validation accuracy; the best is kept (ties: the later trial, as the paper's ``>=``).

:class:`SearchRun` is the driver's side of a trial search (:meth:`genolang.runtime.study.Study.run_trials`):
it asks the strategy for the next genotype given the storage's history (running and
failed trials included), hands it to the executor, and records each outcome in the storage
as it happens, so a search killed at any moment (even by SIGKILL) resumes: the storage's
meta is checked, trials left running are retried, and the search goes on until ``budget``
trials are finished (done + failed). A finished trial is never trained again.

Reproducibility: the driver alone plans a trial's index ``k`` (the smallest one not in the
storage, so a trial a kill interrupted is planned again under its own index) and its training
seed (:func:`trial_seed` of the search seed and ``k``). The strategy is asked for trial ``k``
with the history of the trials planned before ``k``, and only once it is ready: when every
earlier trial has finished (as in a one-worker run), or earlier when its ``ready(history)``
says so, which a strategy may only do while its answer cannot depend on the outcomes still
running (random search: always; evolution: while it fills its first population; MFAS:
within a step). So trial ``k`` gets the genotype and the seed it gets in an uninterrupted
one-worker run, whatever the number of workers and the kills and resumes on the way.

Weight sharing (:mod:`genolang.runtime.sharing`): the driver's bank is the only one. A job
carries the bank as the finished trials left it, the outcome the tensors the trial trained,
which the driver adds to its bank and writes with the trial's commit (:class:`BankHooks`).
As in RandomNet, trial ``k`` starts from the bank trials ``0..k-1`` left, so with sharing a
search is a chain (``chained``): trial ``k`` is dispatched once every earlier trial has
finished, whatever the strategy's ``ready`` says, and trials run one at a time.

A trial that diverges, runs out of memory or does not compile is recorded as failed with its
reason, and the search goes on (:mod:`genolang.runtime.search_trial`). Outputs
(:mod:`genolang.runtime.runfolder`): ``best.geno``, ``trials.jsonl``, ``summary.json`` (with
``failures``: failed trials per reason class, e.g. ``{"CompileError E0400": 4}``, and
``search_config``: the study's :class:`~genolang.runtime.study.SearchConfig`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from genolang.genotype import Genotype
from genolang.runtime.dataset import MultimodalDataset
from genolang.runtime.executors import Submit
from genolang.runtime.ledger import SCORE_KEY, Storage, Trial
from genolang.runtime.progress import progress_bar
from genolang.runtime.runfolder import append_trial, write_best, write_summary, write_trials
from genolang.runtime.search_trial import TrialJob, TrialOutcome
from genolang.runtime.sharing import BankState
from genolang.runtime.strategy import History, Observation
from genolang.space import Space

__all__ = ["MAX_REPEATS", "WAIT", "BankHooks", "Proposer", "SearchResult", "SearchRun", "default_steps",
           "observations", "trial_seed"]

log = logging.getLogger(__name__)

MAX_REPEATS = 100  # proposals in a row that hit finished trials before the space counts as exhausted
WAIT = "wait"  # what :meth:`SearchRun.next_job` returns while the strategy waits for running trials


def trial_seed(seed: int, idx: int) -> int:
    """The training seed of trial ``idx`` of a search seeded ``seed`` (31 bits, the same on every run and machine)."""
    digest = hashlib.sha256(f"genolang-trial:{int(seed)}:{int(idx)}".encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


class Proposer(Protocol):
    """A trial strategy as the loop sees it: the next genotype given the history.

    ``attempt`` counts the proposals in a row that hit a trial already in the storage (0 first).
    A proposer may also define ``ready(history) -> bool`` (see the module doc).
    """

    @property
    def name(self) -> str: ...

    @property
    def DEFAULT_STEPS(self) -> int:
        """Training steps per trial when the config gives none."""
        ...

    def ask(self, history: History, *, attempt: int = 0) -> Genotype: ...


def observations(space: Space, trials: list[Trial], cache: dict[str, Genotype] | None = None) -> list[Observation]:
    """The storage's trials as the strategy's history (planned order); ``cache``: genotypes by digest."""
    cache = {} if cache is None else cache
    for t in trials:
        if t.digest not in cache:
            cache[t.digest] = space.from_json(json.loads(t.genotype))
    return [Observation(t.idx, cache[t.digest], t.status, t.score) for t in trials]


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


# ------------------------------------------------------------------ the driver's loop
class BankHooks(Protocol):
    """The driver's weight bank and its file: a snapshot for each job; a trial's tensors added and
    the bank staged before its commit, the staged file committed after."""

    def snapshot(self) -> BankState: ...
    def stage(self, trial: Trial, stored: BankState | None) -> None: ...
    def commit(self, trial: Trial) -> None: ...


class SearchRun:
    """The driver's side of a trial search: strategy, storage, counts, output files and progress.

    ``summary`` holds what ``summary.json`` records besides the counts (the study's config);
    ``chained``: each trial waits for every earlier one (weight sharing, module doc).
    """

    def __init__(self, *, space: Space, ledger: Storage, out_dir: Path, budget: int, steps: int, seed: int,
                 space_file: Path | None, searcher: Proposer, progress: bool = False,
                 summary: Mapping[str, Any] | None = None, chained: bool = False):
        self.space, self.ledger, self.out, self.searcher, self.chained = space, ledger, out_dir, searcher, chained
        self.budget, self.steps, self.seed, self.space_file = budget, steps, seed, space_file
        self.progress, self.key, self.summary = progress, {"steps": steps}, dict(summary or {})
        counts = ledger.counts()
        self.finished = counts["done"] + counts["failed"]
        self.planned = {t.idx for t in ledger.history()}  # the indices in the storage (and in flight)
        top = ledger.best()
        self.best_score: float | None = top.score if top is not None else None
        self.best_idx: int = top.idx if top is not None else -1
        self._genotypes: dict[str, Genotype] = {}

    def start(self) -> int:
        """Rewrite ``trials.jsonl`` from the storage (a torn last line goes); how many trials it holds."""
        history = self.ledger.finished()
        write_trials(self.out, history)
        return len(history)

    def history(self) -> list[Observation]:
        """Every trial of the storage (running, done, failed), in planned order."""
        return observations(self.space, self.ledger.history(), self._genotypes)

    def genotype(self, trial: Trial) -> Genotype:
        return self.space.from_json(json.loads(trial.genotype))

    def next_index(self) -> int:
        """The smallest index not planned yet (a gap a kill left comes first)."""
        return next(k for k in range(len(self.planned) + 1) if k not in self.planned)

    def ready(self, history: list[Observation]) -> bool:
        """Whether the strategy may be asked now: every earlier trial finished, or (not ``chained``) its
        ``ready`` says so."""
        if all(o.finished for o in history):
            return True
        if self.chained:
            return False
        ready = getattr(self.searcher, "ready", None)
        return bool(ready(history)) if ready is not None else False

    def next_job(self, bank: BankHooks | None = None) -> tuple[Trial, TrialJob] | str | None:
        """Plan the next trial: ask until a genotype not in the storage under this budget comes; the
        job carries ``bank``'s snapshot.

        :data:`WAIT` while the strategy waits for running trials; ``None`` once the space looks spent.
        """
        k = self.next_index()
        history = [o for o in self.history() if o.idx < k]
        if not self.ready(history):
            return WAIT
        for attempt in range(MAX_REPEATS):
            genotype = self.searcher.ask(history, attempt=attempt)
            trial = self.ledger.begin(genotype=genotype, budget=self.key, seed=self.seed, idx=k)
            if not trial.reused:
                self.planned.add(k)
                state = bank.snapshot() if bank is not None else None
                return trial, TrialJob(k, genotype, self.steps, trial_seed(self.seed, k), state)
        log.warning("%d proposals in a row repeated trials of the storage: the space looks exhausted; "
                    "stopping at %d", MAX_REPEATS, self.finished)
        return None

    def record(self, trial: Trial, job: TrialJob, outcome: TrialOutcome, bank: BankHooks | None = None) -> Trial:
        """Commit a trial's outcome and append it to ``trials.jsonl``.

        ``bank.stage(trial, stored)`` (the trial's tensors into the driver's bank, written to a
        staged file) runs before the commit and ``bank.commit(trial)`` after it
        (:class:`genolang.runtime.bankfile.BankFile`): the bank on disk is always the one the
        finished trials left, whenever a kill comes.
        """
        if bank is not None:
            bank.stage(trial, outcome.stored)
        if outcome.metrics is None:
            closed = self.ledger.fail(trial, outcome.error or "failed", outcome.seconds)
        else:
            closed = self.ledger.finish(trial, outcome.metrics, outcome.seconds)
        if bank is not None:
            bank.commit(trial)
        trial = closed
        self.finished += 1
        append_trial(self.out, trial)
        score = trial.score
        if self.improves(score, trial.idx):
            self.best_score, self.best_idx = score, trial.idx
            self.write_best(job.genotype, float(score or 0.0), trial)
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

    def drive(self, submit: Submit, *, workers: int, bank: BankHooks | None = None) -> None:
        """Keep ``workers`` trials in flight until ``budget`` are finished; interrupted ones are released."""
        pending: dict[Future, tuple[Trial, TrialJob]] = {}
        with _progress_bar(self.progress, self.budget, self.finished) as advance:
            try:
                while True:
                    while len(pending) < workers and self.finished + len(pending) < self.budget:
                        job = self.next_job(bank)
                        if job is None or isinstance(job, str):  # the space looks spent, or WAIT
                            break
                        pending[self.submit(submit, job)] = job
                    if not pending:
                        return
                    for future in wait(pending, return_when=FIRST_COMPLETED)[0]:
                        outcome = future.result()
                        trial = self.record(*pending[future], outcome, bank)
                        del pending[future]  # only now: an interrupt while recording releases the trial
                        advance(self.progress_line(trial))
            except BaseException:
                for trial, _ in pending.values():
                    self.ledger.release(trial)
                raise

    def progress_line(self, trial: Trial) -> str:
        """The progress bar's text after a trial (without a terminal: the line printed for it)."""
        score = trial.score
        result = f"val acc {score:.4f}" if score is not None else trial.status
        return (f"search: trial {trial.idx} {trial.digest[7:19]} {result} ({trial.seconds or 0:.1f}s), "
                f"best {self.best_score or 0:.4f}")

    def submit(self, submit: Submit, job: tuple[Trial, TrialJob]) -> Future:
        """Hand a job to the executor; a trial interrupted before it is handed over is released."""
        try:
            return submit(job[1])
        except BaseException:
            self.ledger.release(job[0])
            raise

    def write_best(self, genotype: Genotype, score: float, trial: Trial) -> None:
        """``best.geno``: the genotype named ``best``, importing the space file relative to the folder."""
        write_best(self.out, self.space, genotype.values, {"val_accuracy": round(score, 6), "trial": trial.idx},
                   self.space_file)

    def finish(self, *, seconds: float, recovered: int) -> tuple[Genotype, float] | None:
        """Rewrite ``trials.jsonl`` from the storage, write ``best.geno`` and ``summary.json``."""
        trials = self.ledger.finished()
        write_trials(self.out, trials)
        top = self.ledger.best()
        best = (self.genotype(top), float(top.score or 0.0), top) if top is not None else None
        if best is not None:
            self.write_best(*best)
        counts = self.ledger.counts()
        summary = {"space": self.space.name, "fingerprint": self.space.fingerprint,
                   "searcher": self.searcher.name, "seed": self.seed, "budget": self.budget, "steps": self.steps,
                   "done": counts["done"], "failed": counts["failed"], "failures": self.ledger.failures(),
                   "recovered": recovered,
                   "seconds": round(seconds, 3), "trial_seconds": round(sum(t.seconds or 0 for t in trials), 3),
                   "best": None if best is None else {"digest": best[0].digest, SCORE_KEY: best[1],
                                                      "idx": best[2].idx, "values": best[0].values},
                   **self.summary}
        write_summary(self.out, summary)
        return None if best is None else best[:2]


@contextmanager
def _progress_bar(enabled: bool, total: int, completed: int) -> Iterator[Callable[[str], None]]:
    """Progress over finished trials (:func:`~genolang.runtime.progress.progress_bar`: a rich bar on
    a terminal, else a line per trial; nothing when disabled); yields ``advance(text)``."""
    if not enabled:
        yield lambda text: None
        return
    with progress_bar(enabled=True) as bar:
        task = bar.add_task("search", total=total, completed=completed)
        yield lambda text: bar.update(task, advance=1, description=text)


def default_steps(data: MultimodalDataset, batch_size: int) -> int:
    """10% of the training set, in optimizer steps of ``batch_size`` (at least 1)."""
    return max(1, math.ceil(0.1 * len(data["train"]) / batch_size))


