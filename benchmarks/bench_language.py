"""Language benchmark: genotypes parsed + validated per second, and `genolang check` start-up.

Run: python benchmarks/bench_language.py [--seconds S]
Targets (issue "language core"): >= 5,000 MFAS genotypes/s on one core; check < 0.3 s.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import genolang

ROOT = Path(__file__).resolve().parents[1]
MFAS = ROOT / "examples" / "spaces" / "mfas_avmnist.geno"
GENOTYPE = ROOT / "examples" / "genotypes" / "mfas_best_avmnist.geno"


def rate(func, items: list, seconds: float) -> float:
    """Items per CPU-second: best of several timed passes over ``items``."""
    best, deadline = float("inf"), time.perf_counter() + seconds
    gc.collect()
    while time.perf_counter() < deadline:
        start = time.process_time()
        for item in items:
            func(item)
        best = min(best, time.process_time() - start)
    return len(items) / best


def startup(args: list[str], runs: int = 7) -> float:
    """Median wall time of a fresh `python -m genolang ...` process."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "genolang", *args], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    opts = parser.parse_args()
    space = genolang.load(MFAS).space()
    texts = [space.sample(seed).to_text() for seed in range(500)]
    jsons = [space.sample(seed).canonical_json() for seed in range(500)]

    def from_text(text: str) -> None:
        genolang.loads(text, spaces=[space]).genotype()

    def from_json(text: str) -> None:
        space.from_json(json.loads(text))

    rows = [
        ("MFAS genotype text: parse + validate", rate(from_text, texts, opts.seconds), "genotypes/s", ">= 5000",
         5000, "min"),
        ("MFAS genotype JSON: parse + validate", rate(from_json, jsons, opts.seconds), "genotypes/s", "", None, "min"),
        ("genolang check (genotype + imported space)", startup(["check", str(GENOTYPE)]), "s", "< 0.3", 0.3, "max"),
        ("genolang check (all examples)", startup(["check", *map(str, sorted((ROOT / "examples").rglob("*.geno")))]),
         "s", "", None, "max"),
    ]
    print(f"{'measurement':46} {'value':>12} {'unit':12} {'target':>9}  ok")
    print("-" * 86)
    for name, value, unit, target, bound, kind in rows:
        ok = "" if bound is None else ("yes" if (value >= bound if kind == "min" else value < bound) else "NO")
        shown = f"{value:,.0f}" if value >= 100 else f"{value:.3f}"
        print(f"{name:46} {shown:>12} {unit:12} {target:>9}  {ok}")


if __name__ == "__main__":
    main()
