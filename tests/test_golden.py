"""Golden files: the AST of every example and the canonical JSON of every example genotype."""

from __future__ import annotations

import json

import pytest
from conftest import GENOTYPE_FILES, GOLDEN, ROOT, SPACE_FILES, check_golden

import genolang
from genolang import ast as A
from genolang.parser import parse

ALL = SPACE_FILES + GENOTYPE_FILES


@pytest.mark.parametrize("path", ALL, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_ast_golden(path):
    module = parse(path.read_text(encoding="utf-8"), str(path))
    dumped = json.dumps(module.model_dump(mode="json"), indent=1, sort_keys=True) + "\n"
    check_golden(GOLDEN / "ast" / f"{path.parent.name}__{path.stem}.json", dumped)


@pytest.mark.parametrize("path", ALL, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_ast_validates_strictly(path):
    """The parsers build nodes without re-validation; pydantic must accept every tree."""
    module = parse(path.read_text(encoding="utf-8"), str(path))
    again = A.Module.model_validate(module.model_dump())
    assert again == module and hash(again) == hash(module)
    assert A.Module.model_validate_json(module.model_dump_json()) == module


@pytest.mark.parametrize("path", GENOTYPE_FILES, ids=lambda p: p.name)
def test_canonical_json_golden(path):
    doc = genolang.load(path)
    lines = [f"{g.digest} {g.canonical_json()}" for g in doc.genotypes.values()]
    check_golden(GOLDEN / "canonical" / f"{path.stem}.txt", "\n".join(lines) + "\n")


@pytest.mark.parametrize("path", SPACE_FILES, ids=lambda p: p.name)
def test_fingerprint_golden(path):
    space_fps = [f"{s.name} {s.version} {s.fingerprint}" for s in genolang.load(path).spaces.values()]
    check_golden(GOLDEN / "fingerprints" / f"{path.stem}.txt", "\n".join(space_fps) + "\n")


def test_golden_files_have_sources():
    """No stale golden file outlives its example."""
    stems = {f"{p.parent.name}__{p.stem}" for p in ALL}
    stale = [p.name for p in (GOLDEN / "ast").glob("*.json") if p.stem not in stems]
    assert not stale, f"golden files without an example: {stale} (under {ROOT.name}/tests/golden)"
