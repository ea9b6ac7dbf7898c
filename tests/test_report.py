"""``genolang report``: a search run folder as counts, best, best-so-far, tables, JSON and a PNG.

The run folders are real: a random search of 3 one-step trials with the real trainer on the
synthetic data of ``test_search`` (trial 1 made to diverge, so one trial fails), and a 2-epoch
BM-NAS search on the data of ``test_bilevel``. Exact values come from a hand-written folder.
"""

from __future__ import annotations

import io
import json
import math
import shutil
import subprocess
import sys
from itertools import accumulate
from pathlib import Path

import pytest
from rich.console import Console

from genolang.cli import main
from genolang.runtime.errors import DivergedError
from genolang.runtime.report import (
    ReportError,
    RunReport,
    TrialRow,
    best_so_far,
    load_report,
    report_json,
    top_trials,
    trials_table,
)
from genolang.runtime.search_trial import TrialContext, TrialJob, train_trial

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def diverging_at_one(job: TrialJob, ctx: TrialContext) -> dict:
    """The real trial, except that trial 1 diverges (a failed trial, recorded with its reason)."""
    if job.idx == 1:
        raise DivergedError("the training loss became nan")
    return dict(train_trial(job, ctx))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A random search: 3 trials of 1 step each, trial 1 failed."""
    from test_search import SPACE, make_dataset

    import genolang
    from genolang.runtime.train import TrainConfig
    from genolang.searchers.study import run_search

    folder = tmp_path_factory.mktemp("report")
    (folder / "duo.geno").write_text(SPACE, encoding="utf-8")
    space = genolang.load(folder / "duo.geno").space()
    result = run_search(space, make_dataset(), searcher="random", budget=3, steps=1, out_dir=folder / "run",
                        train_config=TrainConfig(batch_size=32, amp=False), device="cpu", trial_fn=diverging_at_one)
    assert (result.done, result.failed) == (2, 1)
    return folder / "run"


def _summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text(encoding="utf-8"))


def _lines(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "trials.jsonl").read_text(encoding="utf-8").splitlines()]


def _running_max(scores: list[float | None]) -> list[float | None]:
    best = accumulate((-math.inf if s is None else s for s in scores), max)
    return [None if b == -math.inf else b for b in best]


# ------------------------------------------------------------------ a real random search
def test_the_report_counts_and_best_equal_the_runs_files(run_dir):
    report, summary, lines = load_report(run_dir), _summary(run_dir), _lines(run_dir)
    assert (report.searcher, report.space, report.unit, report.budget) == ("random", "duo", "trial", 3)
    assert report.done == summary["done"] == sum(r["status"] == "done" for r in lines) == 2
    assert report.failed == summary["failed"] == sum(r["status"] == "failed" for r in lines) == 1
    assert [t.index for t in report.trials] == [r["idx"] for r in lines] == [0, 1, 2]
    assert [t.digest for t in report.trials] == [r["digest"] for r in lines]
    assert [t.seconds for t in report.trials] == [r["seconds"] for r in lines]
    done = [r["metrics"]["val_accuracy"] for r in lines if r["status"] == "done"]
    assert report.best_val_accuracy == max(done) == summary["best"]["val_accuracy"]
    assert (report.best_digest, report.best_index) == (summary["best"]["digest"], summary["best"]["idx"])
    assert report.wall_seconds == summary["seconds"]
    assert report.best_genotype == (run_dir / "best.geno").read_text(encoding="utf-8")
    failed = report.trials[1]
    assert failed.failed and failed.val_accuracy is None and failed.val_error is None
    assert failed.error == "DivergedError E0601: the training loss became nan"


def test_best_so_far_is_the_running_max_and_top_trials_are_sorted(run_dir):
    report = load_report(run_dir)
    scores = [t.val_accuracy for t in report.trials]
    assert list(best_so_far(report)) == _running_max(scores) == list(best_so_far(report.trials))
    top = top_trials(report, 5)
    assert [t.val_accuracy for t in top] == sorted((s for s in scores if s is not None), reverse=True)
    assert top[0].digest == report.best_digest and top_trials(report, 1) == top[:1]


def test_the_ledger_alone_gives_the_same_counts_and_is_not_written(tmp_path, run_dir):
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    (copy / "trials.jsonl").unlink()
    (copy / "summary.json").unlink()
    ledger = (copy / "ledger.sqlite").read_bytes()
    alone, whole = load_report(copy), load_report(run_dir)
    assert (copy / "ledger.sqlite").read_bytes() == ledger  # opened read-only
    assert (alone.searcher, alone.space, alone.budget, alone.wall_seconds) == ("random", "duo", 3, None)
    assert alone.trials == whole.trials and alone.best_digest == whole.best_digest


def test_the_json_output_parses_and_matches_the_report(run_dir, capsys):
    assert main(["report", str(run_dir), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    report = load_report(run_dir)
    assert doc == {"ok": True, **json.loads(json.dumps(report_json(report))), "plot": None}
    assert (doc["done"], doc["failed"], doc["best_digest"]) == (2, 1, report.best_digest)
    assert [t["best_so_far"] for t in doc["trials"]] == _running_max([t.val_accuracy for t in report.trials])


def test_the_tables_show_the_summary_and_the_top_trials(run_dir, capsys):
    assert main(["report", str(run_dir)]) == 0
    text = capsys.readouterr().out
    report = load_report(run_dir)
    assert "random" in text and "duo" in text and "2 done, 1 failed of 3" in text
    assert f"{report.best_val_accuracy:.4f}" in text and report.best_digest[7:19] in text
    assert f"{report.wall_seconds:.1f} s" in text and "top 5 trials" in text


def test_the_plot_is_a_png_of_the_requested_size(run_dir, tmp_path, capsys):
    from matplotlib.image import imread

    from genolang.runtime.report_plot import plot_report

    png = tmp_path / "plots" / "run.png"
    assert main(["report", str(run_dir), "--plot", str(png)]) == 0
    assert f"wrote {png}" in capsys.readouterr().out
    assert png.read_bytes()[:8] == PNG_MAGIC and imread(png).shape[:2] == (600, 1400)
    small = plot_report(load_report(run_dir), tmp_path / "small.png", size=(800, 400))
    assert small.read_bytes()[:8] == PNG_MAGIC and imread(small).shape[:2] == (400, 800)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("make", ["missing", "empty"])
def test_a_missing_or_empty_folder_exits_1_naming_it(tmp_path, capsys, make):
    folder = tmp_path / "no-run-here"
    if make == "empty":
        folder.mkdir()
    assert main(["report", str(folder)]) == 1
    err = capsys.readouterr().err
    assert str(folder) in err and "error[E0702]" in err and "Traceback" not in err
    with pytest.raises(ReportError, match="no-run-here"):
        load_report(folder)


def test_the_command_prints_no_traceback(tmp_path):
    folder = tmp_path / "nowhere"
    proc = subprocess.run([sys.executable, "-m", "genolang", "report", str(folder)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1 and str(folder) in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_a_broken_trials_file_is_named_with_its_line(tmp_path):
    (tmp_path / "trials.jsonl").write_text('{"idx": 0, "status": "failed"}\n{"idx": 1,\n', encoding="utf-8")
    with pytest.raises(ReportError, match=r"trials\.jsonl:2: not a JSON object"):
        load_report(tmp_path)
    (tmp_path / "trials.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(ReportError, match="no finished trial"):
        load_report(tmp_path)


# ------------------------------------------------------------------ a hand-written folder: exact values
def _trial(idx: int, acc: float | None, seconds: float) -> dict:
    failed = acc is None
    return {"idx": idx, "id": idx + 1, "digest": "sha256:" + str(idx) * 64, "status": "failed" if failed else "done",
            "budget": {"steps": 1}, "metrics": None if failed else {"val_accuracy": acc},
            "error": "CompileError: no inputs" if failed else None, "seconds": seconds,
            "genotype": {"space": "toy", "values": {"x.op": f"op{idx}", "x.in": ["@a", "@b"], "x.on": True}}}


@pytest.fixture
def hand_made(tmp_path) -> Path:
    rows = [_trial(0, 0.5, 1.0), _trial(1, None, 0.5), _trial(3, 0.6, 2.0), _trial(2, 0.7, 1.5), _trial(4, 0.7, 3.0)]
    (tmp_path / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    summary = {"space": "toy", "searcher": "evolution", "budget": 6, "done": 4, "failed": 1, "seconds": 9.25}
    (tmp_path / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return tmp_path


def test_a_hand_made_folder_gives_exact_values(hand_made):
    report = load_report(hand_made)
    assert isinstance(report, RunReport) and report.unit == "trial"
    assert (report.searcher, report.space, report.budget, report.done, report.failed) == ("evolution", "toy", 6, 4, 1)
    assert [t.index for t in report.trials] == [0, 1, 2, 3, 4]
    assert [t.val_accuracy for t in report.trials] == [0.5, None, 0.7, 0.6, 0.7]
    assert (report.best_val_accuracy, report.best_index) == (0.7, 4)  # ties: the later trial (RandomNet's >=)
    assert report.best_digest == "sha256:" + "4" * 64
    assert report.best_genotype == "x.op = op4\nx.in = [@a, @b]\nx.on = true"
    assert (report.wall_seconds, report.trial_seconds) == (9.25, 8.0)
    assert best_so_far(report) == (0.5, 0.5, 0.7, 0.7, 0.7)
    assert [t.index for t in top_trials(report, 3)] == [4, 2, 3] and top_trials(report, 0) == ()
    assert report.trials[1] == TrialRow(1, "sha256:" + "1" * 64, "failed", None, "CompileError: no inputs", 0.5)
    doc = report_json(report, k=2)
    assert doc["top"] == [4, 2] and [t["best_so_far"] for t in doc["trials"]] == [0.5, 0.5, 0.7, 0.7, 0.7]
    assert doc["trials"][1] == {"index": 1, "epoch": None, "digest": "sha256:" + "1" * 64, "status": "failed",
                                "val_accuracy": None, "error": "CompileError: no inputs", "seconds": 0.5,
                                "best_so_far": 0.5}


def test_a_hand_made_folder_plots_and_shows_its_failures(hand_made, capsys):
    png = hand_made / "out.png"
    assert main(["report", str(hand_made), "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    assert "evolution" in text and "4 done, 1 failed of 6" in text and "0.7000" in text
    assert png.read_bytes()[:8] == PNG_MAGIC
    report = load_report(hand_made)
    console = Console(file=io.StringIO(), width=120)
    console.print(trials_table(report, report.trials))
    rows = [line for line in console.file.getvalue().splitlines() if "│" in line]
    assert len(rows) == 5 and "CompileError: no inputs" in rows[1] and "111111111111" in rows[1]


# ------------------------------------------------------------------ a differentiable search: one row per epoch
def test_a_bmnas_run_reports_its_epochs(tmp_path):
    from test_bilevel import FAST, SPACE, make_dataset

    import genolang
    from genolang.runtime.bilevel import run_bilevel

    (tmp_path / "cellmini.geno").write_text(SPACE, encoding="utf-8")
    space = genolang.load(tmp_path / "cellmini.geno").space()
    run_bilevel(space, make_dataset(), out_dir=tmp_path / "run", epochs=2, config=FAST, device="cpu")
    report, summary = load_report(tmp_path / "run"), _summary(tmp_path / "run")
    assert (report.searcher, report.unit, report.budget) == ("bmnas", "epoch", 2)
    assert (report.done, report.failed) == (summary["done"], summary["failed"]) == (2, 0)
    assert [t.epoch for t in report.trials] == [1, 2]
    assert report.best_digest == summary["best"]["digest"] and report.best_index == summary["best"]["idx"]
    assert report.best_val_accuracy == summary["best"]["val_accuracy"]
    assert list(best_so_far(report)) == _running_max([t.val_accuracy for t in report.trials])
