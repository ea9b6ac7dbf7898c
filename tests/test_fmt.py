"""`genolang fmt`: canonical layout, idempotence, AST preservation and comment preservation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import GENOTYPE_FILES, GOLDEN, ROOT, SPACE_FILES, check_golden
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genolang import GenolangError
from genolang import ast as A
from genolang import formatter_exprs as X
from genolang.formatter import WIDTH, format_text
from genolang.formatter_comments import parse_with_comments
from genolang.parser import parse

MESSY = GOLDEN / "fmt_input.geno"


def _files() -> list[Path]:
    """Every example, globbed when the tests are collected (examples keep being added)."""
    return sorted((ROOT / "examples" / "spaces").glob("*.geno")) + \
        sorted((ROOT / "examples" / "genotypes").glob("*.geno")) + [MESSY]


def _ast(text: str) -> dict:
    return parse(text).model_dump()  # spans are excluded from dumps


def _comments(text: str) -> list[str]:
    return [c.text for c in parse_with_comments(text)[1]]


def _check(text: str) -> str:
    pretty = format_text(text)
    assert format_text(pretty) == pretty, "formatting is not idempotent"
    assert _ast(pretty) == _ast(text), "formatting changed the AST"
    assert _comments(pretty) == _comments(text), "formatting lost or reordered comments"
    return pretty


@pytest.mark.parametrize("path", _files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_examples_idempotent_same_ast_same_comments(path):
    pretty = _check(path.read_text(encoding="utf-8"))
    assert pretty.startswith("genolang 1\n") or pretty.startswith("#")
    assert all(line == line.rstrip() and not line.startswith("\t") for line in pretty.splitlines())


def test_golden_layout():
    check_golden(GOLDEN / "fmt_expected.geno", format_text(MESSY.read_text(encoding="utf-8")))


def test_golden_expected_is_a_fixed_point():
    expected = (GOLDEN / "fmt_expected.geno").read_text(encoding="utf-8")
    assert format_text(expected) == expected


def test_comments_survive_in_every_position():
    text = MESSY.read_text(encoding="utf-8")
    before = _comments(text)
    assert len(before) >= 20
    assert _comments(format_text(text)) == before


@pytest.mark.parametrize("bad", [
    "genolang 1\nspace s version 1 { a = }\n",
    "genolang 1\nspace s version 1 {\n",
    "space s version 1 {}\n",
    "genolang 2\n",
    "genolang 1\nspace s version 1 { a = \"\\q\" }\n",
    "",
])
def test_syntax_errors_raise_genolang_error(bad):
    with pytest.raises(GenolangError):
        format_text(bad, "bad.geno")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="genolag 1space{}[]()=:;,.@*-+#\n\"xyzvri0", max_size=60))
def test_garbage_raises_only_genolang_error(text):
    try:
        pretty = format_text("genolang 1\n" + text)
    except GenolangError:
        return
    assert format_text(pretty) == pretty


def _token_ends(text: str) -> list[int]:
    """Offsets right after a token (outside strings and comments): a comment may go there."""
    spans = [(c.pos, c.pos + len(c.text)) for c in parse_with_comments(text)[1]]
    ends = (m.end() for m in re.finditer(r'"(?:[^"\\\n]|\\.)*"|[^\s"#]+', text))
    return [e for e in ends if not any(lo <= e <= hi for lo, hi in spans)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_files()), st.data())
def test_comments_anywhere_survive(path, data):
    """Comments and line breaks inserted after arbitrary tokens: kept, in order, stably."""
    text = path.read_text(encoding="utf-8")
    ends = _token_ends(text)
    picks = data.draw(st.lists(st.sampled_from(ends), min_size=1, max_size=25, unique=True))
    for k, pos in enumerate(sorted(picks, reverse=True)):
        insert = data.draw(st.sampled_from([f"  # c{k}\n", f"\n# c{k}\n\n", "\n", "\n\n\n"]))
        text = text[:pos] + insert + text[pos:]
    _check(text)


# ------------------------------------------------------------------ layout details
def _space(body: str) -> str:
    return f"genolang 1\n\nspace s version 1 {{\n{body}}}\n"


def test_blank_lines_collapse_and_none_after_open_brace():
    text = "genolang 1\nspace s version 1 {\n\n\n  a = 1\n\n\n\n  b = 2\n}\n"
    assert _check(text) == _space("  a = 1\n\n  b = 2\n")


def test_short_blocks_stay_on_one_line_and_long_ones_open_up():
    text = "genolang 1\nspace s version 1 { input x { a = 1\n b: bool }  # note\n}\n"
    assert _check(text) == _space("  input x { a = 1; b: bool }  # note\n")
    long = "x" * 80
    text = f'genolang 1\nspace s version 1 {{ input x {{ a = "{long}"; b = 2 }}  # note\n}}\n'
    assert _check(text) == _space(f'  input x {{  # note\n    a = "{long}"\n    b = 2\n  }}\n')
    nested = "genolang 1\nspace s version 1 { group g { node n { op = fc } } }\n"
    assert _check(nested) == _space("  group g {\n    node n { op = fc }\n  }\n")


def test_examples_are_in_canonical_layout():
    for path in SPACE_FILES + GENOTYPE_FILES:
        text = path.read_text(encoding="utf-8")
        assert format_text(text, str(path)) == text, f"run `genolang fmt -w {path.name}`"


def test_lists_explode_past_the_width_limit():
    fits = "x" * (WIDTH - len("  f = [") - len(", 1]") - 2)
    line = f'  f = ["{fits}", 1]'
    assert len(line) == WIDTH
    assert _check(_space(line + "\n")) == _space(line + "\n")
    wide = _space(f'  f = ["{fits}x", 1]\n')
    assert _check(wide) == _space(f'  f = [\n    "{fits}x",\n    1,\n  ]\n')


def test_numbers_strings_and_crlf():
    text = 'genolang 1\r\nspace s version 1 {\r\n  a = 1_000 # c \r\n  b = 1_0.5e1; c = "t\\"\\n"\r\n}\r\n'
    assert _check(text) == _space('  a = 1000  # c\n  b = 105.0\n  c = "t\\"\\n"\n')


# ------------------------------------------------------------------ minimal parentheses
_leaf = st.one_of(st.integers(0, 99).map(lambda n: A.NumE(value=n)),
                  st.sampled_from("abc").map(lambda s: A.QName(parts=(s,))))
_exprs = st.recursive(_leaf, lambda sub: st.one_of(
    sub.map(lambda e: A.NegE(operand=e)),
    st.builds(A.BinE, op=st.sampled_from(["+", "-", "*"]), left=sub, right=sub)), max_leaves=8)
_atoms = st.one_of(st.sampled_from(["p", "q.r"]).map(lambda p: A.Truthy(path=p)),
                   st.builds(A.Cmp, path=st.just("p"), op=st.sampled_from(["==", "<"]),
                             value=st.integers(-3, 3).map(lambda n: A.IntV(value=n))))
_conds = st.recursive(_atoms, lambda sub: st.one_of(
    sub.map(lambda c: A.Not(operand=c)),
    st.builds(A.BoolOp, kind=st.sampled_from(["and", "or"]), left=sub, right=sub)), max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(_exprs)
def test_expressions_round_trip(expr):
    module = parse(f"genolang 1\nspace s version 1 {{ let v = {X.expr(expr)} }}\n")
    assert module.items[0].members[0].value.model_dump() == expr.model_dump()


@settings(max_examples=200, deadline=None)
@given(_conds)
def test_conditions_round_trip(cond):
    module = parse(f"genolang 1\nspace s version 1 {{ forbid {X.cond(cond)} }}\n")
    assert module.items[0].members[0].cond.model_dump() == cond.model_dump()


def test_minimal_parentheses():
    text = _space("  let v = (a - (b - c)) * (d * e) + -(f + 1) - (g * h)\n"
                  "  forbid (not (a or b)) and ((c and d) or (e))\n")
    assert _check(text) == _space("  let v = (a - (b - c)) * (d * e) + -(f + 1) - g * h\n"
                                  "  forbid not (a or b) and (c and d or e)\n")
