"""A search's run folder: its file names, its lock, and the outputs every strategy writes.

A search (trial-based, :mod:`genolang.runtime.search`, or one-shot,
:mod:`genolang.runtime.bilevel`) writes into one folder::

    ledger.sqlite     the trial store (the one truth; :mod:`genolang.runtime.ledger`)
    trials.jsonl      one line per finished trial, rewritten from the ledger
    best.geno         the best genotype, importing the space file
    summary.json      counts, the best, the search's configuration
    shared_weights.pt the weight bank (inline executor; shared_weights.trial-ID.pt while a
                      trial is being recorded, :mod:`genolang.runtime.bankfile`)
    .lock             held while a search runs there (released by the OS, even on SIGKILL)

Every file is written atomically (:func:`genolang.files.atomic_text`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from genolang.files import atomic_text, write_error
from genolang.genotype import Genotype
from genolang.runtime.errors import ResumeError, SearchError
from genolang.runtime.ledger import Trial
from genolang.space import Space

LEDGER_FILE, BANK_FILE, LOCK_FILE = "ledger.sqlite", "shared_weights.pt", ".lock"
BEST_FILE, TRIALS_FILE, SUMMARY_FILE = "best.geno", "trials.jsonl", "summary.json"


def check_out_dir(out: Path, *, resume: bool) -> None:
    """A new search needs an empty (or new) folder; a file is refused; the folder is created.

    A resume needs the folder and a non-empty ledger in it (:class:`ResumeError`, nothing written).
    """
    if out.exists() and not out.is_dir():
        raise SearchError(f"{out} is a file, not a folder")
    if resume:
        check_resumable(out)
    if out.exists() and any(out.iterdir()) and not resume:
        raise SearchError(f"{out} is not empty: resume the search there (--resume) or pick another folder")
    out.mkdir(parents=True, exist_ok=True)


def check_resumable(out: Path) -> None:
    """``--resume`` needs the run folder and a non-empty ledger in it."""
    if not out.is_dir():
        raise ResumeError(f"--resume: {out} does not exist; start a new search there without --resume")
    ledger = out / LEDGER_FILE
    if not ledger.is_file() or ledger.stat().st_size == 0:
        state = "is empty" if ledger.is_file() else "is missing"
        raise ResumeError(f"--resume: the trial ledger {ledger} {state}, so the search cannot be resumed "
                          f"(nothing was changed); start a new search in another folder")


def check_resumed_ledger(ledger: Any, out: Path, *, budget: int, unit: str = "trials") -> int:
    """A resumed ledger must hold a search (its meta) and no more finished rows than ``budget``; how many it holds."""
    if not ledger.meta():
        raise ResumeError(f"--resume: the trial ledger in {out} records no search (nothing was changed); "
                          f"start a new search in another folder")
    done = sum(ledger.counts()[s] for s in ("done", "failed"))
    if budget < done:
        raise ResumeError(f"--resume: {out} already holds {done} finished {unit}, more than the {budget} asked "
                          f"for; give at least {done} (nothing was changed)")
    return done


@contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out`` (the OS releases it even on SIGKILL)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    with open(out / LOCK_FILE, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SearchError(f"another search is running in {out}") from None
        yield


def jsonl_line(trial: Trial) -> str:
    """A trial as one line of ``trials.jsonl``."""
    return json.dumps(trial.to_json(), ensure_ascii=False, sort_keys=True) + "\n"


def write_trials(out: Path, trials: Iterable[Trial]) -> None:
    """Rewrite ``trials.jsonl`` from the given (ledger) trials."""
    atomic_text(out / TRIALS_FILE, "".join(jsonl_line(t) for t in trials))


def append_trial(out: Path, trial: Trial) -> None:
    """Append one line to ``trials.jsonl`` (a torn last line is repaired by :func:`write_trials` on resume)."""
    try:
        with open(out / TRIALS_FILE, "a", encoding="utf-8") as handle:
            handle.write(jsonl_line(trial))
    except OSError as exc:
        raise write_error(out / TRIALS_FILE, exc) from None


def write_best(out: Path, space: Space, values: Mapping[str, Any], meta: Mapping[str, Any],
               space_file: Path | None) -> Genotype:
    """``best.geno``: the genotype named ``best`` with ``meta``, importing the space file relative to ``out``."""
    named = space.validate(dict(values), name="best", meta=dict(meta))
    imports = (relative(space_file, out),) if space_file else ()
    atomic_text(out / BEST_FILE, named.to_text(imports=imports))
    return named


def write_summary(out: Path, summary: Mapping[str, Any]) -> None:
    atomic_text(out / SUMMARY_FILE, json.dumps(dict(summary), indent=2, ensure_ascii=False) + "\n")


def relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


def space_file_of(space: Space, given: str | Path | None) -> Path | None:
    """The file ``best.geno`` imports: the one given, else the file the space was loaded from."""
    if given is not None:
        return Path(given)
    source = getattr(space.ir.source, "name", "") if space.ir.source is not None else ""
    return Path(source) if source and Path(source).is_file() else None
