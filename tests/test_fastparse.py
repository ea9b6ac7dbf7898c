"""The genotype fast path builds exactly the AST (spans included) that lark builds."""

from __future__ import annotations

import pytest
from conftest import GENOTYPE_FILES, SPACE_FILES
from hypothesis import given, settings
from hypothesis import strategies as st
from lark.exceptions import UnexpectedInput, VisitError

from genolang import ast as A
from genolang.fastparse import fast_parse
from genolang.parser import _BUILDER, tree_parser


def dump(node):
    """Every field, spans included (node equality ignores spans)."""
    if isinstance(node, A.Node):
        return (type(node).__name__, {k: dump(v) for k, v in node.__dict__.items()})
    if isinstance(node, tuple) and not isinstance(node, A.Span):
        return [dump(x) for x in node]
    return node


def same_as_lark(text: str) -> None:
    fast = fast_parse(text)
    try:
        slow = _BUILDER.transform(tree_parser().parse(text))
    except (UnexpectedInput, VisitError):
        assert fast is None, "the fast path accepted text lark rejects"
        return
    if fast is not None:
        assert dump(fast) == dump(slow)


@pytest.mark.parametrize("path", GENOTYPE_FILES, ids=lambda p: p.name)
def test_examples_take_the_fast_path(path):
    text = path.read_text()
    assert fast_parse(text) is not None
    same_as_lark(text)


@pytest.mark.parametrize("path", SPACE_FILES, ids=lambda p: p.name)
def test_spaces_fall_back(path):
    assert fast_parse(path.read_text()) is None


@pytest.mark.parametrize("name", [p.stem for p in SPACE_FILES])
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10**6))
def test_sampled_genotypes(spaces, name, seed):
    text = spaces[name].sample(seed).to_text()
    assert fast_parse(text) is not None
    same_as_lark(text)


EDGE = [
    'genolang 1\ngenotype g of s version 1 { a = true; b = [1, -2, 1.5e3, -0.5, "x\\n"] }',
    "genolang 1\ngenotype g of s version 1 {\n  c = op(@x.y[1]) # note\n  d = {p: [], q: {}}\n  meta { k: false, }\n}",
    "genolang 1\ngenotype g of s version 1 { a . b [ 01 ] = - 3 ; e=1_000 }",
    "genolang 1\ngenotype g of s version 1 { meta.x = 1 }",
    "genolang 1\ngenotype g of s version 1 { in.x = 1; x.in = @a.true; y = @true.x; z = op(@c.in[0]) }",
    "genolang 1\ngenotype g of s version 1 { in = 1 }",
    "genolang 1\ngenotype g of s version 1 { a = 5M }",
    "genolang 1\ngenotype g of s version 1 { a = x * 2 }",
    "genolang 1\ngenotype g of s version 1 { a = [1,, 2] }",
    "genolang 1\ngenotype g of s version 1 { a = { , } }",
    "genolang 1\ngenotype g of s version 1 { a = 1 } }",
    'genolang 1\nimport "x.geno"\ngenotype g of s version 1 fingerprint "sha256:00" { true = 1 }',
    "genolang 2\ngenotype g of s version 1 { a = 1e }",
]


@pytest.mark.parametrize("text", EDGE)
def test_edge_cases_agree_with_lark(text):
    same_as_lark(text)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_genotypes_agree_with_lark(data):
    base = data.draw(st.sampled_from(GENOTYPE_FILES)).read_text()
    i = data.draw(st.integers(0, len(base)))
    j = data.draw(st.integers(i, min(len(base), i + 8)))
    insert = data.draw(st.text(alphabet="@.[]{}(),:=;-_0123456789aez \n#\"", max_size=4))
    same_as_lark(base[:i] + insert + base[j:])
