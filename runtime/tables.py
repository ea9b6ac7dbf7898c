"""The terminal tables of a search's outcome (``genolang search`` prints one).

Importing this module imports neither torch nor the compiler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from genolang.runtime.runfolder import BEST_FILE, LEDGER_FILE, SUMMARY_FILE, TRIALS_FILE

if TYPE_CHECKING:
    from genolang.runtime.search import SearchResult

OUTPUTS = (BEST_FILE, TRIALS_FILE, SUMMARY_FILE, LEDGER_FILE)


def rows_text(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:{width}}  {v}" for k, v in rows)


def summary_table(result: SearchResult) -> str:
    """The final table: trials done/failed (and why), best val accuracy, best digest, wall time, outputs.

    The trials line reads ``16 done, 4 failed (CompileError E0400: 4)``: failed trials per
    reason class, most frequent first.
    """
    best = f"{result.best_score:.4f}" if result.best_score is not None else "(no trial succeeded)"
    why = ", ".join(f"{reason}: {count}" for reason, count in result.failures.items())
    rows = [("trials", f"{result.done} done, {result.failed} failed"
                       + (f" ({why})" if result.failed and why else "")
                       + (f" ({result.recovered} interrupted, retried)" if result.recovered else "")),
            ("best val acc", best),
            ("best genotype", result.best.digest if result.best is not None else "-"),
            ("wall time", f"{result.seconds:.1f} s"),
            ("wrote", ", ".join(str(result.out_dir / n) for n in OUTPUTS))]
    return rows_text(rows)


def job_table(job: Any) -> str:
    """The search's table, then (when trained) the comparison and the wall time of each phase
    (``job``: a :class:`~genolang.runtime.job.JobResult`)."""
    from genolang.runtime.final import table

    parts = [summary_table(job.search)]
    if job.pretrained and not job.rows:
        parts.append("pretrained  " + ", ".join(f"{k} test acc {v.test_accuracy}" for k, v in job.pretrained.items()))
    if job.rows:
        margin = job.margin()
        parts.append(table(job.rows) + ("" if margin is None else f"\nsearched - late fusion: {margin:+.4f} test acc"))
    parts.append("phases      " + ", ".join(f"{k} {v:.1f} s" for k, v in job.phases.items()))
    return "\n\n".join(parts)


def bilevel_table(result: SearchResult, finetune: dict[str, Any] | None = None) -> str:
    """The final table of a one-shot search: epochs, best epoch, genotype, (test accuracy), outputs."""
    best = "(none)" if result.best is None else f"{result.best_score:.4f} (epoch {result.best.meta.get('epoch')})"
    rows = [("epochs", str(result.done)), ("best val acc", best),
            ("best genotype", result.best.digest if result.best is not None else "-"),
            ("wall time", f"{result.seconds:.1f} s")]
    if finetune is not None:
        test = finetune.get("test_accuracy")
        rows.append(("test acc", f"{test:.4f} ({finetune['labelled']} labelled samples)" if test is not None
                     else f"- (no test split; {finetune['labelled']} labelled samples)"))
    names = OUTPUTS + ("supernet.pt",) + (("finetune.json",) if finetune else ())
    rows.append(("wrote", ", ".join(str(result.out_dir / n) for n in names)))
    return rows_text(rows)
