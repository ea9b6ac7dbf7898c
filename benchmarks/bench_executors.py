"""Executors benchmark: trials per hour inline, in a process pool and on Ray; Ray's overhead per trial.

Run:    python benchmarks/bench_executors.py [--data avdigits] [--space mfas_avdigits] [--budget 8]
                                             [--workers 1,2] [--executors inline,process,ray] [--no-share]
                                             [--json]
Smoke:  python benchmarks/bench_executors.py --data avdigits-mini --budget 2 --steps 2 --pretrain-epochs 1
                                             --noop 5

The main job's space (``examples/spaces/mfas_avdigits.geno``) with its pre-trained backbones
(cached under ``--cache``) and the frozen-prefix feature cache, as ``genolang search`` runs
it: for each executor and worker count (inline: 1 worker only), a random search of
``--budget`` trials of ``--steps`` steps (default: the searchers' ``DEFAULT_STEPS``) in a new
folder, the same seed each time. Columns: wall seconds (the pool's start-up included; Ray's
not, it is started once before and reported as "Ray start"), trials per hour (budget / wall),
mean seconds per trial as the trials measured themselves. With weight sharing (the default,
as ``genolang search``) trials chain: each waits for the previous one, so 2 workers run one
trial at a time (the driver's bank travels with each job); ``--no-share`` runs them at once.

Ray's overhead per trial: ``--noop`` no-op trials (no training: a score from the digest) run
inline and on Ray (1 worker, Ray already started); overhead = (Ray wall - inline wall) /
trials, in ms: submitting the task, the scheduling, the result's way back (the context's one
fetch from the object store included).

Figures depend on the machine and its load: a shared machine gives noisy numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench_spaces import load_space, note, pretrain


@dataclass
class Row:
    executor: str
    workers: int
    trials: int
    done: int
    wall_s: float
    trials_per_hour: float
    trial_s: float


def noop_trial(job: Any, ctx: Any) -> dict:
    """No training: a score from the digest (what is left is the executor's own cost)."""
    return {"val_accuracy": (int(job.genotype.digest[-4:], 16) % 1000) / 1000}


def one_search(space: Any, data: Any, folder: Path, *, executor: str, workers: int, budget: int, steps: int | None,
               pretrained: Any, cache: Any, device: str, trial_fn: Any = None, share: bool = True) -> Row:
    from genolang.searchers.study import run_search

    start = time.perf_counter()
    result = run_search(space, data, budget=budget, steps=steps, out_dir=folder, executor=executor, workers=workers,
                        pretrained=pretrained, features=True, cache_dir=cache, device=device, trial_fn=trial_fn,
                        share_weights=share)
    wall = time.perf_counter() - start
    trial_s = sum(t.seconds or 0.0 for t in result.trials) / max(1, len(result.trials))
    return Row(executor, workers, budget, result.done, round(wall, 2), round(budget / wall * 3600, 1),
               round(trial_s, 3))


def start_ray(cpus: int) -> float:
    """Start a local Ray instance (workers import what this process can); its start-up seconds."""
    import ray

    start = time.perf_counter()
    paths = [p for p in sys.path if p and os.path.isdir(p)]
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False,
             job_config=ray.job_config.JobConfig(code_search_path=paths))
    return time.perf_counter() - start


def table(rows: list[Row], ray_start: float | None, overhead_ms: float | None, note_text: str) -> str:
    out = [f"{'executor':<9} {'workers':>7} {'trials':>6} {'wall s':>8} {'trials/h':>9} {'s/trial':>8}"]
    out += [f"{r.executor:<9} {r.workers:>7} {r.done:>6} {r.wall_s:>8.2f} {r.trials_per_hour:>9.1f} "
            f"{r.trial_s:>8.3f}" for r in rows]
    if ray_start is not None:
        out.append(f"Ray start: {ray_start:.1f} s (once per search without --ray-address)")
    if overhead_ms is not None:
        out.append(f"Ray overhead per trial: {overhead_ms:.1f} ms (no-op trials, Ray already started)")
    out.append(note_text)
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="avdigits")
    p.add_argument("--space", default="mfas_avdigits")
    p.add_argument("--budget", type=int, default=8)
    p.add_argument("--steps", type=int)
    p.add_argument("--workers", default="1,2")
    p.add_argument("--executors", default="inline,process,ray")
    p.add_argument("--noop", type=int, default=20, help="no-op trials for Ray's overhead (0: skip)")
    p.add_argument("--pretrain-epochs", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--cache", help="backbone and feature cache folder (default: the AV-digits cache)")
    p.add_argument("--no-share", action="store_true", help="no weight sharing (workers run trials at once)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    from genolang.runtime.avdigits import default_cache_dir
    from genolang.runtime.data import load_dataset

    cache = Path(args.cache) if args.cache else default_cache_dir()
    space, data = load_space(args.space), load_dataset(args.data, seed=args.seed)
    pretrained, _ = pretrain(space, data, seed=args.seed, cache=cache, device=args.device, epochs=args.pretrain_epochs)
    executors, counts = args.executors.split(","), [int(w) for w in args.workers.split(",")]
    ray_start = start_ray(max(counts)) if "ray" in executors else None
    rows: list[Row] = []
    overhead = None
    with tempfile.TemporaryDirectory() as tmp:
        runs = [(e, w) for e in executors for w in counts if not (e == "inline" and w != 1)]
        for i, (executor, workers) in enumerate(runs):
            note(f"{executor} x{workers}: {args.budget} trials")
            rows.append(one_search(space, data, Path(tmp) / f"run{i}", executor=executor, workers=workers,
                                   budget=args.budget, steps=args.steps, pretrained=pretrained, cache=cache,
                                   device=args.device, share=not args.no_share))
        if "ray" in executors and args.noop:
            walls = [one_search(space, data, Path(tmp) / f"noop-{e}", executor=e, workers=1, budget=args.noop,
                                steps=1, pretrained=pretrained, cache=cache, device=args.device,
                                trial_fn=noop_trial).wall_s for e in ("inline", "ray")]
            overhead = (walls[1] - walls[0]) / args.noop * 1000
    load = os.getloadavg()[0]
    note_text = (f"machine: {os.cpu_count()} CPUs, load average {load:.1f} when done "
                 "(a busy machine gives noisy figures)")
    if args.json:
        print(json.dumps({"rows": [asdict(r) for r in rows], "ray_start_s": ray_start,
                          "ray_overhead_ms": overhead, "load": load}))
    else:
        print(table(rows, ray_start, overhead, note_text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
