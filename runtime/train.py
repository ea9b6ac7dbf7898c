"""Training and evaluation of a compiled network on a :class:`MultimodalDataset`.

>>> r = train(net, data, TrainConfig(epochs=5), input_names=net.input_names, out_dir=Path("run"))  # doctest: +SKIP

Loss: cross-entropy (``single_label``) or BCE-with-logits (``multi_label``). ``val`` is
evaluated at every evaluation point; the best state (highest :attr:`Metrics.score`, then
lowest loss) is kept on the CPU, restored at the end, and ``test`` (if any) evaluated with
it. Runs are seeded (weights drawn before :func:`train` depend on the caller's seed). On
CUDA, ``amp`` autocasts to bf16 (fp16 + gradient scaler without bf16). A non-finite loss
raises :class:`DivergedError` naming the first bad step (``exc.step``); CUDA out of memory
raises :class:`~genolang.runtime.errors.OutOfMemoryError`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch.nn import functional as F

from genolang.compiler.weights import load_state_file, weights_record
from genolang.errors import Diagnostic
from genolang.files import atomic_write as _atomic
from genolang.runtime.dataset import MultimodalDataset, Task
from genolang.runtime.errors import DataError, DivergedError, OutOfMemoryError, TrainError
from genolang.runtime.evaluation import Metrics, amp_dtype, autocast, evaluate, f1_scores, first_output, progress_bar

__all__ = ["Metrics", "TrainConfig", "TrainResult", "evaluate", "f1_scores", "load_weights", "resolve_device",
           "save_weights", "train"]

log = logging.getLogger(__name__)

CHECK_EVERY = 16  # losses are checked for NaN/inf in groups, to spare a device sync per step


class TrainConfig(BaseModel):
    """Hyper-parameters of one training run (``steps``, when set, overrides ``epochs``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    epochs: int = Field(10, ge=1)
    steps: int | None = Field(None, ge=1)
    batch_size: int = Field(64, ge=1)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0)
    momentum: float = Field(0.9, ge=0)
    weight_decay: float = Field(1e-4, ge=0)
    schedule: Literal["constant", "cosine"] = "cosine"
    warmup_steps: int = Field(0, ge=0)
    grad_clip: float | None = Field(5.0, gt=0)
    amp: bool = True
    seed: int = 0
    eval_every: int | None = Field(None, ge=1)
    eval_batch_size: int = Field(256, ge=1)
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    max_val_batches: int | None = Field(None, ge=1)


@dataclass
class TrainResult:
    """What :func:`train` measured; the network holds the best state when it returns."""

    best_val: Metrics
    test: Metrics | None
    history: list[dict[str, Any]]
    steps: int
    seconds: float
    samples_per_second: float
    checkpoint: Path | None = None
    best_step: int = 0
    device: str = "cpu"
    config: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"best_val": self.best_val.to_json(), "test": self.test.to_json() if self.test else None,
                "best_step": self.best_step, "steps": self.steps, "seconds": round(self.seconds, 3),
                "samples_per_second": round(self.samples_per_second, 1), "device": self.device,
                "checkpoint": str(self.checkpoint) if self.checkpoint else None, "config": self.config,
                "history": self.history}


def resolve_device(name: str | torch.device | None) -> torch.device:
    """``None``/"auto": CUDA when available, else the CPU; "cuda" without CUDA is a TrainError."""
    if isinstance(name, torch.device):
        name = str(name)
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as exc:
        raise TrainError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TrainError(f"device {name!r} asked for, but CUDA is not available here "
                         "(no GPU, or a CPU-only torch); use --device cpu or auto")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise TrainError(f"device {name!r} asked for, but only {torch.cuda.device_count()} GPU(s) exist")
    return device


def train(net: torch.nn.Module, data: MultimodalDataset, config: TrainConfig, *, input_names: Sequence[str],
          device: str | torch.device | None = None, out_dir: Path | None = None, progress: bool = False,
          on_eval: Callable[[dict[str, Any]], Any] | None = None,
          meta: dict[str, Any] | None = None, weights_of: torch.nn.Module | None = None,
          digest: str | None = None) -> TrainResult:
    """Train ``net`` on ``data["train"]``, select on ``val``, test on ``test``; see the module doc.

    ``on_eval(entry)`` is called after each evaluation with the history entry; a truthy
    return stops the run early. ``meta`` is added to ``metrics.json``. ``weights_of``: the
    module whose weights ``out_dir/model.pt`` holds (default ``net``; the whole network when
    ``net`` is the trainable part of it, :mod:`genolang.runtime.features`); ``digest``: the
    genotype's, stored with those weights.
    """
    _check_inputs(data, input_names)
    run = _Run(net, data, config, input_names=tuple(input_names), device=resolve_device(device))
    start = time.perf_counter()
    try:
        run.loop(progress=progress, on_eval=on_eval)
        net.load_state_dict(run.best_state)
        test = None if "test" not in data.splits else evaluate(
            net, data["test"], input_names=input_names, task=data.task, device=run.device,
            batch_size=config.eval_batch_size, amp=run.amp_dtype is not None)
    except torch.OutOfMemoryError as exc:
        if run.device.type == "cuda":
            torch.cuda.empty_cache()
        raise OutOfMemoryError(f"out of memory on {run.device} at batch size {config.batch_size} "
                               f"(step {run.step}); lower the batch size") from exc
    assert run.best is not None, "the loop's last step (at least one: steps, epochs >= 1) evaluates"
    result = TrainResult(run.best, test, run.history, run.step, time.perf_counter() - start,
                         run.samples / max(run.train_seconds, 1e-9), best_step=run.best_step,
                         device=str(run.device), config=config.model_dump())
    if out_dir is not None:
        _write_outputs(net if weights_of is None else weights_of, result, Path(out_dir), data, meta or {},
                       digest=digest)
    return result


def save_weights(net: torch.nn.Module, path: str | os.PathLike[str], *, digest: str | None = None) -> Path:
    """Write ``net``'s ``state_dict`` (CPU tensors) to ``path`` atomically, with the digest of the
    genotype it was trained for (:func:`~genolang.compiler.weights.weights_record`)."""
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    record = weights_record(state, digest)
    return _atomic(Path(path), lambda tmp: torch.save(record, tmp))


def load_weights(net: torch.nn.Module, path: str | os.PathLike[str], *, digest: str | None = None) -> None:
    """Load weights saved by :func:`save_weights` (strict; ``weights_only`` unpickling); with
    ``digest``, weights of another genotype are refused (E0722)."""
    load_state_file(net, path, error=TrainError, digest=digest)


# ------------------------------------------------------------------ the loop
class _Run:
    """The state of one run: optimizer, schedule, scaler, best state and history."""

    def __init__(self, net: torch.nn.Module, data: MultimodalDataset, config: TrainConfig, *,
                 input_names: tuple[str, ...], device: torch.device):
        self.net, self.data, self.config, self.input_names, self.device = net, data, config, input_names, device
        self.train_split = data["train"]
        val = data["val"] if "val" in data.splits else None
        if val is None:
            raise TrainError(f"dataset {data.name!r} has no 'val' split to select the model on")
        self.val = val
        n = len(self.train_split)
        self.drop_last = n >= config.batch_size
        self.per_epoch = max(1, n // config.batch_size if self.drop_last else 1)
        self.total = config.steps or config.epochs * self.per_epoch
        self.amp_dtype = amp_dtype(device) if config.amp else None
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.step, self.samples, self.train_seconds, self.loss_sum, self.loss_count = 0, 0, 0.0, 0.0, 0
        self.history: list[dict[str, Any]] = []
        self.best: Metrics | None = None
        self.best_step = 0
        self.best_state: dict[str, torch.Tensor] = {}
        self.pending: list[tuple[int, torch.Tensor]] = []  # (step, loss) not yet checked

    def loop(self, *, progress: bool, on_eval: Callable[[dict[str, Any]], Any] | None) -> None:
        torch.manual_seed(self.config.seed)
        self.net.to(self.device).train()
        self.optimizer = _optimizer(self.net, self.config)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _lr_lambda(self.config, self.total))
        log.info("training %d steps (%d per epoch) on %s, batch %d", self.total, self.per_epoch, self.device,
                 self.config.batch_size)
        with progress_bar(enabled=progress) as bar:
            self.bar = bar.add_task("train", total=self.total)
            while self.step < self.total and not self.epoch(bar, on_eval):
                pass

    def epoch(self, bar: Any, on_eval: Callable[[dict[str, Any]], Any] | None) -> bool:
        """One pass over the shuffled training split; True when the run is over."""
        seed = self.config.seed * 1_000_003 + self.step // self.per_epoch
        tick = time.perf_counter()
        for xs, y in self.train_split.batches(self.config.batch_size, shuffle=True, seed=seed,
                                              device=self.device, drop_last=self.drop_last):
            self.step += 1
            self.samples += len(y)
            self.pending.append((self.step, self.update(xs, y)))
            bar.advance(self.bar)
            if len(self.pending) >= CHECK_EVERY:
                self.check_losses()
            if self.eval_due():
                self.train_seconds += time.perf_counter() - tick
                stop = self.evaluate_now(bar, on_eval)
                tick = time.perf_counter()
                if stop:
                    return True
            if self.step >= self.total:
                return True
        self.train_seconds += time.perf_counter() - tick
        return False

    def update(self, xs: dict[str, torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        """One optimizer step; the loss, detached, stays on the device."""
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(self.amp_dtype):
            logits = first_output(self.net(*(xs[n] for n in self.input_names)))
        if self.step == 1:
            check_labels(self.data, int(logits.shape[-1]))
        loss = _loss(logits.float(), y, self.data.task, self.config.label_smoothing)
        self.scaler.scale(loss).backward()
        if self.config.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.optimizer.param_groups[0]["params"], self.config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.schedule.step()
        return loss.detach()

    def check_losses(self) -> None:
        """Raise DivergedError at the first non-finite pending loss; else add them to the running mean."""
        if not self.pending:
            return
        losses = torch.stack([loss for _, loss in self.pending]).cpu()
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad):
            step = self.pending[int(bad[0])][0]
            exc = DivergedError(f"the training loss became {losses[int(bad[0])].item()} at step {step} "
                                f"(lr {self.config.lr:g}); lower the learning rate or enable grad_clip")
            exc.step = step  # type: ignore[attr-defined]
            raise exc
        self.loss_sum += float(losses.sum())
        self.loss_count += len(losses)
        self.pending.clear()

    def eval_due(self) -> bool:
        if self.step >= self.total:
            return True
        if self.config.eval_every is not None:
            return self.step % self.config.eval_every == 0
        return self.config.steps is None and self.step % self.per_epoch == 0

    def evaluate_now(self, bar: Any, on_eval: Callable[[dict[str, Any]], Any] | None) -> bool:
        """Evaluate on val, keep the best state, record history; True to stop early."""
        self.check_losses()
        metrics = evaluate(self.net, self.val, input_names=self.input_names, task=self.data.task,
                           device=self.device, batch_size=self.config.eval_batch_size,
                           max_batches=self.config.max_val_batches, amp=self.amp_dtype is not None)
        train_loss = self.loss_sum / max(self.loss_count, 1)
        self.loss_sum, self.loss_count = 0.0, 0
        if self.best is None or metrics.better_than(self.best):
            self.best, self.best_step = metrics, self.step
            self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in self.net.state_dict().items()}
        entry = {"step": self.step, "epoch": round(self.step / self.per_epoch, 3), "train_loss": train_loss,
                 "lr": self.schedule.get_last_lr()[0], "val": metrics.to_json()}
        self.history.append(entry)
        bar.update(self.bar, description=f"train: epoch {entry['epoch']:g}, loss {train_loss:.3f}, "
                                         f"val {metrics.score:.3f}")
        log.debug("step %d: %s", self.step, entry)
        return bool(on_eval(entry)) if on_eval is not None else False


# ------------------------------------------------------------------ helpers
def check_labels(data: MultimodalDataset, width: int) -> None:
    """Every split's labels fit a head of ``width`` outputs (checked at the first step: the whole
    splits, not the batch); else a :class:`DataError` (E0723) naming the split and the sizes."""
    for name, split in data.splits.items():
        labels = split.labels
        if not labels.numel():
            continue
        if data.task == "single_label":
            top, low = int(labels.max()), int(labels.min())
            if top < width and low >= 0:
                continue
            found = f"labels {low}..{top}"
            fix = f"give the head `classes = {top + 1}`" if low >= 0 else "labels must be >= 0"
        else:
            if labels.shape[-1] == width:
                continue
            found, fix = f"{labels.shape[-1]} label columns", f"give the head `classes = {labels.shape[-1]}`"
        raise DataError(Diagnostic("E0723", f"dataset {data.name!r}: the {name!r} split has {found}, but the "
                                            f"network's head has {width} output(s); {fix}, or use a dataset "
                                            f"that matches the head"))


def _check_inputs(data: MultimodalDataset, input_names: Sequence[str]) -> None:
    missing = [n for n in input_names if n not in data.modalities]
    if missing:
        raise TrainError(f"the network reads input(s) {', '.join(map(repr, missing))}, which dataset "
                         f"{data.name!r} lacks (it has {', '.join(data.modalities)})")
    if "train" not in data.splits or not len(data.splits["train"]):
        raise TrainError(f"dataset {data.name!r} has no training samples (splits: {data.sizes()})")


def _optimizer(net: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in net.parameters() if p.requires_grad]
    if not params:
        raise TrainError("the network has no trainable parameter")
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=config.lr, weight_decay=config.weight_decay)


def _lr_lambda(config: TrainConfig, total: int) -> Callable[[int], float]:
    """Linear warmup over ``warmup_steps``, then constant or a cosine decay to 0 at ``total``."""
    warm = config.warmup_steps

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if config.schedule == "constant":
            return 1.0
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))

    return factor


def _loss(logits: torch.Tensor, y: torch.Tensor, task: Task, smoothing: float) -> torch.Tensor:
    if task == "single_label":
        return F.cross_entropy(logits, y, label_smoothing=smoothing)
    target = y.float()
    if smoothing:
        target = target * (1.0 - smoothing) + 0.5 * smoothing
    return F.binary_cross_entropy_with_logits(logits, target)


def _write_outputs(net: torch.nn.Module, result: TrainResult, out: Path, data: MultimodalDataset,
                   meta: dict[str, Any], *, digest: str | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    result.checkpoint = save_weights(net, out / "model.pt", digest=digest)
    doc = {**result.to_json(), "dataset": {"name": data.name, "task": data.task, "num_classes": data.num_classes,
                                           "sizes": data.sizes()}, **meta}
    _atomic(out / "metrics.json", lambda tmp: tmp.write_text(json.dumps(doc, indent=2, default=str) + "\n",
                                                             encoding="utf-8"))
    log.info("wrote %s and %s", result.checkpoint, out / "metrics.json")
