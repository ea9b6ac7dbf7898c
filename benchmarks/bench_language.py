"""Language benchmark: genotypes parsed + validated per second, and `genolang check` start-up.

Run: python benchmarks/bench_language.py [--seconds S] [--hostile-only]
Targets (issue "language core"): >= 5,000 MFAS genotypes/s on one core; check < 0.3 s.
Issue 13, must-hold 6: every language-level call (`loads`, `size`, `sample`, `check`)
answers or refuses within 1 s on hostile input: the table of tests/test_hostile.py and the
issue's own cases (size() of a 2.4 kB space, 50k-item enums and choices, a 50k-term field
expression). The second table prints each call's time (best of 3), its outcome, and a
reference (10^6 iterations of a Python loop) to read the figures against on a busy machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
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


def timed(call: Callable[[], object], runs: int = 3) -> tuple[float, str]:
    """(best wall time in s, outcome: "ok" or the refusal's code) of ``call``."""
    best, outcome = float("inf"), "ok"
    for _ in range(runs):
        start = time.perf_counter()
        try:
            call()
            outcome = "ok"
        except genolang.GenolangError as exc:
            outcome = exc.code
        best = min(best, time.perf_counter() - start)
    return best, outcome


def hostile_calls() -> list[tuple[str, Callable[[], object]]]:
    """(name, call) for each hostile input: the loads of tests/test_hostile.py's table, then size/sample."""
    sys.path.insert(0, str(ROOT / "tests"))
    import test_hostile as hostile  # the table the tests guard (a test module: no pytest fixtures used)

    calls: list[tuple[str, Callable[[], object]]] = [
        (f"loads {name}", lambda text=text: genolang.loads(text, "hostile.geno"))
        for name, (text, _) in sorted(hostile.CASES.items())]
    for name, text in sorted(hostile.SIZE_CASES.items()):
        space = genolang.loads(text, "hostile.geno").space()
        calls += [(f"loads {name} ({len(text) / 1000:.1f} kB)", lambda text=text: genolang.loads(text, "h.geno")),
                  (f"size {name}", space.size), (f"sample {name}", lambda space=space: space.sample(0))]
    many = ", ".join(f"a{i}" for i in range(50_000))
    expr = " + ".join(["w"] * 50_000)
    calls += [
        ("loads enum of 50k members", lambda: genolang.loads(hostile.space(f"enum E {{ {many} }}\nx: E"), "e.geno")),
        ("loads choice of 50k options", lambda: genolang.loads(hostile.space(f"x: choice({many})"), "c.geno")),
        ("loads field of a 50k-term expression", lambda: genolang.loads(hostile.space(
            f"w: choice(2, 4)\ninput x {{ shape = [4] }}\nnode n {{ op = fc; hidden = {expr}; x = @x }}\n"
            "head h { in = @n; classes = 2 }"), "x.geno")),
    ]
    return calls


def hostile_table() -> None:
    start = time.perf_counter()  # how busy the machine is now
    sum(1 for _ in range(1_000_000))
    print(f"\nreference: 10^6 Python loop iterations {time.perf_counter() - start:.3f} s (quiet machine: ~0.03 s)")
    print(f"{'hostile input (issue 13, must-hold 6)':58} {'s':>7} {'outcome':8} {'< 1 s':>6}")
    print("-" * 84)
    for name, call in hostile_calls():
        seconds, outcome = timed(call)
        print(f"{name:58} {seconds:7.3f} {outcome:8} {'yes' if seconds < 1.0 else 'NO':>6}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--hostile-only", action="store_true", help="only the hostile-input table")
    opts = parser.parse_args()
    if opts.hostile_only:
        hostile_table()
        return
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
    hostile_table()


if __name__ == "__main__":
    main()
