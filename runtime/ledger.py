"""The trial ledger: one SQLite row per (space fingerprint, genotype digest, budget, seed).

A search writes every state change of a trial (``running`` -> ``done`` / ``failed``) as its
own committed statement (autocommit, WAL journal, ``synchronous=FULL``), so a process killed
at any moment leaves a ledger that resumes: :meth:`Ledger.recover` removes the rows a dead
process left ``running`` (their trials are retried), and :meth:`Ledger.begin` hands back a
finished trial instead of starting it again, so no finished trial is lost or retrained.

Each process opens its own connection (SQLite connections must not cross ``fork``/``spawn``);
``busy_timeout`` lets several processes share one file. The ``meta`` table pins a ledger to
one search (space fingerprint, searcher, searcher seed, per-trial budget):
:meth:`Ledger.check_meta` refuses to resume a ledger written for another.

>>> ledger = Ledger(out_dir / "ledger.sqlite")          # doctest: +SKIP
>>> trial = ledger.begin(genotype=g, budget={"steps": 100}, seed=0, idx=0)
>>> ledger.finish(trial, {"val_accuracy": 0.91}, seconds=12.5)
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, Protocol

from genolang.canonical import canonical_json as canonical
from genolang.genotype import Genotype
from genolang.runtime.errors import LedgerError

log = logging.getLogger(__name__)

Status = Literal["running", "done", "failed"]
FINISHED: tuple[Status, ...] = ("done", "failed")
BUSY_TIMEOUT_MS = 30_000
SCORE_KEY = "val_accuracy"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  search TEXT NOT NULL,
  space_fingerprint TEXT NOT NULL,
  digest TEXT NOT NULL,
  budget TEXT NOT NULL,
  seed INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
  genotype TEXT NOT NULL,
  metrics TEXT,
  error TEXT,
  started REAL NOT NULL,
  finished REAL,
  seconds REAL,
  UNIQUE (space_fingerprint, digest, budget, seed)
);
CREATE INDEX IF NOT EXISTS trials_status ON trials (status);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_COLUMNS = ("id", "search", "space_fingerprint", "digest", "budget", "seed", "idx", "status", "genotype",
            "metrics", "error", "started", "finished", "seconds")


_CLASS = re.compile(r"[A-Za-z_][\w.]*")
_CODE = re.compile(r"\bE\d{4}\b")
_RENDERED_CODE = re.compile(r"\berror\[(E\d{4})\]")


def failure_class(error: str | None) -> str:
    """The short reason class of a failed trial's ``error``: the exception class, plus its code.

    ``error`` is what the search stores (``"DivergedError: the training loss became nan ..."``,
    see ``runtime.search_trial.failure_reason``): the class is the name before the first
    ``:``; an error code (``E0400``) written there (``"CompileError E0400: ..."``,
    ``"CompileError[E0400]: ..."``) or as a rendered diagnostic (``error[E0400]``) anywhere
    in the text is appended: ``"CompileError E0400"``. No text: ``"unknown"``.
    """
    text = (error or "").strip()
    if not text:
        return "unknown"
    head = text.split(":", 1)[0]
    name = _CLASS.match(head.strip())
    label = name.group(0) if name else "unknown"
    in_head, rendered = _CODE.search(head), _RENDERED_CODE.search(text)
    code = in_head.group(0) if in_head else rendered.group(1) if rendered else None
    return f"{label} {code}" if code else label


@dataclass(frozen=True)
class Trial:
    """One ledger row. ``reused`` is true when :meth:`Ledger.begin` found it already there."""

    id: int
    search: str
    space_fingerprint: str
    digest: str
    budget: dict[str, Any]
    seed: int
    idx: int
    status: Status
    genotype: str
    metrics: dict[str, Any] | None = None
    error: str | None = None
    started: float = 0.0
    finished: float | None = None
    seconds: float | None = None
    reused: bool = False

    @property
    def score(self) -> float | None:
        """The validation accuracy of a done trial (``None`` otherwise)."""
        if self.status != "done" or not self.metrics:
            return None
        value = self.metrics.get(SCORE_KEY)
        return None if value is None else float(value)

    @property
    def values(self) -> dict[str, Any]:
        """The genotype's decision values, as stored."""
        return dict(json.loads(self.genotype)["values"])

    def to_json(self) -> dict[str, Any]:
        """A plain dict (the genotype as a JSON object), as written to ``trials.jsonl``."""
        row = {k: getattr(self, k) for k in _COLUMNS}
        row["genotype"] = json.loads(self.genotype)
        return row


def _row_to_trial(row: sqlite3.Row, *, reused: bool = False) -> Trial:
    data = dict(zip(_COLUMNS, row))
    data["budget"] = json.loads(data["budget"])
    data["metrics"] = json.loads(data["metrics"]) if data["metrics"] is not None else None
    return Trial(**data, reused=reused)


class Storage(Protocol):
    """What a study needs of its trial store (:class:`Ledger`, SQLite, is the default; see
    :func:`open_storage`). Every method commits before it returns."""

    search: str

    def meta(self) -> dict[str, Any]: ...
    def write_meta(self, **values: Any) -> None: ...
    def check_meta(self, **expected: Any) -> None: ...
    def begin(self, *, genotype: Genotype, budget: Mapping[str, Any], seed: int, idx: int) -> Trial: ...
    def finish(self, trial: Trial, metrics: Mapping[str, Any], seconds: float) -> Trial: ...
    def fail(self, trial: Trial, error: str, seconds: float) -> Trial: ...
    def release(self, trial: Trial) -> None: ...
    def recover(self) -> int: ...
    def history(self, *, statuses: tuple[Status, ...] = ...) -> list[Trial]: ...
    def finished(self) -> list[Trial]: ...
    def counts(self) -> dict[str, int]: ...
    def next_idx(self) -> int: ...
    def best(self) -> Trial | None: ...
    def failures(self) -> dict[str, int]: ...
    def close(self) -> None: ...


#: storage kind -> the class opened on the run folder's ledger path
STORAGES: dict[str, Any] = {}


def open_storage(kind: str, path: str | Path) -> Ledger:
    """The storage of kind ``kind`` (``"sqlite"``) at ``path``."""
    if kind not in STORAGES:
        raise LedgerError(f"unknown storage {kind!r} (known: {', '.join(sorted(STORAGES))})")
    return STORAGES[kind](path)


class Ledger:
    """The SQLite trial store of one search (see the module docstring)."""

    def __init__(self, path: str | Path, *, search: str = ""):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._pid = -1
        self._conn_: sqlite3.Connection | None = None
        self.search = search or str(self.meta().get("search", "")) or "search"

    # ------------------------------------------------------------ connection
    @property
    def _conn(self) -> sqlite3.Connection:
        """This process's connection (a process that inherited the object opens its own)."""
        if self._conn_ is None or self._pid != os.getpid():
            self._conn_ = self._connect()
            self._pid = os.getpid()
        return self._conn_

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            (check,) = conn.execute("PRAGMA quick_check").fetchone()  # a damaged file: refused before any write
            if check != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {check}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise LedgerError(f"cannot open the trial ledger {self.path}: {exc}") from None
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One committed write; SQLite's own failures (a full disk, a damaged page) are a
        :class:`LedgerError` naming the file, the ledger left as it was before."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise LedgerError(f"cannot write the trial ledger {self.path}: {exc}; it holds what was "
                              f"committed before (resume with --resume once the cause is fixed)") from None

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """The rows of a query; SQLite's failures (a page damaged since the ledger was opened) are a
        :class:`LedgerError` naming the file."""
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot read the trial ledger {self.path}: {exc}") from None

    def close(self) -> None:
        """Close this process's connection (reopened on the next use)."""
        if self._conn_ is not None and self._pid == os.getpid():
            self._conn_.close()
        self._conn_ = None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ meta
    def meta(self) -> dict[str, Any]:
        """The ``meta`` table, values decoded from JSON."""
        rows = self._read("SELECT key, value FROM meta")
        return {key: json.loads(value) for key, value in rows}

    def write_meta(self, **values: Any) -> None:
        """Set meta keys (JSON-encoded), each committed at once."""
        with self._transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                             [(k, canonical(v)) for k, v in values.items()])

    def check_meta(self, **expected: Any) -> None:
        """Raise :class:`LedgerError` naming each key whose stored value differs from ``expected``.

        Keys the ledger does not hold yet are not compared (a fresh ledger passes).
        """
        stored = self.meta()
        problems = [f"{key} is {stored[key]!r} in the ledger, this search has {value!r}"
                    for key, value in expected.items()
                    if key in stored and canonical(stored[key]) != canonical(value)]
        if problems:
            raise LedgerError(f"the ledger {self.path} was written for another search: " + "; ".join(problems))

    # ------------------------------------------------------------ trials
    def begin(self, *, genotype: Genotype, budget: Mapping[str, Any], seed: int, idx: int) -> Trial:
        """Insert the trial as ``running``; a trial with the same key is returned as is (``reused``).

        A finished (done or failed) trial is never run again under the same key; a ``running``
        one belongs to a live process (after :meth:`recover`, none is left by a dead one).
        """
        key = (genotype.fingerprint, genotype.digest, canonical(dict(budget)), int(seed))
        with self._transaction() as conn:
            row = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM trials WHERE space_fingerprint = ? "
                               "AND digest = ? AND budget = ? AND seed = ?", key).fetchone()
            if row is not None:
                return _row_to_trial(row, reused=True)
            cur = conn.execute(
                "INSERT INTO trials (search, space_fingerprint, digest, budget, seed, idx, status, genotype, "
                "started) VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?)",
                (self.search, *key, int(idx), genotype.canonical_json(), time.time()))
            trial_id = int(cur.lastrowid or 0)
        return self.get(trial_id)

    def finish(self, trial: Trial, metrics: Mapping[str, Any], seconds: float) -> Trial:
        """Mark a running trial done with its metrics (``val_accuracy`` is its score)."""
        return self._close(trial, "done", metrics=canonical(dict(metrics)), error=None, seconds=seconds)

    def fail(self, trial: Trial, error: str, seconds: float) -> Trial:
        """Mark a running trial failed, with the reason."""
        return self._close(trial, "failed", metrics=None, error=str(error), seconds=seconds)

    def _close(self, trial: Trial, status: Status, *, metrics: str | None, error: str | None,
               seconds: float) -> Trial:
        with self._transaction() as conn:
            cur = conn.execute("UPDATE trials SET status = ?, metrics = ?, error = ?, finished = ?, seconds = ? "
                               "WHERE id = ? AND status = 'running'",
                               (status, metrics, error, time.time(), float(seconds), trial.id))
            if cur.rowcount != 1:
                raise LedgerError(f"trial {trial.id} ({trial.digest[:19]}) is not running in {self.path}")
        return replace(self.get(trial.id), reused=False)

    def release(self, trial: Trial) -> None:
        """Forget a running trial (it was interrupted, not finished): it will be retried."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM trials WHERE id = ? AND status = 'running'", (trial.id,))

    def recover(self) -> int:
        """Make the trials left ``running`` by a killed process retriable (their rows are deleted).

        Call it on resume, before any trial starts; returns how many there were.
        """
        with self._transaction() as conn:
            count = conn.execute("DELETE FROM trials WHERE status = 'running'").rowcount
        if count:
            log.info("%s: %d interrupted trial(s) will be retried", self.path, count)
        return int(count)

    # ------------------------------------------------------------ queries
    def get(self, trial_id: int) -> Trial:
        found = self._read(f"SELECT {', '.join(_COLUMNS)} FROM trials WHERE id = ?", (trial_id,))
        row = found[0] if found else None
        if row is None:
            raise LedgerError(f"no trial {trial_id} in {self.path}")
        return _row_to_trial(row)

    def history(self, *, statuses: tuple[Status, ...] = ("running", "done", "failed")) -> list[Trial]:
        """The trials of the given statuses (all by default), ordered by planned index."""
        marks = ", ".join("?" for _ in statuses)
        rows = self._read(f"SELECT {', '.join(_COLUMNS)} FROM trials WHERE status IN ({marks}) ORDER BY idx, id",
                          statuses)
        return [_row_to_trial(r) for r in rows]

    def done(self) -> list[Trial]:
        return self.history(statuses=("done",))

    def failed(self) -> list[Trial]:
        return self.history(statuses=("failed",))

    def running(self) -> list[Trial]:
        return self.history(statuses=("running",))

    def finished(self) -> list[Trial]:
        """Done and failed trials, by planned index (what trials.jsonl and the summary list)."""
        return self.history(statuses=FINISHED)

    def counts(self) -> dict[str, int]:
        """How many trials have each status."""
        found = dict(self._read("SELECT status, COUNT(*) FROM trials GROUP BY status"))
        return {s: int(found.get(s, 0)) for s in ("running", "done", "failed")}

    def next_idx(self) -> int:
        """One past the largest planned index so far (0 for an empty ledger)."""
        ((top,),) = self._read("SELECT MAX(idx) FROM trials")
        return 0 if top is None else int(top) + 1

    def best(self) -> Trial | None:
        """The done trial of highest score, or ``None``.

        Ties go to the LATER trial (highest planned index), as RandomNet's Algorithm 2 keeps a
        new architecture whose accuracy is >= the best so far.
        """
        scored = [t for t in self.done() if t.score is not None]
        return max(scored, key=lambda t: (t.score, t.idx, t.id)) if scored else None

    def failures(self) -> dict[str, int]:
        """How many failed trials per reason class (:func:`failure_class`), most frequent first."""
        counts = Counter(failure_class(t.error) for t in self.failed())
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r}, {self.counts()})"


STORAGES["sqlite"] = Ledger
