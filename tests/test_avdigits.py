"""AV-digits (the offline AV-MNIST stand-in) and the eSpeak NG binding it speaks through."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from genolang.runtime import avdigits
from genolang.runtime.dataset import DATASETS, SPLITS, MultimodalDataset
from genolang.runtime.errors import DataError
from genolang.runtime.espeak import synthesize


@pytest.fixture(scope="module")
def cache_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return tmp_path_factory.mktemp("cache_a"), tmp_path_factory.mktemp("cache_b")


@pytest.fixture(scope="module")
def mini(cache_dirs: tuple[Path, Path]) -> MultimodalDataset:
    return DATASETS.get("avdigits-mini").build(seed=0, cache_dir=cache_dirs[0])


# --- eSpeak NG ------------------------------------------------------------------------------

def test_synthesize_is_audible_and_deterministic() -> None:
    first, rate = synthesize("seven", voice="en-us+m3", rate=180, pitch=40, range_=60, seed=3)
    synthesize("something else entirely", voice="en+whisper", seed=9)  # would disturb a shared engine
    again, _ = synthesize("seven", voice="en-us+m3", rate=180, pitch=40, range_=60, seed=3)
    assert rate == 22050 and first.dtype == np.int16
    assert 0.2 < len(first) / rate < 1.5
    assert first.astype(np.float64).std() > 300  # not silence
    assert np.array_equal(first, again)


def test_synthesize_seed_drives_breathy_voices() -> None:
    a, _ = synthesize("four", voice="en+whisper", seed=1)
    b, _ = synthesize("four", voice="en+whisper", seed=1)
    c, _ = synthesize("four", voice="en+whisper", seed=2)
    assert np.array_equal(a, b)
    assert len(a) != len(c) or not np.array_equal(a, c)


def test_synthesize_errors() -> None:
    with pytest.raises(DataError, match="not found"):
        synthesize("one", voice="xx-nowhere")
    with pytest.raises(DataError, match="empty"):
        synthesize("  ", voice="en-us")


# --- the dataset ----------------------------------------------------------------------------

def test_registered() -> None:
    assert {"avdigits", "avdigits-mini"} <= set(DATASETS.names())


def test_shapes_dtypes_labels(mini: MultimodalDataset) -> None:
    assert mini.name == "avdigits-mini" and mini.num_classes == 10 and mini.task == "single_label"
    assert mini.modalities == ("image", "audio")
    assert mini.input_shapes() == {"image": (1, 28, 28), "audio": (1, 112, 112)}
    assert mini.sizes() == {"train": 300, "val": 100, "test": 100}
    for split in SPLITS:
        s = mini[split]
        assert s.inputs["image"].dtype == torch.uint8 and s.inputs["audio"].dtype == torch.uint8
        assert s.labels.dtype == torch.int64
        assert int(s.labels.min()) == 0 and int(s.labels.max()) == 9
        assert s.inputs["audio"].float().std() > 10  # spectrograms, not constants


def test_splits_are_stratified(mini: MultimodalDataset) -> None:
    for split in SPLITS:
        counts = torch.bincount(mini[split].labels, minlength=10)
        assert (counts > 0).all()
        assert int(counts.max() - counts.min()) <= 1


def test_speakers_are_disjoint(mini: MultimodalDataset) -> None:
    speakers = {k: set(v) for k, v in mini.meta["speakers"].items()}
    variants = {k: set(v) for k, v in mini.meta["voice_variants"].items()}
    for a, b in [("train", "val"), ("train", "test"), ("val", "test")]:
        assert not speakers[a] & speakers[b]
        assert not variants[a] & variants[b]
    assert all(mini.meta["speaker_counts"][k] == len(speakers[k]) > 20 for k in SPLITS)


def test_meta(mini: MultimodalDataset) -> None:
    meta = mini.meta
    assert meta["recipe"].startswith("avdigits/") and meta["seed"] == 0 and meta["variant"] == "mini"
    assert 1 <= meta["pca_components"] <= 20
    assert abs(meta["pca_energy_kept"] - 0.30) < 0.05


def test_pca_removes_energy(mini: MultimodalDataset) -> None:
    pixels, _ = avdigits.load_mnist5k()
    original = pixels.astype(np.float64) / 255.0
    stored = mini["train"].inputs["image"].reshape(len(mini["train"]), -1).double().numpy() / 255.0
    ratio = stored.var(axis=0).sum() / original.var(axis=0).sum()
    assert 0.2 < ratio < 0.45, ratio


def test_pca_degrade_keeps_target_energy() -> None:
    rng = np.random.default_rng(0)
    basis = rng.standard_normal((20, 784)) * np.linspace(3, 0.1, 20)[:, None]
    x = np.clip(rng.standard_normal((400, 20)) @ basis + 128, 0, 255).astype(np.uint8)
    (train, other), k, kept = avdigits.pca_degrade(x[:300], [x[300:]], 0.5)
    assert train.shape == (300, 784) and other.shape == (100, 784) and train.dtype == np.uint8
    assert abs(kept - 0.5) < 0.1 and 1 <= k < 20
    assert train.astype(float).var(axis=0).sum() < 0.7 * x[:300].astype(float).var(axis=0).sum()


def test_stratified_split_sizes() -> None:
    labels = np.repeat(np.arange(10), 50)
    parts = avdigits.stratified_split(labels, (350, 50, 100), np.random.default_rng(1))
    assert [len(p) for p in parts] == [350, 50, 100]
    assert len(set(np.concatenate(parts).tolist())) == 500
    assert all(np.bincount(labels[p], minlength=10).min() >= len(p) // 10 for p in parts)


def test_deterministic_and_cached(mini: MultimodalDataset, cache_dirs: tuple[Path, Path],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    first_dir, second_dir = cache_dirs
    files = list(first_dir.glob("avdigits-mini-seed0-*.pt"))
    assert len(files) == 1 and not list(first_dir.glob("*.tmp"))
    assert files[0] == avdigits.cache_path(avdigits.RECIPES["mini"], 0, first_dir)
    rebuilt = avdigits.build_avdigits(seed=0, variant="mini", cache_dir=second_dir)
    assert rebuilt.digest() == mini.digest()

    def no_build(*args: object) -> MultimodalDataset:
        raise AssertionError("a cached dataset was built again")

    monkeypatch.setattr(avdigits, "_build", no_build)  # a cache hit builds nothing
    cached = avdigits.build_avdigits(seed=0, variant="mini", cache_dir=first_dir)
    assert cached.digest() == mini.digest() and cached.meta == mini.meta


def test_unreadable_cache_is_rebuilt(tmp_path: Path, mini: MultimodalDataset, cache_dirs: tuple[Path, Path],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = avdigits.cache_path(avdigits.RECIPES["mini"], 0, tmp_path)
    path.write_bytes(b"not a torch file")
    monkeypatch.setattr(avdigits, "_build", lambda recipe, seed, progress: mini)
    assert avdigits.build_avdigits(seed=0, variant="mini", cache_dir=tmp_path).digest() == mini.digest()
    assert avdigits._load(path).digest() == mini.digest()


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GENOLANG_CACHE", str(tmp_path))
    assert avdigits.default_cache_dir() == tmp_path
    monkeypatch.delenv("GENOLANG_CACHE")
    assert avdigits.default_cache_dir().name == "genolang"


def test_unknown_variant() -> None:
    with pytest.raises(DataError, match="no variant"):
        avdigits.build_avdigits(variant="huge")
