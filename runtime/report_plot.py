"""The PNG of ``genolang report RUN_DIR --plot PNG``: validation error per trial, and the best architecture.

Left panel (after MFAS, Pérez-Rúa et al. 2019, Fig. 5): the validation error (1 - val accuracy)
of every trial as a dot against its index, failed trials as red crosses along the top, and the
best-so-far line. Right panel: the best architecture as its canonical genotype text
(``best.geno``, header and import lines dropped) in a monospace box. matplotlib is imported
inside :func:`plot_report`, with the non-interactive Agg backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from genolang.runtime.report import RunReport, best_so_far

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["genotype_lines", "plot_report"]

MAX_LINES, MAX_COLUMNS = 60, 80  # of the genotype text shown; the rest is elided


def plot_report(report: RunReport, path: str | Path, *, size: tuple[int, int] = (1400, 600),
                dpi: int = 100) -> Path:
    """Draw ``report`` into the PNG ``path`` (``size`` in pixels, width x height); the path written."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    width, height = size
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": (3, 2)})
    _trials_panel(left, report)
    planned = f" of {report.budget}" if report.budget is not None else ""
    fig.suptitle(f"{report.searcher} on {report.space}: {report.done} {report.unit}s done, "
                 f"{report.failed} failed{planned}")
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.11, top=0.88, wspace=0.08)
    _genotype_panel(right, report)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=dpi)
    return out


def _x(report: RunReport, index: int) -> int:
    """The plotted position: the trial's index, or the epoch's number."""
    return index + 1 if report.unit == "epoch" else index


def _trials_panel(ax: Axes, report: RunReport) -> None:
    """Validation error per trial (dots), failures (red x at the top), the best-so-far line."""
    from matplotlib.ticker import MaxNLocator

    done = [t for t in report.trials if t.val_error is not None]
    failed = [t for t in report.trials if t.failed]
    errors = [t.val_error for t in done if t.val_error is not None]
    ax.scatter([_x(report, t.index) for t in done], errors, s=22, color="tab:blue",
               alpha=0.8, label=f"{report.unit}s done ({len(done)})", zorder=3)
    running = [(t.index, b) for t, b in zip(report.trials, best_so_far(report)) if b is not None]
    if running:
        ax.step([_x(report, i) for i, _ in running], [1.0 - b for _, b in running], where="post",
                color="tab:orange", linewidth=2, label="best so far", zorder=2)
    if failed:  # x in data units, y in axes units: along the top whatever the scale
        ax.scatter([_x(report, t.index) for t in failed], [0.96] * len(failed), marker="x", color="red", s=40,
                   transform=ax.get_xaxis_transform(), label=f"failed ({len(failed)})", zorder=4)
    errors = [t.val_error for t in done if t.val_error is not None]
    low, high = (min(errors), max(errors)) if errors else (0.0, 1.0)
    pad = max(0.02, (high - low) * 0.1)
    ax.set_ylim(max(0.0, low - pad), min(1.0, high + pad) + (pad * 1.5 if failed else 0.0))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(report.unit)
    ax.set_ylabel("validation error (1 - val accuracy)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")


def genotype_lines(report: RunReport) -> list[str]:
    """The best genotype's text as shown: no header, import or blank lines; long lines and tails elided."""
    if report.best_genotype is None:
        return ["(no trial succeeded)"]
    lines = [line.rstrip() for line in report.best_genotype.splitlines()
             if line.strip() and not line.startswith(("genolang ", "import "))]
    lines = [line if len(line) <= MAX_COLUMNS else line[:MAX_COLUMNS - 3] + "..." for line in lines]
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES - 1] + [f"... ({len(lines) - MAX_LINES + 1} more lines)"]
    return lines


def _genotype_panel(ax: Axes, report: RunReport) -> None:
    """The best genotype's canonical text in a monospace box, its font sized to fit the panel."""
    from matplotlib.figure import Figure

    lines = genotype_lines(report)
    box = ax.get_position()
    fig = ax.figure
    assert isinstance(fig, Figure), "the report's panels are axes of a plain Figure (made above)"
    width_in, height_in = fig.get_size_inches()
    width_pt, height_pt = box.width * width_in * 72, box.height * height_in * 72
    columns = max(len(line) for line in lines)
    # DejaVu Sans Mono advances 0.6 em; the box's padding takes about one em on each side
    fontsize = max(3.0, min(10.0, height_pt / (len(lines) * 1.25 + 2), width_pt / (columns * 0.61 + 2.5)))
    ax.axis("off")
    best = "" if report.best_val_accuracy is None else \
        f" (val acc {report.best_val_accuracy:.4f}, {report.unit} {_x(report, report.best_index or 0)})"
    ax.set_title(f"best architecture{best}", fontsize="medium")
    style: dict[str, Any] = {"boxstyle": "round,pad=0.6", "facecolor": "whitesmoke", "edgecolor": "grey"}
    ax.text(0.02, 0.98, "\n".join(lines), family="monospace", fontsize=fontsize, va="top", ha="left",
            transform=ax.transAxes, bbox=style)
