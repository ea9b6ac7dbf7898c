"""Evaluation metrics shared by training (:mod:`genolang.runtime.train`) and ONNX inference.

:class:`Metrics` is one split's result; :class:`Tally` accumulates it batch by batch from
logits (on the device, without a sync per batch). Single-label: mean cross-entropy and top-1
accuracy. Multi-label: mean BCE-with-logits (per sample and class), exact-match accuracy, and
F1 of the logits thresholded at 0 (probability 0.5): macro (mean over classes), weighted (by
each class's true positives + false negatives, its support) and micro (over all decisions).
A class with no true and no predicted positive has F1 0 (scikit-learn's ``zero_division=0``).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch.nn import functional as F

from genolang.runtime.dataset import Split, Task


@dataclass(frozen=True)
class Metrics:
    """One split's evaluation (``n`` samples); the F1 fields are set for multi-label only."""

    loss: float
    n: int
    accuracy: float
    f1_macro: float | None = None
    f1_weighted: float | None = None
    f1_micro: float | None = None

    @property
    def score(self) -> float:
        """What model selection maximises: accuracy, or the weighted F1 for multi-label."""
        return self.accuracy if self.f1_weighted is None else self.f1_weighted

    def better_than(self, other: Metrics) -> bool:
        """A higher score, or the same score at a lower loss."""
        return (self.score, -self.loss) > (other.score, -other.loss)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def f1_scores(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Macro, weighted and micro F1 of multi-hot ``pred`` against multi-hot ``target`` (N, C)."""
    tp, fp, fn = _counts(pred.bool(), target.bool())
    return _f1(tp, fp, fn)


def _counts(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per class: true positives, false positives, false negatives."""
    return ((pred & target).sum(0), (pred & ~target).sum(0), (~pred & target).sum(0))


def _f1(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> dict[str, float]:
    tp, fp, fn = tp.double(), fp.double(), fn.double()
    denom = 2 * tp + fp + fn
    per_class = torch.where(denom > 0, 2 * tp / denom.clamp_min(1), torch.zeros_like(tp))
    support = tp + fn
    total = float(denom.sum())
    return {"f1_macro": float(per_class.mean()) if per_class.numel() else 0.0,
            "f1_weighted": float((per_class * support).sum() / support.sum()) if support.sum() > 0 else 0.0,
            "f1_micro": float(2 * tp.sum() / total) if total > 0 else 0.0}


class Tally:
    """Accumulates loss, hits and F1 counts over batches of (logits, labels)."""

    def __init__(self, task: Task):
        self.task = task
        self.n = 0
        self.loss: torch.Tensor | float = 0.0
        self.hits: torch.Tensor | int = 0
        self.tp: torch.Tensor | None = None  # multi-label counts, summed over batches
        self.fp: torch.Tensor | None = None
        self.fn: torch.Tensor | None = None

    def add(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        """One batch: ``logits`` (B, C); ``labels`` (B,) class indices or (B, C) multi-hot."""
        logits = logits.float()
        self.n += int(labels.shape[0])
        if self.task == "single_label":
            self.loss = self.loss + F.cross_entropy(logits, labels.long(), reduction="sum")
            self.hits = self.hits + (logits.argmax(1) == labels).sum()
            return
        target = labels.bool()
        pred = logits > 0
        self.loss = self.loss + F.binary_cross_entropy_with_logits(logits, target.float(),
                                                                   reduction="sum") / logits.shape[1]
        self.hits = self.hits + (pred == target).all(1).sum()
        counts = _counts(pred, target)
        self.tp, self.fp, self.fn = (c if old is None else old + c for old, c in
                                     zip((self.tp, self.fp, self.fn), counts))

    def result(self) -> Metrics:
        n = max(self.n, 1)
        loss, hits = float(self.loss) / n, float(self.hits) / n
        if self.task == "single_label" or self.tp is None or self.fp is None or self.fn is None:  # (set together)
            return Metrics(loss=loss, n=self.n, accuracy=hits)
        return Metrics(loss=loss, n=self.n, accuracy=hits, **_f1(self.tp, self.fp, self.fn))


def evaluate(net: torch.nn.Module, split: Split, *, input_names: Sequence[str], task: Task,
             device: str | torch.device | None = None, batch_size: int = 256, max_batches: int | None = None,
             amp: bool = False) -> Metrics:
    """Loss, accuracy (and F1 for ``multi_label``) of ``net`` on ``split``, in eval mode, without grad.

    ``device`` defaults to the network's; ``amp`` autocasts on CUDA as training does.
    """
    device = device_of(net) if device is None else torch.device(device)
    was_training = net.training
    net.eval()
    tally = Tally(task)
    try:
        with torch.no_grad(), autocast(amp_dtype(device) if amp else None):
            for i, (xs, y) in enumerate(split.batches(batch_size, device=device)):
                if max_batches is not None and i >= max_batches:
                    break
                tally.add(first_output(net(*(xs[n] for n in input_names))), y)
    finally:
        net.train(was_training)
    return tally.result()


def first_output(out: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """The logits of a network's first head (a GraphNet returns a tuple for several heads)."""
    return out if isinstance(out, torch.Tensor) else out[0]


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast dtype on ``device``: bf16 on CUDA when supported, else fp16; none on the CPU."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(dtype: torch.dtype | None) -> Any:
    """CUDA autocast to ``dtype``; a no-op context for ``None``."""
    return torch.autocast("cuda", dtype=dtype) if dtype is not None else nullcontext()


def device_of(net: torch.nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (the CPU for an empty module)."""
    for tensor in (*net.parameters(), *net.buffers()):
        return tensor.device
    return torch.device("cpu")


def progress_bar(*, enabled: bool) -> Any:
    """Progress on stderr: a rich bar on a terminal, else a line per event
    (:func:`genolang.runtime.progress.progress_bar`); inert when not enabled."""
    from genolang.runtime.progress import progress_bar as bar

    return bar(enabled=enabled)
