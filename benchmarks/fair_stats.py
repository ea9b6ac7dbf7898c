"""The fair comparison's statistics, table and plot (benchmarks/seeds_fair.py): pure functions.

- :func:`sign_test`: the paired sign test, exact two-sided binomial p-value (ties dropped);
- :func:`paired_differences`: per-(data seed, seed) differences of a method to late fusion;
- :func:`fair_table`: mean +- sample std of test accuracy, search seconds, final parameters,
  the mean +- std difference to late fusion, wins / losses / ties and the sign test's p;
- :func:`plot_accuracies`: a PNG of test accuracy per method, one point per run.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BASELINE = "late fusion"


@dataclass(frozen=True)
class FairRow:
    """One method on one (data seed, seed)."""

    method: str
    data_seed: int
    seed: int
    test_accuracy: float
    search_seconds: float
    params: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SignTest:
    """Wins, losses and ties of paired differences and the exact two-sided p-value (ties dropped)."""

    wins: int
    losses: int
    ties: int
    p: float


def sign_test(diffs: Sequence[float], *, tie: float = 0.0) -> SignTest:
    """Exact two-sided sign test: ``p = min(1, 2 * P[X <= min(w, l)])``, X ~ Binomial(w + l, 1/2).

    A difference with ``|d| <= tie`` is a tie and is dropped; with no untied pair p is 1.
    """
    wins = sum(d > tie for d in diffs)
    losses = sum(d < -tie for d in diffs)
    n = wins + losses
    if n == 0:
        return SignTest(0, 0, len(diffs), 1.0)
    tail = sum(math.comb(n, k) for k in range(min(wins, losses) + 1)) / 2 ** n
    return SignTest(wins, losses, len(diffs) - n, min(1.0, 2 * tail))


def paired_differences(rows: Sequence[FairRow], method: str, baseline: str = BASELINE) -> list[float]:
    """``acc(method) - acc(baseline)`` for every (data seed, seed) both have, in (data seed, seed) order."""
    base = {(r.data_seed, r.seed): r.test_accuracy for r in rows if r.method == baseline}
    return [r.test_accuracy - base[(r.data_seed, r.seed)]
            for r in sorted(rows, key=lambda r: (r.data_seed, r.seed))
            if r.method == method and (r.data_seed, r.seed) in base]


def _mean_std(values: Sequence[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} +- {std:.3f}"


def fair_table(rows: Sequence[FairRow], methods: Sequence[str], baseline: str = BASELINE) -> str:
    """One line per method (see the module doc); means over every (data seed, seed) run."""
    head = (f"{'method':<22}{'test acc':>16}{'runs':>5}{'search s':>10}{'params':>9}"
            f"{'diff to ' + baseline:>24}{'W/L/T':>9}{'sign p':>8}")
    lines = [head, "-" * len(head)]
    for name in methods:
        got = [r for r in rows if r.method == name]
        if not got:
            continue
        line = (f"{name:<22}{_mean_std([r.test_accuracy for r in got]):>16}{len(got):>5}"
                f"{statistics.mean(r.search_seconds for r in got):>10.0f}"
                f"{round(statistics.mean(r.params for r in got)):>9,}")
        diffs = paired_differences(rows, name, baseline)
        if name == baseline or not diffs:
            lines.append(line + f"{'-':>24}{'-':>9}{'-':>8}")
            continue
        test = sign_test(diffs)
        lines.append(line + f"{_mean_std(diffs):>24}{f'{test.wins}/{test.losses}/{test.ties}':>9}{test.p:>8.3f}")
    return "\n".join(lines)


def plot_accuracies(rows: Sequence[FairRow], methods: Sequence[str], path: str | Path) -> Path:
    """A PNG: test accuracy per method, one point per run (data seed by marker), the mean as a bar."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    names = [m for m in methods if any(r.method == m for r in rows)]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(names)), 4.0))
    markers = "os^Dv"
    for i, name in enumerate(names):
        got = [r for r in rows if r.method == name]
        for j, d in enumerate(sorted({r.data_seed for r in got})):
            accs = [r.test_accuracy for r in got if r.data_seed == d]
            xs = [i + 0.12 * (j - 0.5) for _ in accs]
            ax.scatter(xs, accs, marker=markers[j % len(markers)], s=22, color=f"C{j}",
                       label=f"data seed {d}" if i == 0 else None)
        mean = statistics.mean(r.test_accuracy for r in got)
        ax.hlines(mean, i - 0.3, i + 0.3, color="black", linewidth=1.5)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylabel("test accuracy")
    ax.set_title("AV-digits, fair comparison: a point per run, bar = mean", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
