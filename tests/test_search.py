"""The search driver: a tiny search end to end, kill -9 and resume, failed trials, weight sharing.

Trials use :func:`stub_trial`, a few SGD steps written here, so that the driver is tested
without the trainer; ``test_a_search_with_the_real_trainer`` runs the default trial function
when ``genolang.runtime.train`` is installed. ``stub_trial`` and :func:`logging_trial` are
module-level so that worker and killed processes can import them.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import sqlite3
from pathlib import Path

import pytest
import torch

import genolang
from genolang.compiler.compile import compile_genotype
from genolang.compiler.errors import CompileError
from genolang.runtime.dataset import MultimodalDataset, Split
from genolang.runtime.errors import DivergedError, LedgerError, OutOfMemoryError, SearchError
from genolang.runtime.executors import EXECUTORS
from genolang.runtime.ledger import Ledger
from genolang.runtime.search_trial import TrialContext, TrialJob
from genolang.runtime.sharing import WeightBank
from genolang.runtime.strategy import Observation
from genolang.runtime.study import SearchConfig
from genolang.searchers.base import make_searcher, searcher_class
from genolang.searchers.study import run_search


def random_genotypes(space, n: int, *, seed: int = 0) -> list:
    """A sequential random search's first n genotypes (each ask sees the trials before)."""
    searcher, history = make_searcher("random", space, seed=seed), []
    for i in range(n):
        history.append(Observation(i, searcher.ask(history), "done", 0.5))
    return [o.genotype for o in history]


def random_asks(space, n: int, *, seed: int = 0) -> list[str]:
    return [g.digest for g in random_genotypes(space, n, seed=seed)]

SPACE = """genolang 1

space duo version 1 {
  input a { shape = [8] }
  input b { shape = [6] }
  enum Act { relu, tanh, identity }
  node ha { op = fc; hidden: choice(8, 16); in = @a; act: Act }
  node hb { op = fc; hidden: choice(8, 16); in = @b; act: Act }
  node fusion { op = fc; hidden = 16; combine = concat; x: subset(ha, hb, min = 1); act: Act }
  head y { in = @fusion; classes = 3 }
}
"""


def make_dataset(seed: int = 0) -> MultimodalDataset:
    """Two vector modalities, 3 classes that depend on both."""
    gen = torch.Generator().manual_seed(seed)

    def split(n: int) -> Split:
        a, b = torch.randn(n, 8, generator=gen), torch.randn(n, 6, generator=gen)
        y = (a[:, 0] + b[:, 0] > 0).long() + (a[:, 1] - b[:, 1] > 1).long()
        return Split({"a": a, "b": b}, y)

    return MultimodalDataset("synth", {"train": split(128), "val": split(64), "test": split(32)}, num_classes=3)


def write_space(folder: Path):
    path = folder / "duo.geno"
    path.write_text(SPACE, encoding="utf-8")
    return genolang.load(path).space(), path


def stub_trial(job: TrialJob, ctx: TrialContext, *, nan_at: frozenset[int] = frozenset()) -> dict:
    """Compile, share weights, ``job.steps`` SGD steps (NaN inputs for ``idx in nan_at``), val accuracy."""
    torch.manual_seed(job.seed)
    net = compile_genotype(ctx.space, job.genotype).net
    shared = ctx.bank.load_into(net) if ctx.bank is not None else 0
    batches = ctx.data["train"].batches(32, shuffle=True, seed=job.seed)
    for _, (xs, y) in zip(range(job.steps), batches):
        if job.idx in nan_at:
            xs = {k: v * float("nan") for k, v in xs.items()}
        loss = torch.nn.functional.cross_entropy(net(*(xs[n] for n in net.input_names)), y)
        if not torch.isfinite(loss):
            raise DivergedError(f"the training loss became {loss.item()}")
        net.zero_grad()
        loss.backward()
        with torch.no_grad():  # plain SGD: torch.optim's first step imports torch._dynamo (seconds)
            for p in net.parameters():
                p -= 0.1 * p.grad
    if ctx.bank is not None:
        ctx.bank.store_from(net)
    val = ctx.data["val"]
    with torch.no_grad():
        pred = net(*(val.inputs[n] for n in net.input_names)).argmax(1)
    return {"val_accuracy": float((pred == val.labels).float().mean()), "shared_tensors": shared}


def score_trial(job: TrialJob, ctx: TrialContext) -> dict:
    """No training: a score from the digest, and the process that ran the trial."""
    return {"val_accuracy": (int(job.genotype.digest[-4:], 16) % 1000) / 1000, "pid": os.getpid()}


def test_a_tiny_search_writes_ledger_trials_and_a_loadable_best(tmp_path):
    space, _path = write_space(tmp_path)
    out = tmp_path / "run"
    result = run_search(space, make_dataset(), budget=3, steps=3, out_dir=out, trial_fn=stub_trial)
    assert (result.done, result.failed) == (3, 0) and result.best is not None
    with Ledger(out / "ledger.sqlite") as ledger:
        assert ledger.counts() == {"running": 0, "done": 3, "failed": 0}
        assert ledger.meta()["budget"] == {"steps": 3} and ledger.meta()["searcher"] == "random"
        assert max(t.score for t in ledger.done()) == result.best_score
    lines = [json.loads(line) for line in (out / "trials.jsonl").read_text().splitlines()]
    assert [r["idx"] for r in lines] == [0, 1, 2] and all(r["status"] == "done" for r in lines)
    assert (out / "best.geno").read_text().count('import "../duo.geno"') == 1
    best = genolang.load(out / "best.geno").genotype("best")
    assert best == result.best and space.validate(best.values) == best
    assert best.meta["val_accuracy"] == pytest.approx(result.best_score, abs=1e-6)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["done"] == 3 and summary["best"]["digest"] == result.best.digest
    # the asks are the random searcher's, in order
    assert [t.digest for t in result.trials] == random_asks(space, 3)
    assert summary["search_config"]["budget"] == 3 and summary["search_config"]["searcher"] == "random"


def test_an_existing_folder_needs_resume_and_the_same_search(tmp_path):
    space, _ = write_space(tmp_path)
    out = tmp_path / "run"
    run_search(space, make_dataset(), budget=1, steps=1, out_dir=out, trial_fn=stub_trial)
    with pytest.raises(SearchError, match="not empty"):
        run_search(space, make_dataset(), budget=2, steps=1, out_dir=out, trial_fn=stub_trial)
    with pytest.raises(LedgerError, match="searcher_seed"):
        run_search(space, make_dataset(), budget=2, steps=1, seed=1, out_dir=out, trial_fn=stub_trial, resume=True)
    with pytest.raises(LedgerError, match="budget"):
        run_search(space, make_dataset(), budget=2, steps=2, out_dir=out, trial_fn=stub_trial, resume=True)
    more = run_search(space, make_dataset(), budget=2, steps=1, out_dir=out, trial_fn=stub_trial, resume=True)
    assert more.done == 2 and len((out / "trials.jsonl").read_text().splitlines()) == 2


def test_a_diverging_trial_is_recorded_as_failed_and_the_search_goes_on(tmp_path):
    space, _ = write_space(tmp_path)
    out = tmp_path / "run"
    trial = functools.partial(stub_trial, nan_at=frozenset({1}))
    result = run_search(space, make_dataset(), budget=4, steps=3, out_dir=out, trial_fn=trial)
    assert (result.done, result.failed) == (3, 1)
    with Ledger(out / "ledger.sqlite") as ledger:
        (failed,) = ledger.failed()
    assert failed.idx == 1 and failed.error.startswith("DivergedError E0601: the training loss became nan")
    assert failed.metrics is None and result.best.digest != failed.digest


def scripted_trial(job: TrialJob, ctx: TrialContext, *, fails: tuple = (), scores: tuple = (),
                   peek: str | None = None) -> dict:
    """No training: fail as ``dict(fails)[idx]`` says ("compile", "diverge", "oom"), else score
    ``dict(scores).get(idx, 0.5)``; with ``peek``, also report the trial index of best.geno there."""
    kind = dict(fails).get(job.idx)
    if kind == "compile":
        raise CompileError("node 'fusion' has no inputs in this genotype")
    if kind == "diverge":
        raise DivergedError("the training loss became nan at step 1")
    if kind == "oom":
        raise OutOfMemoryError("CUDA out of memory")
    metrics = {"val_accuracy": dict(scores).get(job.idx, 0.5)}
    if peek is not None and Path(peek).exists():
        metrics["best_before"] = genolang.load(peek).genotype("best").meta["trial"]
    return metrics


def test_failures_are_counted_by_reason_in_the_summary_and_the_table(tmp_path):
    from genolang.searchers.cli import summary_table

    space, _ = write_space(tmp_path)
    out = tmp_path / "run"
    trial = functools.partial(scripted_trial, fails=((1, "compile"), (3, "compile"), (4, "diverge"),
                                                     (6, "compile"), (7, "oom")))
    result = run_search(space, make_dataset(), budget=9, steps=1, out_dir=out, trial_fn=trial)
    expected = {"CompileError E0400": 3, "DivergedError E0601": 1, "OutOfMemoryError E0602": 1}
    assert (result.done, result.failed) == (4, 5)
    assert result.failures == expected and list(result.failures) == list(expected)  # most frequent first
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failures"] == expected and (summary["done"], summary["failed"]) == (4, 5)
    assert result.to_json()["failures"] == expected
    (line,) = [row for row in summary_table(result).splitlines() if row.startswith("trials ")]
    assert line.split(None, 1)[1] == ("4 done, 5 failed (CompileError E0400: 3, DivergedError E0601: 1, "
                                      "OutOfMemoryError E0602: 1)")
    # no failure: an empty object, and nothing after "0 failed"
    clean = run_search(space, make_dataset(), budget=2, steps=1, out_dir=tmp_path / "clean", trial_fn=scripted_trial)
    assert clean.failures == {} and json.loads((tmp_path / "clean" / "summary.json").read_text())["failures"] == {}
    (line,) = [row for row in summary_table(clean).splitlines() if row.startswith("trials ")]
    assert line.split(None, 1)[1] == "2 done, 0 failed"


def test_equal_scores_make_the_later_trial_the_best(tmp_path):
    space, _ = write_space(tmp_path)
    out = tmp_path / "run"
    trial = functools.partial(scripted_trial, scores=((0, 0.5), (1, 0.8), (2, 0.8), (3, 0.3)),
                              peek=str(out / "best.geno"))
    result = run_search(space, make_dataset(), budget=4, steps=1, out_dir=out, trial_fn=trial)
    later = result.trials[2]
    assert [t.score for t in result.trials] == [0.5, 0.8, 0.8, 0.3]
    # while the search ran: trial 2 (0.8, as trial 1) took best.geno over (RandomNet's >=)
    assert result.trials[3].metrics["best_before"] == 2
    with Ledger(out / "ledger.sqlite") as ledger:
        assert ledger.best().idx == 2 and ledger.best().digest == later.digest
    best = genolang.load(out / "best.geno").genotype("best")
    assert best.meta["trial"] == 2 and best.digest == later.digest == result.best.digest
    summary = json.loads((out / "summary.json").read_text())
    assert summary["best"]["idx"] == 2 and summary["best"]["digest"] == later.digest
    assert summary["best"]["val_accuracy"] == 0.8 and result.best_score == 0.8


def test_weight_bank_round_trip_and_sharing_between_genotypes(tmp_path):
    space, _ = write_space(tmp_path)
    first = space.validate({"ha.hidden": 8, "ha.act": "relu", "hb.hidden": 8, "hb.act": "tanh",
                            "fusion.x": ["@ha", "@hb"], "fusion.act": "relu"})
    net = compile_genotype(space, first).net
    bank = WeightBank()
    stored = bank.store_from(net)
    assert stored == len(net.state_dict()) and ("ha/fc", "weight", (8, 8)) in bank
    fresh = compile_genotype(space, first).net
    assert bank.load_into(fresh) == stored
    assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in net.state_dict().items())
    bank.save(tmp_path / "bank.pt")
    assert WeightBank.load(tmp_path / "bank.pt").keys() == bank.keys()
    # another genotype: ha and the head keep their shapes, hb and the fusion layer do not
    second = space.validate({**first.values, "hb.hidden": 16, "ha.act": "tanh"})
    other = compile_genotype(space, second).net
    assert bank.load_into(other) == 5  # ha/fc weight+bias, fusion/fc bias (16), y weight+bias
    assert torch.equal(other.ha_fc.weight, net.ha_fc.weight) and torch.equal(other.y[0].weight, net.y[0].weight)
    assert torch.equal(other.fusion_fc.bias, net.fusion_fc.bias)
    assert other.hb_fc.weight.shape != net.hb_fc.weight.shape
    assert other.fusion_fc.weight.shape != net.fusion_fc.weight.shape


def test_a_bank_snapshot_travels_as_one_blob_and_a_fork_hands_back_what_it_stored(tmp_path):
    """What a job carries (a snapshot: the bank's own tensors, pickled as one torch.save blob) and
    what its outcome brings back (the fork's written tensors, which the driver's bank takes)."""
    import pickle
    from multiprocessing.reduction import ForkingPickler

    space, _ = write_space(tmp_path)
    first = space.validate({"ha.hidden": 8, "ha.act": "relu", "hb.hidden": 8, "hb.act": "tanh",
                            "fusion.x": ["@ha", "@hb"], "fusion.act": "relu"})
    bank = WeightBank()
    bank.store_from(compile_genotype(space, first).net)
    state = bank.snapshot()
    assert len(state) == len(bank) and all(v is bank.get(k) for k, v in state.tensors.items())  # not copied
    _, (blob,) = state.__reduce__()
    assert isinstance(blob, bytes) and bytes(ForkingPickler.dumps(state)).count(blob) == 1  # one blob, no fds
    travelled = pickle.loads(pickle.dumps(state))
    assert travelled.tensors.keys() == state.tensors.keys()
    assert all(torch.equal(travelled.tensors[k], v) for k, v in state.tensors.items())
    fork = bank.fork(travelled)
    assert len(fork) == len(bank) and len(fork.written()) == 0
    second = space.validate({**first.values, "hb.hidden": 16})
    net = compile_genotype(space, second).net
    assert fork.load_into(net) == 5  # ha/fc weight+bias, fusion/fc bias, y weight+bias (hb, fusion weight grew)
    with torch.no_grad():
        net.hb_fc.weight += 1.0
    stored = fork.store_from(net)
    written = pickle.loads(pickle.dumps(fork.written()))
    assert len(written) == stored == len(net.state_dict())
    assert ("hb/fc", "weight", (16, 6)) not in bank and len(bank) == len(state)  # the fork left the bank alone
    assert bank.update(written) == stored and torch.equal(bank.get(("hb/fc", "weight", (16, 6))), net.hb_fc.weight)


def test_trials_start_from_shared_weights_unless_disabled(tmp_path):
    space, _ = write_space(tmp_path)
    shared = run_search(space, make_dataset(), budget=3, steps=2, out_dir=tmp_path / "a", trial_fn=stub_trial)
    counts = [t.metrics["shared_tensors"] for t in shared.trials]
    assert counts[0] == 0 and all(c >= 2 for c in counts[1:])  # the head's weight and bias, at least
    assert (tmp_path / "a" / "shared_weights.pt").exists()
    alone = run_search(space, make_dataset(), budget=2, steps=2, out_dir=tmp_path / "b", trial_fn=stub_trial,
                       share_weights=False)
    assert [t.metrics["shared_tensors"] for t in alone.trials] == [0, 0]


def _executor_marks(name: str) -> list:
    """Out-of-process executors are slow; ``ray`` needs its extra."""
    marks = [] if EXECUTORS.get(name).in_process else [pytest.mark.slow]
    if name == "ray":
        marks.append(pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="pip install 'genolang[ray]'"))
        marks.append(pytest.mark.xdist_group("ray"))  # beside tests/test_ray.py's clusters, never at once
    return marks


@pytest.mark.parametrize("name", [pytest.param(n, marks=_executor_marks(n)) for n in EXECUTORS.names()])
def test_every_executor_finishes_the_budget(tmp_path, name):
    space, _ = write_space(tmp_path)
    inline = EXECUTORS.get(name).in_process  # runs in this process, one trial at a time
    result = run_search(space, make_dataset(), budget=3, steps=1, out_dir=tmp_path / "run", trial_fn=score_trial,
                        executor=name, workers=1 if inline else 2)
    assert (result.done, result.failed) == (3, 0)
    assert [t.digest for t in result.trials] == random_asks(space, 3)  # running trials are in the history
    assert len({t.digest for t in result.trials}) == 3
    assert ({t.metrics["pid"] for t in result.trials} == {os.getpid()}) == inline  # where the trials ran
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["search_config"]["executor"] == name


def test_an_unknown_executor_is_refused_with_close_names(tmp_path):
    space, _ = write_space(tmp_path)
    with pytest.raises(SearchError, match="unknown executor 'proces'; did you mean 'process'"):
        run_search(space, make_dataset(), budget=1, steps=1, out_dir=tmp_path / "run", trial_fn=score_trial,
                   executor="proces")
    with pytest.raises(SearchError, match="one trial at a time"):
        run_search(space, make_dataset(), budget=1, steps=1, out_dir=tmp_path / "run", trial_fn=score_trial,
                   executor="inline", workers=2)
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_a_search_with_the_real_trainer(tmp_path):
    from genolang.runtime import train
    space, _ = write_space(tmp_path)
    config = train.TrainConfig(batch_size=32, amp=False)
    result = run_search(space, make_dataset(), budget=2, out_dir=tmp_path / "run", train_config=config,
                        device="cpu")
    assert (result.done, result.failed) == (2, 0)
    steps = {t.metrics["steps"] for t in result.trials}
    assert steps == {searcher_class("random").DEFAULT_STEPS}  # the searchers' default, from the ranking benchmark
    assert 0.0 <= result.best_score <= 1.0 and result.trials[1].metrics["shared_tensors"] >= 2


def test_the_search_command(tmp_path, capsys):
    from genolang.cli import main
    from genolang.runtime import data

    _, path = write_space(tmp_path)
    npz = data.save_dataset(make_dataset(), tmp_path / "synth.npz")
    args = ["search", str(path), "--budget", "2", "--out", str(tmp_path / "run"), "--data", str(npz),
            "--steps", "1", "--device", "cpu", "--batch-size", "32"]
    assert main([*args, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["done"] == 2 and doc["best_digest"].startswith("sha256:")
    assert main([*args[:3], "3", *args[4:], "--resume"]) == 0
    table = capsys.readouterr().out
    best = json.loads((tmp_path / "run" / "summary.json").read_text())["best"]["digest"]
    assert "3 done, 0 failed" in table and "best val acc" in table and best in table
    recorded = json.loads((tmp_path / "run" / "summary.json").read_text())["search_config"]
    config = SearchConfig.model_validate_json(json.dumps(recorded))  # the record reads back as a config
    assert (config.searcher, config.budget, config.steps, config.resume, config.executor) == (
        "random", 3, 1, True, "auto")
    assert config.train.batch_size == 32 and config.device == "cpu" and config.epochs is None
    assert main(["search", str(path), "--budget", "1", "--out", str(tmp_path / "other"), "--data", str(npz),
                 "--searcher", "randon"]) == 1
    assert "did you mean 'random'" in capsys.readouterr().err


LEGACY = Path(__file__).parent / "fixtures" / "legacy_run"


def test_a_ledger_written_before_the_study_layer_resumes(tmp_path):
    """A ledger of the earlier code (tests/fixtures/legacy_run), with a trial left running by a
    kill, resumes: the finished trials are kept as they were, the running one is retried, and
    the new trials continue the same random stream."""
    (tmp_path / "duo.geno").write_text((LEGACY / "duo.geno").read_text(encoding="utf-8"), encoding="utf-8")
    space = genolang.load(tmp_path / "duo.geno").space()
    out = tmp_path / "run"
    out.mkdir()
    with sqlite3.connect(out / "ledger.sqlite") as conn:
        conn.executescript((LEGACY / "ledger.sql").read_text(encoding="utf-8"))
    with Ledger(out / "ledger.sqlite") as ledger:
        before = ledger.finished()
        third = random_genotypes(space, 3)[2]
        ledger.begin(genotype=third, budget={"steps": 1}, seed=0, idx=2)  # left running by a kill
    assert [t.idx for t in before] == [0, 1] and {t.metrics["pid"] for t in before} != {os.getpid()}
    result = run_search(space, make_dataset(), budget=4, steps=1, out_dir=out, trial_fn=score_trial, resume=True)
    assert (result.done, result.failed, result.recovered) == (4, 0, 1)
    with Ledger(out / "ledger.sqlite") as ledger:
        rows = ledger.history()
        assert ledger.meta()["search"] == "b4e54c0f788b" and ledger.meta()["trials"] == 4
    assert [(t.digest, t.metrics) for t in rows[:2]] == [(t.digest, t.metrics) for t in before]  # not retrained
    assert [t.digest for t in rows] == random_asks(space, 4) and rows[2].digest == third.digest
    assert {t.metrics["pid"] for t in rows[2:]} == {os.getpid()}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["done"] == 4 and summary["search_config"]["resume"] is True
