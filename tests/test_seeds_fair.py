"""The fair comparison's protocol (benchmarks/seeds_fair.py) on avdigits-mini at tiny budgets.

Each test checks one protocol point against an independent oracle: the tap spaces compute
the main job's networks; the low-label backbones and the supervised arm see only the
labelled cut, the contrastive search only the rest; MFAS reaches its last progressive step
in the trial budget; every trial method spends the same budget; the command runs as the
README writes it.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from searcher_contract import Loop

import genolang
from benchmarks import seeds_fair
from benchmarks.seeds_fair import FairBench, FairBudget, make_arm, run_fair
from genolang.compiler.compile import compile_genotype
from genolang.runtime import ssl as ssl_module
from genolang.runtime.data import load_dataset
from genolang.runtime.pretrain import apply_pretrained
from genolang.runtime.ssl import SslConfig, run_ssl_search, split_labelled
from genolang.searchers.base import make_searcher

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
TINY = FairBudget(trials=3, steps=2, pretrain_epochs=1, search_epochs=1, bmnas_batch=32, final_epochs=1)


@pytest.fixture(scope="module")
def data():
    return load_dataset("avdigits-mini", seed=0)


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> FairBench:
    torch.set_num_threads(1)
    return FairBench(TINY, tmp_path_factory.mktemp("fair"), cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def arm(bench: FairBench, data):
    return make_arm(bench, data, 0)


def test_tap_spaces_compute_the_main_jobs_networks(bench: FairBench, arm, data) -> None:
    """A fair_mfas_taps genotype on the taps == the same mfas_avdigits genotype on the raw data
    with the pre-trained frozen backbones (same fusion weights)."""
    values = {"layers": 2, "fusion[0].a": "@audio_net.tap[3]", "fusion[0].b": "@image_net.tap[1]",
              "fusion[0].act": "sigmoid", "fusion[1].a": "@audio_net.tap[0]", "fusion[1].b": "@image_net.tap[2]",
              "fusion[1].act": "relu"}
    main = genolang.load(ROOT / "examples/spaces/mfas_avdigits.geno").space()
    full = compile_genotype(main, main.validate(values)).net
    apply_pretrained(full, arm.pretrained)
    taps = {k: v.replace("@audio_net.tap[", "@audio_tap").replace("@image_net.tap[", "@image_tap").rstrip("]")
            if isinstance(v, str) and v.startswith("@") else v for k, v in values.items()}
    space = bench.space("mfas")
    small = compile_genotype(space, space.validate(taps)).net
    small.load_state_dict({k: v for k, v in full.state_dict().items() if "_net" not in k})
    full.eval()
    small.eval()
    (xs, _), (ts, _) = next(data["test"].batches(16)), next(arm.taps["test"].batches(16))
    with torch.no_grad():
        torch.testing.assert_close(small(*(ts[n] for n in small.input_names)),
                                   full(*(xs[n] for n in full.input_names)), rtol=0, atol=1e-5)


def test_low_label_backbones_and_arm_see_only_the_labelled_cut(bench: FairBench, data, monkeypatch) -> None:
    seen = []
    real = seeds_fair.pretrain_backbones

    def spy(graph, d, **kw):
        seen.append((d["train"].labels.clone(), kw["epochs"]))
        return real(graph, d, **kw)

    monkeypatch.setattr(seeds_fair, "pretrain_backbones", spy)
    low = make_arm(bench, data, 1, 0.1)
    cut = split_labelled(data, 0.1, seed=1)[0]["train"]
    assert len(seen) == 1 and torch.equal(seen[0][0], cut.labels)
    assert seen[0][1] == round(TINY.pretrain_epochs / 0.1)  # as many steps as the full pre-training
    assert len(cut) == round(0.1 * len(data["train"])) == len(low.labelled["train"])
    assert torch.equal(low.labelled["train"].labels, cut.labels)
    assert len(low.taps["train"]) == len(data["train"])


def test_contrastive_search_sees_only_the_unlabelled_rest(bench: FairBench, arm, monkeypatch) -> None:
    got = {}

    class Stop(Exception):
        pass

    def capture(space, d, **kw):
        got["train"] = d["train"]
        raise Stop

    monkeypatch.setattr(ssl_module, "run_bilevel", capture)
    with pytest.raises(Stop):
        run_ssl_search(bench.space("bmnas"), arm.taps, out_dir=bench.work / "x", epochs=1,
                       ssl=SslConfig(labelled_fraction=0.1, split_seed=0), seed=3)
    labelled = split_labelled(arm.taps, 0.1, seed=0)[0]["train"]
    rest, n = got["train"], len(arm.taps["train"])
    assert len(rest) + len(labelled) == n
    rows = {tuple(r.tolist()) for r in arm.taps["train"].inputs["audio_tap3"]}
    assert len(rows) == n  # the samples are distinguishable by their taps
    assert not {tuple(r.tolist()) for r in rest.inputs["audio_tap3"]} & \
        {tuple(r.tolist()) for r in labelled.inputs["audio_tap3"]}


def test_mfas_reaches_its_last_progressive_step_within_the_fair_budget() -> None:
    space = genolang.load(ROOT / "benchmarks/spaces/fair_mfas_taps.geno").space()
    loop = Loop(make_searcher("mfas", space, seed=0))
    asked = []
    for _ in range(FairBudget().trials):
        g = loop.ask()
        asked.append(g)
        loop.tell(g, 0.1 + 0.2 * g.values["layers"] / 4)
    assert loop.searcher.step_sizes[:4] == [32, 15, 15, 15] and sum(loop.searcher.step_sizes[:4]) == 77
    assert {g.values["layers"] for g in asked[-15:]} == {4}  # the last step unfolds the 4th layer


def test_a_tiny_fair_run_spends_equal_budgets(bench: FairBench, data) -> None:
    rows = run_fair(bench, {0: data}, [0], list(seeds_fair.METHODS))
    assert [r.method for r in rows] == list(seeds_fair.METHODS)
    for r in rows:
        if "trials" in r.extra:
            assert r.extra["trials"] == TINY.trials
            with sqlite3.connect(bench.work / f"d0s0/{r.method}/ledger.sqlite") as conn:
                n = conn.execute("SELECT COUNT(*) FROM trials WHERE status IN ('done', 'failed')").fetchone()[0]
            assert n == TINY.trials
    for r in rows:
        if r.method.endswith("bmnas") or "bmnas r=" in r.method:
            assert set(r.extra["entropy"]) == {"alpha", "beta", "gamma"}
            assert r.extra["stable"] == TINY.search_epochs  # one epoch: its genotype is the last
    late = next(r for r in rows if r.method == "late fusion")
    space = bench.space("mfas")
    g = space.validate({"layers": 1, "fusion[0].a": "@audio_tap3", "fusion[0].b": "@image_tap3",
                        "fusion[0].act": "relu"})
    assert late.params == compile_genotype(space, g).summary.params == (128 + 84) * 100 + 100 + 1010


def test_the_fair_command_runs_as_the_readme_writes_it(tmp_path: Path) -> None:
    cmd = [sys.executable, "benchmarks/seeds_avdigits.py", "--fair", "--data", "avdigits-mini", "--seeds", "1",
           "--data-seeds", "1", "--trials", "2", "--steps", "1", "--search-epochs", "1", "--epochs", "1",
           "--pretrain-epochs", "1", "--fair-methods", "late fusion,mfas,bmnas", "--threads", "1",
           "--work", str(tmp_path), "--plot", str(tmp_path / "p.png")]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines if line.startswith(("late", "mfas ", "bmnas ", "bmnas:"))] == \
        ["late", "mfas", "bmnas", "bmnas:"]
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_parallel_jobs_give_the_sequential_rows(bench: FairBench, data, tmp_path: Path) -> None:
    methods = ["late fusion", "mfas", "bmnas"]
    one = run_fair(FairBench(TINY, tmp_path / "one", cache_dir=bench.cache_dir), {0: data}, [0, 1], methods)
    two = run_fair(FairBench(TINY, tmp_path / "two", cache_dir=bench.cache_dir), {0: data}, [0, 1], methods, jobs=2)
    key = [(r.method, r.data_seed, r.seed, r.test_accuracy, r.params) for r in one]
    assert key == [(r.method, r.data_seed, r.seed, r.test_accuracy, r.params) for r in two]


@pytest.mark.parametrize("alternation", ["batch", "epoch"])
def test_bmnas_takes_an_architect_step_per_weight_step(bench: FairBench, arm, alternation: str) -> None:
    """The architecture Adam's step count is the alternation's: per train batch, or per val batch."""
    budget = dataclasses.replace(TINY, search_epochs=2, alternation=alternation)
    run = FairBench(budget, bench.work / alternation, cache_dir=bench.cache_dir)
    seeds_fair.METHODS["bmnas"][0](run, arm, 0)
    state = torch.load(run.work / "d0s0/bmnas" / seeds_fair.CHECKPOINT_FILE, weights_only=True)["arch_opt"]
    steps = {int(s["step"]) for s in state["state"].values()}
    split = "train" if alternation == "batch" else "val"
    assert steps == {2 * (len(arm.labelled[split]) // budget.bmnas_batch)}
