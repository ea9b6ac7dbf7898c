"""The seeds' comparison (benchmarks/seeds_avdigits.py) on avdigits-mini at the smallest budgets.

Not a measurement: the invariants that make its table mean what it says (equal
architecture budget, the unimodal nets as the fusion searches' frozen backbones, one
label-free search shared by both labelled fractions, parameters as the compiler counts them).
"""

from __future__ import annotations

import sqlite3
import statistics
from pathlib import Path

import pytest
import torch

from benchmarks.seeds_avdigits import table
from benchmarks.seeds_methods import METHODS, Bench, Budget, Row
from genolang.compiler.backbones.base import read_state_dict
from genolang.compiler.compile import compile_genotype
from genolang.runtime import avdigits  # noqa: F401  (registers the built-in AV-digits datasets)
from genolang.runtime.dataset import DATASETS

pytestmark = pytest.mark.slow
BUDGET = Budget(epochs=1, trials=2, steps=1, search_epochs=1, lr=0.01)
SEEDS = (0, 1)


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Bench:
    data = DATASETS.get("avdigits-mini").build(seed=0, cache_dir=tmp_path_factory.mktemp("cache"))
    return Bench(data=data, budget=BUDGET, work=tmp_path_factory.mktemp("work"), device="cpu")


@pytest.fixture(scope="module")
def rows(bench: Bench) -> list[Row]:
    torch.set_num_threads(1)
    from benchmarks.seeds_avdigits import run

    return run(bench, list(METHODS), list(SEEDS))


def test_every_method_runs_on_every_seed(rows: list[Row]) -> None:
    assert [(r.method, r.seed) for r in rows] == [(m, s) for s in SEEDS for m in METHODS]
    assert all(0.0 <= r.test_accuracy <= 1.0 and r.params > 0 for r in rows)


@pytest.mark.parametrize("method, folder", [("random", "random"), ("mfas", "mfas"), ("rl", "rl"),
                                            ("evolution", "evolution")])
def test_discrete_searches_spend_the_same_architecture_budget(rows: list[Row], bench: Bench, method: str,
                                                              folder: str) -> None:
    for seed in SEEDS:
        assert next(r.archs for r in rows if r.method == method and r.seed == seed) == BUDGET.trials
        with sqlite3.connect(bench.seed_dir(seed, folder) / "ledger.sqlite") as conn:
            finished = conn.execute("SELECT COUNT(*) FROM trials WHERE status IN ('done', 'failed')").fetchone()[0]
        assert finished == BUDGET.trials


def test_fusion_spaces_load_the_seeds_unimodal_nets(rows: list[Row], bench: Bench) -> None:
    for seed in SEEDS:
        space = bench.space("mfas", seed)
        net = compile_genotype(space, space.default()).net
        trained = read_state_dict(bench.pretrained(seed, "image"))  # model.pt holds it under "state_dict"
        loaded = {k: v for k, v in net.state_dict().items() if "image_net" in k}
        assert loaded, "the MFAS space has an image_net backbone"
        for key, value in loaded.items():
            match = [v for k, v in trained.items() if k.endswith(key.split("image_net", 1)[1])]
            assert len(match) == 1 and torch.equal(match[0], value), key


def test_both_labelled_fractions_fine_tune_one_shared_search(rows: list[Row]) -> None:
    for seed in SEEDS:
        a, b = (next(r for r in rows if r.method == m and r.seed == seed) for m in ("ssl-bmnas r=0.1", "ssl-bmnas r=1"))
        assert (a.search_seconds, a.archs, a.params) == (b.search_seconds, b.archs, b.params)
        assert a.archs == BUDGET.search_epochs


def test_late_fusion_parameters_are_the_compilers(rows: list[Row], bench: Bench) -> None:
    space = bench.space("late", 0)
    expected = compile_genotype(space, space.default()).summary.params
    assert {r.params for r in rows if r.method == "late fusion"} == {expected}


def test_table_reports_mean_and_sample_std_over_seeds(rows: list[Row]) -> None:
    text = table(rows, list(METHODS))
    accs = [r.test_accuracy for r in rows if r.method == "image only"]
    line = next(line for line in text.splitlines() if line.startswith("image only"))
    assert f"{statistics.mean(accs):.3f} +- {statistics.stdev(accs):.3f}" in line
    assert len(text.splitlines()) == 2 + len(METHODS)


def test_fusion_space_without_trained_backbones_is_refused(tmp_path: Path, bench: Bench) -> None:
    other = Bench(data=bench.data, budget=BUDGET, work=tmp_path, device="cpu")
    with pytest.raises(FileNotFoundError, match="image-only net of seed 0"):
        other.space("mfas", 0)


def test_table_params_column_is_the_mean_over_seeds() -> None:
    rows = [Row(method="evolution", seed=s, test_accuracy=0.5, search_seconds=1.0, archs=30, params=p, seconds=2.0)
            for s, p in enumerate((1000, 2000, 4000))]
    line = table(rows, ["evolution"]).splitlines()[2]
    assert line.split()[-2] == "2,333"
