"""Kendall's tau-b of benchmarks/bench_ranking.py against values computed by hand.

The script is loaded by file path (benchmarks/ is run as scripts, not imported as a package).
Hand computations: C, D = concordant / discordant pairs, P = n(n-1)/2, Tx, Ty = pairs tied
in x, in y; tau-b = (C - D) / sqrt((P - Tx)(P - Ty)).
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_ranking.py"


@pytest.fixture(scope="module")
def tau_b():
    spec = importlib.util.spec_from_file_location("_bench_ranking_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    sys.path.insert(0, str(SCRIPT.parent))  # as `python benchmarks/bench_ranking.py` has it (bench_spaces)
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
        sys.path.remove(str(SCRIPT.parent))
    return module.kendall_tau_b


def test_identical_rankings_give_one(tau_b):
    assert tau_b([1, 2, 3, 4, 5], [10, 20, 30, 40, 50]) == 1.0
    assert tau_b([0.3, 0.1, 0.2], [0.9, 0.5, 0.7]) == 1.0  # same order, unsorted


def test_reversed_rankings_give_minus_one(tau_b):
    assert tau_b([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0


def test_a_tie_in_x_only(tau_b):
    # pairs of x=[1,2,2,3], y=[1,3,2,4]: (1,2) tied in x; the other 5 concordant.
    # C=5, D=0, P=6, Tx=1, Ty=0: 5 / sqrt(5 * 6) = 0.912870929...
    assert tau_b([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(5 / math.sqrt(30))
    assert tau_b([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(0.9128709291752769)


def test_ties_on_both_sides_and_a_discordant_pair(tau_b):
    # x=[1,1,2,3], y=[2,1,1,3]: (0,1) tied in x, (1,2) tied in y, (0,2) discordant,
    # (0,3), (1,3), (2,3) concordant. C=3, D=1, P=6, Tx=Ty=1: 2 / sqrt(5 * 5) = 0.4
    assert tau_b([1, 1, 2, 3], [2, 1, 1, 3]) == pytest.approx(0.4)


def test_a_pair_tied_on_both_sides_counts_in_both_tie_terms(tau_b):
    # x=y=[1,1,2]: (0,1) tied in both, 2 concordant. C=2, P=3, Tx=Ty=1: 2 / sqrt(2 * 2) = 1
    assert tau_b([1, 1, 2], [1, 1, 2]) == pytest.approx(1.0)


def test_a_constant_side_gives_nan(tau_b):
    assert math.isnan(tau_b([0.5, 0.5, 0.5], [1, 2, 3]))
    assert math.isnan(tau_b([1], [1]))
    assert math.isnan(tau_b([], []))


def test_different_lengths_are_an_error(tau_b):
    with pytest.raises(ValueError):
        tau_b([1, 2], [1, 2, 3])
