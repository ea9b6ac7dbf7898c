"""Compiler benchmark: compiled networks against hand-written twins, onnxruntime, compile time.

Run: python benchmarks/bench_compiler.py [--threads 1] [--device cpu|cuda] [--seconds 7] [--json]

One table, every ratio measured side by side in this run:

- for the MFAS and BM-NAS example genotypes (benchmarks/twins.py): forward at batch 1 and 64
  (eval, no_grad) and a train step at batch 64 (forward + cross-entropy + backward + SGD
  step), compiled time / twin time (target <= 1.02); parameter counts of both (identical);
- onnxruntime (CPU provider; CUDA with ``--device cuda`` when available) against eager torch
  at batch 1 and 64, on the model written by ``genolang.compiler.export.export_compiled``;
- compile time of every example genotype: lowering alone (target < 20 ms), parse + lower,
  and lower + build the torch module.

Method: the contestants of a measurement run interleaved (alternating order each round)
after a warm-up; each sample times a chunk of calls of at least ~10 ms with
``time.perf_counter`` (CUDA: ``torch.cuda.synchronize`` around it), with the garbage
collector off. Times are medians; "ratio" is the median of the per-round ratios, so slow
drifts of the machine cancel; "min-ratio" is fastest / fastest sample, the estimate least
disturbed by other load on a shared machine. ``torch.set_num_threads(--threads)``;
onnxruntime gets as many intra-op threads. The onnxruntime rows time ``run_with_ort_values``
on inputs already on the session's device.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make `benchmarks.twins` importable
    sys.path.insert(0, str(ROOT))

from benchmarks.twins import GENOTYPES, TWINS, build_pair, example_inputs  # noqa: E402
from genolang.compiler.lower import compile_file, load_genotype, lower  # noqa: E402
from genolang.compiler.module import GraphNet, build_module  # noqa: E402

CHUNK_S = 0.010  # a timed sample is at least this long
RATIO_TARGET = 1.02
LOWER_TARGET_MS = 20.0


@dataclass
class Row:
    """One line of the table: ``value`` (of ``name``) against ``ref`` (of ``ref_name``)."""

    model: str
    measurement: str
    unit: str
    name: str
    value: float
    ref_name: str = ""
    ref: float | None = None
    ratio: float | None = None   # median of the per-round ratios value / ref
    ratio_min: float | None = None  # fastest value / fastest ref
    target: str = ""
    ok: bool | None = None


@dataclass
class Timing:
    """Per-call seconds of each contestant, one sample per round."""

    samples: dict[str, list[float]]

    def median(self, name: str) -> float:
        return statistics.median(self.samples[name])

    def ratio(self, name: str, ref: str) -> float:
        """Median over rounds of ``name``'s time / ``ref``'s time."""
        return statistics.median(a / b for a, b in zip(self.samples[name], self.samples[ref]))

    def ratio_min(self, name: str, ref: str) -> float:
        """Fastest sample of ``name`` / fastest of ``ref`` (the least disturbed by other load)."""
        return min(self.samples[name]) / min(self.samples[ref])

    def row(self, model: str, what: str, name: str, ref: str, **kw: Any) -> Row:
        """A row of ``name`` against ``ref``, in milliseconds."""
        return Row(model, what, "ms", name, self.median(name) * 1e3, ref, self.median(ref) * 1e3,
                   self.ratio(name, ref), self.ratio_min(name, ref), **kw)


# ------------------------------------------------------------------ timing


def make_sync(device: torch.device) -> Callable[[], None]:
    """What waits for queued device work: ``torch.cuda.synchronize`` on CUDA, nothing on CPU."""
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def chunk_size(fn: Callable[[], Any], sync: Callable[[], None]) -> int:
    """Calls per timed sample so that a sample lasts at least :data:`CHUNK_S` (after 3 warm-up calls)."""
    for _ in range(3):
        fn()
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return max(1, math.ceil(CHUNK_S / max(time.perf_counter() - start, 1e-7)))


def timed(fn: Callable[[], Any], calls: int, sync: Callable[[], None]) -> float:
    """Seconds per call of ``calls`` back-to-back calls."""
    sync()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    sync()
    return (time.perf_counter() - start) / calls


def interleaved(fns: dict[str, Callable[[], Any]], *, seconds: float, sync: Callable[[], None],
                min_rounds: int = 7, max_rounds: int = 400) -> Timing:
    """Time the ``fns`` in alternating order, round after round, for about ``seconds``."""
    calls = {name: chunk_size(fn, sync) for name, fn in fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    deadline = time.perf_counter() + seconds
    gc.collect()
    gc.disable()
    try:
        for rounds in range(max_rounds):
            if rounds >= min_rounds and time.perf_counter() > deadline:
                break
            for name in names if rounds % 2 == 0 else reversed(names):
                samples[name].append(timed(fns[name], calls[name], sync))
    finally:
        gc.enable()
    return Timing(samples)


# ------------------------------------------------------------------ twins against compiled nets


def param_counts(module: torch.nn.Module) -> tuple[int, int]:
    """(total, trainable) parameters."""
    params = list(module.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def train_step_fn(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...],
                  labels: torch.Tensor) -> Callable[[], None]:
    """One SGD step of ``model`` (train mode) on a fixed batch."""
    model.train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(*inputs), labels).backward()
        opt.step()

    return step


def vs_twin(stem: str, what: str, timing: Timing) -> Row:
    """The row of compiled against twin, with its target."""
    ratio = timing.ratio("compiled", "twin")
    return timing.row(stem, what, "compiled", "twin", target=f"<= {RATIO_TARGET}", ok=ratio <= RATIO_TARGET)


def pair_on(stem: str, device: torch.device) -> tuple[GraphNet, dict[str, torch.nn.Module]]:
    """The compiled net and the contestants ``compiled`` and ``twin``, on ``device``."""
    net, twin = build_pair(stem)
    return net, {"compiled": net.to(device), "twin": twin.to(device)}


def twin_rows(stem: str, opts: argparse.Namespace) -> list[Row]:
    """Forward b1 / b64, train step b64 and parameter counts, compiled against twin."""
    device, sync = torch.device(opts.device), make_sync(torch.device(opts.device))
    net, models = pair_on(stem, device)
    rows = []
    with torch.no_grad():
        for batch in (1, 64):
            inputs = example_inputs(net, batch, device=device)
            fns = {name: partial(m.eval(), *inputs) for name, m in models.items()}
            rows.append(vs_twin(stem, f"forward b{batch} (eval, no_grad)",
                                interleaved(fns, seconds=opts.seconds, sync=sync)))
    inputs, labels = example_inputs(net, 64, device=device), torch.arange(64, device=device) % 10
    _, train_models = pair_on(stem, device)
    steps = {name: train_step_fn(m, inputs, labels) for name, m in train_models.items()}
    rows.append(vs_twin(stem, "train step b64 (fwd+CE+bwd+SGD)", interleaved(steps, seconds=opts.seconds, sync=sync)))
    return rows + count_rows(stem, models["compiled"], models["twin"])


def count_rows(stem: str, net: torch.nn.Module, twin: torch.nn.Module) -> list[Row]:
    """Total and trainable parameter counts, which must be identical."""
    rows = []
    for label, got, ref in zip(("params total", "params trainable"), param_counts(net), param_counts(twin)):
        rows.append(Row(stem, label, "#", "compiled", got, "twin", ref, target="==", ok=got == ref))
    return rows


# ------------------------------------------------------------------ onnxruntime against eager torch


def ort_session(path: Path, threads: int, cuda: bool) -> Any:
    """An onnxruntime session on the model at ``path`` (CUDA provider first when asked for)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    providers = ["CPUExecutionProvider"]
    if cuda and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    return ort.InferenceSession(str(path), options, providers=providers)


def ort_runner(session: Any, inputs: tuple[torch.Tensor, ...], cuda: bool) -> Callable[[], Any]:
    """``session.run`` on OrtValues already on the session's device (no copy in the timing)."""
    import onnxruntime as ort

    names = [i.name for i in session.get_inputs()]
    where = ("cuda", 0) if cuda and session.get_providers()[0] == "CUDAExecutionProvider" else ("cpu", 0)
    feeds = {n: ort.OrtValue.ortvalue_from_numpy(x.cpu().numpy(), *where) for n, x in zip(names, inputs)}
    return lambda: session.run_with_ort_values(None, feeds)


def onnx_rows(stem: str, opts: argparse.Namespace, workdir: Path) -> list[Row]:
    """Export the compiled net (checked against torch), then onnxruntime vs eager at b1 and b64."""
    from genolang.compiler.export import export_compiled

    device, sync = torch.device(opts.device), make_sync(torch.device(opts.device))
    cuda = device.type == "cuda"
    net, _ = build_pair(stem)
    net = net.to(device).eval()
    path = workdir / f"{stem}.onnx"
    report = export_compiled(net.graph, net, path, check_batches=(1, 64), cuda=cuda)
    session = ort_session(path, opts.threads, cuda)
    provider = session.get_providers()[0].replace("ExecutionProvider", "")
    rows = [Row(stem, "onnx export + checks", "s", "export", report.seconds)]
    with torch.no_grad():
        for batch in (1, 64):
            inputs = example_inputs(net, batch, device=device)
            fns = {"ort": ort_runner(session, inputs, cuda), "eager": lambda x=inputs: net(*x)}
            t = interleaved(fns, seconds=opts.seconds, sync=sync)
            rows.append(t.row(stem, f"onnxruntime b{batch} ({provider})", "ort", "eager"))
    return rows


# ------------------------------------------------------------------ compile time


def compile_rows(path: Path, runs: int) -> list[Row]:
    """Medians of ``runs`` interleaved runs: lower, parse + lower, lower + build the module."""
    space, geno, _ = load_genotype(str(path))
    fns = {"lower": lambda: lower(space, geno), "parse + lower": lambda: compile_file(str(path)),
           "lower + build": lambda: build_module(lower(space, geno))}
    for fn in fns.values():
        fn()  # warm-up: imports, registries, lazy caches
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            samples[name].append(timed(fn, 1, lambda: None))
    ms = {name: statistics.median(s) * 1e3 for name, s in samples.items()}
    return [Row(path.stem, "compile: lower", "ms", "lower", ms["lower"], target=f"< {LOWER_TARGET_MS:g}",
                ok=ms["lower"] < LOWER_TARGET_MS),
            Row(path.stem, "compile: parse + lower", "ms", "parse+lower", ms["parse + lower"]),
            Row(path.stem, "compile: lower + build module", "ms", "lower+build", ms["lower + build"])]


# ------------------------------------------------------------------ output


def fmt(value: float | None, unit: str = "") -> str:
    """A number for the table: integers with separators, else 4 significant digits."""
    if value is None:
        return ""
    if unit == "#":
        return f"{value:,.0f}"
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"


def fmt_ratio(ratio: float | None) -> str:
    """A ratio with 3 decimals, or nothing."""
    return "" if ratio is None else f"{ratio:.3f}"


def table(rows: list[Row]) -> str:
    """The rows as one aligned plain-text table."""
    head = ("model", "measurement", "unit", "measured", "reference", "ratio", "min-ratio", "target", "ok")
    lines = [head]
    for r in rows:
        ok = "" if r.ok is None else ("yes" if r.ok else "NO")
        lines.append((r.model, r.measurement, r.unit, f"{r.name} {fmt(r.value, r.unit)}",
                      f"{r.ref_name} {fmt(r.ref, r.unit)}".strip(), fmt_ratio(r.ratio), fmt_ratio(r.ratio_min),
                      r.target, ok))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines]
    out.insert(1, "-" * len(out[0]))
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch and onnxruntime intra-op threads")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--seconds", type=float, default=7.0, help="time budget of each interleaved measurement")
    parser.add_argument("--compile-runs", type=int, default=15, help="runs per compile-time measurement")
    parser.add_argument("--no-onnx", action="store_true", help="skip the onnxruntime rows")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of the table")
    opts = parser.parse_args(argv)
    if opts.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available")
    return opts


def setup(threads: int) -> str:
    """Fix the thread counts; a one-line description of the setting."""
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work already ran
        pass
    return f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)"


def run(opts: argparse.Namespace) -> list[Row]:
    """Every measurement, in table order."""
    rows: list[Row] = []
    for stem in TWINS:
        rows += twin_rows(stem, opts)
    if not opts.no_onnx:
        with tempfile.TemporaryDirectory() as tmp:
            for stem in TWINS:
                rows += onnx_rows(stem, opts, Path(tmp))
    for path in sorted(GENOTYPES.glob("*.geno")):
        rows += compile_rows(path, opts.compile_runs)
    return rows


def main(argv: list[str] | None = None) -> None:
    opts = parse_args(argv)
    setting = setup(opts.threads)
    start = time.perf_counter()
    rows = run(opts)
    elapsed = time.perf_counter() - start
    if opts.json:
        print(json.dumps({"setting": setting, "device": opts.device, "seconds": elapsed,
                          "rows": [asdict(r) for r in rows]}, indent=1))
        return
    print(f"genolang compiler benchmark: {setting}, device {opts.device}, {elapsed:.0f} s")
    print(table(rows))


if __name__ == "__main__":
    main()
