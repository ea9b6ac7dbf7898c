"""Reliability (issue 16): the same seed gives the same search, and no fault loses or silently replaces a result.

Each fault of the issue is run here and its outcome asserted:

- reproducibility: two runs with one seed give bitwise the same trials (the real trainer);
  a kill at EVERY write of a search (ledger commits, the weight bank, every output file),
  then a resume, ends in the state of an uninterrupted run (random with weight sharing,
  evolution, MFAS); 1 and N workers give the same trials (threads finishing out of order,
  a killed parallel run resumed, and the process pool), with weight sharing too (the
  driver's bank travels with each job and the trials chain: one at a time, on threads or
  in a worker process, killed and resumed); a real ``kill -9`` mid-trial;
- refusals: ``--resume`` on what it cannot trust (a missing folder, a missing, empty, garbage
  or damaged ledger, a truncated or garbage ``shared_weights.pt``, a budget below what is
  done) changes nothing; a full disk while writing is E0720 naming the file, the previous
  file intact, and the search resumes; labels out of range for the head (E0723), weights of
  another genotype at export (E0722), ``train`` into a non-empty folder (E0724): exit 1, no
  traceback;
- progress: without a terminal, ``search`` and ``train`` print one line per trial / epoch.

A "kill" in-process is :class:`Killed` raised before the n-th write; from then on every write
raises it too (a dead process writes nothing, not even the cleanup of an interrupted run).
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from test_search import make_dataset, random_asks, stub_trial, write_space

import genolang
from genolang import files
from genolang.cli import main
from genolang.runtime import search as search_module
from genolang.runtime import study as study_module
from genolang.runtime.bankfile import BankFile
from genolang.runtime.dataset import MultimodalDataset, Split
from genolang.runtime.errors import LedgerError, ResumeError, WeightsError
from genolang.runtime.executors import Executor
from genolang.runtime.ledger import Ledger
from genolang.runtime.search import trial_seed
from genolang.runtime.search_trial import TrialContext, TrialJob, execute
from genolang.runtime.sharing import WeightBank
from genolang.runtime.strategy import Observation
from genolang.searchers.base import make_searcher
from genolang.searchers.study import run_search

#: an MFAS-shaped space: 4 one-layer confs (step 0), then K of each longer length
STACK = """genolang 1
space stack version 1 {
  input a { shape = [8] }
  input b { shape = [6] }
  layers: int(1..3)
  node f[layers] { op = fc; hidden = 8; inp: one(a, b); act: choice(relu, tanh); prev = @prev; combine = concat }
  head y { in = @f; classes = 3 }
}
"""
SEARCHERS = {"random": ({}, 4), "evolution": ({"population": 2, "sample": 2}, 4),
             "mfas": ({"samples": 2, "surrogate_epochs": 2}, 5)}  # options, budget
VOLATILE = {"id", "search", "started", "finished", "seconds"}  # per-run or per-attempt fields of a row


class Killed(BaseException):
    """A simulated kill (not an Exception: nothing catches it)."""


def space_for(searcher: str, folder: Path):
    if searcher != "mfas":
        return write_space(folder)[0]
    (folder / "stack.geno").write_text(STACK, encoding="utf-8")
    return genolang.load(folder / "stack.geno").space()


WRITES = [(Ledger, "begin"), (Ledger, "finish"), (Ledger, "fail"), (Ledger, "write_meta"), (Ledger, "recover"),
          (Ledger, "release"), (BankFile, "stage"), (BankFile, "commit"), (files, "atomic_write"),
          (search_module, "append_trial")]


@contextmanager
def kill_at(monkeypatch: pytest.MonkeyPatch, n: float) -> Iterator[list[int]]:
    """Raise :class:`Killed` at the n-th write of a search and every write after it; yields the count."""
    count = [0]

    def hooked(fn):
        @functools.wraps(fn)
        def write(*args, **kwargs):
            count[0] += 1
            if count[0] >= n:
                raise Killed(f"killed before write {count[0]} ({fn.__name__})")
            return fn(*args, **kwargs)
        return write

    with monkeypatch.context() as patch:
        for owner, name in WRITES:
            patch.setattr(owner, name, hooked(getattr(owner, name)))
        yield count


def search(space, out: Path, name: str, **kw):
    options, budget = SEARCHERS[name]
    kw.setdefault("trial_fn", stub_trial)
    return run_search(space, make_dataset(), searcher=name, searcher_options=options, budget=budget, steps=2,
                      out_dir=out, **kw)


def outcome(out: Path) -> dict:
    """What a finished search leaves, without per-attempt times and ids: rows, bank, outputs, files."""
    with Ledger(out / "ledger.sqlite") as ledger:
        rows = [(t.idx, t.digest, t.status, {k: v for k, v in (t.metrics or {}).items() if k != "train_seconds"},
                 t.error) for t in ledger.history()]
    jsonl = [{k: v for k, v in json.loads(line).items() if k not in VOLATILE}
             for line in (out / "trials.jsonl").read_text().splitlines()]
    summary = json.loads((out / "summary.json").read_text())
    bank = WeightBank.load(out / "shared_weights.pt").state() if (out / "shared_weights.pt").exists() else {}
    return {"rows": rows, "jsonl": jsonl, "best": (out / "best.geno").read_text(),
            "summary": {k: summary[k] for k in ("best", "done", "failed", "budget", "failures")},
            "bank": {k: v.numpy().tobytes() for k, v in bank.items()},
            "files": sorted(p.name for p in out.iterdir())}


# ------------------------------------------------------------------ reproducibility
def test_the_same_seed_gives_bitwise_the_same_trials(tmp_path):
    """The real trainer: trial weights are seeded by the driver (trial_seed), so two runs agree bitwise."""
    from genolang.runtime.train import TrainConfig

    space, _ = write_space(tmp_path)
    config = TrainConfig(batch_size=32, amp=False)
    runs = [run_search(space, make_dataset(), budget=3, steps=3, out_dir=tmp_path / f"r{i}", train_config=config,
                       device="cpu", seed=seed) for i, seed in enumerate((7, 7, 8))]
    same, again, other = ([(t.idx, t.digest, {k: v for k, v in t.metrics.items() if k != "train_seconds"})
                           for t in r.trials] for r in runs)
    assert same == again and runs[0].best == runs[1].best
    assert [m["val_loss"] for *_, m in same] != [m["val_loss"] for *_, m in other]  # the seed matters
    assert len({trial_seed(7, k) for k in range(100)}) == 100 and trial_seed(7, 0) != trial_seed(8, 0)


@pytest.mark.slow
@pytest.mark.parametrize("name", SEARCHERS)
def test_a_kill_at_every_write_then_resume_ends_as_an_uninterrupted_run(tmp_path, monkeypatch, name):
    """Every write of a search (each ledger commit, bank file and output file) is a kill point;
    killed there and resumed, the search ends with the trials, metrics, weight bank (bitwise)
    and files of an uninterrupted run. Killed before the search is recorded, resume refuses."""
    space = space_for(name, tmp_path)
    with kill_at(monkeypatch, float("inf")) as count:
        search(space, tmp_path / "whole", name)
    expected, writes = outcome(tmp_path / "whole"), count[0]
    assert writes > 6 * SEARCHERS[name][1] and len(expected["rows"]) == SEARCHERS[name][1]
    for n in range(1, writes + 1):
        out = tmp_path / f"k{n}"
        with kill_at(monkeypatch, n), pytest.raises(Killed):
            search(space, out, name)
        try:
            search(space, out, name, resume=True)
        except ResumeError as exc:  # killed before the ledger recorded the search: nothing to resume
            assert "records no search" in str(exc) and n == 1
            search(space, out := tmp_path / f"fresh{n}", name)
        assert outcome(out) == expected, f"killed at write {n}"


def threads_executor(monkeypatch: pytest.MonkeyPatch) -> None:
    """``executor="threads"`` names a :class:`ThreadExecutor` in the study; other names as before."""
    executor_named = study_module.executor_named
    monkeypatch.setattr(study_module, "executor_named", lambda executor, **kw: (
        ThreadExecutor() if executor == "threads" else executor_named(executor, **kw)))


def jitter_trial(job: TrialJob, ctx: TrialContext, *, live: list[int], lock: threading.Lock) -> dict:
    """A score from the digest and the trial's seed after a pseudo-random sleep (so trials finish out
    of order); ``live[1]`` records how many ran at once."""
    digest = hashlib.sha256(f"{job.genotype.digest}:{job.seed}".encode()).digest()
    with lock:
        live[0] += 1
        live[1] = max(live[1], live[0])
    time.sleep(digest[0] / 255 * 0.05)
    with lock:
        live[0] -= 1
    return {"val_accuracy": (int(job.genotype.digest[-4:], 16) % 1000) / 1000, "seed": job.seed}


class ThreadExecutor(Executor):
    """Trials on threads of this process (the driver sees futures finish in any order)."""

    name = "threads"

    @contextmanager
    def open(self, ctx, fn, *, workers, data, data_seed):
        with ThreadPoolExecutor(workers) as pool:
            yield functools.partial(pool.submit, execute, ctx=ctx, fn=fn)


@pytest.mark.parametrize("name", SEARCHERS)
def test_one_worker_and_n_give_the_same_trials_even_killed(tmp_path, monkeypatch, name):
    """Three workers whose trials finish out of order, and a three-worker run killed mid-way and
    resumed, give a one-worker run's trials (index, genotype, metrics, seed) and best; trials did
    run in parallel. (Without weight sharing: with it, trials run one at a time, tested below.)"""
    space = space_for(name, tmp_path)
    threads_executor(monkeypatch)
    live, lock = [0, 0], threading.Lock()
    fn = functools.partial(jitter_trial, live=live, lock=lock)
    runs = {w: search(space, tmp_path / f"w{w}", name, trial_fn=fn, workers=w, share_weights=False,
                      executor="inline" if w == 1 else "threads") for w in (1, 3)}
    assert live[1] > 1  # the three-worker run had trials in flight together
    one, three = ([(t.idx, t.digest, t.metrics) for t in r.trials] for r in runs.values())
    assert one == three and runs[1].best == runs[3].best
    assert [m["seed"] for *_, m in one] == [trial_seed(0, k) for k in range(len(one))]
    out = tmp_path / "killed"
    with kill_at(monkeypatch, 12), pytest.raises(Killed):
        search(space, out, name, trial_fn=fn, workers=3, share_weights=False, executor="threads")
    resumed = search(space, out, name, trial_fn=fn, workers=3, share_weights=False, executor="threads",
                     resume=True)
    assert [(t.idx, t.digest, t.metrics) for t in resumed.trials] == one and resumed.best == runs[1].best


@pytest.mark.parametrize("name", SEARCHERS)
def test_a_ready_searcher_asks_what_it_asks_once_the_running_trials_finish(tmp_path, name):
    """The contract behind parallel determinism: whenever ``ready(history)`` holds with trials still
    running, ``ask(history)`` is the genotype a sequential run (every earlier trial finished, with
    any scores) asks; and a searcher is ready at some point with trials running."""
    space, (options, _) = space_for(name, tmp_path), SEARCHERS[name]
    scores, sequential, history = random.Random(3), make_searcher(name, space, seed=1, **options), []
    for k in range(9):
        history.append(Observation(k, sequential.ask(history), "done", round(scores.random(), 3)))
    checked = 0
    for k in range(1, 9):
        for running in ({k - 1}, {0, k - 1}, set(range(k))):
            masked = [Observation(o.idx, o.genotype, "running") if o.idx in running else o for o in history[:k]]
            searcher = make_searcher(name, space, seed=1, **options)
            if searcher.ready(masked):
                checked += 1
                assert searcher.ask(masked).digest == history[k].genotype.digest, (k, running)
    assert checked >= 3


@pytest.mark.slow
def test_one_worker_and_two_give_the_same_trials(tmp_path):
    """The process pool: without weight sharing, a random search's trials (index, genotype,
    metrics) do not depend on how many workers ran them."""
    space, _ = write_space(tmp_path)
    runs = [run_search(space, make_dataset(), budget=4, steps=2, out_dir=tmp_path / f"w{workers}",
                       trial_fn=stub_trial, workers=workers, share_weights=False) for workers in (1, 2)]
    one, two = ([(t.idx, t.digest, t.metrics) for t in r.trials] for r in runs)
    assert one == two and [d for _, d, _ in one] == random_asks(space, 4)
    assert runs[0].best == runs[1].best


def where_trial(job: TrialJob, ctx: TrialContext) -> dict:
    """:func:`stub_trial` (SGD steps from the trial's bank), and the process it ran in."""
    return {**stub_trial(job, ctx), "pid": os.getpid()}


def chained_trial(job: TrialJob, ctx: TrialContext, *, live: list[int], lock: threading.Lock) -> dict:
    """:func:`stub_trial` after a pseudo-random sleep; ``live[1]`` records how many ran at once."""
    with lock:
        live[0] += 1
        live[1] = max(live[1], live[0])
    time.sleep(hashlib.sha256(job.genotype.digest.encode()).digest()[0] / 255 * 0.05)
    with lock:
        live[0] -= 1
    return stub_trial(job, ctx)


def scrub(value, key: str = "pid"):
    """``value`` without the dict entries named ``key``, at any depth."""
    if isinstance(value, dict):
        return {k: scrub(v, key) for k, v in value.items() if k != key}
    if isinstance(value, (list, tuple)):
        return type(value)(scrub(v, key) for v in value)
    return value


@pytest.mark.parametrize("name", SEARCHERS)
def test_with_weight_sharing_n_threads_run_a_chain_and_give_the_one_worker_run(tmp_path, monkeypatch, caplog, name):
    """Weight sharing chains trial k to the bank trials 0..k-1 left: with three thread workers the
    trials run one at a time (a warning says so), and trials, metrics (the shared tensor count
    included), best, weight bank (bitwise) and files are the one-worker run's."""
    space = space_for(name, tmp_path)
    threads_executor(monkeypatch)
    live, lock = [0, 0], threading.Lock()
    fn = functools.partial(chained_trial, live=live, lock=lock)
    search(space, tmp_path / "one", name, trial_fn=fn)
    with caplog.at_level("WARNING", logger="genolang.runtime.study"):
        search(space, tmp_path / "three", name, trial_fn=fn, workers=3, executor="threads")
    assert live[1] == 1  # never two trials at once
    assert [r.getMessage() for r in caplog.records] == [
        "weight sharing chains each trial to the previous one: trials run one at a time; --no-share runs 3 at once"]
    one = outcome(tmp_path / "one")
    assert outcome(tmp_path / "three") == one and one["bank"]
    counts = [m["shared_tensors"] for _, _, _, m, _ in one["rows"]]
    assert counts[0] == 0 and max(counts) > 0  # trials did start from earlier trials' weights


@pytest.mark.parametrize("share", [True, False])
def test_auto_runs_chained_trials_in_this_process(tmp_path, share):
    """``executor="auto"`` with two workers: the trials a shared bank chains run inline (no pool
    of one process); without sharing they run in the process pool."""
    done = search(space_for("random", tmp_path), tmp_path / "out", "random", trial_fn=where_trial, workers=2,
                  share_weights=share)
    pids = {t.metrics["pid"] for t in done.trials}
    assert (pids == {os.getpid()}) if share else (os.getpid() not in pids)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["random", "mfas"])  # the two schemes: node_tensors, MFAS's LayerScheme
def test_with_weight_sharing_process_workers_give_the_inline_run(tmp_path, name):
    """The process pool with weight sharing: each job carries the driver's bank and each outcome
    the trained tensors, so ``--workers 2`` (trials in another process) gives bitwise the inline
    run's trials, metrics (a trial loads as many shared tensors as inline), best, bank and files."""
    space = space_for(name, tmp_path)
    inline = search(space, tmp_path / "inline", name, trial_fn=where_trial)
    pool = search(space, tmp_path / "pool", name, trial_fn=where_trial, workers=2, executor="process")
    assert {t.metrics["pid"] for t in inline.trials} == {os.getpid()}
    assert os.getpid() not in {t.metrics["pid"] for t in pool.trials}  # the trials ran in a worker
    expected = scrub(outcome(tmp_path / "inline"))
    assert scrub(outcome(tmp_path / "pool")) == expected and pool.best == inline.best
    counts = [t.metrics["shared_tensors"] for t in pool.trials]
    assert counts[0] == 0 and max(counts) > 0 and expected["bank"]


@pytest.mark.slow
def test_with_weight_sharing_a_killed_process_search_resumes_as_straight_through(tmp_path, monkeypatch):
    """The process pool with weight sharing, killed at a ledger commit, at a staged bank and at
    its commit, and resumed: the trials, metrics, bank (bitwise) and files of a straight run."""
    space = space_for("random", tmp_path)
    run = functools.partial(search, space, trial_fn=stub_trial, name="random", workers=2, executor="process")
    names: list[str] = []
    with kill_at(monkeypatch, float("inf")), monkeypatch.context() as patch:
        for owner, method in WRITES:  # which write is which (inside kill_at's counting)
            patch.setattr(owner, method, _named(getattr(owner, method), method, names))
        run(out=tmp_path / "whole")
    expected = outcome(tmp_path / "whole")
    middle = len(names) // 2
    points = [middle + names[middle:].index(kind) + 1 for kind in ("finish", "stage", "commit")]
    assert len(set(points)) == 3
    for n in points:
        out = tmp_path / f"k{n}"
        with kill_at(monkeypatch, n), pytest.raises(Killed):
            run(out=out)
        run(out=out, resume=True)
        assert outcome(out) == expected, f"killed at write {n} ({names[n - 1]})"


def _named(fn, name: str, names: list[str]):
    """``fn`` appending ``name`` to ``names`` at each call."""
    @functools.wraps(fn)
    def write(*args, **kwargs):
        names.append(name)
        return fn(*args, **kwargs)
    return write


def logging_trial(job: TrialJob, ctx: TrialContext) -> dict:
    """Logs start/end per digest to $GENOLANG_TEST_LOG, sleeping $GENOLANG_TEST_SLEEP between."""
    log = Path(os.environ["GENOLANG_TEST_LOG"])
    with open(log, "a") as handle:
        handle.write(f"start {job.genotype.digest}\n")
    time.sleep(float(os.environ.get("GENOLANG_TEST_SLEEP", "0")))
    with open(log, "a") as handle:
        handle.write(f"end {job.genotype.digest}\n")
    return {"val_accuracy": (int(job.genotype.digest[-4:], 16) % 1000) / 1000}


def test_kill_9_mid_trial_then_resume_loses_and_retrains_nothing(tmp_path, monkeypatch):
    """A real SIGKILL while a trial runs: the finished trials are kept, only the killed one runs again."""
    space, _ = write_space(tmp_path)
    out, log, budget = tmp_path / "run", tmp_path / "trials.log", 5
    script = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
              "import genolang\nfrom test_search import make_dataset\nfrom test_reliability import logging_trial\n"
              "from genolang.searchers.study import run_search\n"
              f"space = genolang.load({str(tmp_path / 'duo.geno')!r}).space()\n"
              f"run_search(space, make_dataset(), budget={budget}, steps=2, out_dir={str(out)!r}, "
              "trial_fn=logging_trial)\n")
    env = {**os.environ, "GENOLANG_TEST_LOG": str(log), "GENOLANG_TEST_SLEEP": "0.5"}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        _wait_for(out / "ledger.sqlite", done=2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    with Ledger(out / "ledger.sqlite") as ledger:
        done_before = {t.digest for t in ledger.done()}
        killed = {t.digest for t in ledger.running()}
    assert len(done_before) >= 2 and len(killed) <= 1

    monkeypatch.setenv("GENOLANG_TEST_LOG", str(log))
    monkeypatch.setenv("GENOLANG_TEST_SLEEP", "0")
    result = run_search(space, make_dataset(), budget=budget, steps=2, out_dir=out, trial_fn=logging_trial,
                        resume=True)
    assert result.done == budget and result.recovered == len(killed)
    with Ledger(out / "ledger.sqlite") as ledger:
        rows = ledger.history()
    assert [t.idx for t in rows] == list(range(budget)) and len({t.digest for t in rows}) == budget
    events = [line.split() for line in log.read_text().splitlines()]
    ends = Counter(d for kind, d in events if kind == "end")
    starts = Counter(d for kind, d in events if kind == "start")
    assert set(ends) == {t.digest for t in rows} and set(ends.values()) == {1}  # nothing trained twice
    # the killed trial started again (its first start may not have reached the log when the
    # kill came between the ledger's "running" and the trial's first line), and only it did
    assert all(starts[d] in (1, 2) for d in killed) and all(starts[d] == 1 for d in starts if d not in killed)
    assert killed <= set(ends) and done_before <= set(ends)
    # the resumed search asked exactly what an uninterrupted one would have
    assert [t.digest for t in rows] == random_asks(space, budget)
    assert len((out / "trials.jsonl").read_text().splitlines()) == budget


def _wait_for(path: Path, *, done: int, timeout: float = 60.0) -> None:
    """Poll the ledger (read-only) until ``done`` trials are done and another is running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            try:
                with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
                    counts = dict(conn.execute("SELECT status, COUNT(*) FROM trials GROUP BY status").fetchall())
                if counts.get("done", 0) >= done and counts.get("running", 0) == 1:
                    return
            except sqlite3.OperationalError:
                pass
        time.sleep(0.05)
    raise AssertionError(f"the search never reached {done} done trials")


# ------------------------------------------------------------------ refusals
def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def npz(tmp_path: Path, data: MultimodalDataset | None = None) -> Path:
    """The dataset as a file the command line loads (named after it, as the ledger's meta records)."""
    from genolang.runtime import data as data_module

    data = data or make_dataset()
    return data_module.save_dataset(data, tmp_path / f"{data.name}.npz")


def cli(capsys, *args: str) -> tuple[int, str]:
    status = main([str(a) for a in args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return status, captured.err


def test_resume_refuses_what_it_cannot_trust_and_changes_nothing(tmp_path, capsys):
    """A missing folder, a budget below what is done, an empty, missing, garbage or damaged ledger, a
    truncated or garbage weight bank: a catalogued error (E0703; E0700 for an unreadable ledger, E0721
    for an unreadable bank), exit 1 on the command line, and every file left as it was."""
    space, path = write_space(tmp_path)
    resume = functools.partial(run_search, space, make_dataset(), steps=1, trial_fn=stub_trial, resume=True)
    with pytest.raises(ResumeError, match="does not exist") as info:
        resume(budget=2, out_dir=tmp_path / "nowhere")
    assert info.value.code == "E0703" and not (tmp_path / "nowhere").exists()
    out = tmp_path / "run"
    run_search(space, make_dataset(), budget=2, steps=1, out_dir=out, trial_fn=stub_trial)
    before = snapshot(out)
    ledger, bank = before["ledger.sqlite"], before["shared_weights.pt"]
    with pytest.raises(ResumeError, match="already holds 2 finished trials, more than the 1 asked for"):
        resume(budget=1, out_dir=out)
    assert snapshot(out) == before
    damaged = ledger[:4096] + b"\xff" * 4096 + ledger[8192:]
    for name, content, error, match in (
            ("ledger.sqlite", b"", ResumeError, "is empty"), ("ledger.sqlite", None, ResumeError, "is missing"),
            ("ledger.sqlite", b"not a database" * 300, LedgerError, "cannot open the trial ledger"),
            ("ledger.sqlite", damaged, LedgerError, "cannot open the trial ledger"),
            ("shared_weights.pt", bank[: len(bank) // 2], WeightsError, "is damaged"),
            ("shared_weights.pt", b"garbage" * 100, WeightsError, "is damaged")):
        (out / "ledger.sqlite").write_bytes(ledger)
        (out / name).unlink(missing_ok=True)
        if content is not None:
            (out / name).write_bytes(content)
        expected = snapshot(out)
        with pytest.raises(error, match=match) as info:
            resume(budget=3, out_dir=out)
        assert str(out / name) in str(info.value) and info.value.code in ("E0700", "E0703", "E0721")
        assert snapshot(out) == expected  # trials.jsonl, best.geno, summary.json, the bank: untouched
        status, err = cli(capsys, "search", path, "--budget", 3, "--out", out, "--data", npz(tmp_path), "--steps",
                          1, "--resume")
        assert status == 1 and f"error[{info.value.code}]" in err and str(out / name) in err
        assert snapshot(out) == expected
    status, err = cli(capsys, "search", path, "--budget", 2, "--out", tmp_path / "nowhere", "--data",
                      npz(tmp_path), "--resume")
    assert status == 1 and "error[E0703]" in err and "does not exist" in err


@pytest.mark.parametrize("target", ["shared_weights.pt", "best.geno", "trials.jsonl", "summary.json"])
def test_a_full_disk_is_an_error_naming_the_file_and_the_search_resumes(tmp_path, monkeypatch, capsys, target):
    """ENOSPC on a write of ``target`` (after trial 1 is in): E0720 naming the file, exit 1, the
    previous file unchanged, no temporary file left; the resumed search ends as an uninterrupted one."""
    _, path = write_space(tmp_path)
    data = npz(tmp_path)
    args = ["search", path, "--budget", 3, "--data", data, "--steps", 1, "--device", "cpu", "--batch-size", 32]
    assert cli(capsys, *args, "--out", tmp_path / "whole")[0] == 0
    out, replace, seen = tmp_path / "run", os.replace, Counter()

    def full_disk(src, dst):
        seen[Path(dst).name] += 1
        if Path(dst).name == target and seen[target] == 2:  # the second write: a previous file exists
            kept[0] = Path(dst).read_bytes()
            raise OSError(errno.ENOSPC, "No space left on device")
        return replace(src, dst)

    kept: list[bytes | None] = [None]
    monkeypatch.setattr(os, "replace", full_disk)
    status, err = cli(capsys, *args, "--out", out)
    monkeypatch.setattr(os, "replace", replace)
    assert status == 1 and "error[E0720]" in err and str(out / target) in err and "No space left" in err
    assert (out / target).read_bytes() == kept[0]  # the previous file, intact
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert cli(capsys, *args, "--out", out, "--resume")[0] == 0
    whole, resumed = outcome(tmp_path / "whole"), outcome(out)
    assert whole["rows"] == resumed["rows"] and whole["bank"] == resumed["bank"] and whole["best"] == resumed["best"]


def test_labels_out_of_range_for_the_head_are_refused_in_train_and_search(tmp_path, capsys):
    """Labels 2..4 for a head of 3 classes: E0723 before the first step (even with --steps 1, whose one
    batch may hold no bad label), exit 1, no traceback, nothing recorded as done."""
    _, path = write_space(tmp_path)
    good = make_dataset()
    splits = {k: Split(v.inputs, v.labels + 2) for k, v in good.splits.items()}
    bad = npz(tmp_path, MultimodalDataset("shifted", splits, num_classes=5))
    for steps in (["--steps", 1], ["--epochs", 1]):
        status, err = cli(capsys, "train", path, "--data", bad, "--out", tmp_path / f"t{steps[1]}", *steps)
        assert status == 1 and "error[E0723]" in err and "labels 2..4" in err and "3 output(s)" in err
        assert not (tmp_path / f"t{steps[1]}" / "model.pt").exists()
    status, err = cli(capsys, "search", path, "--data", bad, "--out", tmp_path / "s", "--budget", 2, "--steps", 1)
    assert status == 1 and "error[E0723]" in err
    with Ledger(tmp_path / "s" / "ledger.sqlite") as ledger:
        assert ledger.counts() == {"running": 0, "done": 0, "failed": 0}


def test_export_checks_the_genotype_digest_stored_with_the_weights(tmp_path, capsys):
    """``train`` stores the genotype's digest in model.pt; export --weights of a genotype differing
    only in an activation is E0722 (no ONNX written); the right genotype, and a bare state dict of
    older files, still export. ``train`` into a non-empty folder needs --overwrite (E0724)."""
    space, path = write_space(tmp_path)
    data, run = npz(tmp_path), tmp_path / "run"
    assert cli(capsys, "train", path, "--data", data, "--out", run, "--steps", 2)[0] == 0
    trained = genolang.load(run / "genotype.geno").genotype()
    assert torch.load(run / "model.pt", weights_only=True)["genotype_digest"] == trained.digest
    act = "relu" if trained.values["ha.act"] != "relu" else "tanh"
    other = space.validate({**trained.values, "ha.act": act}, name="other")
    (tmp_path / "other.geno").write_text(other.to_text(imports=("duo.geno",)), encoding="utf-8")
    status, err = cli(capsys, "export", tmp_path / "other.geno", "--weights", run / "model.pt", "-o",
                      tmp_path / "o.onnx")
    assert status == 1 and "error[E0722]" in err and trained.digest in err and not (tmp_path / "o.onnx").exists()
    assert cli(capsys, "export", run / "genotype.geno", "--weights", run / "model.pt", "-o",
               tmp_path / "t.onnx")[0] == 0
    record = torch.load(run / "model.pt", weights_only=True)
    torch.save(record["state_dict"], tmp_path / "bare.pt")  # an older file: no digest, loads when it fits
    assert cli(capsys, "export", tmp_path / "other.geno", "--weights", tmp_path / "bare.pt", "-o",
               tmp_path / "b.onnx")[0] == 0
    before = snapshot(run)
    status, err = cli(capsys, "train", path, "--data", data, "--out", run, "--steps", 1)
    assert status == 1 and "error[E0724]" in err and "--overwrite" in err and snapshot(run) == before
    assert cli(capsys, "train", path, "--data", data, "--out", run, "--steps", 1, "--overwrite")[0] == 0
    assert snapshot(run)["model.pt"] != before["model.pt"]


# ------------------------------------------------------------------ progress without a terminal
def test_without_a_terminal_search_and_train_print_a_line_per_trial_and_epoch(tmp_path):
    """stderr a pipe (as under nohup or CI): one line per finished trial, one per epoch."""
    _, path = write_space(tmp_path)
    data = npz(tmp_path)
    exe = [sys.executable, "-m", "genolang"]
    runs = {"search": [*exe, "search", path, "--data", data, "--out", tmp_path / "s", "--budget", 3, "--steps", 1],
            "train": [*exe, "train", path, "--data", data, "--out", tmp_path / "t", "--epochs", 2]}
    lines = {}
    for name, command in runs.items():
        done = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        lines[name] = done.stderr.splitlines()
    trials = [line for line in lines["search"] if line.startswith("search: trial ")]
    assert [line.split()[2] for line in trials] == ["0", "1", "2"] and all("best" in line for line in trials)
    epochs = [line for line in lines["train"] if line.startswith("train: epoch ")]
    assert [line.split()[2] for line in epochs] == ["1,", "2,"]



def test_a_full_disk_under_the_ledger_is_an_error_naming_it_and_keeps_what_was_committed(tmp_path):
    """SQLite's SQLITE_FULL (a page limit standing for a full disk): LedgerError naming the file,
    the trials committed before still there, the failed write rolled back."""
    space, _ = write_space(tmp_path)
    genotypes = [space.sample(seed) for seed in range(200)]
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        first = ledger.finish(ledger.begin(genotype=genotypes[0], budget={"steps": 1}, seed=0, idx=0),
                              {"val_accuracy": 0.5}, 1.0)
        (pages,) = ledger._conn.execute("PRAGMA page_count").fetchone()
        ledger._conn.execute(f"PRAGMA max_page_count = {pages + 1}")
        with pytest.raises(LedgerError, match="database or disk is full") as info:
            for k, genotype in enumerate(genotypes[1:], start=1):
                ledger.begin(genotype=genotype, budget={"steps": 1}, seed=0, idx=k)
        assert str(tmp_path / "ledger.sqlite") in str(info.value) and info.value.code == "E0700"
        kept = ledger.history()
    assert kept[0] == first and 1 < len(kept) < len(genotypes)  # what was committed, and nothing torn
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        assert ledger.history() == kept


def test_line_progress_prints_a_line_per_text_change_or_per_completion():
    """A one-shot epoch (fixed text) prints once, when it completes; a training (text per
    evaluation) prints once per evaluation and not again at completion."""
    import io

    from genolang.runtime.progress import LineProgress

    stream = io.StringIO()
    with LineProgress(stream) as bar:
        epoch = bar.add_task("epoch 1", total=3)
        for _ in range(3):
            bar.advance(epoch)
        train = bar.add_task("train", total=4)
        for step in range(1, 5):
            bar.advance(train)
            if step % 2 == 0:
                bar.update(train, description=f"train: epoch {step // 2}")
    lines = [line.split(" [")[0] + " [" + line.split(" [")[1].split(",")[0] for line in stream.getvalue().splitlines()]
    assert lines == ["epoch 1 [3/3", "train: epoch 1 [2/4", "train: epoch 2 [4/4"]
