"""One search trial, in whichever process runs it (see :mod:`genolang.runtime.search`).

A trial function ``trial_fn(job, ctx) -> metrics`` trains ``job.genotype`` for ``job.steps``
steps and returns at least ``{"val_accuracy": ...}``. The default, :func:`train_trial`,
follows RandomNet: compile, load the weights the bank holds for the same nodes, train,
store the trained weights back. The bank a trial function sees (``ctx.bank``) is the trial's
own: :func:`execute` forks it from the driver's bank as the job carries it (``job.bank``),
and hands the tensors the trial stored back in its outcome (``outcome.stored``), for the
driver's bank (:mod:`genolang.runtime.sharing`); so a trial starts from the same weights in
whichever process or machine it runs. Tests and other protocols inject their own (a module-level
function when trials run in worker processes, since it is pickled).

:func:`execute` turns the failures a search survives (:data:`FAILURES`: divergence, out of
memory, a genotype that does not compile) into a :class:`TrialOutcome` carrying the reason;
any other exception is a bug and stops the search.

Where trials run is the executor's business (:mod:`genolang.runtime.executors`);
:func:`worker_context` builds the context of a worker process.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from genolang.compiler.errors import CompileError
from genolang.genotype import Genotype
from genolang.runtime.dataset import MultimodalDataset
from genolang.runtime.errors import DivergedError, OutOfMemoryError, SearchError
from genolang.runtime.ledger import SCORE_KEY
from genolang.runtime.sharing import BankState, WeightBank
from genolang.space import Space

log = logging.getLogger(__name__)

#: what makes a trial fail (recorded, the search goes on); anything else stops the search
FAILURES: tuple[type[BaseException], ...] = (DivergedError, OutOfMemoryError, CompileError, torch.OutOfMemoryError)


@dataclass(frozen=True)
class TrialJob:
    """One trial to run: the genotype, its planned index, S steps, the training seed, and the
    driver's weight bank when the trial was dispatched (``None`` without weight sharing)."""

    idx: int
    genotype: Genotype
    steps: int
    seed: int
    bank: BankState | None = field(default=None, repr=False, compare=False)


@dataclass
class TrialContext:
    """What the trials of one process share: space, data, training config, device, weight bank
    (``None``: no sharing; else a bank whose scheme each trial's bank takes, :func:`execute`),
    pre-trained backbones (node -> :class:`~genolang.runtime.pretrain.Pretrained`) and the
    frozen-prefix feature cache (:class:`~genolang.runtime.features.FeatureCache`; ``None``:
    every trial runs its whole network on the raw data)."""

    space: Space
    data: MultimodalDataset
    config: Any = None  # a TrainConfig; None means TrainConfig()'s defaults
    device: str | None = None
    bank: WeightBank | None = None
    pretrained: Mapping[str, Any] = field(default_factory=dict)
    features: Any = None


TrialFn = Callable[[TrialJob, TrialContext], Mapping[str, Any]]


@dataclass(frozen=True)
class TrialOutcome:
    """A trial's result as it crosses back to the parent: metrics, or the failure's reason; and
    with weight sharing, the tensors the trial stored (a failed trial's never reach the bank)."""

    metrics: dict[str, Any] | None
    error: str | None
    seconds: float
    stored: BankState | None = field(default=None, repr=False)

    @property
    def failed(self) -> bool:
        return self.metrics is None


def train_trial(job: TrialJob, ctx: TrialContext) -> dict[str, Any]:
    """The default trial: compile, load shared weights, train S steps, val accuracy, store weights.

    Pre-trained backbones are loaded after the bank (they always win). With a feature cache,
    the network's static prefix runs once per dataset and only the rest trains
    (:mod:`genolang.runtime.features`). With ``config.steps`` set,
    :func:`~genolang.runtime.train.train` evaluates ``val`` once, after the last step, so
    ``best_val`` is the trained network's validation result. Weights of a diverged trial
    never reach the bank (the exception comes first).
    """
    from genolang.compiler.compile import compile_genotype
    from genolang.runtime.train import TrainConfig, resolve_device

    device = resolve_device(ctx.device)
    torch.manual_seed(job.seed)  # the fresh weights: the same for a job whatever ran before in this process
    compiled = compile_genotype(ctx.space, job.genotype, device=device)
    net = compiled.net
    shared = ctx.bank.load_into(net) if ctx.bank is not None else 0
    config = (ctx.config or TrainConfig()).model_copy(update={"steps": job.steps, "seed": job.seed})
    result = train_compiled(net, ctx, config, device=device)
    if ctx.bank is not None:
        ctx.bank.store_from(net)
    return {SCORE_KEY: result.best_val.accuracy, "val_loss": result.best_val.loss,
            "val_score": result.best_val.score, "steps": result.steps, "train_seconds": round(result.seconds, 3),
            "params": compiled.summary.params, "shared_tensors": shared}


def train_compiled(net: Any, ctx: TrialContext, config: Any, *, device: Any, **options: Any) -> Any:
    """Train a compiled network the way the trials do: pre-trained backbones in, on cached
    features when its prefix is static (the shared modules train), else on the raw data."""
    from genolang.runtime.pretrain import apply_pretrained
    from genolang.runtime.train import train

    apply_pretrained(net, dict(ctx.pretrained))
    prepared = ctx.features.prepare(net) if ctx.features is not None else None
    model, data = prepared if prepared is not None else (net, ctx.data)
    return train(model, data, config, input_names=model.input_names, device=device, **options)


def execute(job: TrialJob, ctx: TrialContext, fn: TrialFn) -> TrialOutcome:
    """Run one trial; the failures of :data:`FAILURES` become an outcome with their reason.

    With weight sharing (``ctx.bank``), the trial runs on a fork of ``job.bank`` and its
    outcome carries the tensors it stored. Non-finite metric values are stored as ``None``
    (the ledger's JSON has no NaN).
    """
    start = time.perf_counter()
    bank = ctx.bank.fork(job.bank) if ctx.bank is not None else None
    try:
        metrics = dict(fn(job, ctx if bank is None else replace(ctx, bank=bank)))
    except FAILURES as exc:
        reason = failure_reason(exc)
        log.info("trial %d (%s) failed: %s", job.idx, job.genotype.digest[7:19], reason.splitlines()[0])
        return TrialOutcome(None, reason, time.perf_counter() - start)
    if not isinstance(metrics.get(SCORE_KEY), (int, float)):
        raise SearchError(f"the trial function returned no number {SCORE_KEY!r} (got {metrics!r})")
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()}
    if clean[SCORE_KEY] is None:
        return TrialOutcome(None, f"DivergedError: {SCORE_KEY} is {metrics[SCORE_KEY]}", time.perf_counter() - start)
    return TrialOutcome(clean, None, time.perf_counter() - start, bank.written() if bank is not None else None)


def failure_reason(exc: BaseException) -> str:
    """``"DivergedError: the training loss became nan ..."``, ``"CompileError E0400: node ..."``
    (the first diagnostic's code, the messages joined)."""
    diagnostics = getattr(exc, "diagnostics", None)
    text = "; ".join(d.message for d in diagnostics) if diagnostics else str(exc)
    code = f" {diagnostics[0].code}" if diagnostics and getattr(diagnostics[0], "code", None) else ""
    return f"{type(exc).__name__}{code}: {text}".strip()


def worker_context(*, space: Space, data: MultimodalDataset | str, data_seed: int, config: Any,
                   device: str | None, share: bool, pretrained: Mapping[str, Any],
                   features: tuple[bool, Any], scheme: Any = None) -> TrialContext:
    """The context of a worker process: the dataset (a spec is loaded here, with ``data_seed``),
    when ``share`` an empty bank sharing by ``scheme`` (each trial forks the bank its job carries:
    a worker keeps no weights between trials), a feature cache when ``features[0]`` (in the
    folder ``features[1]``, shared on disk)."""
    if isinstance(data, str):
        from genolang.runtime.data import load_dataset

        data = load_dataset(data, seed=data_seed)
    cache = None
    if features[0]:
        from genolang.runtime.features import FeatureCache

        cache = FeatureCache(data, cache_dir=features[1], device=device)
    return TrialContext(space, data, config, device, WeightBank(scheme) if share else None, pretrained, cache)
