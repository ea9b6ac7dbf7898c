"""Every benchmark command the docs write (``python benchmarks/X.py ...``) runs as written.

Each command is found in README.md and docs/*.md, run from the repository root exactly as a
fresh clone would run it (``python benchmarks/X.py``: the script's folder, not the root, is
first on ``sys.path``; no PYTHONPATH), with ``--help`` instead of its work, and every option the
docs give it must be one its parser knows.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "examples" / "README.md"]
COMMAND = re.compile(r"python (benchmarks/\w+\.py)((?:[ \t]+[^`\s)]+)*)")


def documented_commands() -> dict[str, set[str]]:
    """script -> the options (``--x``) the docs pass to it."""
    found: dict[str, set[str]] = {}
    for doc in DOCS:
        for script, args in COMMAND.findall(doc.read_text(encoding="utf-8")):
            found.setdefault(script, set()).update(a for a in args.split() if a.startswith("--"))
    return found


COMMANDS = documented_commands()


def test_the_docs_write_the_benchmark_commands() -> None:
    # the parser itself: the README's own commands are found with their options
    assert {"benchmarks/seeds_avdigits.py", "benchmarks/bench_ranking.py", "benchmarks/main_job.py"} <= set(COMMANDS)
    assert "--archs" in COMMANDS["benchmarks/bench_features.py"]
    assert {"--fair", "--jobs"} <= COMMANDS["benchmarks/seeds_avdigits.py"]


@pytest.mark.parametrize("script", sorted(COMMANDS))
def test_documented_command_runs_as_written(script: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout
    unknown = sorted(opt for opt in COMMANDS[script] if opt not in done.stdout)
    assert not unknown, f"{script}: the docs pass options its --help does not list: {unknown}"
