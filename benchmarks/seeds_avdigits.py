"""The seeds' comparison on AV-digits: unimodal nets, late fusion and every searcher, seeds 0-4.

Run: python benchmarks/seeds_avdigits.py [--seeds 5] [--full] [--methods a,b] [--work DIR] [--json]
     python benchmarks/seeds_avdigits.py --fair [--seeds 5] [--data-seeds 2] [--plot P.png] [--full]

``--fair`` runs the fair comparison of benchmarks/seeds_fair.py (its docstring has the
protocol: the same converged backbones for every method, equal trial budgets, BM-NAS at the
reference's settings, the low-label protocol, the same final training, data seeds 0 and 1),
prints its table (benchmarks/fair_stats.py: paired sign test against late fusion) and
writes the plot. Without it, the earlier small comparison below.

For each seed (which seeds the searchers and every training run: initial weights, batch
order; the data is the seed-0 AV-digits build) and each method of
``benchmarks/seeds_methods.py``: image-only and audio-only LeNets (MFAS's unimodal nets,
whose weights then serve as that seed's frozen backbones), hand-designed late fusion,
random search (RandomNet protocol, on the RandomNet space), mfas, rl and evolution (on the
MFAS space), bmnas and ssl-bmnas (on the BM-NAS space; ssl-bmnas fine-tuned with labelled
fractions r = 0.1 and 1). The discrete searchers get the same architecture budget
(``--trials``, each trial ``--steps`` steps, default 10% of train); the best architecture of
each search is trained ``--epochs`` epochs like the baselines and its test accuracy (at the
best validation epoch) enters the table: mean +- std over seeds, search wall time, architectures
evaluated (supernet epochs for the differentiable searchers), parameters.

Defaults fit the 2-core development CPU in under an hour: 30 architectures per discrete search
(MFAS's first step trains all 30 one-layer fusions of the MFAS space, so at this budget MFAS
is exhaustive over one layer and never unfolds a second), 3 training epochs, 2 supernet
epochs, Adam at lr 0.01. ``--full`` sets the seeds' budgets (MFAS E_search 3, L 4, K 15:
30 + 11 x 15 = 195 architectures; BM-NAS and the self-supervised search 100 epochs; 50
training epochs), meant for a GPU (``--device cuda``).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script (README): make `benchmarks.*` importable
    sys.path.insert(0, str(ROOT))

from benchmarks import fair_stats, seeds_fair  # noqa: E402
from benchmarks.seeds_methods import METHODS, Bench, Budget, Row  # noqa: E402
from genolang.runtime.avdigits import default_cache_dir  # noqa: E402
from genolang.runtime.data import load_dataset  # noqa: E402

SMALL = Budget(epochs=3, trials=30, steps=None, search_epochs=2, lr=0.01)
FULL = Budget(epochs=50, trials=195, steps=None, search_epochs=100, lr=0.01)
log = logging.getLogger("seeds_avdigits")


def run(bench: Bench, methods: list[str], seeds: list[int]) -> list[Row]:
    """Every method on every seed, seed by seed (the unimodal rows of a seed come first)."""
    rows = []
    for seed in seeds:
        for name in methods:
            row = METHODS[name](bench, seed)
            log.info("seed %d %-16s test %.4f  (%.0f s)", seed, name, row.test_accuracy, row.seconds)
            rows.append(row)
    return rows


def table(rows: list[Row], methods: list[str]) -> str:
    """Mean +- std of test accuracy over seeds; means of search time, architectures, parameters, total time."""
    head = f"{'method':<18}{'test acc':>16}{'seeds':>7}{'search s':>10}{'archs':>7}{'params':>9}{'total s':>9}"
    lines = [head, "-" * len(head)]
    for name in methods:
        got = [r for r in rows if r.method == name]
        if not got:
            continue
        accs = [r.test_accuracy for r in got]
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        lines.append(f"{name:<18}{statistics.mean(accs):>9.3f} +- {std:.3f}{len(got):>7}"
                     f"{statistics.mean(r.search_seconds for r in got):>10.0f}"
                     f"{round(statistics.mean(r.archs for r in got)):>7}"
                     f"{round(statistics.mean(r.params for r in got)):>9,}"
                     f"{statistics.mean(r.seconds for r in got):>9.0f}")
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    ap.add_argument("--full", action="store_true", help="the seeds' (paper-sized) budgets, for a GPU")
    ap.add_argument("--epochs", type=int, help="training epochs of each final architecture")
    ap.add_argument("--trials", type=int, help="architectures per discrete search")
    ap.add_argument("--steps", type=int, help="training steps per trial (default 10%% of train)")
    ap.add_argument("--search-epochs", type=int, help="supernet epochs of bmnas / ssl-bmnas")
    ap.add_argument("--lr", type=float, help="Adam's learning rate of every training run (default 0.01)")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of: " + ", ".join(METHODS))
    ap.add_argument("--data", default="avdigits", help="dataset spec (default avdigits; avdigits-mini to smoke-test)")
    ap.add_argument("--work", help="folder for the runs (default: a temporary folder)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON after the table")
    fair = ap.add_argument_group("the fair comparison (benchmarks/seeds_fair.py)")
    fair.add_argument("--fair", action="store_true", help="run the fair comparison instead")
    fair.add_argument("--data-seeds", type=int, default=2, help="AV-digits data seeds 0..N-1 (default 2)")
    fair.add_argument("--fair-methods", default=",".join(seeds_fair.METHODS),
                      help="comma-separated subset of: " + ", ".join(seeds_fair.METHODS))
    fair.add_argument("--pretrain-epochs", type=int, help="epochs of the backbones' pre-training (default 10)")
    fair.add_argument("--bmnas-batch", type=int, help="batch size of the bilevel searches (default 32)")
    fair.add_argument("--arch-lr", type=float, help="BM-NAS architecture lr (default 3e-4, the reference's)")
    fair.add_argument("--alternation", choices=("batch", "epoch"),
                      help="BM-NAS: an architect step per weight step (default; --full: epoch, the reference's)")
    fair.add_argument("--jobs", type=int, default=1,
                      help="(data seed, seed) runs in parallel, one torch thread each (default 1; 2 on two cores)")
    fair.add_argument("--plot", help="PNG of test accuracy per method "
                      "(default WORK/fair.png; ./seeds_fair.png without --work)")
    return ap.parse_args(argv)


def budget_of(args: argparse.Namespace) -> Budget:
    base = FULL if args.full else SMALL
    names = ("epochs", "trials", "steps", "search_epochs", "lr")
    given = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    return Budget(**{**asdict(base), **given})


def fair_budget(args: argparse.Namespace) -> seeds_fair.FairBudget:
    """The fair budget (``--full``: the papers'), with the options given."""
    base = seeds_fair.FULL if args.full else seeds_fair.FairBudget()
    given = {"trials": args.trials, "steps": args.steps, "search_epochs": args.search_epochs,
             "final_epochs": args.epochs, "pretrain_epochs": args.pretrain_epochs, "bmnas_batch": args.bmnas_batch,
             "arch_lr": args.arch_lr, "alternation": args.alternation}
    return seeds_fair.FairBudget(**{**asdict(base), **{k: v for k, v in given.items() if v is not None}})


def main_fair(args: argparse.Namespace) -> None:
    """The fair comparison: table, plot, optionally the rows as JSON."""
    methods = [m.strip() for m in args.fair_methods.split(",")]
    unknown = [m for m in methods if m not in seeds_fair.METHODS]
    if unknown:
        sys.exit(f"unknown method(s) {unknown}; choose from {list(seeds_fair.METHODS)}")
    budget, start = fair_budget(args), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="genolang-fair-") as tmp:
        work = Path(args.work or tmp)
        datasets = {d: load_dataset(args.data, seed=d) for d in range(args.data_seeds)}
        bench = seeds_fair.FairBench(budget, work, device=args.device, cache_dir=default_cache_dir())

        def report(row: fair_stats.FairRow) -> None:
            log.info("data %d seed %d %-22s test %.4f search %.0f s (%.0f s) %s", row.data_seed, row.seed,
                     row.method, row.test_accuracy, row.search_seconds, row.seconds, row.extra or "")

        rows = seeds_fair.run_fair(bench, datasets, list(range(args.seeds)), methods, report=report, jobs=args.jobs)
        default = work / "fair.png" if args.work else Path("seeds_fair.png")
        plot = fair_stats.plot_accuracies(rows, methods, Path(args.plot) if args.plot else default)
        sys.stdout.write(f"fair comparison on {args.data}, data seeds 0-{args.data_seeds - 1}, "
                         f"seeds 0-{args.seeds - 1}, "
                         f"{budget}, torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
                         f"{args.jobs} job(s), {args.device}, "
                         f"{time.perf_counter() - start:.0f} s\n{fair_stats.fair_table(rows, methods)}\n")
        sys.stdout.write(settling_lines(rows))
        sys.stdout.write(f"plot: {plot}\n")
        if args.json:
            sys.stdout.write(json.dumps([asdict(r) for r in rows], indent=1) + "\n")


def settling_lines(rows: list[fair_stats.FairRow]) -> str:
    """Per bilevel method: the mean final entropy of alpha/beta/gamma and the stable epochs."""
    lines = []
    for name in ("bmnas", "bmnas r=0.1", "ssl-bmnas r=0.1"):
        done = [r.extra for r in rows if r.method == name and "entropy" in r.extra]
        if done:
            mean = {k: sum(e["entropy"][k] for e in done) / len(done) for k in done[0]["entropy"]}
            stable = sorted(e["stable"] for e in done)
            lines.append(f"{name}: final normalised entropy (1 = uniform) "
                         + ", ".join(f"{k} {v:.6f}" for k, v in mean.items())
                         + f"; epochs the final genotype was derived (stable) {stable}\n")
    return "".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("genolang").setLevel(logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.fair:
        main_fair(args)
        return
    methods = [m.strip() for m in args.methods.split(",")]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        sys.exit(f"unknown method(s) {unknown}; choose from {list(METHODS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    budget, start = budget_of(args), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="genolang-seeds-") as tmp:
        work = Path(args.work or tmp)
        data = load_dataset(args.data, seed=0)
        bench = Bench(data=data, budget=budget, work=work, device=args.device)
        rows = run(bench, methods, list(range(args.seeds)))
    sys.stdout.write(f"seeds' comparison on {args.data} ({len(data['train'])} train pairs), seeds 0-{args.seeds - 1}, "
                     f"{budget}, torch {torch.__version__}, {torch.get_num_threads()} thread(s), {args.device}, "
                     f"{time.perf_counter() - start:.0f} s\n{table(rows, methods)}\n")
    if args.json:
        sys.stdout.write(json.dumps([asdict(r) for r in rows], indent=1) + "\n")


if __name__ == "__main__":
    main()
