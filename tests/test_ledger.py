"""The SQLite trial ledger: one row per key, committed at once, recoverable, pinned to its search."""

from __future__ import annotations

import sqlite3

import pytest

import genolang
from genolang.runtime.errors import LedgerError
from genolang.runtime.ledger import Ledger, failure_class

SPACE = """genolang 1
space s version 1 {
  input x { shape = [4] }
  node h { op = fc; hidden: choice(4, 8, 16, 32); act: choice(relu, tanh); inp = @x }
  head y { in = @h; classes = 2 }
}
"""


@pytest.fixture()
def space():
    return genolang.loads(SPACE).space()


@pytest.fixture()
def genotypes(space):
    found = {}
    for seed in range(100):
        g = space.sample(seed)
        found.setdefault(g.digest, g)
    return list(found.values())


BUDGET = {"steps": 10}


def test_the_key_is_unique_and_a_finished_trial_is_handed_back(tmp_path, genotypes):
    ledger = Ledger(tmp_path / "l.sqlite")
    g = genotypes[0]
    first = ledger.begin(genotype=g, budget=BUDGET, seed=0, idx=0)
    assert first.status == "running" and not first.reused
    assert ledger.begin(genotype=g, budget=BUDGET, seed=0, idx=1).reused
    done = ledger.finish(first, {"val_accuracy": 0.75, "loss": 0.5}, seconds=1.5)
    assert (done.status, done.score, done.seconds) == ("done", 0.75, 1.5)
    again = ledger.begin(genotype=g, budget=BUDGET, seed=0, idx=2)
    assert again.reused and again.status == "done" and again.id == first.id and again.idx == 0
    # another seed or another budget is another trial
    assert not ledger.begin(genotype=g, budget=BUDGET, seed=1, idx=3).reused
    assert not ledger.begin(genotype=g, budget={"steps": 20}, seed=0, idx=4).reused
    assert ledger.counts() == {"running": 2, "done": 1, "failed": 0}
    # the key is also enforced by SQLite itself
    with pytest.raises(sqlite3.IntegrityError):
        ledger._conn.execute("INSERT INTO trials (search, space_fingerprint, digest, budget, seed, idx, status, "
                             "genotype, started) VALUES ('x', ?, ?, ?, 0, 9, 'running', '{}', 0)",
                             (g.fingerprint, g.digest, '{"steps":10}'))


def test_history_is_ordered_by_planned_index(tmp_path, genotypes):
    ledger = Ledger(tmp_path / "l.sqlite")
    for idx in (2, 0, 1):
        trial = ledger.begin(genotype=genotypes[idx], budget=BUDGET, seed=0, idx=idx)
        if idx != 1:
            ledger.fail(trial, "DivergedError: nan", seconds=0.1) if idx == 2 else \
                ledger.finish(trial, {"val_accuracy": 0.5}, 0.1)
    assert [t.idx for t in ledger.history()] == [0, 1, 2]
    assert [t.idx for t in ledger.finished()] == [0, 2]
    assert [t.error for t in ledger.failed()] == ["DivergedError: nan"]
    assert [t.idx for t in ledger.running()] == [1] and [t.idx for t in ledger.done()] == [0]
    assert ledger.next_idx() == 3
    assert ledger.failed()[0].score is None and ledger.best().idx == 0


def test_ties_go_to_the_later_trial(tmp_path, genotypes):
    # RandomNet, Algorithm 2: a new architecture with accuracy >= the best replaces it. The
    # later trial is the one planned later (higher idx), whatever order they finished in.
    ledger = Ledger(tmp_path / "l.sqlite")
    assert ledger.best() is None
    trials = {idx: ledger.begin(genotype=genotypes[idx], budget=BUDGET, seed=0, idx=idx) for idx in range(5)}
    for idx, score in ((3, 0.8), (0, 0.5), (1, 0.8), (4, 0.7)):
        ledger.finish(trials[idx], {"val_accuracy": score}, 0.1)
    ledger.fail(trials[2], "DivergedError: nan", 0.1)
    assert ledger.best().idx == 3 and ledger.best().digest == genotypes[3].digest


def test_failures_count_each_reason_class(tmp_path, genotypes):
    ledger = Ledger(tmp_path / "l.sqlite")
    assert ledger.failures() == {}
    reasons = ["CompileError E0400: node 'fusion1' has no inputs", "DivergedError: the training loss became nan",
               "CompileError E0400: node 'fusion2' has no inputs", "CompileError: shapes differ",
               "OutOfMemoryError: CUDA out of memory", "CompileError[E0380]: no rule aligns 30x30",
               "CompileError E0400: node 'x' has no inputs", "DivergedError: val_accuracy is nan"]
    for idx, reason in enumerate(reasons):  # one genotype, a seed per trial (the key differs)
        ledger.fail(ledger.begin(genotype=genotypes[0], budget=BUDGET, seed=idx, idx=idx), reason, 0.1)
    done = ledger.begin(genotype=genotypes[1], budget=BUDGET, seed=0, idx=len(reasons))
    ledger.finish(done, {"val_accuracy": 0.5}, 0.1)
    failures = ledger.failures()
    assert failures == {"CompileError E0400": 3, "DivergedError": 2, "CompileError": 1, "CompileError E0380": 1,
                        "OutOfMemoryError": 1}
    assert list(failures) == ["CompileError E0400", "DivergedError", "CompileError", "CompileError E0380",
                              "OutOfMemoryError"]  # most frequent first, then by name


@pytest.mark.parametrize("error, reason", [
    ("CompileError E0400: node 'fusion1' has no inputs", "CompileError E0400"),
    ("CompileError[E0400]: node 'fusion1' has no inputs", "CompileError E0400"),
    ("CompileError: node 'fusion1' has no inputs", "CompileError"),
    ("CompileError: error[E0380]: no rule aligns 30x30 with 32x32", "CompileError E0380"),
    ("DivergedError: val_accuracy is nan", "DivergedError"),
    ("OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (E0400 is not a code here)",
     "OutOfMemoryError"),
    ("failed", "failed"), ("", "unknown"), (None, "unknown"),
])
def test_failure_class(error, reason):
    assert failure_class(error) == reason


def test_recovery_makes_interrupted_trials_retriable(tmp_path, genotypes):
    path = tmp_path / "l.sqlite"
    ledger = Ledger(path)
    trials = [ledger.begin(genotype=g, budget=BUDGET, seed=0, idx=i) for i, g in enumerate(genotypes[:4])]
    ledger.finish(trials[0], {"val_accuracy": 0.6}, 2.0)
    ledger.fail(trials[1], "OutOfMemoryError: cuda", 1.0)
    del ledger  # as if the process died: nothing more is written

    resumed = Ledger(path)
    assert resumed.counts() == {"running": 2, "done": 1, "failed": 1}
    assert resumed.recover() == 2
    assert resumed.counts() == {"running": 0, "done": 1, "failed": 1}
    retry = resumed.begin(genotype=genotypes[2], budget=BUDGET, seed=0, idx=2)
    assert not retry.reused and retry.status == "running"
    assert resumed.begin(genotype=genotypes[0], budget=BUDGET, seed=0, idx=5).reused
    assert resumed.recover() == 1


def test_a_trial_is_closed_once(tmp_path, genotypes):
    ledger = Ledger(tmp_path / "l.sqlite")
    trial = ledger.begin(genotype=genotypes[0], budget=BUDGET, seed=0, idx=0)
    ledger.finish(trial, {"val_accuracy": 0.5}, 1.0)
    with pytest.raises(LedgerError, match="is not running"):
        ledger.fail(trial, "late", 1.0)
    ledger.release(trial)  # releasing a finished trial does nothing
    assert ledger.counts()["done"] == 1


def test_meta_pins_the_ledger_to_its_search(tmp_path):
    path = tmp_path / "l.sqlite"
    ledger = Ledger(path)
    ledger.check_meta(space_fingerprint="sha256:a", searcher="random")  # a fresh ledger holds no meta
    ledger.write_meta(space_fingerprint="sha256:a", searcher="random", searcher_seed=0, budget={"steps": 5},
                      search="abc")
    reopened = Ledger(path)
    assert reopened.search == "abc" and reopened.meta()["budget"] == {"steps": 5}
    reopened.check_meta(space_fingerprint="sha256:a", searcher="random", searcher_seed=0, budget={"steps": 5})
    with pytest.raises(LedgerError, match="written for another search") as info:
        reopened.check_meta(space_fingerprint="sha256:b", searcher="evolution", searcher_seed=0)
    assert "space_fingerprint" in str(info.value) and "searcher is 'random'" in str(info.value)
    with pytest.raises(LedgerError, match="budget"):
        reopened.check_meta(budget={"steps": 6})
    assert info.value.code == "E0700"


def test_wal_mode_and_a_connection_per_process(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    assert ledger._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ledger._conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    conn = ledger._conn
    ledger._pid = -1  # as seen from another process: it opens its own connection
    assert ledger._conn is not conn


def test_a_file_that_is_not_a_ledger_is_refused(tmp_path):
    path = tmp_path / "l.sqlite"
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(LedgerError, match="cannot open the trial ledger"):
        Ledger(path)


def test_trial_json_holds_the_genotype(tmp_path, genotypes, space):
    ledger = Ledger(tmp_path / "l.sqlite")
    trial = ledger.finish(ledger.begin(genotype=genotypes[0], budget=BUDGET, seed=0, idx=0),
                          {"val_accuracy": 0.9}, 3.0)
    row = trial.to_json()
    assert row["genotype"]["values"] == genotypes[0].values and row["budget"] == BUDGET
    assert space.from_json(row["genotype"]) == genotypes[0] and trial.values == genotypes[0].values
