"""The fair comparison's statistics and table (benchmarks/fair_stats.py): exact values."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import pytest

from benchmarks.fair_stats import FairRow, fair_table, paired_differences, plot_accuracies, sign_test

scipy_stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize("diffs, expected", [
    ([0.1] * 5, (5, 0, 0, 2 / 32)),                      # all wins: 2 * (1/2)^5
    ([0.1] * 10, (10, 0, 0, 2 / 1024)),
    ([0.1, 0.2, 0.3, -0.1], (3, 1, 0, 2 * 5 / 16)),       # P[X <= 1] = (1 + 4) / 16
    ([0.0, 0.01, -0.02], (1, 1, 1, 1.0)),                 # the tie dropped; 2 * 3/4 capped at 1
    ([0.0, 0.0], (0, 0, 2, 1.0)),
    ([-0.1] * 6 + [0.2] * 2, (2, 6, 0, 2 * (1 + 8 + 28) / 256)),
])
def test_sign_test_exact_values(diffs: list[float], expected: tuple[int, int, int, float]) -> None:
    got = sign_test(diffs)
    assert (got.wins, got.losses, got.ties) == expected[:3]
    assert got.p == pytest.approx(expected[3], rel=1e-12)


@pytest.mark.parametrize("wins, losses", [(w, n - w) for n in (1, 4, 7, 10, 13) for w in range(n + 1)])
def test_sign_test_matches_scipys_exact_binomial_test(wins: int, losses: int) -> None:
    p = sign_test([1.0] * wins + [-1.0] * losses).p
    assert p == pytest.approx(scipy_stats.binomtest(wins, wins + losses, 0.5).pvalue, rel=1e-9)


def rows() -> list[FairRow]:
    late = [0.80, 0.82, 0.78, 0.81]
    mfas = [0.83, 0.82, 0.80, 0.85]
    out = []
    for i, (a, b) in enumerate(zip(late, mfas)):
        d, s = divmod(i, 2)
        out.append(FairRow("late fusion", d, s, a, 0.0, 22310, 1.0))
        out.append(FairRow("mfas", d, s, b, 10.0 + i, 3000 + 100 * i, 2.0))
    return out


def test_paired_differences_pair_by_data_seed_and_seed() -> None:
    got = paired_differences(list(reversed(rows())), "mfas")
    assert got == pytest.approx([0.03, 0.0, 0.02, 0.04])


def test_fair_table_lines_hold_the_exact_statistics() -> None:
    text = fair_table(rows(), ["late fusion", "mfas", "absent"])
    lines = text.splitlines()
    assert len(lines) == 4  # header, rule, two methods (absent ones skipped)
    mfas = lines[3].split()
    accs, diffs = [0.83, 0.82, 0.80, 0.85], [0.03, 0.0, 0.02, 0.04]
    assert mfas[:4] == ["mfas", f"{statistics.mean(accs):.3f}", "+-", f"{statistics.stdev(accs):.3f}"]
    assert mfas[4:7] == ["4", "12", "3,150"]  # runs, mean search s (10..13), mean params
    assert mfas[7:10] == [f"{statistics.mean(diffs):.3f}", "+-", f"{statistics.stdev(diffs):.3f}"]
    assert mfas[10:] == ["3/0/1", f"{min(1.0, 2 / 8):.3f}"]  # one tie (0.82 = 0.82) dropped: 2 * (1/2)^3
    assert lines[2].split()[-3:] == ["-", "-", "-"]  # the baseline has no difference to itself


def test_plot_writes_a_png(tmp_path: Path) -> None:
    path = plot_accuracies(rows(), ["late fusion", "mfas"], tmp_path / "p" / "fair.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_normalised_entropy_exact() -> None:
    torch = pytest.importorskip("torch")
    from benchmarks.seeds_fair import normalised_entropy

    assert normalised_entropy(torch.zeros(3, 2)) == pytest.approx([1.0, 1.0, 1.0])
    h = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75)) / math.log(2)
    assert normalised_entropy(torch.tensor([0.0, math.log(3.0)])) == pytest.approx([h])
    assert normalised_entropy(torch.tensor([[0.0, 60.0, 0.0]]))[0] == pytest.approx(0.0, abs=1e-20)


def test_stable_epochs_counts_the_final_run_of_one_genotype() -> None:
    from benchmarks.seeds_fair import stable_epochs

    assert stable_epochs(["a"]) == 1
    assert stable_epochs(["a", "b", "b", "a", "a", "a"]) == 3
    assert stable_epochs(["a", "b"]) == 1
    assert stable_epochs(["c", "c", "c"]) == 3


def test_settling_lines_average_entropy_and_list_stable_epochs() -> None:
    from benchmarks.fair_stats import FairRow
    from benchmarks.seeds_avdigits import settling_lines

    def row(method: str, alpha: float, stable: int) -> FairRow:
        return FairRow(method, 0, 0, 0.5, 1.0, 10, 1.0, {"entropy": {"alpha": alpha, "beta": 1.0}, "stable": stable})

    text = settling_lines([row("bmnas", 0.5, 7), row("late fusion", 0.0, 0), row("bmnas", 0.7, 2)])
    assert text == ("bmnas: final normalised entropy (1 = uniform) alpha 0.600000, beta 1.000000; "
                    "epochs the final genotype was derived (stable) [2, 7]\n")


def test_readme_fair_table_is_the_recorded_runs() -> None:
    """The README's fair table and settling lines are rendered from the rows of the recorded run."""
    import json
    from pathlib import Path

    from benchmarks.fair_stats import FairRow, fair_table
    from benchmarks.seeds_avdigits import settling_lines
    from benchmarks.seeds_fair import METHODS

    root = Path(__file__).resolve().parents[1]
    doc = json.loads((root / "benchmarks/results/fair_avdigits.json").read_text())
    rows = [FairRow(**r) for r in doc["rows"]]
    assert len(rows) == len(METHODS) * 10 and {(r.data_seed, r.seed) for r in rows} == {
        (d, s) for d in (0, 1) for s in range(5)}
    block = fair_table(rows, list(METHODS)) + "\n" + settling_lines(rows)
    assert block in (root / "README.md").read_text()
