"""The bilevel (BM-NAS) search: ledger rows per epoch, phase alternation, resume, a planted pair, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import genolang
from genolang.runtime.bilevel import CHECKPOINT_FILE, BilevelConfig, BilevelRun, CosineRestarts, run_bilevel
from genolang.runtime.dataset import MultimodalDataset, Split
from genolang.runtime.errors import SearchError
from genolang.runtime.ledger import Ledger

# a BM-NAS-like space: three vector "features", one cell choosing 2 of them, one step
SPACE = """genolang 1

space cellmini version 1 {
  input a { shape = [4] }
  input b { shape = [4] }
  input c { shape = [4] }
  enum StepOp { sum, concat_fc, attention }
  group fusion {
    channels = 8
    length = 2
    group cell[1] {
      in: choose(2, a, b, c)
      node step[1] { x: pick(2, cell.in, step.before); op: StepOp }
      out = concat_all
    }
    out = concat_all
  }
  head y { in = @fusion; classes = 2 }
}
"""
CELL_IN = "fusion.cell[0].in"
FAST = BilevelConfig(batch_size=32, arch_lr=3e-2, w_lr=1e-2)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread is fastest and keeps CPU results reproducible."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_dataset(seed: int = 0, n: int = 192) -> MultimodalDataset:
    """Three 4-d vector modalities; the label depends on the pair (a, c) only."""
    gen = torch.Generator().manual_seed(seed)

    def split(size: int) -> Split:
        a, b, c = (torch.randn(size, 4, generator=gen) for _ in range(3))
        return Split({"a": a, "b": b, "c": c}, (a[:, 0] + c[:, 0] > 0).long())

    return MultimodalDataset("pairs", {"train": split(n), "val": split(n // 2), "test": split(32)}, num_classes=2)


def write_space(folder: Path):
    path = folder / "cellmini.geno"
    path.write_text(SPACE, encoding="utf-8")
    return genolang.load(path).space(), path


def snapshot(params) -> list[torch.Tensor]:
    return [p.detach().clone() for p in params]


def changed(before, params) -> list[bool]:
    return [not torch.equal(b, p.detach()) for b, p in zip(before, params)]


def test_a_search_writes_one_row_per_epoch_and_a_loadable_best(tmp_path):
    space, _ = write_space(tmp_path)
    out = tmp_path / "run"
    result = run_bilevel(space, make_dataset(), out_dir=out, epochs=2, config=FAST)
    assert (result.done, result.failed) == (2, 0) and result.best is not None
    with Ledger(out / "ledger.sqlite") as ledger:
        rows = ledger.done()
        meta = ledger.meta()
    assert [t.budget for t in rows] == [{"epoch": 1, "bilevel": True}, {"epoch": 2, "bilevel": True}]
    assert meta["searcher"] == "bmnas" and meta["bilevel"]["alternation"] == "epoch" and meta["trials"] == 2
    assert all(0.0 <= t.score <= 1.0 and "train_loss" in t.metrics for t in rows)
    top = max(rows, key=lambda t: (t.score, t.idx))
    assert result.best_score == top.score and result.best.values == top.values
    best = genolang.load(out / "best.geno").genotype("best")
    assert best == result.best and best.meta["epoch"] == top.idx + 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["best"]["digest"] == best.digest and summary["epochs"] == 2
    assert len((out / "trials.jsonl").read_text().splitlines()) == 2
    state = torch.load(out / CHECKPOINT_FILE, weights_only=True)  # plain state dicts only
    assert state["epoch"] == 2 and set(state) >= {"supernet", "w_opt", "arch_opt", "schedule"}
    with pytest.raises(SearchError, match="not empty"):
        run_bilevel(space, make_dataset(), out_dir=out, epochs=3, config=FAST)


def test_per_epoch_alternation_updates_weights_then_architecture():
    space, _ = write_space_in_memory()
    run = BilevelRun(space, make_dataset(), FAST, seed=0)
    weights, alphas = snapshot(run.weights), snapshot(run.alphas)
    run.weight_pass(1)  # the train phase: weights only
    assert not any(changed(alphas, run.alphas)) and sum(changed(weights, run.weights)) >= len(weights) - 2
    weights = snapshot(run.weights)
    run.arch_pass(1)  # the val phase: the architecture only, one step per val batch
    assert all(changed(alphas, run.alphas)) and not any(changed(weights, run.weights))
    steps = {int(s["step"]) for s in run.arch_opt.state.values()}
    assert steps == {run.batches_per_epoch("val")}


def test_per_batch_alternation_steps_both_levels_once_per_train_batch():
    space, _ = write_space_in_memory()
    config = FAST.model_copy(update={"alternation": "batch", "rule": "darts"})
    run = BilevelRun(space, make_dataset(), config, seed=0)
    weights, alphas = snapshot(run.weights), snapshot(run.alphas)
    record = run.run_epoch(1)
    assert all(changed(alphas, run.alphas)) and any(changed(weights, run.weights))
    per_epoch = run.batches_per_epoch("train")  # 6 train batches, 3 val batches: val is cycled
    assert {int(s["step"]) for s in run.arch_opt.state.values()} == {per_epoch}
    assert {int(s["step"]) for s in run.w_opt.state.values()} == {per_epoch}
    assert space.validate(record.genotype.values) == record.genotype


def test_resume_after_epoch_one_equals_an_uninterrupted_run(tmp_path):
    space, _ = write_space(tmp_path)
    whole = run_bilevel(space, make_dataset(), out_dir=tmp_path / "whole", epochs=2, config=FAST, seed=3)
    run_bilevel(space, make_dataset(), out_dir=tmp_path / "cut", epochs=1, config=FAST, seed=3)
    resumed = run_bilevel(space, make_dataset(), out_dir=tmp_path / "cut", epochs=2, config=FAST, seed=3,
                          resume=True)
    assert [t.digest for t in resumed.trials] == [t.digest for t in whole.trials]
    assert [t.score for t in resumed.trials] == pytest.approx([t.score for t in whole.trials], abs=1e-6)
    a = torch.load(tmp_path / "whole" / CHECKPOINT_FILE, weights_only=True)["supernet"]
    b = torch.load(tmp_path / "cut" / CHECKPOINT_FILE, weights_only=True)["supernet"]
    arch = [k for k in a if k.startswith("net.arch.")]
    assert arch and all(torch.allclose(a[k], b[k], atol=1e-6) for k in arch)
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a)
    # a resume with another config or seed is refused; a finished search resumes to a no-op
    with pytest.raises(Exception, match=r"bilevel|searcher_seed"):
        run_bilevel(space, make_dataset(), out_dir=tmp_path / "cut", epochs=2, config=FAST, seed=4, resume=True)
    again = run_bilevel(space, make_dataset(), out_dir=tmp_path / "cut", epochs=2, config=FAST, seed=3, resume=True)
    assert [t.digest for t in again.trials] == [t.digest for t in whole.trials]


def test_the_supernet_derives_the_planted_pair():
    """Labels read a and c only: the cell's derived input pair is (a, c) for most seeds (BM-NAS pair rule)."""
    space, _ = write_space_in_memory()
    found = 0
    for seed in range(5):
        run = BilevelRun(space, make_dataset(seed), FAST, seed=seed)
        for epoch in (1, 2, 3):
            record = run.run_epoch(epoch)
        skip = run.net.arch.snapshot()[CELL_IN][:, 1]  # the (a, b, c) skip weights
        found += record.genotype.values[CELL_IN] == ["@a", "@c"] and bool(skip[1] < skip.max())
    assert found >= 3, found


def test_the_cosine_schedule_restarts_with_a_longer_period():
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = CosineRestarts(opt, eta_max=1.0, eta_min=0.0, t0=1, t_mult=2, per_epoch=4)
    lrs = [sched.step() for _ in range(5 + 9 + 1)]
    # as the reference: eta_min at t = T_i (the batch after T_i epochs), then eta_max again
    assert lrs[0] == 1.0 and lrs[2] == pytest.approx(0.5) and lrs[4] == 0.0 and lrs[5] == 1.0
    assert lrs[9] == pytest.approx(0.5) and lrs[13] == 0.0 and lrs[14] == 1.0  # then a 2-epoch period
    assert opt.param_groups[0]["lr"] == lrs[-1]


def test_a_space_the_supernet_cannot_relax_is_refused_by_name():
    src = SPACE.replace("length = 2", "length: choice(2, 4)")
    space = genolang.loads(src, "bad.geno").space()
    with pytest.raises(SearchError, match=r"searcher 'bmnas' does not apply .*length"):
        BilevelRun(space, make_dataset(), FAST)
    run = BilevelRun(space, make_dataset(), FAST.model_copy(update={"fixed": {"fusion.length": 2}}))
    assert run.net.derive().values["fusion.length"] == 2


def test_the_search_command_runs_and_resumes_bmnas(tmp_path, capsys):
    from genolang.cli import main
    from genolang.runtime import data
    from genolang.runtime.study import SearchConfig

    _, path = write_space(tmp_path)
    npz = data.save_dataset(make_dataset(n=64), tmp_path / "pairs.npz")
    args = ["search", str(path), "--searcher", "bmnas", "--out", str(tmp_path / "run"), "--data", str(npz),
            "--device", "cpu", "--batch-size", "32", "--alternation", "batch"]
    assert main([*args, "--epochs", "1", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["done"] == 1 and doc["best_digest"].startswith("sha256:")
    assert main([*args, "--epochs", "2", "--resume"]) == 0
    table = capsys.readouterr().out
    assert "epochs" in table and "best val acc" in table and "supernet.pt" in table
    recorded = json.loads((tmp_path / "run" / "summary.json").read_text())["search_config"]
    config = SearchConfig.model_validate_json(json.dumps(recorded))  # the record reads back as a config
    assert (config.searcher, config.epochs, config.resume, config.bilevel.alternation) == ("bmnas", 2, True, "batch")
    assert config.bilevel.batch_size == 32 and config.budget is None
    assert main([*args, "--epochs", "2", "--budget", "3", "--resume"]) == 2
    assert "does not take --budget" in capsys.readouterr().err
    assert main(["search", str(path), "--searcher", "bmnas", "--out", str(tmp_path / "x"), "--data", str(npz)]) == 2


def write_space_in_memory():
    return genolang.loads(SPACE, "cellmini.geno").space(), None


def test_a_bare_trial_search_refuses_a_one_shot_searcher(tmp_path):
    from genolang.runtime.runfolder import LEDGER_FILE
    from genolang.searchers.study import run_search

    space, _ = write_space_in_memory()
    with pytest.raises(SearchError, match="'bmnas' is one-shot"):
        run_search(space, make_dataset(n=64), searcher="bmnas", budget=1, out_dir=tmp_path / "run")
    assert not (tmp_path / "run" / LEDGER_FILE).exists()
