"""Shared fixtures: the example files and their loaded documents."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SPACE_FILES = sorted((EXAMPLES / "spaces").glob("*.geno"))
GENOTYPE_FILES = sorted((EXAMPLES / "genotypes").glob("*.geno"))
GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE_GOLDEN = os.environ.get("GENOLANG_UPDATE_GOLDEN") == "1"


def pytest_configure(config: pytest.Config) -> None:
    """In a pytest-xdist worker, one torch thread: the workers already fill the cores."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"  # read when torch is first imported, here and in subprocesses


def check_golden(path: Path, text: str) -> None:
    """Compare ``text`` with a golden file; GENOLANG_UPDATE_GOLDEN=1 rewrites it."""
    if UPDATE_GOLDEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if not path.exists():
        pytest.fail(f"missing golden file {path.relative_to(ROOT)}; run with GENOLANG_UPDATE_GOLDEN=1 "
                    "and review the diff")
    assert text == path.read_text(encoding="utf-8"), f"differs from {path.relative_to(ROOT)}"


@pytest.fixture(scope="session")
def spaces():
    import genolang

    return {p.stem: genolang.load(p).space() for p in SPACE_FILES}
