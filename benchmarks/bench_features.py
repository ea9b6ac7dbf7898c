"""Frozen-prefix evaluation benchmark: seconds per search trial, cached against uncached.

Run:    python benchmarks/bench_features.py [--data avdigits] [--spaces mfas_avdigits,mfas_avmnist,bmnas_avmnist]
                                            [--archs 5] [--steps N] [--threads 2] [--json]
Smoke:  python benchmarks/bench_features.py --data avdigits-mini --spaces mfas_avdigits --archs 2 --pretrain-epochs 1

For each space (a name of examples/spaces/NAME.geno, or a path to a .geno file) and each of
``--archs`` genotypes ``space.sample(seed=i)``, i = 0, 1, ..., one search trial
(:func:`genolang.runtime.search_trial.train_trial`: compile, train ``--steps`` steps, evaluate
``val``; no weight sharing) runs twice, interleaved, with the same seed
(``torch.manual_seed(--seed)`` before the compile, so both start from the same weights):

- **cached**: the trial context holds one :class:`~genolang.runtime.features.FeatureCache`
  shared by every genotype of the space; the network's static prefix (inputs, front-ends,
  frozen backbones) is computed once per dataset and only the rest trains;
- **uncached**: no feature cache; the whole network runs on the raw data.

The one-off prefix work is not in the cached trial times: before the timed trials every
genotype's network goes through ``FeatureCache.prepare`` once (the prefix passes for the taps
it reads), timed as "prefix s", with the number of prefix passes run; then one untimed cached
trial warms the code paths. The feature cache is in memory only (so the prefix passes are
really computed on every run; ``--disk-features`` uses ``--cache``/features/ as the search does,
and a second run then reads them back). "ratio" = median uncached s/trial / median cached
s/trial; "amortized" = total uncached seconds / (total cached seconds + prefix s), the speed-up
of these ``--archs`` trials counting the prefix passes. "max |dval|" is the largest absolute
difference of val accuracy between the cached and the uncached trial of the same genotype:
both train the same modules on the same batches with the same random draws, so it should be 0
(float rounding of batched convolutions aside; on CUDA the uncached backbone runs under
autocast while the cached prefix runs in float32).

Spaces stating ``pretrain = EPOCHS`` (mfas_avdigits) get their backbones from
:func:`~genolang.runtime.pretrain.pretrain_backbones` once (cached on disk under ``--cache``),
given to both variants. ``--pretrain-epochs N`` overrides EPOCHS for smoke runs: it edits the
``pretrain`` attribute of the backbone nodes of the lowered graph handed to
``pretrain_backbones`` (which is the only reader of that attribute); the space and the
trial networks are unchanged, and the backbone cache key includes the epochs. Spaces
without ``pretrain`` (mfas_avmnist, bmnas_avmnist: random-init frozen LeNets) are unaffected.

``--steps`` defaults to the searchers' default trial budget (``Searcher.DEFAULT_STEPS``,
chosen with bench_ranking.py). Genotypes that fail (compile error, divergence) are
counted and reported, not timed.

Target: ratio >= 20x for the MFAS space on avdigits (mfas_avdigits).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from bench_spaces import load_space, note, pretrain

DEFAULT_SPACES = "mfas_avdigits,mfas_avmnist,bmnas_avmnist"
TARGET = {"mfas_avdigits": 20.0}


@dataclass
class SpaceRow:
    """One space's measurements."""

    space: str
    archs: int
    failed: int
    steps: int
    uncached_s: float | None  # median seconds per trial
    cached_s: float | None
    ratio: float | None
    amortized: float | None
    prefix_s: float
    prefix_passes: int
    no_prefix: int  # genotypes whose prefix computes nothing (trained on raw data either way)
    max_dval: float | None
    pretrain_s: float
    pretrained: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    trials: list[dict[str, Any]] = field(default_factory=list)


# ------------------------------------------------------------------ the measurement


def measure_space(name: str, data: Any, steps: int, opts: argparse.Namespace) -> SpaceRow:
    """Prefix passes, then cached and uncached trials of each sampled genotype, interleaved."""
    from genolang.compiler.compile import compile_genotype
    from genolang.runtime.features import FeatureCache
    from genolang.runtime.pretrain import apply_pretrained
    from genolang.runtime.search_trial import FAILURES, TrialContext, TrialJob, failure_reason, train_trial
    from genolang.runtime.train import TrainConfig

    space = load_space(name)
    pretrained, pretrain_s = pretrain(space, data, seed=opts.seed, cache=opts.cache, device=opts.device,
                                      epochs=opts.pretrain_epochs)
    if pretrained:
        note(f"{space.name}: pretrained " + ", ".join(
            f"{k} (test acc {v.test_accuracy}, {'cached' if v.cached else f'{v.seconds:.0f} s'})"
            for k, v in pretrained.items()))
    cache = FeatureCache(data, cache_dir=opts.cache if opts.disk_features else None, device=opts.device)
    cached_ctx = TrialContext(space, data, TrainConfig(), opts.device, None, pretrained, cache)
    raw_ctx = TrialContext(space, data, TrainConfig(), opts.device, None, pretrained, None)

    # prefix passes (untimed in the trials): every genotype's boundary tensors into the cache
    genotypes, failures, prefix_s, no_prefix = [], [], 0.0, 0
    for i in range(opts.archs):
        genotype = space.sample(seed=i)
        try:
            torch.manual_seed(opts.seed)
            net = compile_genotype(space, genotype, device=opts.device).net
        except FAILURES as exc:
            failures.append(f"sample {i}: {failure_reason(exc)}")
            continue
        apply_pretrained(net, pretrained)
        start = time.perf_counter()
        prepared = cache.prepare(net)
        prefix_s += time.perf_counter() - start
        no_prefix += prepared is None
        genotypes.append((i, genotype))
    note(f"{space.name}: {len(genotypes)} genotype(s), {cache.computed} prefix pass(es) in {prefix_s:.1f} s")

    def trial(ctx: TrialContext, i: int, genotype: Any) -> tuple[float, float]:
        torch.manual_seed(opts.seed)  # the same starting weights in both variants
        start = time.perf_counter()
        metrics = train_trial(TrialJob(i, genotype, steps, opts.seed), ctx)
        return time.perf_counter() - start, float(metrics["val_accuracy"])

    if genotypes:  # warm-up (untimed)
        try:
            trial(cached_ctx, *genotypes[0])
        except FAILURES:
            pass
    trials = []
    for k, (i, genotype) in enumerate(genotypes):
        order = [("uncached", raw_ctx), ("cached", cached_ctx)]
        if k % 2:
            order.reverse()
        out: dict[str, Any] = {"sample": i, "digest": genotype.digest}
        try:
            for label, ctx in order:
                out[f"{label}_s"], out[f"{label}_val"] = trial(ctx, i, genotype)
        except FAILURES as exc:
            failures.append(f"sample {i}: {failure_reason(exc)}")
            continue
        out["dval"] = abs(out["uncached_val"] - out["cached_val"])
        trials.append(out)
        note(f"{space.name}: sample {i}: uncached {out['uncached_s']:.3f} s, cached {out['cached_s']:.3f} s, "
             f"val {out['uncached_val']:.4f} / {out['cached_val']:.4f}")

    def median(key: str) -> float | None:
        return statistics.median(t[key] for t in trials) if trials else None

    unc, cac = median("uncached_s"), median("cached_s")
    total_c = sum(t["cached_s"] for t in trials) + prefix_s
    return SpaceRow(space.name, len(trials), len(failures), steps, unc, cac,
                    unc / cac if unc is not None and cac else None,
                    sum(t["uncached_s"] for t in trials) / total_c if trials and total_c else None,
                    prefix_s, cache.computed, no_prefix, max((t["dval"] for t in trials), default=None), pretrain_s,
                    {k: v.to_json() for k, v in pretrained.items()}, failures, trials)


# ------------------------------------------------------------------ output


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(rows: list[SpaceRow]) -> str:
    """One line per space, then the failures and the target."""
    head = (f"{'space':<16} {'archs':>5} {'failed':>6} {'steps':>5} {'uncached s':>10} {'cached s':>9} "
            f"{'ratio':>7} {'amortized':>9} {'prefix s':>8} {'passes':>6} {'max |dval|':>10} {'pretrain s':>10}")
    lines = [head]
    for r in rows:
        lines.append(f"{r.space:<16} {r.archs:>5} {r.failed:>6} {r.steps:>5} {fmt(r.uncached_s, '.3f'):>10} "
                     f"{fmt(r.cached_s, '.4f'):>9} {fmt(r.ratio, '.1f'):>7} {fmt(r.amortized, '.1f'):>9} "
                     f"{r.prefix_s:>8.2f} {r.prefix_passes:>6} {fmt(r.max_dval, '.4f'):>10} "
                     f"{fmt(r.pretrain_s if r.pretrained else None, '.1f'):>10}")
    for r in rows:
        lines += [f"  {r.space}: failed {f}" for f in r.failures]
        if r.no_prefix:
            lines.append(f"  {r.space}: {r.no_prefix} genotype(s) have no static prefix (raw data in both variants)")
        if r.space in TARGET:
            ok = r.ratio is not None and r.ratio >= TARGET[r.space]
            lines.append(f"  {r.space}: target ratio >= {TARGET[r.space]:g}x: {'met' if ok else 'NOT met'}")
    return "\n".join(lines)


# ------------------------------------------------------------------ driver


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line options (see the module doc)."""
    from genolang.runtime.avdigits import default_cache_dir

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="avdigits", help="dataset: avdigits, avdigits-mini (smoke runs) or a path")
    parser.add_argument("--spaces", default=DEFAULT_SPACES,
                        help="comma-separated space names (examples/spaces/NAME.geno) or .geno paths")
    parser.add_argument("--archs", type=int, default=5, help="genotypes per space (space.sample(seed=i))")
    parser.add_argument("--steps", type=int, default=None,
                        help="steps per trial (default: the searcher's, 10%% of the training set at batch 64)")
    parser.add_argument("--seed", type=int, default=0, help="dataset, pre-training and training seed")
    parser.add_argument("--pretrain-epochs", type=int, default=None,
                        help="override the spaces' `pretrain = EPOCHS` (smoke runs; see the module doc)")
    parser.add_argument("--cache", type=Path, default=default_cache_dir(),
                        help="cache folder: dataset, pre-trained backbones (and features with --disk-features)")
    parser.add_argument("--disk-features", action="store_true",
                        help="keep the feature cache on disk under --cache (a rerun then reads it back)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    parser.add_argument("--verbose", action="store_true", help="log the runtime's INFO messages")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of the table")
    opts = parser.parse_args(argv)
    if opts.archs < 1 or (opts.steps is not None and opts.steps < 1):
        parser.error("--archs and --steps must be at least 1")
    if opts.pretrain_epochs is not None and opts.pretrain_epochs < 1:
        parser.error("--pretrain-epochs must be at least 1")
    if opts.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available")
    return opts


def main(argv: list[str] | None = None) -> None:
    """Measure every space and print the table (or the rows as JSON)."""
    opts = parse_args(argv)
    logging.basicConfig(level=logging.INFO if opts.verbose else logging.WARNING, format="%(name)s: %(message)s")
    torch.set_num_threads(opts.threads)
    from genolang.runtime.data import load_dataset
    from genolang.searchers.base import Searcher

    start = time.perf_counter()
    data = load_dataset(opts.data, seed=opts.seed, cache_dir=opts.cache)
    steps = opts.steps or Searcher.DEFAULT_STEPS
    rows = [measure_space(name.strip(), data, steps, opts) for name in opts.spaces.split(",") if name.strip()]
    elapsed = time.perf_counter() - start
    setting = f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {opts.device}"
    if opts.json:
        print(json.dumps({"setting": setting, "dataset": data.name, "sizes": data.sizes(), "steps": steps,
                          "seconds": elapsed, "rows": [asdict(r) for r in rows]}, indent=1))
        return
    print(f"genolang feature-cache benchmark: {setting}, {data.name} {data.sizes()}, {steps} step(s)/trial, "
          f"{elapsed:.0f} s")
    print("seconds per trial (medians); ratio = uncached / cached")
    print(table(rows))


if __name__ == "__main__":
    main()
