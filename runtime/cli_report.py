"""``genolang report RUN_DIR [--json] [--plot PNG]``: a search run's trials, best architecture and plot.

One small handler over :mod:`genolang.runtime.report` (and :mod:`genolang.runtime.report_plot`
for ``--plot``): a summary table (searcher, space, trials done/failed, best val accuracy, best
digest, wall time) and the top 5 trials, or with ``--json`` the report as one JSON object.
A missing folder, or one holding no trial ledger, exits 1 with a diagnostic (no traceback).

Importing this module imports neither torch, rich nor matplotlib; the handler does.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from genolang.cli import EXIT_OK, out_json

TOP = 5


def cmd_report(args: argparse.Namespace) -> int:
    """Load RUN_DIR's report, draw the plot when asked, print the tables (or the JSON)."""
    from genolang.runtime.report import load_report, report_json, summary_table, top_trials, trials_table

    report = load_report(args.run_dir)
    plot = None
    if args.plot:
        from genolang.runtime.report_plot import plot_report

        plot = plot_report(report, args.plot)
    if args.json:
        out_json({"ok": True, **report_json(report, TOP), "plot": str(plot) if plot else None})
        return EXIT_OK
    from rich.console import Console

    console = Console(file=sys.stdout)
    if not console.is_terminal:  # a pipe or a file: wide enough for the digests, never wrapped at 80
        console = Console(file=sys.stdout, width=110)
    console.print(summary_table(report))
    console.print(trials_table(report, top_trials(report, TOP), title=f"top {TOP} {report.unit}s"))
    if plot:
        console.print(f"wrote {plot}")
    return EXIT_OK


def register(sub: Any, add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``genolang report`` to the main parser."""
    p = add(sub, "report", cmd_report, "a search run's trials, best architecture and a plot of "
                                       "validation error per trial")
    p.add_argument("run_dir", metavar="RUN_DIR", help="the --out folder of `genolang search`")
    p.add_argument("--plot", metavar="PNG", help="also draw validation error per trial and the best "
                                                 "architecture into this PNG file")


__all__ = ["cmd_report", "register"]
