"""The README's main job over seeds: wall time of each phase and the searched-vs-late-fusion margin.

Run: python benchmarks/main_job.py [--seeds 0,1,2,3,4] [--budget 77] [--cache DIR] [--json]

For each seed, runs the README's first command (``genolang search
examples/spaces/mfas_avdigits.geno --searcher mfas ... --final-epochs 10 --seed SEED``) as a
subprocess, exactly as a user would (the seed also builds the dataset: AV-digits of that data
seed), and reads its ``summary.json``: seconds of the data, pretrain, search and final
phases, test accuracy of the searched network, late fusion and the unimodal nets, and the
margin (searched - late fusion). Then the mean and sample standard deviation over seeds.

``--cache DIR`` (default: a new temporary folder) is the run's ``GENOLANG_CACHE``: with a
fresh one every phase is measured from scratch (dataset build and backbone pre-training
included), as on a new machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "examples" / "spaces" / "mfas_avdigits.geno"
NETS = ("searched", "late fusion", "image only", "audio only")


def run_seed(seed: int, *, budget: int, cache: Path, out: Path, extra: list[str]) -> dict:
    """Run the main job for one seed; its summary.json with the measured wall time added."""
    cmd = [sys.executable, "-m", "genolang.cli", "search", str(SPACE), "--searcher", "mfas", "--budget", str(budget),
           "--final-epochs", "10", "--seed", str(seed), "--out", str(out), *extra]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "GENOLANG_CACHE": str(cache)}, stdout=subprocess.DEVNULL)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    summary["wall"] = time.perf_counter() - start
    return summary


def row(seed: int, s: dict) -> dict:
    test = {r["name"]: r["test_accuracy"] for r in s["final"]["rows"]}
    return {"seed": seed, "wall": s["wall"], **{k: s["phases"].get(k, 0.0) for k in ("data", "pretrain", "search",
                                                                                      "final")},
            **{n: test.get(n) for n in NETS}, "margin": s["final"]["margin_vs_late_fusion"], "trials": s["done"],
            "failed": s["failed"]}


def table(rows: list[dict]) -> str:
    head = (f"{'seed':>4} {'wall s':>7} {'data':>6} {'pretrain':>8} {'search':>7} {'final':>6} "
            + " ".join(f"{n:>11}" for n in NETS) + f" {'margin':>7}")
    lines = [head]
    for r in rows:
        lines.append(f"{r['seed']:>4} {r['wall']:>7.0f} {r['data']:>6.0f} {r['pretrain']:>8.0f} {r['search']:>7.0f} "
                     f"{r['final']:>6.0f} " + " ".join(f"{r[n]:>11.4f}" for n in NETS) + f" {r['margin']:>+7.4f}")
    if len(rows) > 1:
        def ms(key: str) -> str:
            values = [r[key] for r in rows]
            return f"{statistics.mean(values):.4f} +- {statistics.stdev(values):.4f}"
        lines.append("mean +- std: " + ", ".join(f"{n} {ms(n)}" for n in (*NETS, "margin"))
                     + f"; wall {statistics.mean(r['wall'] for r in rows):.0f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--budget", type=int, default=77, help="trials (the README's; 77 = MFAS's first round to 4 layers)")
    ap.add_argument("--cache", type=Path, help="GENOLANG_CACHE for the runs (default: a new temporary folder)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("extra", nargs="*", help="more options for genolang search (after --)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp) / "cache"
        rows = []
        for seed in (int(s) for s in args.seeds.split(",")):
            rows.append(row(seed, run_seed(seed, budget=args.budget, cache=cache, out=Path(tmp) / f"run{seed}",
                                           extra=args.extra)))
            print(table(rows[-1:]), file=sys.stderr, flush=True)
    print(json.dumps(rows, indent=1) if args.json else table(rows))


if __name__ == "__main__":
    main()
