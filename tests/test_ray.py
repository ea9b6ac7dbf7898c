"""The ``ray`` executor on a real local Ray cluster: faults survived, the GPU request, the extra.

The cluster (``cluster`` fixture) is Ray's own multi-node test cluster: a head (1 CPU, one
declared GPU) and a second node (1 CPU), each a real GCS/raylet process group on this
machine, so that a worker process can be SIGKILLed and a node stopped in the middle of a
search. Trials are :func:`marked_trial` (no training: a log line at start and end, a sleep,
a score from the digest), module-level so Ray workers import it (``PYTHONPATH``).

Oracles: every planned index is recorded once, with the digests an uninterrupted random
search asks (:func:`random_asks`), and the interrupted trial ran again (its start is logged
twice, its result comes from another process); the missing extra is error E0710 naming
``genolang[ray]``.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_search import make_dataset, random_asks, stub_trial, write_space

from genolang.runtime.errors import ExtraMissingError, SearchError
from genolang.runtime.ledger import Ledger
from genolang.runtime.search_trial import TrialContext, TrialJob
from genolang.searchers.study import run_search

TESTS = str(Path(__file__).resolve().parent)
try:
    import ray  # noqa: F401

    HAVE_RAY = True
except ImportError:
    HAVE_RAY = False
needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="the ray extra is not installed (pip install 'genolang[ray]')")
# one Ray cluster at a time: every test here runs in the same pytest-xdist worker
pytestmark = pytest.mark.xdist_group("ray")


def marked_trial(job: TrialJob, ctx: TrialContext, *, log: str, sleep: float) -> dict:
    """Log ``start IDX PID NODE``, sleep, log ``end IDX PID NODE``; a score from the digest."""
    import ray

    where = f"{job.idx} {os.getpid()} {ray.get_runtime_context().get_node_id()}"
    with open(log, "a") as handle:
        handle.write(f"start {where}\n")
    time.sleep(sleep)
    with open(log, "a") as handle:
        handle.write(f"end {where}\n")
    return {"val_accuracy": (int(job.genotype.digest[-4:], 16) % 1000) / 1000, "pid": os.getpid()}


def gpu_trial(job: TrialJob, ctx: TrialContext) -> dict:
    """What Ray granted the trial: its resources and CUDA_VISIBLE_DEVICES."""
    import ray

    return {"val_accuracy": 0.5, "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "resources": ray.get_runtime_context().get_assigned_resources()}


def sharing_trial(job: TrialJob, ctx: TrialContext) -> dict:
    """:func:`stub_trial` (a few SGD steps from the weight bank), and where it ran: the process and its dataset."""
    return {**stub_trial(job, ctx), "pid": os.getpid(), "data_id": id(ctx.data)}


def events(log: Path) -> list[tuple[str, int, int, str]]:
    """The log's (kind, idx, pid, node) lines."""
    if not log.exists():
        return []
    rows = [line.split() for line in log.read_text().splitlines()]
    return [(k, int(i), int(p), n) for k, i, p, n in (r for r in rows if len(r) == 4)]


def wait_until(check, *, timeout: float = 120.0, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def ledger_counts(path: Path) -> dict[str, int]:
    if not path.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            return dict(conn.execute("SELECT status, COUNT(*) FROM trials GROUP BY status").fetchall())
    except sqlite3.OperationalError:
        return {}


@pytest.fixture(scope="module")
def cluster():
    """A head (1 CPU, 1 declared GPU) and a second node (1 CPU); yields (cluster, second node)."""
    if not HAVE_RAY:
        pytest.skip("the ray extra is not installed")
    from ray.cluster_utils import Cluster

    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (TESTS, old) if p)  # workers import this module
    small = {"object_store_memory": 80 * 2**20, "include_dashboard": False}
    made = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "num_gpus": 1, **small})
    try:
        second = made.add_node(num_cpus=1, **small)
        made.wait_for_nodes()
        yield made, second
    finally:
        made.shutdown()
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def check_every_index_once(out: Path, space, budget: int) -> list:
    with Ledger(out / "ledger.sqlite") as ledger:
        rows = ledger.history()
        assert ledger.counts() == {"running": 0, "done": budget, "failed": 0}
    assert [t.idx for t in rows] == list(range(budget))  # no new index, none twice
    assert [t.digest for t in rows] == random_asks(space, budget)  # the asks of an uninterrupted search
    assert len((out / "trials.jsonl").read_text().splitlines()) == budget
    return rows


@needs_ray
@pytest.mark.slow
def test_a_killed_worker_and_a_stopped_node_lose_no_trial(tmp_path, cluster):
    made, second = cluster
    space, _ = write_space(tmp_path)
    out, log, budget = tmp_path / "run", tmp_path / "trials.log", 8
    trial = functools.partial(marked_trial, log=str(log), sleep=1.5)
    box: dict = {}

    def search() -> None:
        try:
            box["result"] = run_search(space, make_dataset(), budget=budget, steps=1, out_dir=out, trial_fn=trial,
                                       executor="ray", ray_address=made.address, workers=2,
                                       share_weights=False)  # two trials at once (sharing chains them)
        except BaseException as exc:  # handed to the test's thread
            box["error"] = exc

    thread = threading.Thread(target=search)
    thread.start()
    # 1. SIGKILL the worker process of the first trial that starts
    _, killed_idx, killed_pid, _ = wait_until(lambda: next((e for e in events(log) if e[0] == "start"), None),
                                              what="a trial to start")
    os.kill(killed_pid, signal.SIGKILL)
    # 2. once 3 trials are done, stop the second node while a trial runs there
    wait_until(lambda: ledger_counts(out / "ledger.sqlite").get("done", 0) >= 3, what="3 done trials")

    def running_on_second():
        ev = events(log)
        ended = {(i, p) for k, i, p, _ in ev if k == "end"}
        return next((i for k, i, p, n in ev if k == "start" and n == second.node_id and (i, p) not in ended), None)

    stopped_idx = wait_until(running_on_second, what="a trial running on the second node")
    made.remove_node(second, allow_graceful=False)
    thread.join(timeout=240)
    assert not thread.is_alive() and "error" not in box, box.get("error")
    result = box["result"]
    assert (result.done, result.failed) == (budget, 0)
    rows = check_every_index_once(out, space, budget)
    ev = events(log)
    starts = [(i, p, n) for k, i, p, n in ev if k == "start"]
    # the killed trial ran again, elsewhere, and its result came from there
    assert sum(1 for i, _, _ in starts if i == killed_idx) >= 2
    assert rows[killed_idx].metrics["pid"] != killed_pid
    # the stopped node's trial has one record, one attempt's result: ran again after the node
    # died, or (a race Ray allows) handed back by the dying node's worker before it was
    # declared dead; either way exactly once (check_every_index_once)
    assert rows[stopped_idx].metrics["pid"] in {p for i, p, _ in starts if i == stopped_idx}
    head = made.head_node.node_id
    assert {n for _, _, n in starts[-2:]} == {head}  # the last trials ran on the head: the second node was gone


@needs_ray
@pytest.mark.slow
def test_a_killed_driver_resumes_on_the_cluster(tmp_path, cluster):
    made, _ = cluster
    space, path = write_space(tmp_path)
    out, log, budget = tmp_path / "run", tmp_path / "trials.log", 5
    script = (f"import sys; sys.path.insert(0, {TESTS!r})\n"
              "import functools, genolang\nfrom test_search import make_dataset\nfrom test_ray import marked_trial\n"
              "from genolang.searchers.study import run_search\n"
              f"space = genolang.load({str(path)!r}).space()\n"
              f"run_search(space, make_dataset(), budget={budget}, steps=1, out_dir={str(out)!r}, executor='ray', "
              f"ray_address={made.address!r}, trial_fn=functools.partial(marked_trial, log={str(log)!r}, sleep=1.0))\n")
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        wait_until(lambda: ledger_counts(out / "ledger.sqlite").get("done", 0) >= 2, what="2 done trials")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    with Ledger(out / "ledger.sqlite") as ledger:
        done_before = {t.idx: t.metrics for t in ledger.done()}
        left_running = len(ledger.running())
    result = run_search(space, make_dataset(), budget=budget, steps=1, out_dir=out, executor="ray",
                        ray_address=made.address, resume=True,
                        trial_fn=functools.partial(marked_trial, log=str(log), sleep=0.0))
    assert (result.done, result.recovered) == (budget, left_running)
    rows = check_every_index_once(out, space, budget)
    assert {i: rows[i].metrics for i in done_before} == done_before  # finished trials were not trained again
    ends = [i for k, i, _, _ in events(log) if k == "end"]
    assert all(ends.count(i) == 1 for i in done_before)


@needs_ray
@pytest.mark.slow
def test_the_gpu_request_is_what_ray_schedules(tmp_path, cluster):
    made, _ = cluster
    space, _ = write_space(tmp_path)
    result = run_search(space, make_dataset(), budget=2, steps=1, out_dir=tmp_path / "run", executor="ray",
                        ray_address=made.address, workers=2, cpus_per_trial=0.5, gpus_per_trial=0.5,
                        trial_fn=gpu_trial)
    assert result.done == 2
    for trial in result.trials:
        assert trial.metrics["resources"] == {"CPU": 0.5, "GPU": 0.5}
        assert trial.metrics["cuda_visible_devices"] == "0"  # the declared GPU, as Ray sets it
    config = json.loads((tmp_path / "run" / "summary.json").read_text())["search_config"]
    assert (config["cpus_per_trial"], config["gpus_per_trial"], config["executor"]) == (0.5, 0.5, "ray")
    with pytest.raises(SearchError, match=r"--gpus-per-trial 2: the Ray cluster at .* has 1 GPUs in all"):
        run_search(space, make_dataset(), budget=1, steps=1, out_dir=tmp_path / "big", executor="ray",
                   ray_address=made.address, gpus_per_trial=2.0, trial_fn=gpu_trial)


@needs_ray
@pytest.mark.slow
def test_the_context_travels_once_and_trials_start_from_the_drivers_bank(tmp_path, cluster, monkeypatch):
    """The context is put once and kept by each worker process; the weight bank is the driver's:
    each job carries it, each outcome brings the trained tensors back, so the Ray trials (two
    workers asked for: with sharing they chain) load the tensors the inline run's trials load,
    and the bank saved is bitwise the inline run's."""
    import ray

    from genolang.runtime.sharing import WeightBank

    made, _ = cluster
    space, _ = write_space(tmp_path)
    puts = []
    real_put = ray.put
    monkeypatch.setattr(ray, "put", lambda value, **kw: puts.append(type(value)) or real_put(value, **kw))
    result = run_search(space, make_dataset(), budget=4, steps=2, out_dir=tmp_path / "run", executor="ray",
                        ray_address=made.address, trial_fn=sharing_trial, workers=2)
    assert result.done == 4 and puts == [tuple]  # one put: the context (dataset included), for all trials
    assert os.getpid() not in {t.metrics["pid"] for t in result.trials}
    by_pid: dict[int, list] = {}
    for trial in result.trials:
        by_pid.setdefault(trial.metrics["pid"], []).append(trial.metrics)
    assert all(len({m["data_id"] for m in runs}) == 1 for runs in by_pid.values())  # fetched once per process
    inline = run_search(space, make_dataset(), budget=4, steps=2, out_dir=tmp_path / "inline", trial_fn=stub_trial)
    counts = [t.metrics["shared_tensors"] for t in inline.trials]
    assert [t.metrics["shared_tensors"] for t in result.trials] == counts and counts[0] == 0 and min(counts[1:]) >= 2
    assert [(t.digest, t.score) for t in result.trials] == [(t.digest, t.score) for t in inline.trials]
    banks = [WeightBank.load(tmp_path / run / "shared_weights.pt").state() for run in ("run", "inline")]
    assert banks[0].keys() == banks[1].keys() and all(banks[0][k].equal(banks[1][k]) for k in banks[0])


def test_without_ray_the_flag_names_the_extra(tmp_path, monkeypatch, capsys):
    from genolang.cli import main
    from genolang.runtime import data

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    space, path = write_space(tmp_path)
    with pytest.raises(ExtraMissingError, match=r"pip install 'genolang\[ray\]'") as info:
        run_search(space, make_dataset(), budget=1, steps=1, out_dir=tmp_path / "run", executor="ray")
    assert info.value.code == "E0710" and not (tmp_path / "run").exists()  # refused before anything is written
    npz = data.save_dataset(make_dataset(), tmp_path / "synth.npz")
    assert main(["search", str(path), "--budget", "1", "--out", str(tmp_path / "cli"), "--data", str(npz),
                 "--executor", "ray"]) == 1
    err = capsys.readouterr().err
    assert "error[E0710]" in err and "pip install 'genolang[ray]'" in err and "Traceback" not in err


def test_ray_options_belong_to_the_ray_executor(tmp_path, capsys):
    from genolang.cli import main

    space, path = write_space(tmp_path)
    with pytest.raises(SearchError, match="--ray-address, --gpus-per-trial are options of --executor ray, "
                                          "not of 'process'"):
        run_search(space, make_dataset(), budget=1, steps=1, out_dir=tmp_path / "run", executor="process",
                   workers=2, ray_address="auto", gpus_per_trial=1.0)
    assert not (tmp_path / "run").exists()
    code = main(["search", str(path), "--searcher", "bmnas", "--epochs", "1", "--out", str(tmp_path / "one"),
                 "--executor", "ray"])
    assert code == 2 and "does not take --executor ray (a supernet search runs in the driver's process)" in (
        capsys.readouterr().err)
