"""Datasets on disk: round trips, every kind of bad file, fitting a space, and `genolang data`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import ROOT

import genolang
from genolang.cli import main
from genolang.compiler.registry import Registry
from genolang.runtime import data
from genolang.runtime.data import check_against_space, describe, load_dataset, save_dataset
from genolang.runtime.dataset import DatasetSpec, MultimodalDataset, Split
from genolang.runtime.errors import DataError

MFAS = ROOT / "examples" / "spaces" / "mfas_avmnist.geno"
SMALL = {"image": (1, 4, 4), "audio": (1, 8, 8)}
AVMNIST = {"image": (1, 28, 28), "audio": (1, 112, 112)}


def toy(shapes: dict[str, tuple[int, ...]] = SMALL, sizes=(("train", 12), ("val", 6), ("test", 4)),
        classes: int = 3, multi: bool = False, name: str = "toy") -> MultimodalDataset:
    """uint8 images, float32 audio; labels cycle over the classes (or random multi-hot)."""
    g = torch.Generator().manual_seed(0)
    splits = {}
    for split, n in sizes:
        inputs = {"image": torch.randint(0, 256, (n, *shapes["image"]), dtype=torch.uint8, generator=g),
                  "audio": torch.rand(n, *shapes["audio"], generator=g)}
        labels = (torch.randint(0, 2, (n, classes), generator=g) if multi else torch.arange(n) % classes)
        splits[split] = Split(inputs, labels)
    task = "multi_label" if multi else "single_label"
    return MultimodalDataset(name, splits, classes + (0 if multi else 1), task)


def arrays(ds: MultimodalDataset) -> dict[str, Any]:
    """The one-file layout as numpy arrays (what mutations edit)."""
    out = {f"{s}/{k}": t.numpy().copy() for s, sp in ds.splits.items() for k, t in sp.inputs.items()}
    out.update({f"{s}/labels": sp.labels.numpy().copy() for s, sp in ds.splits.items()})
    return out


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize("suffix", [".npz", ".pt"])
@pytest.mark.parametrize("multi", [False, True])
def test_round_trip_one_file(tmp_path, suffix, multi):
    ds = toy(multi=multi)
    back = load_dataset(str(save_dataset(ds, tmp_path / f"toy{suffix}")))
    assert back.digest() == ds.digest()
    assert (back.name, back.task, back.num_classes) == (ds.name, ds.task, ds.num_classes)
    assert back["train"].inputs["image"].dtype == torch.uint8 and back["val"].labels.dtype == torch.int64
    assert back.meta["source"] == str(tmp_path / f"toy{suffix}")


@pytest.mark.parametrize("suffix", [".npz", ".pt"])
def test_round_trip_folder(tmp_path, suffix):
    ds = toy(sizes=(("train", 8), ("val", 4)))
    for split, sp in ds.splits.items():
        content = {**sp.inputs, "labels": sp.labels}
        if suffix == ".npz":
            np.savez(tmp_path / f"{split}.npz", **{k: v.numpy() for k, v in content.items()})
        else:
            torch.save(content, tmp_path / f"{split}.pt")
    (tmp_path / "meta.json").write_text(json.dumps({"name": "folder_toy", "num_classes": 4}))
    back = load_dataset(tmp_path)
    assert back.digest() == ds.digest() and back.name == "folder_toy" and back.num_classes == 4
    assert set(back.splits) == {"train", "val"}
    (tmp_path / "meta.json").unlink()
    assert load_dataset(tmp_path).num_classes == 3  # inferred: max label + 1


def test_batches_scale_uint8_to_unit_float(tmp_path):
    ds = load_dataset(str(save_dataset(toy(), tmp_path / "toy.npz")))
    ds["train"].inputs["image"][0].fill_(255)
    seen = 0
    for xs, ys in ds["train"].batches(5, shuffle=True, seed=1):
        image = xs["image"]
        assert image.dtype == torch.float32 and xs["audio"].dtype == torch.float32
        assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
        seen += len(ys)
    assert seen == 12
    first, _ = next(ds["train"].batches(1))
    assert torch.all(first["image"] == 1.0)


def test_describe(tmp_path):
    desc = describe(toy())
    assert desc["sizes"] == {"train": 12, "val": 6, "test": 4}
    assert desc["modalities"] == {"image": {"shape": [1, 4, 4], "dtype": "uint8"},
                                  "audio": {"shape": [1, 8, 8], "dtype": "float32"}}
    assert desc["class_counts"]["train"] == [4, 4, 4, 0] and desc["digest"].startswith("sha256:")
    json.dumps(desc)


# ------------------------------------------------------------------ bad files
def _set(key: str, value: Callable[[dict], Any]) -> Callable[[dict], None]:
    def mutate(a: dict) -> None:
        a[key] = value(a)
    return mutate


def _drop(*keys: str) -> Callable[[dict], None]:
    def mutate(a: dict) -> None:
        for key in keys:
            del a[key]
    return mutate


def _poke(key: str, index: tuple, value: Any) -> Callable[[dict], None]:
    def mutate(a: dict) -> None:
        a[key] = a[key].astype(np.result_type(a[key], type(value)))
        a[key][index] = value
    return mutate


META = {"name": "toy", "num_classes": 3}
MUTATIONS = [
    ("no_val", _drop("val/image", "val/audio", "val/labels"), "no split 'val'"),
    ("no_train_labels", _drop("train/labels"), "'train/labels'"),
    ("modality_missing_in_val", _drop("val/audio"), "'val/audio'"),
    ("modality_only_in_test", _set("test/depth", lambda a: a["test/image"]), "'test/depth'"),
    ("n_mismatch", _set("train/audio", lambda a: a["train/audio"][:-1]), "key 'train/audio': 11 samples"),
    ("strings", _set("train/image", lambda a: np.array(["x"] * 12)), "key 'train/image': non-numeric"),
    ("nan", _poke("val/audio", (2, 0, 1, 1), np.nan), "key 'val/audio': NaN or inf"),
    ("inf", _poke("train/audio", (5, 0, 0, 0), np.inf), "first at sample 5"),
    ("out_of_range", _poke("val/labels", (1,), 7), "key 'val/labels': label 7 at sample 1 is out of range"),
    ("negative", _poke("test/labels", (3,), -1), "key 'test/labels': negative label -1"),
    ("float_labels", _set("train/labels", lambda a: a["train/labels"].astype(np.float32)), "must be integers"),
    ("labels_3d", _set("val/labels", lambda a: a["val/labels"].reshape(6, 1, 1)), "key 'val/labels': expected"),
    ("shape_differs", _set("val/image", lambda a: a["val/image"][:, :, :2]), "key 'val/image': per-sample"),
    ("unknown_split", _set("dev/image", lambda a: a["val/image"]), "unknown split 'dev'"),
    ("no_split_in_key", _set("image", lambda a: a["val/image"]), "key 'image' is neither"),
    ("bad_meta", _set("meta", lambda a: np.array("{oops")), "key 'meta': not valid JSON"),
    ("meta_task", _set("meta", lambda a: np.array('{"task": "multi_label"}')), "task 'multi_label'"),
]


def _torch(value: np.ndarray) -> Any:
    """What a .pt file holds for an array: a tensor, a JSON str, or a list of str."""
    if value.dtype.kind == "U":
        return value.tolist()
    return torch.from_numpy(value)


@pytest.mark.parametrize("suffix", [".npz", ".pt"])
@pytest.mark.parametrize("mutate, fragment", [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS])
def test_bad_one_file_rejected(tmp_path, suffix, mutate, fragment):
    content = {**arrays(toy()), "meta": np.array(json.dumps(META))}
    mutate(content)
    path = tmp_path / f"bad{suffix}"
    if suffix == ".npz":
        np.savez(path, **content)
    else:
        torch.save({k: _torch(v) for k, v in content.items()}, path)
    with pytest.raises(DataError) as exc:
        load_dataset(path)
    assert fragment in exc.value.first.message and str(path) in exc.value.first.message


def test_bad_multi_hot_rejected(tmp_path):
    content = arrays(toy(multi=True))
    content["val/labels"][4, 2] = 2
    np.savez(tmp_path / "multi.npz", **content)
    with pytest.raises(DataError, match=r"key 'val/labels': multi-hot labels must be 0 or 1, found 2 at sample 4"):
        load_dataset(tmp_path / "multi.npz")


@pytest.mark.parametrize("name, payload, fragment", [
    ("garbage.npz", b"\x00\x01 not a zip", "cannot read"),
    ("truncated.npz", None, "cannot read"),
    ("garbage.pt", b"not a pickle at all", "cannot read"),
    ("list.pt", [torch.zeros(2)], "expected a dict of named tensors"),
    ("object.pt", {"train/image": Path("x")}, "cannot read"),  # refused by weights_only
    ("notes.txt", b"hello", "not a dataset"),
])
def test_unreadable_files(tmp_path, name, payload, fragment):
    path = tmp_path / name
    if payload is None:
        save_dataset(toy(), path)
        path.write_bytes(path.read_bytes()[:200])
    elif isinstance(payload, bytes):
        path.write_bytes(payload)
    else:
        torch.save(payload, path)
    with pytest.raises(DataError, match=r"cannot read|expected a dict|not a dataset") as exc:
        load_dataset(path)
    assert fragment in str(exc.value) and str(path) in str(exc.value)


def test_bad_folders(tmp_path):
    ds = toy(sizes=(("train", 8), ("val", 4)))
    train = {**ds["train"].inputs, "labels": ds["train"].labels}
    np.savez(tmp_path / "train.npz", **{k: v.numpy() for k, v in train.items()})
    with pytest.raises(DataError, match=r"no val\.npz or val\.pt"):
        load_dataset(tmp_path)
    torch.save({**ds["val"].inputs, "labels": ds["val"].labels + 5}, tmp_path / "val.pt")
    (tmp_path / "meta.json").write_text('{"num_classes": 3}')
    with pytest.raises(DataError, match=r"val\.pt: key 'labels': label 5 at sample 0 is out of range"):
        load_dataset(tmp_path)
    (tmp_path / "meta.json").write_text('{"num_classes": "three"}')
    with pytest.raises(DataError, match=r"meta\.json: num_classes must be a positive integer"):
        load_dataset(tmp_path)
    with pytest.raises(DataError, match="no such file or folder"):
        load_dataset(tmp_path / "missing")
    torch.save({"val/image": ds["val"].inputs["image"], "labels": ds["val"].labels}, tmp_path / "val.pt")
    with pytest.raises(DataError, match=r"val\.pt: key 'val/image': a per-split file"):
        load_dataset(tmp_path)


# ------------------------------------------------------------------ built-ins by name
@pytest.fixture
def registry(monkeypatch):
    """A private registry with one toy built-in (avdigits is never built here)."""
    calls: list[dict] = []

    def build(**kwargs: Any) -> MultimodalDataset:
        calls.append(kwargs)
        return toy(name="toyset")

    reg: Registry[DatasetSpec] = Registry("dataset")
    reg.add("toyset", DatasetSpec("toyset", build, "a tiny synthetic dataset"))
    monkeypatch.setattr(data, "DATASETS", reg)
    return calls


def test_builtin_by_name(registry, tmp_path):
    ds = load_dataset("toyset", seed=3, cache_dir=tmp_path)
    assert ds.name == "toyset" and registry == [{"seed": 3, "cache_dir": tmp_path, "progress": False}]
    with pytest.raises(DataError) as exc:
        load_dataset("toyse")
    assert "unknown dataset 'toyse'" in exc.value.first.message and "'toyset'" in exc.value.first.help[0]


# ------------------------------------------------------------------ the space
@pytest.fixture(scope="module")
def mfas():
    return genolang.load(MFAS).space()


def test_check_against_space(mfas):
    check_against_space(toy(AVMNIST, sizes=(("train", 2), ("val", 2))), mfas)
    ds = toy(AVMNIST, sizes=(("train", 2), ("val", 2)))
    extra = MultimodalDataset("extra", {s: Split({**sp.inputs, "depth": sp.inputs["image"]}, sp.labels)
                                        for s, sp in ds.splits.items()}, 10)
    check_against_space(extra, mfas)  # extra modalities are fine
    no_audio = MultimodalDataset("no_audio", {s: Split({"image": sp.inputs["image"]}, sp.labels)
                                              for s, sp in ds.splits.items()}, 10)
    with pytest.raises(DataError) as exc:
        check_against_space(no_audio, mfas)
    assert "no modality 'audio'" in str(exc.value) and "modalities: image [1, 28, 28]" in str(exc.value)


def test_check_against_space_wrong_shape(mfas):
    ds = toy({"image": (1, 28, 28), "audio": (1, 112, 100)}, sizes=(("train", 2), ("val", 2)))
    with pytest.raises(DataError) as exc:
        check_against_space(ds, mfas)
    message = exc.value.first.message
    assert "input 'audio'" in message and "[1, 112, 112]" in message and "[1, 112, 100]" in message
    assert "image [1, 28, 28]" in message


# ------------------------------------------------------------------ the CLI
def test_cli_list(capsys, registry):
    code, out, _ = run(capsys, "data", "list")
    assert code == 0 and "toyset" in out and "a tiny synthetic dataset" in out
    for argv in (("data", "list", "--json"), ("data", "--json", "list")):
        code, out, _ = run(capsys, *argv)
        assert code == 0 and json.loads(out) == [{"name": "toyset", "description": "a tiny synthetic dataset"}]


def test_cli_build(capsys, registry, tmp_path):
    code, out, _ = run(capsys, "data", "build", "toyset", "--seed", "4", "--cache-dir", str(tmp_path), "--json")
    assert code == 0 and json.loads(out)["name"] == "toyset"
    assert registry == [{"seed": 4, "cache_dir": str(tmp_path), "progress": False}]
    code, _, err = run(capsys, "data", "build", "toyst")
    assert code == 1 and "did you mean 'toyset'?" in err and "Traceback" not in err


def test_cli_info(capsys, tmp_path):
    path = save_dataset(toy(), tmp_path / "toy.npz")
    code, out, _ = run(capsys, "data", "info", str(path))
    assert code == 0 and "dataset  toy  (single_label, 4 classes)" in out
    assert "image     [1, 4, 4]  uint8" in out and describe(toy())["digest"] in out
    code, out, _ = run(capsys, "data", "info", "--json", str(path))
    assert code == 0 and json.loads(out)["digest"] == describe(toy())["digest"]


def test_cli_info_bad_path(capsys, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"junk")
    code, out, err = run(capsys, "data", "info", str(bad))
    assert code == 1 and f"{bad}: cannot read it" in err and "Traceback" not in err and not out
    code, out, _ = run(capsys, "data", "info", "--json", str(tmp_path / "missing.npz"))
    doc = json.loads(out)
    assert code == 1 and doc["ok"] is False and "no such file" in doc["diagnostics"][0]["message"]
