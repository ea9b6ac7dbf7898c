"""Runtime benchmark on avdigits-mini: training throughput, search throughput, ONNX inference.

Run: GENOLANG_CACHE=/tmp/glcache python benchmarks/bench_runtime.py [--threads 1] [--train-seconds 60] [--json]

One table, for the RandomNet AV-digits sample genotype
(examples/genotypes/randomnet_avdigits_sample.geno) and its hand-written twin
(benchmarks/twins_randomnet.py), on the ``avdigits-mini`` dataset (seed 0):

- (a) training: a train step at batch 64 (forward + cross-entropy + backward + Adam step) on
  the dataset's training batches (drop_last, cycled), compiled against twin, interleaved;
  the row gives samples/s of both, and "ratio" is compiled time / twin time (the median of
  the per-round ratios, = twin samples/s / compiled samples/s), target <= 1.02;
- (b) search: ``run_search`` of examples/spaces/randomnet_avdigits.geno with the random
  searcher, ``--search-budget`` trials (default 5) at the default steps (10% of the training
  set), into a temporary folder: trials per hour (finished trials / wall time of the whole
  call), mean seconds per trial (the ledger's per-trial times), failed trials and why (the
  search's ``failures``: reason classes such as ``DivergedError``; every genotype of the
  space compiles since its version 2);
- (c) inference: onnxruntime (CPU provider; CUDA with ``--device cuda`` when available) against
  eager torch (eval, no_grad) over the whole test split in batches of ``--infer-batch``, on the
  model written once by ``genolang.compiler.export.export_compiled``; samples/s of both, the
  ratio ort time / eager time, and how many test predictions (argmax) agree.

Timing method as in benchmarks/bench_compiler.py (whose helpers this reuses): contestants run
interleaved in alternating order after a warm-up, medians are reported, "min-ratio" is
fastest / fastest sample (the estimate least disturbed by other load on a shared machine).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make `benchmarks.*` importable
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_compiler import (  # noqa: E402
    RATIO_TARGET,
    Row,
    Timing,
    count_rows,
    interleaved,
    make_sync,
    ort_runner,
    ort_session,
    setup,
    table,
)
from benchmarks.twins_randomnet import STEM, build_pair  # noqa: E402
from genolang.runtime.dataset import MultimodalDataset  # noqa: E402

SPACE_FILE = ROOT / "examples" / "spaces" / "randomnet_avdigits.geno"
DATASET = "avdigits-mini"
TRAIN_BATCH = 64

Batch = tuple[tuple[torch.Tensor, ...], torch.Tensor]


def split_batches(data: MultimodalDataset, split: str, batch: int, device: torch.device, *,
                  shuffle: bool, drop_last: bool) -> list[Batch]:
    """The batches of ``split`` as ((image, audio), labels), on ``device``."""
    return [((xs["image"], xs["audio"]), y) for xs, y in
            data[split].batches(batch, shuffle=shuffle, seed=0, device=device, drop_last=drop_last)]


# ------------------------------------------------------------------ (a) training


def adam_step_fn(model: torch.nn.Module, batches: list[Batch]) -> Callable[[], None]:
    """One Adam step of ``model`` (train mode) per call, on the next of ``batches`` (cycled)."""
    model.train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    feed = itertools.cycle(batches)

    def step() -> None:
        inputs, labels = next(feed)
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(*inputs), labels).backward()
        opt.step()

    return step


def train_rows(data: MultimodalDataset, opts: argparse.Namespace) -> list[Row]:
    """Samples/s of a batch-64 Adam step, compiled against twin; the parameter counts."""
    device, sync = torch.device(opts.device), make_sync(torch.device(opts.device))
    net, twin = build_pair()
    batches = split_batches(data, "train", TRAIN_BATCH, device, shuffle=True, drop_last=True)
    models = {"compiled": net.to(device), "twin": twin.to(device)}
    steps = {name: adam_step_fn(m, batches) for name, m in models.items()}
    timing = interleaved(steps, seconds=opts.train_seconds, sync=sync)
    ratio = timing.ratio("compiled", "twin")
    rate = {name: TRAIN_BATCH / timing.median(name) for name in steps}
    row = Row(STEM, "(a) train step b64 (fwd+CE+bwd+Adam)", "samples/s", "compiled", rate["compiled"],
              "twin", rate["twin"], ratio, timing.ratio_min("compiled", "twin"),
              target=f"time ratio <= {RATIO_TARGET}", ok=ratio <= RATIO_TARGET)
    rounds = Row(STEM, "(a) interleaved rounds", "#", "rounds", len(timing.samples["compiled"]))
    return [row, rounds] + count_rows(STEM, net, twin)


# ------------------------------------------------------------------ (b) search


def search_rows(data: MultimodalDataset, opts: argparse.Namespace) -> list[Row]:
    """Trials per hour, mean seconds per trial and failures of a random search."""
    import genolang
    from genolang.runtime.search import default_steps
    from genolang.searchers.study import run_search

    space = genolang.load(SPACE_FILE).space()
    steps = default_steps(data, TRAIN_BATCH)
    with tempfile.TemporaryDirectory() as tmp:
        result = run_search(space, data, searcher="random", budget=opts.search_budget, out_dir=Path(tmp) / "search",
                            steps=steps, device=opts.device, seed=0)
    finished = result.done + result.failed
    per_trial = [t.seconds for t in result.trials if t.seconds is not None]
    what = f"(b) random search, budget {opts.search_budget}, {steps} step(s)/trial"
    return [Row(space.name, what, "trials/h", "throughput", finished / result.seconds * 3600),
            Row(space.name, what, "s", "mean s/trial", statistics.fmean(per_trial) if per_trial else float("nan")),
            Row(space.name, what, "s", "wall", result.seconds),
            Row(space.name, f"{what}, failed by {failure_kinds(result.failures) or 'none'}", "#", "failed",
                result.failed, "done", result.done)]


def failure_kinds(failures: dict[str, int]) -> str:
    """The search's failed trials per reason class with counts: ``"CompileError E0400 x1"``."""
    return ", ".join(f"{kind} x{n}" for kind, n in failures.items())


# ------------------------------------------------------------------ (c) onnx inference


def export_once(net: torch.nn.Module, workdir: Path, cuda: bool) -> tuple[Path, float]:
    """Export the compiled net with ``export_compiled`` (checked against torch); (path, seconds)."""
    from genolang.compiler.export import export_compiled

    path = workdir / f"{STEM}.onnx"
    report = export_compiled(net.graph, net, path, check_batches=(1, 64), cuda=cuda)
    return path, report.seconds


def pass_fn(calls: list[Callable[[], Any]]) -> Callable[[], list[Any]]:
    """One pass over the test split: every batch's call, in order."""
    return lambda: [call() for call in calls]


def agreement(session: Any, net: torch.nn.Module, batches: list[Batch]) -> int:
    """Test samples whose argmax prediction is the same under onnxruntime and eager torch."""
    names = [i.name for i in session.get_inputs()]
    same = 0
    with torch.no_grad():
        for inputs, _ in batches:
            ort = session.run(None, {n: x.cpu().numpy() for n, x in zip(names, inputs)})[0]
            same += int((torch.from_numpy(ort).argmax(1) == net(*inputs).argmax(1).cpu()).sum())
    return same


def onnx_rows(data: MultimodalDataset, opts: argparse.Namespace) -> list[Row]:
    """Export once; onnxruntime against eager torch over the test split; predictions agreeing."""
    device, sync = torch.device(opts.device), make_sync(torch.device(opts.device))
    cuda = device.type == "cuda"
    net, _ = build_pair()
    net = net.to(device).eval()
    batches = split_batches(data, "test", opts.infer_batch, device, shuffle=False, drop_last=False)
    n = sum(len(y) for _, y in batches)
    with tempfile.TemporaryDirectory() as tmp:
        path, seconds = export_once(net, Path(tmp), cuda)
        session = ort_session(path, opts.threads, cuda)
    provider = session.get_providers()[0].replace("ExecutionProvider", "")
    with torch.no_grad():
        fns = {"ort": pass_fn([ort_runner(session, x, cuda) for x, _ in batches]),
               "eager": pass_fn([lambda x=x: net(*x) for x, _ in batches])}
        timing = interleaved(fns, seconds=opts.seconds, sync=sync)
    what = f"(c) test split ({n}) b{opts.infer_batch}, {provider}"
    same = agreement(session, net, batches)
    return [Row(STEM, "(c) onnx export + checks", "s", "export", seconds), rate_row(timing, what, n),
            Row(STEM, "(c) argmax agreement, test split", "#", "ort==eager", same, "of", n, target="== all",
                ok=same == n)]


def rate_row(timing: Timing, what: str, samples: int) -> Row:
    """Samples/s of ort and eager; ratio = ort time / eager time."""
    return Row(STEM, what, "samples/s", "ort", samples / timing.median("ort"), "eager",
               samples / timing.median("eager"), timing.ratio("ort", "eager"), timing.ratio_min("ort", "eager"))


# ------------------------------------------------------------------ driver


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line options (see the module doc)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch and onnxruntime intra-op threads")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--train-seconds", type=float, default=60.0, help="time budget of the interleaved train steps")
    parser.add_argument("--seconds", type=float, default=20.0, help="time budget of the interleaved inference passes")
    parser.add_argument("--search-budget", type=int, default=5, help="trials of the random search")
    parser.add_argument("--infer-batch", type=int, default=64, help="batch size of the inference rows")
    parser.add_argument("--skip", choices=("train", "search", "onnx"), action="append", default=[],
                        help="leave out a part (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of the table")
    opts = parser.parse_args(argv)
    if opts.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available")
    return opts


def run(opts: argparse.Namespace) -> list[Row]:
    """Every measurement, in table order."""
    from genolang.runtime.data import load_dataset

    data = load_dataset(DATASET, seed=0)
    parts = {"train": train_rows, "search": search_rows, "onnx": onnx_rows}
    return [row for name, part in parts.items() if name not in opts.skip for row in part(data, opts)]


def main(argv: list[str] | None = None) -> None:
    """Run every part and print the table (or the rows as JSON)."""
    opts = parse_args(argv)
    setting = setup(opts.threads)
    start = time.perf_counter()
    rows = run(opts)
    elapsed = time.perf_counter() - start
    if opts.json:
        print(json.dumps({"setting": setting, "device": opts.device, "dataset": DATASET, "seconds": elapsed,
                          "rows": [asdict(r) for r in rows]}, indent=1))
        return
    print(f"genolang runtime benchmark: {setting}, device {opts.device}, {DATASET}, {elapsed:.0f} s")
    print(table(rows))


if __name__ == "__main__":
    main()
