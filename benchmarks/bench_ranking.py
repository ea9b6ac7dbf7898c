"""Ranking benchmark: how many steps must a search trial train for its score to rank architectures?

Run:    python benchmarks/bench_ranking.py [--data avdigits] [--spaces mfas_avdigits,bmnas_avmnist] [--archs 20]
                                           [--steps-list 10,25,50,100,200,400] [--full-epochs 10] [--threads 2] [--json]
Smoke:  python benchmarks/bench_ranking.py --data avdigits-mini --spaces mfas_avdigits --archs 3 \\
                                           --steps-list 5,10 --full-epochs 1 --pretrain-epochs 1

For each space (a name of examples/spaces/NAME.geno, or a path to a .geno file), ``--archs``
DISTINCT genotypes are drawn with ``space.sample(seed=0, 1, 2, ...)``, skipping digests already
taken. Each genotype is trained from scratch several times, always a FRESH network
(``torch.manual_seed(--seed)`` before the compile; no weight sharing), the way search trials
train (:func:`~genolang.runtime.search_trial.train_compiled`: pre-trained backbones loaded,
the static prefix read from one :class:`~genolang.runtime.features.FeatureCache` per space):

- (a) for each S of ``--steps-list``: ``TrainConfig(steps=S, seed=seed)``, the val accuracy
  after the last step (what a search trial of S steps scores);
- (b) in full: ``TrainConfig(epochs=--full-epochs, seed=seed)``, val evaluated every epoch,
  the best state on val kept, and its TEST accuracy (the architecture's "true" quality).

The table gives, for each S, Kendall's tau-b between the S-step val accuracies and the full
test accuracies over the genotypes (genotypes that failed at that S, or in full, are left
out), and the median seconds per trial at S (compile + train + val; the prefix passes are
run once per space before, and one untimed warm-up trial); the "full" row gives the median
seconds of a full training. Then, per space, the smallest S with tau >= 0.5 (or
"none reached 0.5"), and the full-training test accuracy of the best, median (the lower
middle one for an even count) and worst architecture. tau-b is computed here
(:func:`kendall_tau_b`, ties counted as in scipy.stats.kendalltau's default); it is nan when
one side is constant.

Spaces: mfas_avdigits (frozen pre-trained lenet5/spectro_cnn; ``pretrain = 10``, run once and
cached on disk under ``--cache``), bmnas_avmnist (frozen random-init LeNets), and any other;
randomnet_avdigits is accepted but VERY slow on the CPU: it has no frozen prefix (trainable
cells from the raw inputs), so every step runs the whole network, and the full trainings
dominate (--archs x --full-epochs epochs of the whole network).

``--pretrain-epochs N`` overrides the spaces' ``pretrain = EPOCHS`` for smoke runs: it edits
the ``pretrain`` attribute of the backbone nodes of the lowered graph handed to
:func:`~genolang.runtime.pretrain.pretrain_backbones` (its only reader); the space and the
trained networks are unchanged, and the backbone cache key includes the epochs.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from bench_spaces import load_space, note, pretrain

DEFAULT_SPACES = "mfas_avdigits,bmnas_avmnist"
DEFAULT_STEPS = "10,25,50,100,200,400"
TAU_GOAL = 0.5


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b of two equally long sequences: (C - D) / sqrt((P - Tx) (P - Ty)).

    C, D: concordant and discordant pairs; P = n (n - 1) / 2 pairs; Tx, Ty: pairs tied in x,
    in y (a pair tied in both counts in both). nan when a side is constant or n < 2.
    """
    if len(x) != len(y):
        raise ValueError(f"kendall_tau_b: sequences of different lengths ({len(x)} and {len(y)})")
    n = len(x)
    concordant = discordant = tied_x = tied_y = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0:
                tied_x += 1
            if dy == 0:
                tied_y += 1
            if dx and dy:
                if (dx > 0) == (dy > 0):
                    concordant += 1
                else:
                    discordant += 1
    pairs = n * (n - 1) // 2
    denominator = math.sqrt((pairs - tied_x) * (pairs - tied_y))
    return (concordant - discordant) / denominator if denominator else math.nan


@dataclass
class Arch:
    """One genotype's results: S -> val accuracy (None: failed), the full training's."""

    sample: int
    digest: str
    val: dict[int, float | None] = field(default_factory=dict)
    seconds: dict[int, float] = field(default_factory=dict)
    full_test: float | None = None
    full_val: float | None = None
    full_seconds: float | None = None
    failures: list[str] = field(default_factory=list)


@dataclass
class SpaceResult:
    """One space: its architectures, tau per S, the recommendation."""

    space: str
    archs: list[Arch]
    tau: dict[int, float]
    n_tau: dict[int, int]  # genotypes in each tau
    seconds: dict[int, float | None]  # median seconds per trial at S
    full_seconds: float | None  # median seconds of a full training
    recommended: int | None
    prefix_s: float
    prefix_passes: int  # prefix passes run (boundary tensors computed)
    prefix_loaded: int  # boundary tensors read back from --cache/features/
    pretrain_s: float
    pretrained: dict[str, Any] = field(default_factory=dict)

    def ranked(self) -> list[Arch]:
        """The architectures with a full-training test accuracy, worst first."""
        return sorted((a for a in self.archs if a.full_test is not None), key=lambda a: (a.full_test, -a.sample))


# ------------------------------------------------------------------ the measurement


def distinct_genotypes(space: Any, count: int) -> list[tuple[int, Any]]:
    """(seed, genotype) for ``count`` distinct genotypes of space.sample(seed=0, 1, ...)."""
    taken: dict[str, tuple[int, Any]] = {}
    seed = 0
    while len(taken) < count and seed < 100 * count + 100:
        genotype = space.sample(seed=seed)
        taken.setdefault(genotype.digest, (seed, genotype))
        seed += 1
    if len(taken) < count:
        note(f"{space.name}: only {len(taken)} distinct genotypes in {seed} samples")
    return list(taken.values())


def measure_space(name: str, data: Any, opts: argparse.Namespace) -> SpaceResult:
    """Every genotype at every S and in full; tau-b per S."""
    from genolang.compiler.compile import compile_genotype
    from genolang.runtime.features import FeatureCache
    from genolang.runtime.pretrain import apply_pretrained
    from genolang.runtime.search_trial import FAILURES, TrialContext, failure_reason, train_compiled
    from genolang.runtime.train import TrainConfig

    space = load_space(name)
    pretrained, pretrain_s = pretrain(space, data, seed=opts.seed, cache=opts.cache, device=opts.device,
                                      epochs=opts.pretrain_epochs)
    if pretrained:
        note(f"{space.name}: pretrained " + ", ".join(
            f"{k} (test acc {v.test_accuracy}, {'cached' if v.cached else f'{v.seconds:.0f} s'})"
            for k, v in pretrained.items()))
    cache = FeatureCache(data, cache_dir=opts.cache, device=opts.device)
    ctx = TrialContext(space, data, TrainConfig(), opts.device, None, pretrained, cache)
    genotypes = distinct_genotypes(space, opts.archs)

    def fresh(genotype: Any) -> Any:
        torch.manual_seed(opts.seed)
        return compile_genotype(space, genotype, device=opts.device).net

    prefix_s = 0.0  # fill the feature cache once per space (not part of the per-trial seconds)
    for _, genotype in genotypes:
        try:
            net = fresh(genotype)
        except FAILURES:
            continue
        apply_pretrained(net, pretrained)
        start = time.perf_counter()
        cache.prepare(net)
        prefix_s += time.perf_counter() - start

    def run(arch: Arch, genotype: Any, config: TrainConfig, what: str) -> Any:
        start = time.perf_counter()
        try:
            result = train_compiled(fresh(genotype), ctx, config, device=opts.device)
        except FAILURES as exc:
            arch.failures.append(f"{what}: {failure_reason(exc)}")
            return None, time.perf_counter() - start
        return result, time.perf_counter() - start

    if genotypes:  # warm-up, untimed: the first training in a process pays one-off costs (about a second)
        run(Arch(-1, ""), genotypes[0][1], TrainConfig(steps=min(opts.steps_list), seed=opts.seed), "warm-up")
    archs = []
    for k, (sample, genotype) in enumerate(genotypes):
        arch = Arch(sample, genotype.digest)
        for steps in opts.steps_list:
            result, arch.seconds[steps] = run(arch, genotype, TrainConfig(steps=steps, seed=opts.seed), f"S={steps}")
            arch.val[steps] = result.best_val.accuracy if result is not None else None
        result, arch.full_seconds = run(arch, genotype, TrainConfig(epochs=opts.full_epochs, seed=opts.seed),
                                        f"{opts.full_epochs} epochs")
        if result is not None:
            arch.full_val = result.best_val.accuracy
            arch.full_test = result.test.accuracy if result.test is not None else None
        archs.append(arch)
        vals = " ".join(f"{s}:{v:.3f}" if v is not None else f"{s}:-" for s, v in arch.val.items())
        note(f"{space.name}: {k + 1}/{len(genotypes)} sample {sample}: val at S {vals}; full test "
             f"{arch.full_test if arch.full_test is None else round(arch.full_test, 4)} ({arch.full_seconds:.1f} s)")

    tau, n_tau, seconds = {}, {}, {}
    for steps in opts.steps_list:
        pairs = [(a.val[steps], a.full_test) for a in archs if a.val[steps] is not None and a.full_test is not None]
        tau[steps] = kendall_tau_b([p[0] for p in pairs], [p[1] for p in pairs])
        n_tau[steps] = len(pairs)
        seconds[steps] = statistics.median(a.seconds[steps] for a in archs) if archs else None
    reached = [s for s in sorted(opts.steps_list) if tau[s] >= TAU_GOAL]  # nan compares False
    full = [a.full_seconds for a in archs if a.full_seconds is not None]
    return SpaceResult(space.name, archs, tau, n_tau, seconds, statistics.median(full) if full else None,
                       reached[0] if reached else None, prefix_s, cache.computed, cache.loaded, pretrain_s,
                       {k: v.to_json() for k, v in pretrained.items()})


# ------------------------------------------------------------------ output


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def tau_text(tau: float) -> str:
    return "nan" if math.isnan(tau) else f"{tau:.3f}"


def table(results: list[SpaceResult], opts: argparse.Namespace) -> str:
    """Rows = S; per space, tau (over n genotypes) and median seconds per trial; then the summary lines."""
    width = max([18] + [len(r.space) + 4 for r in results])
    first = max(6, len(f"full {opts.full_epochs} ep"))
    head = f"{'S':>{first}} " + " ".join(f"{r.space + ' tau':>{width}} {'s/trial':>8}" for r in results)
    lines = [head]
    for steps in opts.steps_list:
        cells = [f"{tau_text(r.tau[steps]) + f' (n={r.n_tau[steps]})':>{width}} {fmt(r.seconds[steps], '.3f'):>8}"
                 for r in results]
        lines.append(f"{steps:>{first}} " + " ".join(cells))
    lines.append(f"{f'full {opts.full_epochs} ep':>{first}} "
                 + " ".join(f"{'':>{width}} {fmt(r.full_seconds, '.2f'):>8}" for r in results))
    if any(math.isnan(t) for r in results for t in r.tau.values()):
        lines.append("(nan: the S-step or the full accuracies are all equal, or fewer than 2 genotypes)")
    lines.append("")
    for r in results:
        pick = (f"S = {r.recommended} (tau {r.tau[r.recommended]:.3f})" if r.recommended is not None
                else f"none reached {TAU_GOAL}")
        lines.append(f"{r.space}: smallest S with tau >= {TAU_GOAL}: {pick}")
    for r in results:
        ranked = r.ranked()
        if ranked:
            picks = {"best": ranked[-1], "median": ranked[(len(ranked) - 1) // 2], "worst": ranked[0]}
            lines.append(f"{r.space}: full-training test accuracy over {len(ranked)} archs: " + ", ".join(
                f"{label} {a.full_test:.4f} (sample {a.sample})" for label, a in picks.items()))
        else:
            lines.append(f"{r.space}: no full training finished")
        extra = [f"feature cache filled in {r.prefix_s:.1f} s: {r.prefix_passes} prefix pass(es), "
                 f"{r.prefix_loaded} tensor(s) read from disk"]
        extra += [f"pre-training {r.pretrain_s:.1f} s"] if r.pretrained else []
        lines.append(f"  ({', '.join(extra)})")
        lines += [f"  sample {a.sample} failed {f}" for a in r.archs for f in a.failures]
    return "\n".join(lines)


# ------------------------------------------------------------------ driver


def steps_list(text: str) -> list[int]:
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}") from None
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError("steps must be at least 1")
    return values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line options (see the module doc)."""
    from genolang.runtime.avdigits import default_cache_dir

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="avdigits", help="dataset: avdigits, avdigits-mini (smoke runs) or a path")
    parser.add_argument("--spaces", default=DEFAULT_SPACES,
                        help="comma-separated space names (examples/spaces/NAME.geno) or .geno paths "
                             "(randomnet_avdigits: very slow on the CPU, no frozen prefix)")
    parser.add_argument("--archs", type=int, default=20, help="distinct genotypes per space")
    parser.add_argument("--steps-list", type=steps_list, default=steps_list(DEFAULT_STEPS),
                        help=f"the trial lengths S to rank with (default {DEFAULT_STEPS})")
    parser.add_argument("--full-epochs", type=int, default=10, help="epochs of the full training (test accuracy)")
    parser.add_argument("--seed", type=int, default=0, help="dataset, pre-training and training seed")
    parser.add_argument("--pretrain-epochs", type=int, default=None,
                        help="override the spaces' `pretrain = EPOCHS` (smoke runs; see the module doc)")
    parser.add_argument("--cache", type=Path, default=default_cache_dir(),
                        help="cache folder: dataset, pre-trained backbones, cached features")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    parser.add_argument("--verbose", action="store_true", help="log the runtime's INFO messages")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of the table")
    opts = parser.parse_args(argv)
    if opts.archs < 2:
        parser.error("--archs must be at least 2 (a ranking needs two)")
    if opts.full_epochs < 1:
        parser.error("--full-epochs must be at least 1")
    if opts.pretrain_epochs is not None and opts.pretrain_epochs < 1:
        parser.error("--pretrain-epochs must be at least 1")
    if opts.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available")
    return opts


def to_json(r: SpaceResult) -> dict[str, Any]:
    """JSON-safe (nan -> None)."""
    doc = asdict(r)
    doc["tau"] = {s: (None if math.isnan(t) else t) for s, t in r.tau.items()}
    return doc


def main(argv: list[str] | None = None) -> None:
    """Measure every space and print the table (or the results as JSON)."""
    opts = parse_args(argv)
    logging.basicConfig(level=logging.INFO if opts.verbose else logging.WARNING, format="%(name)s: %(message)s")
    torch.set_num_threads(opts.threads)
    from genolang.runtime.data import load_dataset

    start = time.perf_counter()
    data = load_dataset(opts.data, seed=opts.seed, cache_dir=opts.cache)
    results = [measure_space(name.strip(), data, opts) for name in opts.spaces.split(",") if name.strip()]
    elapsed = time.perf_counter() - start
    setting = f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {opts.device}"
    if opts.json:
        print(json.dumps({"setting": setting, "dataset": data.name, "sizes": data.sizes(),
                          "steps_list": opts.steps_list, "full_epochs": opts.full_epochs, "seconds": elapsed,
                          "spaces": [to_json(r) for r in results]}, indent=1))
        return
    print(f"genolang ranking benchmark: {setting}, {data.name} {data.sizes()}, {opts.archs} archs/space"
          f", full training {opts.full_epochs} epochs, {elapsed:.0f} s")
    print("Kendall tau-b of the S-step val accuracy against the full-training test accuracy (n genotypes); "
          "median s/trial (compile + train + val)")
    print(table(results, opts))


if __name__ == "__main__":
    main()
