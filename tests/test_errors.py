"""The error catalogue (genolang/error_catalogue.py): every code is detected, positioned,
worded and rendered as the table says; docs/errors.md is the table, rendered."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import genolang
import genolang.errors as errors_module
from genolang.error_catalogue import API_ONLY, CATALOGUE, ErrorCase, render_markdown
from genolang.errors import SHOWN_LINE, GenolangError

ROOT = Path(__file__).resolve().parents[1]
NAME = "example.geno"


def _load(case: ErrorCase, tmp_path: Path) -> GenolangError:
    for name, text in case.files:
        (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(GenolangError) as info:
        genolang.loads(case.text, NAME, base=tmp_path)
    return info.value


def _id(case: ErrorCase) -> str:
    return f"{case.code}-{case.title}"


@pytest.mark.parametrize("case", CATALOGUE, ids=_id)
def test_detected_with_code_position_and_class(case: ErrorCase, tmp_path: Path):
    err = _load(case, tmp_path)
    assert (err.code, err.line, err.column) == (case.code, case.line, case.column), err.render()
    assert type(err).__name__ == case.error
    assert isinstance(err, getattr(genolang, case.error))


@pytest.mark.parametrize("case", CATALOGUE, ids=_id)
def test_message_and_suggestion(case: ErrorCase, tmp_path: Path):
    first = _load(case, tmp_path).first
    assert case.fragment in first.message
    if case.suggestion:
        assert any("did you mean" in h and f"'{case.suggestion}'" in h for h in first.help), first.help


@pytest.mark.parametrize("case", CATALOGUE, ids=_id)
def test_rendered_with_location_source_line_and_caret(case: ErrorCase, tmp_path: Path):
    err = _load(case, tmp_path)
    text = dict(case.files)[case.in_file] if case.in_file else case.text
    rendered = err.first.render()
    assert f"error[{case.code}]" in rendered
    assert f"{case.in_file or NAME}:{case.line}:{case.column}" in rendered
    source_line = text.splitlines()[case.line - 1]
    lines = rendered.splitlines()
    row = next(i for i, line in enumerate(lines) if f" {case.line} | " in line)
    gutter = lines[row].index("| ") + 2
    shown, caret = lines[row][gutter:], lines[row + 1][gutter:].index("^")
    assert shown[caret:caret + 1] == source_line[case.column - 1:case.column], rendered
    if len(source_line) <= SHOWN_LINE:  # shown whole, caret under the column
        assert shown == source_line and caret == case.column - 1, rendered
    else:  # a window around the caret
        assert shown.strip(".") in source_line and len(shown) <= SHOWN_LINE + 6
    assert str(err) == err.render()


@pytest.mark.parametrize("case", CATALOGUE, ids=_id)
def test_json_form_has_the_same_fields(case: ErrorCase, tmp_path: Path):
    err = _load(case, tmp_path)
    data = err.first.to_json()
    assert (data["code"], data["line"], data["column"]) == (case.code, case.line, case.column)
    assert data["severity"] == "error" and case.fragment in data["message"]
    assert data["file"].endswith(case.in_file or NAME)
    if case.suggestion:
        assert any(f"'{case.suggestion}'" in h for h in data["help"])


def test_every_code_the_library_raises_is_catalogued_or_listed():
    import re

    raised: set[str] = set()
    for path in (ROOT / "genolang").glob("*.py"):
        if path.name != "error_catalogue.py":
            raised |= set(re.findall(r'"(E0\d{3})"', path.read_text(encoding="utf-8")))
    known = {c.code for c in CATALOGUE} | {code for code, _, _ in API_ONLY}
    default_codes = {"E0200", "E0300", "E0900", "E0000", "E0001", "E0199"}
    assert raised - known - default_codes == set()


def test_docs_page_is_the_rendered_catalogue():
    page = ROOT / "docs" / "errors.md"
    assert page.read_text(encoding="utf-8") == render_markdown(), (
        "docs/errors.md is stale: run python -c \"import genolang.error_catalogue as c; c.write_markdown()\"")


def test_every_error_class_derives_from_genolang_error():
    classes = [obj for _, obj in inspect.getmembers(errors_module, inspect.isclass)
               if issubclass(obj, Exception)]
    assert len(classes) >= 6
    assert all(issubclass(cls, GenolangError) for cls in classes)
    for name in ("GenolangSyntaxError", "SpaceError", "GenotypeError", "LimitError", "UsageError"):
        assert issubclass(getattr(genolang, name), genolang.GenolangError)


THREE_MISTAKES = """genolang 1
space s version 1 {
  enum Op { conv3x3, sep3x3 }
  x: int(5..1)
  node n { op: Opp }
  require latncy <= 5ms
}
"""


def test_several_problems_are_reported_together_sorted_by_line():
    with pytest.raises(genolang.SpaceError) as info:
        genolang.loads(THREE_MISTAKES, NAME)
    found = [(d.code, d.line) for d in info.value.diagnostics]
    assert found == [("E0234", 4), ("E0230", 5), ("E0280", 6)]
    rendered = info.value.render()
    assert all(f"{NAME}:{line}:" in rendered for _, line in found)


def test_genotype_problems_are_reported_together():
    case = next(c for c in CATALOGUE if c.code == "E0340")
    text = case.text.replace("width = 32", "width = 100").replace("C = 1", "C = 1\n  lr = 3")
    with pytest.raises(genolang.GenotypeError) as info:
        genolang.loads(text, NAME)
    assert [d.code for d in info.value.diagnostics] == ["E0321", "E0343", "E0340"]


def test_cascades_are_suppressed():
    # an invalid count does not also report the instances it controls
    case = next(c for c in CATALOGUE if c.code == "E0342")
    text = case.text.replace("C = 5", "C = 5\n  n[2].op = conv3x3")
    with pytest.raises(genolang.GenotypeError) as info:
        genolang.loads(text, NAME)
    assert [d.code for d in info.value.diagnostics] == ["E0342"]
    # a misspelt decision is not also reported missing
    case = next(c for c in CATALOGUE if c.code == "E0321")
    with pytest.raises(genolang.GenotypeError) as info:
        genolang.loads(case.text, NAME)
    assert [d.code for d in info.value.diagnostics] == ["E0321"]


def test_many_problems_are_capped():
    body = "".join(f"  x{i}: int({i + 5}..1)\n" for i in range(300))
    with pytest.raises(genolang.SpaceError) as info:
        genolang.loads(f"genolang 1\nspace s version 1 {{\n{body}}}\n", NAME)
    diags = info.value.diagnostics
    assert len(diags) == errors_module.MAX_DIAGNOSTICS
    assert "200 more problem(s) not shown" in diags[-1].notes[-1]


def test_diamond_imports_are_not_duplicates(tmp_path: Path):
    header = "genolang 1\n"
    (tmp_path / "d.geno").write_text(header + "space d version 1 { x: bool }\n")
    (tmp_path / "b.geno").write_text(header + 'import "d.geno"\n')
    (tmp_path / "c.geno").write_text(header + 'import "d.geno"\n')
    doc = genolang.loads(header + 'import "b.geno"\nimport "c.geno"\ngenotype g of d version 1 { x = true }\n',
                         NAME, base=tmp_path)
    assert doc.genotype().values == {"x": True}
