"""Self-supervised BM-NAS: NT-Xent, augmentations, labelled subsets, the search and the fine-tuning."""

from __future__ import annotations

import json
import math

import pytest
import torch
from test_bilevel import make_dataset, write_space

import genolang
from genolang.runtime.bilevel import BilevelConfig
from genolang.runtime.ledger import Ledger
from genolang.runtime.ssl import (
    Augment,
    SslConfig,
    contrastive_accuracy,
    labelled_subset,
    nt_xent,
    run_ssl_search,
    split_labelled,
    ssl_finetune,
)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def nt_xent_loop(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> float:
    """The paper's formula, term by term: views interleaved as 2k-1, 2k (0-based 2k, 2k+1)."""
    views = [v for pair in zip(z1.double(), z2.double()) for v in pair]
    m = len(views)

    def sim(u: torch.Tensor, v: torch.Tensor) -> float:
        return float(u @ v / (u.norm() * v.norm()))

    def loss(i: int, j: int) -> float:
        den = sum(math.exp(sim(views[i], views[k]) / temperature) for k in range(m) if k != i)
        return -math.log(math.exp(sim(views[i], views[j]) / temperature) / den)

    return sum(loss(2 * k, 2 * k + 1) + loss(2 * k + 1, 2 * k) for k in range(m // 2)) / m


@pytest.mark.parametrize("temperature", [0.5, 0.1, 1.0])
@pytest.mark.parametrize("n", [2, 5])
def test_nt_xent_equals_the_direct_computation(n, temperature):
    gen = torch.Generator().manual_seed(n)
    z1, z2 = torch.randn(n, 7, generator=gen), torch.randn(n, 7, generator=gen)
    got = nt_xent(z1, z2, temperature=temperature)
    assert float(got) == pytest.approx(nt_xent_loop(z1, z2, temperature), rel=1e-5)
    assert float(nt_xent(3.0 * z1, z2, temperature=temperature)) == pytest.approx(float(got), rel=1e-5)  # cosine


def test_nt_xent_rewards_aligned_views_and_has_gradients():
    z = torch.randn(8, 16, generator=torch.Generator().manual_seed(0), requires_grad=True)
    aligned, shuffled = nt_xent(z, z + 0.01), nt_xent(z, z.roll(1, 0))
    assert aligned < shuffled and contrastive_accuracy(z.detach(), z.detach() + 0.01) == 1.0
    aligned.backward()
    assert z.grad is not None and torch.isfinite(z.grad).all()


def batch(n: int = 6) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return {"image": torch.rand(n, 1, 16, 16, generator=gen), "audio": torch.rand(n, 1, 20, 30, generator=gen),
            "text": torch.randn(n, 12, generator=gen)}


def test_augmentations_keep_shapes_and_dtypes_and_are_seeded():
    xs = batch()
    aug = Augment({k: tuple(v.shape[1:]) for k, v in xs.items()}, SslConfig())
    assert aug.kinds == {"image": "image", "audio": "spectrogram", "text": "vector"}
    one, again, other = aug(xs, seed=3), aug(xs, seed=3), aug(xs, seed=4)
    for k, x in xs.items():
        assert one[k].shape == x.shape and one[k].dtype == x.dtype
        assert torch.equal(one[k], again[k]) and not torch.equal(one[k], other[k]) and not torch.equal(one[k], x)
    # seeding leaves torch's global RNG where it was
    state = torch.get_rng_state()
    aug(xs, seed=5)
    assert torch.equal(state, torch.get_rng_state())


def test_views_are_drawn_per_sample_and_spectrograms_are_masked():
    same = {k: v[:1].expand(4, *v.shape[1:]).contiguous() for k, v in batch().items()}
    aug = Augment({k: tuple(v.shape[1:]) for k, v in same.items()}, SslConfig(mask_fraction=0.3))
    view = aug(same, seed=0)
    for k in same:  # four copies of one sample get four different views
        assert len({tuple(v.flatten().tolist()) for v in view[k]}) > 1, k
    spec, x = view["audio"], same["audio"]
    kept = (spec == x) | (spec == 0)
    assert kept.all() and (spec == 0).any()  # masking only zeroes values


def test_the_spectrogram_rule_can_be_overridden():
    shapes = {"image": (1, 8, 8), "sound": (1, 8, 8), "audio": (1, 8, 8)}
    assert Augment(shapes, SslConfig()).kinds == {"image": "image", "sound": "image", "audio": "spectrogram"}
    named = Augment(shapes, SslConfig(spectrogram_modalities=("sound",))).kinds
    assert named == {"image": "image", "sound": "spectrogram", "audio": "image"}


def test_the_labelled_subset_is_stratified_seeded_and_of_the_right_size():
    order = torch.randperm(100, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0] * 60 + [1] * 30 + [2] * 10)[order]
    idx = labelled_subset(labels, 0.25, seed=1)
    assert len(idx) == 25 and len(set(idx.tolist())) == 25 and torch.equal(idx, idx.sort().values)
    counts = torch.bincount(labels[idx], minlength=3).tolist()
    assert counts[0] == 15 and counts[1] in (7, 8) and counts[2] in (2, 3)
    assert torch.equal(idx, labelled_subset(labels, 0.25, seed=1))
    assert not torch.equal(idx, labelled_subset(labels, 0.25, seed=2))
    assert len(labelled_subset(labels, 0.001, seed=0)) == 1 and len(labelled_subset(labels, 1.0, seed=0)) == 100
    data = make_dataset(n=64)
    labelled, unlabelled = split_labelled(data, 0.25, seed=0)
    assert (len(labelled["train"]), len(unlabelled["train"])) == (16, 48)
    rows = {tuple(r.tolist()) for part in (labelled, unlabelled) for r in part["train"].inputs["a"]}
    assert len(rows) == 64 and len(labelled["val"]) == len(data["val"])


def test_the_ssl_search_runs_and_its_genotype_fine_tunes(tmp_path):
    space, _ = write_space(tmp_path)
    ssl = SslConfig(labelled_fraction=0.25, batch_size=16, pretrain_epochs=1, finetune_epochs=1)
    config = BilevelConfig(batch_size=16, arch_lr=1e-2)
    result = run_ssl_search(space, make_dataset(n=96), out_dir=tmp_path / "run", epochs=2, config=config, ssl=ssl)
    assert result.done == 2 and result.best is not None
    assert all(t.metrics["val_metric"] == "contrastive_top1" and 0 <= t.score <= 1 for t in result.trials)
    with Ledger(tmp_path / "run" / "ledger.sqlite") as ledger:
        meta = ledger.meta()
    assert meta["searcher"] == "ssl-bmnas" and meta["ssl"]["labelled_fraction"] == 0.25
    assert genolang.load(tmp_path / "run" / "best.geno").genotype("best") == result.best
    tuned = ssl_finetune(space, result.best, make_dataset(n=96), ssl=ssl, device="cpu")
    assert (tuned.labelled, tuned.unlabelled) == (24, 72) and len(tuned.pretrain_losses) == 1
    assert tuned.test_accuracy is not None and 0.0 <= tuned.test_accuracy <= 1.0
    json.dumps(tuned.to_json())


def test_the_search_command_runs_ssl_bmnas(tmp_path, capsys):
    from genolang.cli import main
    from genolang.runtime import data

    _, path = write_space(tmp_path)
    npz = data.save_dataset(make_dataset(n=64), tmp_path / "pairs.npz")
    args = ["search", str(path), "--searcher", "ssl-bmnas", "--out", str(tmp_path / "run"), "--data", str(npz),
            "--device", "cpu", "--batch-size", "16", "--epochs", "1", "--labelled-fraction", "0.5", "--json"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["done"] == 1 and doc["finetune"]["labelled"] == 32
    assert json.loads((tmp_path / "run" / "finetune.json").read_text())["labelled"] == 32
    more = [*args[:args.index("--epochs")], "--epochs", "2", "--labelled-fraction", "0.5", "--resume", "--json"]
    assert main(more) == 0 and json.loads(capsys.readouterr().out)["done"] == 2
    bad = ["search", str(path), "--searcher", "bmnas", "--out", str(tmp_path / "x"), "--data", str(npz),
           "--epochs", "1", "--labelled-fraction", "0.5"]
    assert main(bad) == 2 and "does not take --labelled-fraction" in capsys.readouterr().err
