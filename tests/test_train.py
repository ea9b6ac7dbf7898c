"""Training: learning, determinism, model selection, divergence, step counts, checkpoints, metrics, CLI."""

from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch")

from pydantic import ValidationError  # noqa: E402
from torch import nn  # noqa: E402

import genolang  # noqa: E402
from genolang.cli import main  # noqa: E402
from genolang.compiler.compile import compile_genotype  # noqa: E402
from genolang.runtime.dataset import MultimodalDataset, Split  # noqa: E402
from genolang.runtime.errors import DivergedError, TrainError  # noqa: E402
from genolang.runtime.train import TrainConfig, evaluate, f1_scores, load_weights, resolve_device, save_weights, train  # noqa: E402

SPACE = """genolang 1

space t version 1 {
  input x { shape = [16] }
  node h { op = fc; hidden = 32; in = @x; act = relu }
  head y { in = @h; classes = 4 }
}
"""
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: one intra-op thread is faster and immune to a busy second core."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def linear_data(n_train: int = 1024, *, seed: int = 1, multi_label: bool = False) -> MultimodalDataset:
    """Labels are a learnable function of x: argmax (or signs) of a fixed linear projection."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(16, 4, generator=g)

    def split(n: int) -> Split:
        x = torch.randn(n, 16, generator=g)
        z = x @ w
        return Split({"x": x}, (z > 0).long() if multi_label else z.argmax(1))

    splits = {"train": split(n_train), "val": split(256), "test": split(256)}
    return MultimodalDataset("linear", splits, 4, "multi_label" if multi_label else "single_label")


def small_net(seed: int = 0) -> nn.Module:
    space = genolang.loads(SPACE, "t.geno").space()
    torch.manual_seed(seed)
    return compile_genotype(space, space.default()).net


def fit(net: nn.Module, data: MultimodalDataset, **config):
    return train(net, data, TrainConfig(**{"lr": 3e-3, **config}), input_names=("x",))


def test_training_lowers_the_loss_and_beats_chance():
    data = linear_data()
    net = small_net()
    before = evaluate(net, data["val"], input_names=("x",), task="single_label")
    result = fit(net, data, epochs=4, lr=1e-2)
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0] and result.best_val.loss < before.loss
    assert result.best_val.accuracy > 0.8  # chance is 0.25
    assert result.test is not None and result.test.accuracy > 0.8 and result.test.n == 256
    assert result.steps == 4 * (1024 // 64) and [h["step"] for h in result.history] == [16, 32, 48, 64]
    assert result.samples_per_second > 0 and result.seconds > 0


def test_the_same_seed_gives_identical_weights():
    data = linear_data(256)
    runs = []
    for seed in (0, 0, 1):
        net = small_net()
        fit(net, data, epochs=2, seed=seed)
        runs.append(net.state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert not all(torch.equal(runs[0][k], runs[2][k]) for k in runs[0])


def test_the_best_state_on_val_is_restored():
    data = linear_data(512)
    net = small_net()
    snapshots = {}

    def wreck_after_epoch_3(entry):
        snapshots[entry["step"]] = {k: v.clone() for k, v in net.state_dict().items()}
        if entry["step"] >= 24:  # later evaluations see weights reset to noise: worse than the best
            with torch.no_grad():
                for p in net.parameters():
                    p.normal_(0, 1)

    result = train(net, data, TrainConfig(epochs=6, lr=3e-3, schedule="constant"), input_names=("x",),
                   on_eval=wreck_after_epoch_3)
    scores = {h["step"]: h["val"]["accuracy"] for h in result.history}
    assert result.best_step == max(scores, key=lambda s: (scores[s], -s)) and result.best_step <= 24
    assert result.best_step != result.steps
    best = snapshots[result.best_step]
    assert all(torch.equal(v, best[k]) for k, v in net.state_dict().items())
    again = evaluate(net, data["val"], input_names=("x",), task="single_label")
    assert again.accuracy == result.best_val.accuracy and again.loss == pytest.approx(result.best_val.loss)


def test_on_eval_can_stop_the_run_early():
    result = fit(small_net(), linear_data(256), epochs=10, eval_every=2, steps=None)
    assert result.steps == 40
    stopped = train(small_net(), linear_data(256), TrainConfig(epochs=10, eval_every=2), input_names=("x",),
                    on_eval=lambda entry: entry["step"] >= 6, progress=True)
    assert stopped.steps == 6 and [h["step"] for h in stopped.history] == [2, 4, 6]


class NaNAt(nn.Module):
    """A linear model whose training forward returns NaN from its ``bad``-th call on."""

    def __init__(self, bad: int):
        super().__init__()
        self.fc, self.calls, self.bad = nn.Linear(16, 4), 0, bad

    def forward(self, x):
        if self.training:
            self.calls += 1
        out = self.fc(x)
        return out * float("nan") if self.training and self.calls >= self.bad else out


def test_a_nan_loss_raises_diverged_error_with_the_step():
    with pytest.raises(DivergedError) as info:
        fit(NaNAt(bad=3), linear_data(256), epochs=3)
    assert info.value.step == 3 and "at step 3" in str(info.value) and info.value.code == "E0601"
    with pytest.raises(DivergedError) as info:
        fit(small_net(), linear_data(256), epochs=3, lr=1e30, grad_clip=None, schedule="constant")
    assert 1 <= info.value.step <= 12


def test_a_steps_based_run_does_exactly_that_many_optimizer_steps():
    count = []
    from torch.optim.optimizer import register_optimizer_step_post_hook

    handle = register_optimizer_step_post_hook(lambda *a: count.append(1))
    try:
        result = fit(small_net(), linear_data(256), steps=10, epochs=99)  # 4 steps per epoch
        assert len(count) == 10 and result.steps == 10
        assert [h["step"] for h in result.history] == [10]  # steps-based: evaluated at the end
        count.clear()
        result = fit(small_net(), linear_data(256), steps=10, eval_every=3)
        assert len(count) == 10 and [h["step"] for h in result.history] == [3, 6, 9, 10]
    finally:
        handle.remove()


def test_checkpoint_and_metrics_round_trip(tmp_path):
    net = small_net()
    result = train(net, linear_data(256), TrainConfig(epochs=1), input_names=("x",), out_dir=tmp_path / "run",
                   meta={"note": "hi"})
    assert result.checkpoint == tmp_path / "run" / "model.pt" and result.checkpoint.is_file()
    record = torch.load(result.checkpoint, weights_only=True)  # the state dict, with the genotype's digest
    assert record["format"] == "genolang-weights 1" and record["genotype_digest"] is None
    assert set(record["state_dict"]) == set(net.state_dict())
    other = small_net(seed=5)
    load_weights(other, result.checkpoint)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in other.state_dict().items())
    doc = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert doc["note"] == "hi" and doc["best_val"]["accuracy"] == result.best_val.accuracy
    assert doc["steps"] == 4 and doc["dataset"]["sizes"]["train"] == 256 and doc["config"]["epochs"] == 1
    with pytest.raises(TrainError, match="do not fit"):
        load_weights(nn.Linear(3, 3), result.checkpoint)
    with pytest.raises(TrainError, match="no weights file"):
        load_weights(net, tmp_path / "missing.pt")
    save_weights(nn.Linear(2, 2), tmp_path / "run" / "model.pt")  # atomic overwrite, no leftovers
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["metrics.json", "model.pt"]


def test_f1_against_a_hand_computed_example():
    target = torch.tensor([[1, 0, 1, 0], [0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]])
    pred = torch.tensor([[1, 0, 0, 0], [0, 1, 1, 0], [1, 0, 0, 0], [0, 0, 1, 0]])
    # class 0: tp 2 -> F1 1; class 1: tp 1, fn 1 -> 2/3; class 2: fp 2, fn 1 -> 0; class 3: never -> 0
    f1 = f1_scores(pred, target)
    assert f1["f1_macro"] == pytest.approx((1 + 2 / 3) / 4)
    assert f1["f1_weighted"] == pytest.approx((2 * 1 + 2 * 2 / 3 + 1 * 0) / 5)
    assert f1["f1_micro"] == pytest.approx(2 * 3 / (2 * 3 + 2 + 2))
    assert f1_scores(torch.zeros(2, 3), torch.zeros(2, 3)) == {"f1_macro": 0.0, "f1_weighted": 0.0, "f1_micro": 0.0}


def test_evaluate_on_multi_label_data():
    data = linear_data(256, multi_label=True)
    split = data["val"]
    net = nn.Linear(16, 4)
    metrics = evaluate(net, split, input_names=("x",), task="multi_label", batch_size=7)
    with torch.no_grad():
        logits = net(split.inputs["x"])
    expect = f1_scores(logits > 0, split.labels)
    assert metrics.n == 256 and metrics.f1_macro == pytest.approx(expect["f1_macro"])
    assert metrics.f1_weighted == pytest.approx(expect["f1_weighted"]) and metrics.score == metrics.f1_weighted
    assert metrics.f1_micro == pytest.approx(expect["f1_micro"])
    assert metrics.loss == pytest.approx(float(nn.functional.binary_cross_entropy_with_logits(
        logits, split.labels.float())), rel=1e-5)
    assert metrics.accuracy == pytest.approx(float(((logits > 0) == split.labels.bool()).all(1).float().mean()))
    trained = small_net()
    result = fit(trained, data, epochs=3)
    assert result.best_val.f1_weighted > expect["f1_weighted"] and result.test.f1_micro is not None


def test_config_is_strict_and_frozen():
    config = TrainConfig(steps=5)
    with pytest.raises(ValidationError):
        config.lr = 1.0
    for bad in ({"lr": 0}, {"optimizer": "lamb"}, {"epochs": "3"}, {"learning_rate": 1e-3}, {"batch_size": 0}):
        with pytest.raises(ValidationError):
            TrainConfig(**bad)
    assert TrainConfig(lr=1).lr == 1.0


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(TrainError, match="unknown device"):
        resolve_device("abacus")
    if not torch.cuda.is_available():
        with pytest.raises(TrainError, match="CUDA is not available"):
            resolve_device("cuda")


@pytest.mark.gpu
@cuda
def test_training_on_cuda_with_amp():
    result = fit(small_net(), linear_data(), epochs=3, batch_size=128)
    assert result.device.startswith("cuda") and result.best_val.accuracy > 0.6
    assert math.isfinite(result.history[-1]["train_loss"])


# ------------------------------------------------------------------ CLI
@pytest.fixture
def space_file(tmp_path):
    path = tmp_path / "t.geno"
    path.write_text(SPACE, encoding="utf-8")
    return path


def test_cli_train_with_an_injected_dataset(tmp_path, space_file, monkeypatch, capsys):
    from genolang.runtime import cli_train

    monkeypatch.setattr(cli_train, "load_data", lambda spec, **kw: linear_data(256))
    out = tmp_path / "run"
    assert main(["train", str(space_file), "--data", "synthetic", "--out", str(out), "--epochs", "2",
                 "--device", "cpu", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["steps"] == 8 and doc["params"] == 676 and doc["best_val"]["accuracy"] > 0.25
    assert {p.name for p in out.iterdir()} == {"model.pt", "metrics.json", "genotype.geno"}
    again = genolang.load(out / "genotype.geno").genotype()
    assert again.digest == doc["genotype"]["digest"]
    assert main(["train", str(space_file), "--data", "synthetic", "--out", str(out), "--steps", "3",
                 "--overwrite"]) == 0
    text = capsys.readouterr().out
    assert "best val" in text and "samples/s" in text and "676" in text


def test_cli_train_refuses_bad_options(space_file, tmp_path, capsys):
    assert main(["train", str(space_file), "--data", "x", "--out", str(tmp_path), "--lr", "-1"]) == 2
    assert "--lr" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["train", str(space_file), "--data", "x", "--out", str(tmp_path), "--device", "cuda"]) == 1
        assert "CUDA is not available" in capsys.readouterr().err


def test_cli_train_on_an_npz_file(tmp_path, space_file, capsys):
    from genolang.runtime import data

    path = data.save_dataset(linear_data(256), tmp_path / "linear.npz")
    out = tmp_path / "run"
    assert main(["train", str(space_file), "--data", str(path), "--out", str(out), "--epochs", "1", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["data"] == str(path) and doc["steps"] == 4 and doc["test"]["n"] == 256
    assert json.loads((out / "metrics.json").read_text())["genotype"]["digest"] == doc["genotype"]["digest"]
