"""Reports of a search run: what ``genolang report RUN_DIR`` shows, as pure functions.

:func:`load_report` reads a folder written by ``genolang search`` (:mod:`genolang.runtime.search`)
or by a differentiable searcher (:mod:`genolang.runtime.bilevel`: one ledger row per epoch,
budget ``{"epoch": e, "bilevel": true}``) into a frozen :class:`RunReport`. The finished trials
come from ``ledger.sqlite`` (opened read-only: the source of truth, right even for a search that
was killed) or, without a ledger, from ``trials.jsonl``; ``summary.json`` adds the wall time and
the planned budget, the ledger's meta the searcher and space of a run that never finished.

:func:`best_so_far`, :func:`top_trials`, :func:`summary_table` / :func:`trials_table` (rich
renderables) and :func:`report_json` work on a report; :mod:`genolang.runtime.report_plot`
draws it. Nothing here imports torch or prints.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from genolang.runtime.errors import ReportError
from genolang.runtime.ledger import SCORE_KEY
from genolang.runtime.runfolder import BEST_FILE, LEDGER_FILE, SUMMARY_FILE, TRIALS_FILE

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["ReportError", "RunReport", "TrialRow", "best_so_far", "load_report", "report_json", "short_digest",
           "summary_table", "top_trials", "trials_table"]

_ROW_COLUMNS = ("idx", "id", "digest", "status", "budget", "genotype", "metrics", "error", "seconds")

Unit = Literal["trial", "epoch"]


@dataclass(frozen=True)
class TrialRow:
    """One finished trial (or epoch) of a run, in planned order."""

    index: int                   # the planned index (an epoch's is ``epoch - 1``)
    digest: str
    status: str                  # "done" or "failed"
    val_accuracy: float | None   # ``None`` for a failed trial
    error: str | None
    seconds: float | None
    epoch: int | None = None     # differentiable searchers: the epoch (1-based)

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    @property
    def val_error(self) -> float | None:
        """``1 - val_accuracy``, or ``None`` for a failed trial."""
        return None if self.val_accuracy is None else 1.0 - self.val_accuracy

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "epoch": self.epoch, "digest": self.digest, "status": self.status,
                "val_accuracy": self.val_accuracy, "error": self.error, "seconds": self.seconds}


@dataclass(frozen=True)
class RunReport:
    """A search run folder, summarised: who searched what, the counts, the best, every trial."""

    run_dir: str
    searcher: str
    space: str
    unit: Unit                   # "epoch" for the rows of a differentiable searcher
    budget: int | None           # trials (or epochs) planned, when recorded
    done: int
    failed: int
    best_val_accuracy: float | None
    best_digest: str | None
    best_index: int | None
    best_genotype: str | None    # best.geno's text, else the best's values as ``path = value`` lines
    wall_seconds: float | None   # the search's wall time (summary.json), ``None`` if it never finished
    trial_seconds: float         # the trials' own time, summed
    trials: tuple[TrialRow, ...]


# ------------------------------------------------------------------ loading
def load_report(run_dir: str | Path) -> RunReport:
    """Read ``run_dir`` into a :class:`RunReport`; :class:`ReportError` when there is nothing to report."""
    folder = Path(run_dir)
    if not folder.is_dir():
        raise ReportError(f"{folder}: no such run folder (give the --out folder of `genolang search`)")
    rows, meta = _finished_rows(folder)
    if not rows:
        raise ReportError(f"{folder}: the run has no finished trial yet")
    summary = _read_json(folder / SUMMARY_FILE)
    trials = tuple(sorted((_trial_row(r) for r in rows), key=lambda t: t.index))
    unit: Unit = "epoch" if any(t.epoch is not None for t in trials) else "trial"
    best = _best(trials)
    first = rows[0].get("genotype") or {}
    return RunReport(
        run_dir=str(folder), searcher=str(summary.get("searcher") or meta.get("searcher") or "?"),
        space=str(summary.get("space") or meta.get("space") or first.get("space") or "?"), unit=unit,
        budget=_int_or_none(summary.get("budget", summary.get("epochs", meta.get("trials")))),
        done=sum(not t.failed for t in trials), failed=sum(t.failed for t in trials),
        best_val_accuracy=best.val_accuracy if best else None, best_digest=best.digest if best else None,
        best_index=best.index if best else None, best_genotype=_best_text(folder, rows, best),
        wall_seconds=_float_or_none(summary.get("seconds")),
        trial_seconds=round(sum(t.seconds or 0.0 for t in trials), 3), trials=trials)


def _finished_rows(folder: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The finished rows (dicts shaped like ``trials.jsonl`` lines) and the ledger's meta."""
    if (folder / LEDGER_FILE).is_file():
        return _ledger_rows(folder / LEDGER_FILE)
    if (folder / TRIALS_FILE).is_file():
        return _jsonl_rows(folder / TRIALS_FILE), {}
    raise ReportError(f"{folder}: not a search run folder (it holds neither {LEDGER_FILE} nor {TRIALS_FILE})")


def _ledger_rows(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The done and failed rows of a ledger, opened read-only, and its meta."""
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            found = conn.execute(f"SELECT {', '.join(_ROW_COLUMNS)} FROM trials "
                                 "WHERE status IN ('done', 'failed') ORDER BY idx, id").fetchall()
            meta = conn.execute("SELECT key, value FROM meta").fetchall()
        rows = [dict(zip(_ROW_COLUMNS, r)) for r in found]
        for row in rows:
            for key in ("budget", "genotype", "metrics"):
                row[key] = json.loads(row[key]) if row[key] is not None else None
        return rows, {key: json.loads(value) for key, value in meta}
    except (sqlite3.DatabaseError, ValueError) as exc:
        raise ReportError(f"cannot read the trial ledger {path}: {exc}") from None


def _jsonl_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of ``trials.jsonl`` (blank lines skipped)."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise ReportError(f"{path}:{number}: not a JSON object: {exc}") from None
        if not isinstance(row, dict) or "idx" not in row or "status" not in row:
            raise ReportError(f"{path}:{number}: not a trial record (it needs at least idx and status)")
        rows.append(row)
    return rows


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object file, or ``{}`` when it is missing."""
    if not path.is_file():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ReportError(f"{path}: not valid JSON: {exc}") from None
    return doc if isinstance(doc, dict) else {}


def _trial_row(row: Mapping[str, Any]) -> TrialRow:
    metrics, budget = row.get("metrics") or {}, row.get("budget") or {}
    score = metrics.get(SCORE_KEY) if row["status"] == "done" else None
    epoch = budget.get("epoch") if budget.get("bilevel") else None
    return TrialRow(index=int(row["idx"]), digest=str(row.get("digest") or ""), status=str(row["status"]),
                    val_accuracy=_float_or_none(score), error=row.get("error"),
                    seconds=_float_or_none(row.get("seconds")), epoch=_int_or_none(epoch))


def _best(trials: Sequence[TrialRow]) -> TrialRow | None:
    """The highest val accuracy; ties: the later trial or epoch (RandomNet's and BM-NAS's ``>=``)."""
    scored = [t for t in trials if t.val_accuracy is not None]
    return max(scored, key=lambda t: (t.val_accuracy, t.index)) if scored else None


def _best_text(folder: Path, rows: Sequence[Mapping[str, Any]], best: TrialRow | None) -> str | None:
    """``best.geno``'s text, else the best row's values as ``path = value`` lines."""
    if best is None:
        return None
    if (folder / BEST_FILE).is_file():
        return (folder / BEST_FILE).read_text(encoding="utf-8")
    row = next(r for r in rows if int(r["idx"]) == best.index)
    values = (row.get("genotype") or {}).get("values") or {}
    return "\n".join(f"{path} = {_value_text(v)}" for path, v in values.items()) or None


def _value_text(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_value_text(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def _int_or_none(value: Any) -> int | None:
    return None if value is None or isinstance(value, bool) else int(value)


# ------------------------------------------------------------------ queries
def best_so_far(trials: RunReport | Iterable[TrialRow]) -> tuple[float | None, ...]:
    """The running maximum of the val accuracy, one entry per trial (``None`` before the first done one)."""
    rows = trials.trials if isinstance(trials, RunReport) else tuple(trials)
    return tuple(accumulate((t.val_accuracy for t in rows), _better))


def _better(best: float | None, acc: float | None) -> float | None:
    return acc if best is None or (acc is not None and acc > best) else best


def top_trials(report: RunReport, k: int = 5) -> tuple[TrialRow, ...]:
    """The ``k`` done trials of highest val accuracy, best first (ties: the later trial, as the best)."""
    scored = [t for t in report.trials if t.val_accuracy is not None]
    return tuple(sorted(scored, key=lambda t: (-(t.val_accuracy or 0.0), -t.index))[:max(0, k)])


def short_digest(digest: str | None) -> str:
    """The first 12 hex digits of a ``sha256:`` digest (``-`` for none)."""
    return "-" if not digest else digest.removeprefix("sha256:")[:12]


def report_json(report: RunReport, k: int = 5) -> dict[str, Any]:
    """The report as a JSON-ready dict: the counts, the best, every trial (with best so far), the top ``k``."""
    running = best_so_far(report)
    return {"run_dir": report.run_dir, "searcher": report.searcher, "space": report.space, "unit": report.unit,
            "budget": report.budget, "done": report.done, "failed": report.failed,
            "best_val_accuracy": report.best_val_accuracy, "best_digest": report.best_digest,
            "best_index": report.best_index, "best_genotype": report.best_genotype,
            "wall_seconds": report.wall_seconds, "trial_seconds": report.trial_seconds,
            "trials": [{**t.to_json(), "best_so_far": b} for t, b in zip(report.trials, running)],
            "top": [t.index for t in top_trials(report, k)]}


# ------------------------------------------------------------------ rich renderables
def summary_table(report: RunReport) -> Table:
    """A two-column table: searcher, space, counts, best val accuracy and digest, wall time."""
    from rich.table import Table

    table = Table(title=f"search run {report.run_dir}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    planned = f" of {report.budget}" if report.budget is not None else ""
    best = "(no trial succeeded)" if report.best_val_accuracy is None else \
        f"{report.best_val_accuracy:.4f} ({report.unit} {_label(report, report.best_index)})"
    wall = "-" if report.wall_seconds is None else f"{report.wall_seconds:.1f} s"
    for key, value in (("searcher", report.searcher), ("space", report.space),
                       (f"{report.unit}s", f"{report.done} done, {report.failed} failed{planned}"),
                       ("best val acc", best), ("best digest", short_digest(report.best_digest)),
                       ("wall time", f"{wall} ({report.trial_seconds:.1f} s in {report.unit}s)")):
        table.add_row(key, value)
    return table


def trials_table(report: RunReport, rows: Sequence[TrialRow], *, title: str = "") -> Table:
    """One line per row: rank, trial (or epoch), val accuracy, best so far at it, time, digest, error."""
    from rich.table import Table

    running = dict(zip((t.index for t in report.trials), best_so_far(report)))
    table = Table(title=title or None, title_justify="left")
    for name in ("#", report.unit, "val acc", "best so far", "seconds", "digest"):
        table.add_column(name, justify="left" if name == "digest" else "right")
    if any(t.failed for t in rows):
        table.add_column("error", overflow="fold")
    for rank, t in enumerate(rows, 1):
        cells = [str(rank), _label(report, t.index), _acc(t.val_accuracy), _acc(running.get(t.index)),
                 "-" if t.seconds is None else f"{t.seconds:.1f}", short_digest(t.digest)]
        table.add_row(*cells, *([t.error or ""] if len(table.columns) > len(cells) else []))
    return table


def _label(report: RunReport, index: int | None) -> str:
    """A trial's planned index, or an epoch's number (1-based)."""
    if index is None:
        return "-"
    return str(index + 1) if report.unit == "epoch" else str(index)


def _acc(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
