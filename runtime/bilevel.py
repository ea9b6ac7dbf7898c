"""Differentiable (bilevel) architecture search on a space's supernet: BM-NAS, first order.

:func:`run_bilevel` trains the weights ``w`` and architecture logits ``alpha`` of the space's
supernet (:func:`~genolang.compiler.supernet.build_supernet`) by turns, as BM-NAS does
(seed_algorithms.md 1.6; reference ``train_searchable/*.py``, ``architect.py``):

- ``alternation="epoch"`` (the reference): per epoch, a full pass over ``train`` updating ``w``
  only, then a full pass over ``val`` with one architect step per batch (``alpha`` only).
  ``"batch"``: DARTS's first-order loop, per train batch an architect step on the next val
  batch, then a weight step.
- First-order architect: Adam(alpha; lr 3e-4, betas (0.5, 0.999), weight decay 1e-3). Weights:
  Adam with the reference's per-batch cosine schedule with warm restarts (:class:`CosineRestarts`).
  Frozen backbones are in no optimizer (they run in train mode, as in the reference).
- After each epoch the genotype is derived (``rule="bmnas"``: the pair rule over the backbone
  features; ``"darts"``: top-k) and the supernet scored on ``val``; the best epoch's genotype
  is kept (ties: the later epoch, as the NTU script).

The random driver's ledger and outputs (:mod:`genolang.runtime.search`): one row per epoch
(the derived genotype, budget ``{"epoch": e, "bilevel": true}``, the supernet's val metrics),
``best.geno``, ``trials.jsonl``, ``summary.json``. After each epoch ``supernet.pt`` (state dicts
of the supernet, objective, optimizers and schedule, the epoch and its row) is written
atomically, then the row; ``resume=True`` reloads it and goes on to ``epochs``. Each epoch
reseeds torch's RNG from ``(seed, epoch)`` and the schedule ignores the total, so a resumed run
equals an uninterrupted one.

Simplifications: the schedule counts whole batches per epoch, so its restarts fire (the
reference divides by a float count, and may never restart); the supernet is scored after the
val pass, in eval mode (the reference reads metrics during the pass, in train mode); fp32 only.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from itertools import chain, count
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from torch.nn import functional as F

from genolang.compiler.errors import CompileError
from genolang.files import atomic_write
from genolang.genotype import Genotype
from genolang.runtime.data import load_dataset
from genolang.runtime.dataset import MultimodalDataset, Split
from genolang.runtime.errors import DivergedError, SearchError
from genolang.runtime.evaluation import evaluate, first_output, progress_bar
from genolang.runtime.ledger import SCORE_KEY, Ledger, Trial
from genolang.runtime.runfolder import (
    LEDGER_FILE,
    check_out_dir,
    check_resumed_ledger,
    locked,
    space_file_of,
    write_best,
    write_summary,
    write_trials,
)
from genolang.runtime.search import SearchResult
from genolang.space import Space

if TYPE_CHECKING:
    from genolang.compiler.supernet import Supernet

__all__ = ["CHECKPOINT_FILE", "BilevelConfig", "BilevelRun", "CosineRestarts", "EpochRecord", "ObjectiveFactory",
           "SupervisedObjective", "run_bilevel"]

log = logging.getLogger(__name__)
CHECKPOINT_FILE = "supernet.pt"


class BilevelConfig(BaseModel):
    """Hyper-parameters of a bilevel search (defaults: BM-NAS's NTU search, seed_algorithms.md 1.8)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    batch_size: int = Field(96, ge=1)
    w_lr: float = Field(1e-3, gt=0)            # eta_max
    w_lr_min: float = Field(1e-6, ge=0)        # eta_min
    w_t0: int = Field(1, ge=1)                 # Ti: epochs of the first cosine period
    w_t_mult: int = Field(2, ge=1)             # Tm: period growth at each restart
    w_weight_decay: float = Field(3e-4, ge=0)
    arch_lr: float = Field(3e-4, gt=0)
    arch_betas: tuple[float, float] = (0.5, 0.999)
    arch_weight_decay: float = Field(1e-3, ge=0)
    grad_clip: float | None = Field(None, gt=0)
    alternation: Literal["epoch", "batch"] = "epoch"
    rule: Literal["bmnas", "darts"] = "bmnas"
    restrict: bool = True                      # bmnas pair rule over the backbone features only
    fixed: dict[str, Any] = Field(default_factory=dict)
    eval_batch_size: int = Field(256, ge=1)


class CosineRestarts:
    """BM-NAS/MFAS ``LRCosineAnnealingScheduler``, stepped once per weight batch.

    ``eta = eta_min + (eta_max - eta_min)(1 + cos(pi t / T_i)) / 2`` with ``t`` = batches
    since the last restart / batches per epoch; once ``eta`` reaches ``eta_min`` the
    period grows (``T_i *= T_m``) and ``t`` restarts at 0.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, *, eta_max: float, eta_min: float, t0: int, t_mult: int,
                 per_epoch: int):
        self.optimizer, self.eta_max, self.eta_min = optimizer, eta_max, eta_min
        self.t_i, self.t_mult, self.per_epoch, self.counter = float(t0), t_mult, max(1, per_epoch), 0

    def step(self) -> float:
        """Set and return the learning rate of the next batch."""
        t = self.counter / self.per_epoch
        self.counter += 1
        eta = self.eta_min + 0.5 * (self.eta_max - self.eta_min) * (1 + math.cos(math.pi * t / self.t_i))
        if eta <= self.eta_min + 1e-10:
            self.t_i, self.counter = self.t_i * self.t_mult, 0
        for group in self.optimizer.param_groups:
            group["lr"] = eta
        return eta

    def state_dict(self) -> dict[str, float]:
        return {"t_i": self.t_i, "counter": self.counter}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        self.t_i, self.counter = float(state["t_i"]), int(state["counter"])


#: ``factory(supernet, data)`` -> the objective: an :class:`nn.Module` (its parameters join the
#: weight optimizer) with ``loss(net, xs, y)`` for both levels and ``score(net, split, *,
#: batch_size)`` (metrics holding ``val_accuracy``) to select epochs; :class:`SupervisedObjective`
ObjectiveFactory = Callable[["Supernet", MultimodalDataset], Any]


class SupervisedObjective(nn.Module):
    """Cross-entropy (BCE-with-logits for multi-label) on the head's logits; val accuracy."""

    def __init__(self, net: Supernet, data: MultimodalDataset):
        super().__init__()
        self.inputs, self.task = tuple(net.graph.inputs), data.task

    def loss(self, net: nn.Module, xs: Mapping[str, torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        logits = first_output(net(*(xs[n] for n in self.inputs))).float()
        if self.task == "multi_label":
            return F.binary_cross_entropy_with_logits(logits, y.float())
        return F.cross_entropy(logits, y)

    def score(self, net: nn.Module, split: Split, *, batch_size: int) -> dict[str, Any]:
        m = evaluate(net, split, input_names=self.inputs, task=self.task, batch_size=batch_size)
        return {SCORE_KEY: m.accuracy, "val_loss": m.loss, "val_score": m.score}


@dataclass(frozen=True)
class EpochRecord:
    """One finished epoch: the derived genotype and the supernet's val metrics."""

    epoch: int
    genotype: Genotype
    metrics: dict[str, Any]
    seconds: float

    def to_state(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "values": self.genotype.values, "metrics": self.metrics, "seconds": self.seconds}


def _ticked(loss: torch.Tensor, advance: Callable[[], Any] | None) -> torch.Tensor:
    if advance is not None:
        advance()
    return loss


@contextmanager
def _grads(params: list[nn.Parameter], enabled: bool) -> Iterator[None]:
    """Temporarily turn ``requires_grad`` of ``params`` on or off."""
    for p in params:
        p.requires_grad_(enabled)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


class BilevelRun:
    """The supernet, its objective, both optimizers and the schedule of one bilevel search."""

    def __init__(self, space: Space, data: MultimodalDataset, config: BilevelConfig, *, seed: int = 0,
                 device: str | torch.device | None = None, objective: ObjectiveFactory | None = None,
                 searcher: str = "bmnas"):
        from genolang.compiler.supernet import build_supernet
        from genolang.runtime.train import resolve_device

        if "val" not in data.splits or not len(data["val"]) or not len(data["train"]):
            raise SearchError(f"a bilevel search needs non-empty 'train' and 'val' splits ({data.sizes()})")
        self.space, self.data, self.config, self.seed = space, data, config, int(seed)
        self.device = resolve_device(device)
        torch.manual_seed(self.seed)
        try:
            self.net = build_supernet(space, fixed=config.fixed, seed=self.seed).to(self.device)
        except CompileError as exc:
            raise SearchError(f"searcher {searcher!r} does not apply to space {space.name!r}: "
                              f"{exc.first.message}") from None
        self.objective = (objective or SupervisedObjective)(self.net, data).to(self.device)
        self.weights = self.net.weight_parameters() + list(self.objective.parameters())
        self.alphas = self.net.arch_parameters()
        self.w_opt = torch.optim.Adam(self.weights, lr=config.w_lr, weight_decay=config.w_weight_decay)
        self.arch_opt = torch.optim.Adam(self.alphas, lr=config.arch_lr, betas=config.arch_betas,
                                         weight_decay=config.arch_weight_decay)
        self.schedule = CosineRestarts(self.w_opt, eta_max=config.w_lr, eta_min=config.w_lr_min, t0=config.w_t0,
                                       t_mult=config.w_t_mult, per_epoch=self.batches_per_epoch("train"))

    def batches_per_epoch(self, split: str) -> int:
        n, b = len(self.data[split]), self.config.batch_size
        return n // b if n >= b else 1

    def batches(self, split: str, epoch: int) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]:
        """``split`` shuffled by ``(seed, epoch)``; whole batches when there are enough samples."""
        part = self.data[split]
        return part.batches(self.config.batch_size, shuffle=True, seed=self.seed * 1_000_003 + epoch,
                            device=self.device, drop_last=len(part) >= self.config.batch_size)

    def weight_step(self, xs: Mapping[str, torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        """One Adam step on the weights (the arch logits get no gradient); the loss."""
        self.schedule.step()
        return self._step(self.w_opt, self.alphas, xs, y, clip=self.config.grad_clip)

    def arch_step(self, xs: Mapping[str, torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        """One first-order architect step (the weights get no gradient); the loss."""
        return self._step(self.arch_opt, self.weights, xs, y)

    def _step(self, optimizer: torch.optim.Optimizer, frozen: list[nn.Parameter], xs: Mapping[str, torch.Tensor],
              y: torch.Tensor, *, clip: float | None = None) -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        with _grads(frozen, False):
            loss = self.objective.loss(self.net, xs, y)
            loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(self.weights, clip)
        optimizer.step()
        return loss.detach()

    def weight_pass(self, epoch: int, advance: Callable[[], Any] | None = None) -> float:
        """The 'train' phase: a full pass over ``train`` updating the weights; the mean loss."""
        self.net.train()
        return _mean([_ticked(self.weight_step(xs, y), advance) for xs, y in self.batches("train", epoch)], "train")

    def arch_pass(self, epoch: int, advance: Callable[[], Any] | None = None) -> float:
        """The 'dev' phase: a full pass over ``val``, one architect step per batch; the mean loss.

        As the reference, the network stays in train mode (BN statistics, dropout).
        """
        self.net.train()
        return _mean([_ticked(self.arch_step(xs, y), advance) for xs, y in self.batches("val", epoch)], "val")

    def interleaved_pass(self, epoch: int, advance: Callable[[], Any] | None = None) -> tuple[float, float]:
        """DARTS: per training batch, an architect step on the next val batch, then a weight step."""
        self.net.train()
        val = chain.from_iterable(self.batches("val", epoch + 7919 * cycle) for cycle in count())  # val, cycled
        w_losses, a_losses = [], []
        for xs, y in self.batches("train", epoch):
            a_losses.append(self.arch_step(*next(val)))
            w_losses.append(_ticked(self.weight_step(xs, y), advance))
        return _mean(w_losses, "train"), _mean(a_losses, "val")

    def run_epoch(self, epoch: int, *, progress: bool = False) -> EpochRecord:
        """Epoch ``epoch`` (1-based): the passes, then the derived genotype and the val score."""
        start = time.perf_counter()
        torch.manual_seed(self.seed * 1_000_003 + epoch)
        batch_mode = self.config.alternation == "batch"
        total = self.batches_per_epoch("train") + (0 if batch_mode else self.batches_per_epoch("val"))
        with progress_bar(enabled=progress) as bar:
            task = bar.add_task(f"epoch {epoch}", total=total)
            advance = lambda: bar.advance(task)  # noqa: E731
            if batch_mode:
                train_loss, arch_loss = self.interleaved_pass(epoch, advance)
            else:
                train_loss, arch_loss = self.weight_pass(epoch, advance), self.arch_pass(epoch, advance)
        metrics = self.objective.score(self.net, self.data["val"], batch_size=self.config.eval_batch_size)
        metrics.update(train_loss=train_loss, arch_loss=arch_loss, lr=self.w_opt.param_groups[0]["lr"], epoch=epoch)
        genotype = self.net.derive(rule=self.config.rule, restrict=self.config.restrict, name=f"epoch_{epoch}")
        return EpochRecord(epoch, genotype, metrics, time.perf_counter() - start)

    def state_dict(self, record: EpochRecord) -> dict[str, Any]:
        """Everything a resume needs, as plain containers of tensors (``weights_only``-loadable)."""
        parts = {k: v.state_dict() for k, v in self._stateful().items()}
        return {"epoch": record.epoch, "record": record.to_state(), **parts}

    def _stateful(self) -> dict[str, Any]:
        return {"supernet": self.net, "objective": self.objective, "w_opt": self.w_opt, "arch_opt": self.arch_opt,
                "schedule": self.schedule}

    def load_state_dict(self, state: Mapping[str, Any]) -> EpochRecord:
        """Restore a :meth:`state_dict`; the record of its epoch."""
        for key, part in self._stateful().items():
            part.load_state_dict(state[key])
        rec = state["record"]
        genotype = self.space.validate(dict(rec["values"]), name=f"epoch_{rec['epoch']}")
        return EpochRecord(int(rec["epoch"]), genotype, dict(rec["metrics"]), float(rec["seconds"]))


def _mean(losses: list[torch.Tensor], split: str) -> float:
    """The mean loss of a pass; a non-finite one stops the search (DivergedError)."""
    value = float(torch.stack(losses).mean()) if losses else float("nan")
    if losses and not math.isfinite(value):
        raise DivergedError(f"the bilevel search loss on {split!r} became {value}; lower the learning rates")
    return value


# ------------------------------------------------------------------ the driver
def run_bilevel(space: Space, data: MultimodalDataset | str, *, out_dir: str | Path, epochs: int,
                config: BilevelConfig | None = None, seed: int = 0, resume: bool = False, progress: bool = False,
                device: str | torch.device | None = None, objective: ObjectiveFactory | None = None,
                searcher: str = "bmnas", space_file: str | Path | None = None,
                meta: Mapping[str, Any] | None = None) -> SearchResult:
    """Search ``space`` on ``data`` by bilevel optimisation for ``epochs`` epochs; see the module doc.

    ``objective(supernet, data)`` replaces the supervised loss (the self-supervised search
    passes NT-Xent); ``meta`` is pinned in the ledger with the config (a resume must match).
    """
    if epochs < 1:
        raise SearchError(f"epochs must be at least 1 (got {epochs})")
    config, out, start = config or BilevelConfig(), Path(out_dir), time.perf_counter()
    check_out_dir(out, resume=resume)
    with locked(out):
        dataset = data if isinstance(data, MultimodalDataset) else load_dataset(str(data), seed=seed)
        run = BilevelRun(space, dataset, config, seed=seed, device=device, objective=objective, searcher=searcher)
        with Ledger(out / LEDGER_FILE) as ledger:
            if resume:
                check_resumed_ledger(ledger, out, budget=epochs, unit="epochs")
            recovered = _open_ledger(ledger, space, dataset, searcher=searcher, seed=seed, epochs=epochs,
                                     pinned={"bilevel": config.model_dump(mode="json"), **dict(meta or {})})
            done = _resume(run, ledger, out, seed=seed) if resume else 0
            for epoch in range(done + 1, epochs + 1):
                record = run.run_epoch(epoch, progress=progress)
                atomic_write(out / CHECKPOINT_FILE, partial(torch.save, run.state_dict(record)))
                _record(ledger, record, seed=seed)
                write_trials(out, ledger.finished())
                log.info("%s epoch %d/%d: %s=%.4f, derived %s", searcher, epoch, epochs, SCORE_KEY,
                         record.metrics[SCORE_KEY], record.genotype.digest[7:19])
            trials = ledger.finished()
            best = _write_outputs(out, space, trials, run, searcher=searcher, seed=seed, epochs=epochs,
                                  recovered=recovered, seconds=time.perf_counter() - start,
                                  space_file=space_file_of(space, space_file))
    genotype, score = best if best is not None else (None, None)
    return SearchResult(genotype, score, len(trials), 0, time.perf_counter() - start, out, recovered, trials)


def _open_ledger(ledger: Ledger, space: Space, data: MultimodalDataset, *, searcher: str, seed: int, epochs: int,
                 pinned: Mapping[str, Any]) -> int:
    """Check (or write) the search's meta; drop rows left running; how many there were."""
    expected = {"space_fingerprint": space.fingerprint, "searcher": searcher, "searcher_seed": seed,
                "budget": {"bilevel": True}, "data": data.name, **pinned}
    ledger.check_meta(**expected)
    if not ledger.meta():
        ledger.write_meta(**expected, space=space.name, search=os.urandom(6).hex(), created=time.time())
    ledger.write_meta(trials=epochs)
    ledger.search = str(ledger.meta()["search"])
    return ledger.recover()


def _resume(run: BilevelRun, ledger: Ledger, out: Path, *, seed: int) -> int:
    """Reload the checkpoint (writing its epoch's row if the ledger lacks it); the epochs done."""
    epochs, path = max((int(t.budget.get("epoch", 0)) for t in ledger.finished()), default=0), out / CHECKPOINT_FILE
    if not path.exists():
        if epochs:
            raise SearchError(f"{out}: the ledger records {epochs} epoch(s) but {path.name} is missing")
        return 0
    try:
        state = torch.load(path, map_location=run.device, weights_only=True)
    except Exception as exc:  # unpickling errors of many kinds
        raise SearchError(f"cannot read the search checkpoint {path}: {exc}") from exc
    record = run.load_state_dict(state)
    if epochs > record.epoch:
        raise SearchError(f"{out}: the ledger records epoch {epochs}, the checkpoint only {record.epoch}")
    _record(ledger, record, seed=seed)
    log.info("resumed after epoch %d from %s", record.epoch, path)
    return record.epoch


def _record(ledger: Ledger, record: EpochRecord, *, seed: int) -> Trial:
    """The epoch's ledger row (an existing one is kept)."""
    trial = ledger.begin(genotype=record.genotype, budget={"epoch": record.epoch, "bilevel": True}, seed=seed,
                         idx=record.epoch - 1)
    return trial if trial.reused else ledger.finish(trial, record.metrics, record.seconds)


def _write_outputs(out: Path, space: Space, trials: list[Trial], run: BilevelRun, *, searcher: str, seed: int,
                   epochs: int, recovered: int, seconds: float,
                   space_file: Path | None) -> tuple[Genotype, float] | None:
    """``trials.jsonl``, ``best.geno`` and ``summary.json``; the best (genotype, score).

    The best epoch has the highest score; ties go to the later epoch (the reference's ``>=``).
    """
    write_trials(out, trials)
    scored = [t for t in trials if t.score is not None]
    top = max(scored, key=lambda t: (t.score, t.idx)) if scored else None
    best, best_doc = None, None
    if top is not None:
        meta = {SCORE_KEY: round(float(top.score or 0.0), 6), "epoch": top.idx + 1}
        best = (write_best(out, space, top.values, meta, space_file), float(top.score or 0.0))
        best_doc = {"digest": best[0].digest, SCORE_KEY: best[1], "idx": top.idx, "epoch": top.idx + 1,
                    "values": best[0].values}
    summary = {"space": space.name, "fingerprint": space.fingerprint, "searcher": searcher, "seed": seed,
               "epochs": epochs, "done": len(trials), "failed": 0, "recovered": recovered,
               "seconds": round(seconds, 3), "config": run.config.model_dump(mode="json"), "best": best_doc,
               "arch_weights": {p: w.cpu().tolist() for p, w in run.net.arch.snapshot().items()}}
    write_summary(out, summary)
    return best
