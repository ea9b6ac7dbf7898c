"""The multimodal dataset: named tensors per modality + labels, in train/val/test splits.

Shared by every part of the runtime (loaders, built-in datasets, training, search,
inference). Inputs are kept as stored (``uint8`` images and spectrograms stay ``uint8`` in
memory) and turned into ``float32`` batch by batch: ``uint8`` values map to ``[0, 1]``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from genolang.registry import Registry
from genolang.runtime.errors import DataError

Task = Literal["single_label", "multi_label"]
SPLITS = ("train", "val", "test")


def as_float(x: torch.Tensor) -> torch.Tensor:
    """A batch as float32: ``uint8`` scaled to [0, 1], other dtypes cast."""
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


@dataclass(frozen=True)
class Split:
    """One split: ``inputs[modality]`` is (N, *shape); ``labels`` is (N,) int64 or (N, C) multi-hot."""

    inputs: Mapping[str, torch.Tensor]
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def take(self, index: torch.Tensor | slice) -> Split:
        """The samples at ``index`` (a view when ``index`` is a slice)."""
        return Split({k: v[index] for k, v in self.inputs.items()}, self.labels[index])

    def batches(self, batch_size: int, *, shuffle: bool = False, seed: int = 0, device: Any = None,
                drop_last: bool = False) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]:
        """(float inputs by modality, labels) batches; shuffled reproducibly per ``seed``."""
        n = len(self)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)) if shuffle else torch.arange(n)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            idx = order[start:start + batch_size]
            xs = {k: as_float(v[idx].to(device, non_blocking=True)) for k, v in self.inputs.items()}
            yield xs, self.labels[idx].to(device, non_blocking=True)


@dataclass(frozen=True)
class MultimodalDataset:
    """Named splits of one task; ``meta`` holds provenance (recipe, seed, source files)."""

    name: str
    splits: Mapping[str, Split]
    num_classes: int
    task: Task = "single_label"
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, split: str) -> Split:
        if split not in self.splits:
            raise DataError(f"dataset {self.name!r} has no split {split!r} (has {', '.join(self.splits)})")
        return self.splits[split]

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(next(iter(self.splits.values())).inputs)

    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        """Per modality, the shape of one sample (batch omitted)."""
        first = next(iter(self.splits.values()))
        return {k: tuple(v.shape[1:]) for k, v in first.inputs.items()}

    def sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.splits.items()}

    def digest(self) -> str:
        """sha256 over every split's tensors (names, dtypes, shapes, bytes) and labels."""
        h = hashlib.sha256()
        for split in sorted(self.splits):
            s = self.splits[split]
            for key in sorted(s.inputs):
                hash_tensor(h, f"{split}/{key}", s.inputs[key])
            hash_tensor(h, f"{split}/labels", s.labels)
        return "sha256:" + h.hexdigest()


def hash_tensor(h: Any, name: str, t: torch.Tensor) -> None:
    """Feed ``name``, dtype, shape and the bytes of ``t`` to the hash ``h`` (a hashlib object)."""
    t = t.detach().cpu().contiguous()
    h.update(f"{name}|{t.dtype}|{list(t.shape)}|".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")


@dataclass(frozen=True)
class DatasetSpec:
    """A built-in dataset: ``build(seed=, cache_dir=, progress=)`` -> :class:`MultimodalDataset`."""

    name: str
    build: Callable[..., MultimodalDataset]
    description: str = ""


def _wrap(name: str, build: Callable[..., MultimodalDataset], *, description: str = "") -> DatasetSpec:
    return DatasetSpec(name, build, description or (build.__doc__ or "").strip().splitlines()[0])


#: datasets: ``DATASETS.get("avdigits").build(seed=0)``; built-in ones and plugins' (entry point
#: group ``genolang.datasets``, docs/extending.md); its errors are the data layer's (E0500)
DATASETS: Registry[DatasetSpec] = Registry("dataset", wrap=_wrap, errors=(DataError, DataError),
                                           entry_points="genolang.datasets",
                                           builtins=("genolang.runtime.avdigits",))
