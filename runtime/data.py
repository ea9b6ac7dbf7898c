"""Loading, checking and saving multimodal datasets; fitting them to a space's inputs.

A dataset is a built-in name (:data:`DATASETS`) or a path: one ``.npz``/``.pt`` file with keys
``<split>/<modality>``, ``<split>/labels`` and optionally ``meta`` (a JSON string with ``name``,
``task``, ``num_classes``), or a folder of ``train``/``val``/``test`` files with keys
``<modality>`` and ``labels``, and optionally a ``meta.json``. train and val are required.
Labels are int64 class indices (N,) or {0, 1} multi-hot (N, C); ``num_classes`` is inferred
when absent. Every problem raises a :class:`DataError` naming the file and the key.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

import numpy as np
import torch

from genolang.errors import Diagnostic, did_you_mean
from genolang.files import atomic_write
from genolang.runtime.dataset import DATASETS, SPLITS, DatasetSpec, MultimodalDataset, Split, Task
from genolang.runtime.errors import DataError

if TYPE_CHECKING:
    from genolang.space import Space

SUFFIXES = (".npz", ".pt")
REQUIRED_SPLITS = ("train", "val")
META_KEY = "meta"
CHUNK = 4096  # samples checked for NaN/inf at a time
_INTEGERS = frozenset({torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
                       torch.uint16, torch.uint32, torch.uint64})


@dataclass(frozen=True)
class _Raw:
    """The arrays of one split as read, and where they came from (for messages)."""

    split: str
    file: Path
    prefix: str  # "train/" in a one-file dataset, "" in a per-split file
    arrays: dict[str, Any]

    def place(self, key: str) -> str:
        return f"{self.file}: key '{self.prefix}{key}'"


# ------------------------------------------------------------------ built-ins
def builtins() -> list[DatasetSpec]:
    """The built-in datasets, sorted by name."""
    return [spec for _, spec in DATASETS.items()]


def builtin(name: str) -> DatasetSpec:
    """The built-in dataset ``name``; an unknown name raises :class:`DataError` with close names."""
    if name in DATASETS:
        return DATASETS.get(name)
    known = ", ".join(DATASETS.names()) or "none"
    raise DataError(Diagnostic(
        DataError.default_code, f"unknown dataset {name!r} (built-in: {known}); a path must name "
        "a .npz or .pt file or a folder of train/val/test files", help=did_you_mean(name, DATASETS.names())))


# ------------------------------------------------------------------ loading
PathLike = str | os.PathLike[str]


def load_dataset(spec: PathLike, *, seed: int = 0, cache_dir: PathLike | None = None,
                 progress: bool = False) -> MultimodalDataset:
    """A built-in dataset by name (built with ``seed``, cached under ``cache_dir``) or a path."""
    text = str(spec)
    explicit = isinstance(spec, os.PathLike) or "/" in text or os.sep in text or text.endswith(SUFFIXES)
    if not explicit and (text in DATASETS or not Path(text).exists()):
        return builtin(text).build(seed=seed, cache_dir=cache_dir, progress=progress)
    return load_path(Path(text))


def load_path(path: Path) -> MultimodalDataset:
    """A dataset stored in one ``.npz``/``.pt`` file or in a folder of per-split files."""
    if path.is_dir():
        raw, meta, where = _read_folder(path)
    elif not path.exists():
        raise DataError(f"{path}: no such file or folder")
    elif path.suffix in SUFFIXES:
        raw, meta, where = _read_one_file(path)
    else:
        raise DataError(f"{path}: not a dataset (expected a .npz or .pt file, or a folder of "
                        "train/val/test files)")
    splits = {name: _split(r) for name, r in raw.items()}
    _check_consistent(raw, splits)
    first = raw[next(iter(raw))]
    task = _task(meta, where, first, splits[first.split])
    num_classes = _num_classes(meta, where, task, raw, splits)
    extra = {k: v for k, v in meta.items() if k not in ("name", "task", "num_classes")}
    extra.update(source=str(path), format="folder" if path.is_dir() else path.suffix[1:])
    name = str(meta.get("name") or (path.name if path.is_dir() else path.stem))
    return MultimodalDataset(name, splits, num_classes, task, extra)


def _read_file(path: Path) -> dict[str, Any]:
    """The named arrays of one file; an unreadable or corrupt file raises :class:`DataError`."""
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                return {key: _npz_entry(archive, key, path) for key in archive.files}
        content = torch.load(path, map_location="cpu", weights_only=True)
    except DataError:
        raise
    except Exception as exc:  # truncated archive, refused pickle, not a zip at all...
        first = (str(exc).splitlines() or [""])[0]
        raise DataError(f"{path}: cannot read it ({type(exc).__name__}: {first})") from None
    if not isinstance(content, Mapping) or not all(isinstance(k, str) for k in content):
        raise DataError(f"{path}: expected a dict of named tensors, found {type(content).__name__}")
    return dict(content)


def _npz_entry(archive: Any, key: str, path: Path) -> np.ndarray:
    try:
        return archive[key]
    except ValueError as exc:  # object arrays need pickles, which are refused
        raise DataError(f"{path}: key {key!r}: non-numeric data that cannot be read ({exc})") from None


def _read_one_file(path: Path) -> tuple[dict[str, _Raw], dict[str, Any], str]:
    content = _read_file(path)
    where = f"{path}: key '{META_KEY}'"
    meta = _parse_meta(content.pop(META_KEY, None), where)
    grouped: dict[str, dict[str, Any]] = {}
    for key, value in content.items():
        split, sep, name = key.partition("/")
        if not sep or not name:
            raise DataError(f"{path}: key {key!r} is neither '<split>/<modality>' nor '<split>/labels'")
        if split not in SPLITS:
            raise DataError(f"{path}: key {key!r} names an unknown split {split!r} "
                            f"(splits: {', '.join(SPLITS)})")
        grouped.setdefault(split, {})[name] = value
    for split in REQUIRED_SPLITS:
        if split not in grouped:
            raise DataError(f"{path}: no split {split!r}: no key '{split}/labels' nor '{split}/<modality>' "
                            "(train and val are required, test is optional)")
    return {s: _Raw(s, path, f"{s}/", grouped[s]) for s in SPLITS if s in grouped}, meta, where


def _read_folder(folder: Path) -> tuple[dict[str, _Raw], dict[str, Any], str]:
    raw: dict[str, _Raw] = {}
    for split in SPLITS:
        found = [f for f in (folder / f"{split}{suffix}" for suffix in SUFFIXES) if f.is_file()]
        if len(found) > 1:
            raise DataError(f"{folder}: both {found[0].name} and {found[1].name}; keep one")
        if not found:
            if split in REQUIRED_SPLITS:
                raise DataError(f"{folder}: no {split}.npz or {split}.pt (train and val are required, "
                                "test is optional)")
            continue
        content = _read_file(found[0])
        if bad := [k for k in content if "/" in k]:
            raise DataError(f"{found[0]}: key {bad[0]!r}: a per-split file holds keys '<modality>' "
                            "and 'labels', without the split")
        raw[split] = _Raw(split, found[0], "", content)
    meta_file = folder / "meta.json"
    try:
        text = meta_file.read_text(encoding="utf-8") if meta_file.is_file() else None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{meta_file}: cannot read it ({exc})") from None
    return raw, _parse_meta(text, str(meta_file)), str(meta_file)


def _parse_meta(value: Any, where: str) -> dict[str, Any]:
    """``{"name", "task", "num_classes"}`` (all optional) from a JSON string."""
    if value is None:
        return {}
    if isinstance(value, np.ndarray) and value.dtype.kind == "U" and value.ndim == 0:
        value = str(value[()])
    if not isinstance(value, str):
        raise DataError(f"{where}: expected a JSON string, found {type(value).__name__}")
    try:
        meta = json.loads(value)
    except ValueError as exc:
        raise DataError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise DataError(f"{where}: expected a JSON object, found {type(meta).__name__}")
    n = meta.get("num_classes")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise DataError(f"{where}: num_classes must be a positive integer, found {n!r}")
    if meta.get("task") not in (None, *get_args(Task)):
        raise DataError(f"{where}: task must be one of {', '.join(get_args(Task))}, found {meta['task']!r}")
    return meta


# ------------------------------------------------------------------ checks
def _tensor(value: Any, place: str) -> torch.Tensor:
    """A numeric tensor from an array or tensor, or a :class:`DataError` naming ``place``."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise DataError(f"{place}: non-numeric dtype {value.dtype} (expected integers or floats)")
        try:
            return torch.from_numpy(value)
        except (TypeError, ValueError):  # byte order or a dtype torch lacks
            return torch.from_numpy(value.astype(np.float32 if value.dtype.kind == "f" else np.int64))
    if isinstance(value, torch.Tensor):
        if not (value.dtype.is_floating_point or value.dtype in _INTEGERS or value.dtype == torch.bool):
            raise DataError(f"{place}: non-numeric dtype {_dtype(value)}")
        return value
    raise DataError(f"{place}: non-numeric data ({type(value).__name__}); expected an array or a tensor")


def _split(r: _Raw) -> Split:
    """One split's tensors, each checked: shapes, sample counts, finite values, label values."""
    if "labels" not in r.arrays:
        raise DataError(f"{r.file}: no key '{r.prefix}labels' (the labels of split {r.split!r})")
    labels = _labels(_tensor(r.arrays["labels"], r.place("labels")), r.place("labels"))
    inputs = {k: _tensor(v, r.place(k)) for k, v in r.arrays.items() if k != "labels"}
    if not inputs:
        raise DataError(f"{r.file}: split {r.split!r} has labels but no input modality")
    for key, t in inputs.items():
        if t.ndim < 2:
            raise DataError(f"{r.place(key)}: expected (N, *shape), found shape {list(t.shape)}")
        if t.shape[0] != len(labels):
            raise DataError(f"{r.place(key)}: {t.shape[0]} samples, but '{r.prefix}labels' has {len(labels)}")
        _check_finite(t, r.place(key))
    return Split(inputs, labels)


def _labels(t: torch.Tensor, place: str) -> torch.Tensor:
    """Labels as int64: class indices (N,) >= 0, or multi-hot (N, C) of 0 and 1."""
    if t.ndim not in (1, 2) or len(t) == 0:
        raise DataError(f"{place}: expected (N,) class indices or (N, C) multi-hot labels with N > 0, "
                        f"found shape {list(t.shape)}")
    if t.ndim == 1:
        if t.dtype not in _INTEGERS:
            raise DataError(f"{place}: class indices must be integers, found {_dtype(t)}")
        t = t.to(torch.int64)
        if bool((t < 0).any()):
            i = int((t < 0).nonzero()[0, 0])
            raise DataError(f"{place}: negative label {int(t[i])} at sample {i}")
        return t
    bad = (t != 0) & (t != 1)
    if bool(bad.any()):
        i, c = (int(x) for x in bad.nonzero()[0])
        raise DataError(f"{place}: multi-hot labels must be 0 or 1, found {t[i, c].item()} "
                        f"at sample {i}, class {c}")
    return t.to(torch.int64)


def _check_finite(t: torch.Tensor, place: str) -> None:
    if not t.is_floating_point():
        return
    for start in range(0, len(t), CHUNK):
        bad = ~torch.isfinite(t[start:start + CHUNK].reshape(min(CHUNK, len(t) - start), -1))
        if bool(bad.any()):
            i = start + int(bad.any(1).nonzero()[0, 0])
            raise DataError(f"{place}: NaN or inf in float inputs (first at sample {i})")


def _check_consistent(raw: dict[str, _Raw], splits: dict[str, Split]) -> None:
    """The same modalities, per-sample shapes, dtypes and label layout in every split."""
    ref_name = next(iter(splits))
    ref = splits[ref_name]
    for name, s in splits.items():
        r = raw[name]
        if set(s.inputs) != set(ref.inputs):
            missing = ", ".join(f"'{r.prefix}{k}'" for k in sorted(set(ref.inputs) - set(s.inputs)))
            extra = ", ".join(f"'{r.prefix}{k}'" for k in sorted(set(s.inputs) - set(ref.inputs)))
            raise DataError(f"{r.file}: modalities differ across splits: split {name!r} has "
                            f"{sorted(s.inputs)}, split {ref_name!r} has {sorted(ref.inputs)}"
                            + (f" (missing: {missing})" if missing else "")
                            + (f" (extra: {extra})" if extra else ""))
        for key, t in s.inputs.items():
            want = ref.inputs[key]
            if t.shape[1:] != want.shape[1:] or t.dtype != want.dtype:
                raise DataError(f"{r.place(key)}: per-sample shape {list(t.shape[1:])} {_dtype(t)} differs "
                                f"from split {ref_name!r} ({list(want.shape[1:])} {_dtype(want)})")
        if s.labels.shape[1:] != ref.labels.shape[1:]:
            raise DataError(f"{r.place('labels')}: shape {list(s.labels.shape)} does not match split "
                            f"{ref_name!r} ({list(ref.labels.shape)})")


def _task(meta: Mapping[str, Any], where: str, first: _Raw, split: Split) -> Task:
    task: Task = "multi_label" if split.labels.ndim == 2 else "single_label"
    if meta.get("task") not in (None, task):
        layout = "(N, C) multi-hot" if task == "multi_label" else "(N,) class indices"
        raise DataError(f"{where}: task {meta['task']!r}, but {first.place('labels')} holds {layout}")
    return task


def _num_classes(meta: Mapping[str, Any], where: str, task: Task, raw: dict[str, _Raw],
                 splits: dict[str, Split]) -> int:
    """Declared or inferred; every single label must lie in ``0..num_classes-1``."""
    if task == "multi_label":
        c = int(next(iter(splits.values())).labels.shape[1])
        if meta.get("num_classes") not in (None, c):
            raise DataError(f"{where}: num_classes {meta['num_classes']}, but the multi-hot labels "
                            f"have {c} columns")
        return c
    n = meta.get("num_classes") or 1 + max(int(s.labels.max()) for s in splits.values())
    for name, s in splits.items():
        if bool((s.labels >= n).any()):
            i = int((s.labels >= n).nonzero()[0, 0])
            raise DataError(f"{raw[name].place('labels')}: label {int(s.labels[i])} at sample {i} is out of "
                            f"range for num_classes={n} (declared in {where})")
    return int(n)


def _dtype(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


# ------------------------------------------------------------------ the space
def space_inputs(space: Space) -> dict[str, tuple[int, ...]]:
    """The inputs a space declares: name -> per-sample shape."""
    return {e.name or e.path: tuple(int(x) for x in e.fields.get("shape", ()))
            for e in space.entities.values() if e.kind == "input"}


def check_against_space(dataset: MultimodalDataset, space: Space) -> None:
    """Every declared input is a float or uint8 modality of exactly the declared per-sample shape.

    Extra modalities are fine. Raises one :class:`DataError` listing every problem.
    """
    have = dataset.input_shapes()
    stored = next(iter(dataset.splits.values())).inputs
    listing = ", ".join(f"{k} {list(v)} {_dtype(stored[k])}" for k, v in have.items())
    problems = []
    for name, want in space_inputs(space).items():
        if name not in have:
            problems.append((f"space '{space.name}' declares input '{name}' {list(want)}, but dataset "
                             f"'{dataset.name}' has no modality '{name}' (modalities: {listing})",
                             did_you_mean(name, have)))
        elif have[name] != want:
            problems.append((f"input '{name}': space '{space.name}' expects per-sample shape {list(want)}, "
                             f"dataset '{dataset.name}' has {list(have[name])} (modalities: {listing})", ()))
        elif not (stored[name].is_floating_point() or stored[name].dtype == torch.uint8):
            problems.append((f"input '{name}': dataset '{dataset.name}' stores {_dtype(stored[name])}; "
                             "inputs must be float or uint8", ()))
    if problems:
        raise DataError([Diagnostic(DataError.default_code, msg, help=hint) for msg, hint in problems])


# ------------------------------------------------------------------ saving, describing
def save_dataset(dataset: MultimodalDataset, path: PathLike) -> Path:
    """Write the one-file layout (``.npz`` or ``.pt``, by suffix); :func:`load_dataset` reads it back."""
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise DataError(f"{path}: save_dataset writes .npz or .pt files")
    arrays: dict[str, torch.Tensor] = {}
    for split, s in dataset.splits.items():
        for key, t in s.inputs.items():
            if key in ("labels", META_KEY) or "/" in key:
                raise DataError(f"dataset '{dataset.name}': modality name {key!r} cannot be stored")
            arrays[f"{split}/{key}"] = t.detach().cpu().contiguous()
        arrays[f"{split}/labels"] = s.labels.detach().cpu().contiguous()
    meta = json.dumps({"name": dataset.name, "task": dataset.task, "num_classes": dataset.num_classes})
    if path.suffix == ".npz":
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                named: dict[str, Any] = {k: v.numpy() for k, v in arrays.items()}  # names, not savez's options
                named[META_KEY] = np.array(meta)
                np.savez(f, **named)
    else:
        def write(tmp: Path) -> None:
            torch.save({**arrays, META_KEY: meta}, tmp)
    return atomic_write(path, write)


def class_counts(labels: torch.Tensor, num_classes: int) -> list[int]:
    """Samples per class (positives per class for multi-hot labels)."""
    if labels.ndim == 2:
        return [int(x) for x in labels.sum(0).tolist()]
    return [int(x) for x in torch.bincount(labels.long(), minlength=num_classes).tolist()]


def describe(dataset: MultimodalDataset) -> dict[str, Any]:
    """Name, task, classes, split sizes, per-modality shape and dtype, class counts, digest."""
    stored = next(iter(dataset.splits.values())).inputs
    shapes = dataset.input_shapes()
    return {
        "name": dataset.name, "task": dataset.task, "num_classes": dataset.num_classes, "sizes": dataset.sizes(),
        "modalities": {k: {"shape": list(shapes[k]), "dtype": _dtype(t)} for k, t in stored.items()},
        "class_counts": {k: class_counts(s.labels, dataset.num_classes) for k, s in dataset.splits.items()},
        "digest": dataset.digest(),
        "meta": json.loads(json.dumps(dict(dataset.meta), default=str)),
    }
