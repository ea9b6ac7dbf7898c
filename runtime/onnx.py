"""Inference with an exported ONNX model (``genolang export``) under onnxruntime.

>>> model = OnnxModel("net.onnx")                                          # doctest: +SKIP
>>> model.provider, model.digest, model.run({"image": x, "audio": a}).shape
>>> infer(model, dataset["test"]).metrics.accuracy

The session uses the CUDA provider, then the CPU one, among those onnxruntime offers
(``ort.get_available_providers()``), unless ``providers`` says otherwise. Inputs are fed as
:meth:`Split.batches <genolang.runtime.dataset.Split.batches>` makes them (``uint8`` ->
``[0, 1]`` float32), so the metrics equal :func:`~genolang.runtime.evaluation.evaluate`'s on
the PyTorch network. The genolang metadata stamped by the exporter (``genolang.digest``,
``genolang.name``, ``genolang.space``, ...) is in :attr:`OnnxModel.metadata`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genolang.errors import UsageError
from genolang.runtime.dataset import Split, Task
from genolang.runtime.errors import DataError
from genolang.runtime.evaluation import Metrics, Tally, progress_bar

log = logging.getLogger(__name__)

PREFERRED = ("CUDAExecutionProvider", "CPUExecutionProvider")


def default_providers() -> list[str]:
    """CUDA then CPU, keeping those this onnxruntime build offers and this machine can run.

    onnxruntime-gpu lists the CUDA provider even on a machine without a GPU driver, then fails
    loudly when asked for it; CUDA is only offered when torch sees a CUDA device.
    """
    import onnxruntime as ort
    import torch

    available = set(ort.get_available_providers())
    if not torch.cuda.is_available():
        available.discard("CUDAExecutionProvider")
    return [p for p in PREFERRED if p in available] or ["CPUExecutionProvider"]


class OnnxModel:
    """An onnxruntime session over an exported model, with its names, shapes and metadata."""

    def __init__(self, path: str | os.PathLike[str], *, providers: Sequence[str] | None = None):
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise UsageError(f"no such file: {self.path}")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only
        chosen = list(providers) if providers is not None else default_providers()
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=chosen)
        except Exception as exc:  # onnxruntime's own error types
            raise UsageError(f"cannot load ONNX model {self.path}: {exc}") from exc
        self.input_names = tuple(i.name for i in self.session.get_inputs())
        self.output_names = tuple(o.name for o in self.session.get_outputs())
        self.input_shapes = {i.name: tuple(d if isinstance(d, int) else None for d in i.shape[1:])
                             for i in self.session.get_inputs()}
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        log.info("loaded %s with %s", self.path, ", ".join(self.session.get_providers()))

    @property
    def provider(self) -> str:
        """The execution provider the session runs on first (e.g. ``CPUExecutionProvider``)."""
        return self.session.get_providers()[0]

    @property
    def digest(self) -> str | None:
        """The digest of the genotype the model was exported from (``genolang.digest``)."""
        return self.metadata.get("genolang.digest")

    @property
    def genotype(self) -> str | None:
        return self.metadata.get("genolang.name")

    def run(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """The first output (the logits) for a batch of inputs by name (cast to float32)."""
        missing = [n for n in self.input_names if n not in inputs]
        if missing:
            raise DataError(f"{self.path.name} needs input(s) {', '.join(map(repr, missing))}; "
                            f"given {', '.join(map(repr, inputs)) or 'none'}")
        feeds = {n: np.ascontiguousarray(inputs[n], dtype=np.float32) for n in self.input_names}
        return self.session.run([self.output_names[0]], feeds)[0]

    def check_split(self, split: Split) -> None:
        """DataError when ``split`` lacks an input of the model or has another sample shape."""
        for name in self.input_names:
            if name not in split.inputs:
                raise DataError(f"{self.path.name} reads input {name!r}, which the data lacks "
                                f"(it has {', '.join(split.inputs)})")
            want, got = self.input_shapes[name], tuple(split.inputs[name].shape[1:])
            if len(want) != len(got) or any(w is not None and w != g for w, g in zip(want, got)):
                raise DataError(f"{self.path.name} input {name!r} has shape {list(want)} per sample, "
                                f"the data {list(got)}")


@dataclass(frozen=True)
class InferResult:
    """Predictions (class indices, or multi-hot for multi-label), logits and metrics of one split."""

    predictions: np.ndarray
    logits: np.ndarray
    metrics: Metrics
    provider: str
    seconds: float

    @property
    def samples_per_second(self) -> float:
        return self.metrics.n / max(self.seconds, 1e-9)

    def to_json(self) -> dict[str, Any]:
        return {**self.metrics.to_json(), "provider": self.provider, "seconds": round(self.seconds, 3),
                "samples_per_second": round(self.samples_per_second, 1)}


def infer(model: OnnxModel, split: Split, *, batch_size: int = 256, progress: bool = False,
          task: Task | None = None) -> InferResult:
    """Run ``model`` over ``split`` in batches; metrics as :func:`evaluate` computes them.

    ``task`` defaults to the labels' shape: (N,) single-label, (N, C) multi-label.
    """
    if batch_size < 1:
        raise UsageError(f"batch size must be positive, got {batch_size}")
    model.check_split(split)
    task = task or ("multi_label" if split.labels.ndim == 2 else "single_label")
    tally, chunks = Tally(task), []
    start = time.perf_counter()
    with progress_bar(enabled=progress) as bar:
        job = bar.add_task("infer", total=-(-len(split) // batch_size))
        for xs, y in split.batches(batch_size):
            logits = model.run({n: xs[n].numpy() for n in model.input_names})
            tally.add(torch.from_numpy(logits), y)
            chunks.append(logits)
            bar.advance(job)
    seconds = time.perf_counter() - start
    if not chunks:
        raise DataError("the split to infer on is empty")
    logits = np.concatenate(chunks)
    predictions = (logits > 0).astype(np.uint8) if task == "multi_label" else logits.argmax(1)
    return InferResult(predictions, logits, tally.result(), model.provider, seconds)
