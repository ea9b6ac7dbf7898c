"""Field values from decisions (`filters = w`) and arithmetic (`filters = W * 2 + w`).

Oracles: exact IR field values, exact sizes, the compiled graph's channel counts for every
genotype of the space, and the formatter's round trip (text -> AST -> text -> equal AST).
"""

from __future__ import annotations

import itertools

import pytest

import genolang
from genolang.formatter_exprs import value as value_text
from genolang.ir import Computed, Decided
from genolang.parser import parse
from genolang.resolve_arith import computed_outcomes

H = "genolang 1\nspace s version 1 {\n"


def space(body: str):
    return genolang.loads(H + body + "}\n").space()


def codes(body: str) -> list[str]:
    with pytest.raises(genolang.GenolangError) as info:
        space(body)
    return [d.code for d in info.value.diagnostics]


SHARED = """\
  input x { shape = [3, 8, 8] }
  w: choice(16, 32)
  k: int(1..3)
  node a { in = @x; op = conv; filters = w }
  node b { in = @a; op = conv; filters = w }
  node c { in = @b; op = conv; filters = w * 2 + 8 }
  node d { in = @c; op = fc; hidden = 10 * k }
  head h { in = @d; classes = 10 }
"""


def test_a_decision_used_by_several_fields_is_one_decision():
    s = space(SHARED)
    assert [d.path for d in s.decisions()] == ["w", "k"]
    assert s.size() == 2 * 3  # w counted once, not once per field
    ents = s.ir.entities
    assert ents["a"].fields["filters"] == Decided("w") == ents["b"].fields["filters"]
    assert ents["c"].fields["filters"] == Computed(("+", ("*", ("@", "w"), 2), 8))
    assert ents["d"].fields["hidden"] == Computed(("*", 10, ("@", "k")))


def test_every_genotype_compiles_to_the_computed_widths():
    from genolang.compiler.compile import compile_genotype

    s = space(SHARED)
    for w, k in itertools.product((16, 32), (1, 2, 3)):
        graph = compile_genotype(s, s.validate({"w": w, "k": k})).graph
        out = {n.name: n.attrs.get("c_out") for n in graph.nodes if n.name in ("a", "b", "c")}
        assert out == {"a": w, "b": w, "c": 2 * w + 8}
        assert next(n for n in graph.nodes if n.name == "d").shape == (10 * k,)


def test_scoping_innermost_out_and_only_earlier_names():
    s = space("""\
  input x { shape = [4] }
  w: choice(1, 2)
  group g[2] {
    w: choice(3, 4)
    node n { in = @x; op = fc; hidden = w }
  }
  node m { in = @x; op = fc; hidden = w }
""")
    ents = s.ir.entities
    assert ents["g[0].n"].fields["hidden"] == Decided("g[0].w")  # the instance's own decision
    assert ents["g[1].n"].fields["hidden"] == Decided("g[1].w")
    assert ents["m"].fields["hidden"] == Decided("w")
    # a decision declared later is not visible: `v` is a symbol, and no activation
    assert codes("  input x { shape = [4] }\n  node late { in = @x; op = fc; hidden = 4; act = v }\n"
                 "  v: choice(relu, tanh)\n") == ["E0236"]


def test_a_let_shadowed_by_an_inner_decision():
    s = space("  let W = 8\n  input x { shape = [4] }\n"
              "  group g { W: choice(2, 3); node n { in = @x; op = fc; hidden = W * 2 } }\n"
              "  node m { in = @x; op = fc; hidden = W * 2 }\n")
    assert s.ir.entities["g.n"].fields["hidden"] == Computed(("*", ("@", "g.W"), 2))
    assert s.ir.entities["m"].fields["hidden"] == 16


def test_a_named_choice_of_ops_is_checked_against_the_catalogue():
    assert codes("  o: choice(conv3x3, conv33)\n  input x { shape = [3, 8, 8] }\n"
                 "  node n { in = @x; op = o }\n") == ["E0236"]


def test_a_decision_active_with_the_field_may_be_named():
    s = space("  b: bool\n  input x { shape = [4] }\n"
              "  when b { w: choice(2, 3); node n { in = @x; op = fc; hidden = w } }\n")
    assert s.ir.entities["n"].fields["hidden"] == Decided("w")
    assert s.size() == 1 + 2


@pytest.mark.parametrize("text, expected", [
    ("W * 2", 16), ("W - 3 * 2", 2), ("(W - 3) * 2", 10), ("-W + 20", 12), ("2 * -W", -16),
    ("0.25 * 2", 0.5), ("W * 0.5", 4.0), ("1 - -1", 2),
])
def test_constant_arithmetic_folds_with_int_and_float_semantics(text, expected):
    s = space(f"  let W = 8\n  input x {{ shape = [4] }}\n  node n {{ in = @x; op = fc; hidden = 4; v = {text} }}\n")
    folded = s.ir.entities["n"].fields["v"]
    assert folded == expected and type(folded) is type(expected)


@pytest.mark.parametrize("text, code", [
    ("hidden = w * 1.5", "E0290"),      # 24.0 is a float: a width must be an int
    ("hidden = w - 16", "E0290"),       # 0 for w = 16
    ("hidden = 4; dropout = w * 0.05", "E0290"),   # 1.6 for w = 32: not a probability
    ("hidden = 4; dropout = p", "E0290"),  # p reaches 1.0: not a probability
    ("hidden = a * 2", "E0284"),        # a choice of symbols
    ("hidden = nope * 2", "E0247"),     # `name * n` of an unknown name: the stack form misplaced
    ("hidden = nope + 2", "E0220"),     # unknown name
    ("hidden = S * 2", "E0284"),        # a string constant
    ("hidden = 10 ** 10", None),        # not in the grammar: a syntax error
    ("hidden = 4; act = w * 2", "E0236"),  # a number where an activation name is needed
    ("hidden = 1000000000 * 1000000000 * 10", "E0221"),
])
def test_arithmetic_refused_at_check_time(text, code):
    body = (f"  let S = \"s\"\n  p: float(0.0..1.0)\n  w: choice(16, 32)\n  a: choice(relu, tanh)\n"
            f"  input x {{ shape = [4] }}\n  node n {{ in = @x; op = fc; {text} }}\n")
    if code is None:
        with pytest.raises(genolang.GenolangSyntaxError):
            space(body)
        return
    assert codes(body)[0] == code


def test_head_fields_from_decisions_compile_and_input_fields_are_refused():
    from genolang.compiler.compile import compile_genotype

    s = space("  w: choice(16, 32)\n  k: int(2..3)\n  input x { shape = [4] }\n"
              "  head h { in = @x; hidden = w; classes = k * 2 }\n")
    for w, k in itertools.product((16, 32), (2, 3)):
        head = next(n for n in compile_genotype(s, s.validate({"w": w, "k": k})).graph.nodes if n.name == "h")
        assert (head.attrs["hidden"], head.attrs["classes"], head.shape) == (w, 2 * k, (2 * k,))
    assert codes("  w: choice(16, 32)\n  input x { shape = w }\n") == ["E0291"]
    assert codes("  let C = 3\n  w: choice(16, 32)\n  input x { shape = [C] }\n"
                 "  backbone b { model = lenet_image; in = @x; pretrain = w }\n") == ["E0291"]


def test_arithmetic_outside_a_space_field_is_refused_cleanly():
    assert codes("  w: int(1..8) = 2 * 2\n") == ["E0240"]
    with pytest.raises(genolang.GenolangError) as info:
        genolang.loads(H + "  w: int(1..8)\n}\ngenotype g of s version 1 { w = 2 * 2 }\n")
    assert "`2 * 2` (arithmetic is allowed only in a space's field values)" in str(info.value)


def test_outcomes_exact_when_few_bounds_when_many():
    s = space("  a: int(1..10)\n  b: choice(2, 5)\n  big: int(1..100000)\n")
    by = {d.path: d for d in s.ir.decisions}
    assert sorted(computed_outcomes(Computed(("-", ("@", "a"), ("@", "b"))), by)) == sorted(
        a - b for a in range(1, 11) for b in (2, 5))
    # 100000 values: interval bounds, exact for a decision used once
    assert computed_outcomes(Computed(("+", ("neg", ("@", "big")), 7)), by) == [-99993, 6]


ROUND_TRIP = ["W * 2", "2 * W + 1", "-(W - 1) * 3", "a * (b * 2)", "-w", "a - -3", "2.5 * w",
              "(a + b) * (c - d)", "a - (b - c)", "-(-a)", "x * n", "a * 2 * 3", "1 + 2 + 3"]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_formatter_round_trip(text):
    def parsed(t: str):
        return parse(f"genolang 1\nspace s version 1 {{ node n {{ v = {t} }} }}\n", fast=False) \
            .items[0].members[0].members[0].value

    first = parsed(text)
    shown = value_text(first)
    assert parsed(shown) == first
    assert value_text(parsed(shown)) == shown


def test_supernet_shares_one_alpha_and_evaluates_fixed_arithmetic():
    from genolang.compiler.errors import CompileError
    from genolang.compiler.supernet import build_supernet

    s = space("  input x { shape = [3, 8, 8] }\n  o: choice(conv3x3, sep3x3)\n  w: choice(1, 2)\n"
              "  node stem { in = @x; op = conv; filters = 8 * w }\n"
              "  node a { in = @stem; op = o }\n  node b { in = @a; op = o }\n  head h { in = @b; classes = 2 }\n")
    with pytest.raises(CompileError) as info:
        build_supernet(s)
    assert "`filters` of 'stem' is computed from decision `w`" in str(info.value)
    net = build_supernet(s, fixed={"w": 2})
    assert list(net.arch.paths()) == ["o"]  # one decision, one alpha for both mixed ops
    kinds = {n.name: (n.kind, n.shape) for n in net.graph.nodes}
    assert kinds["stem"] == ("op", (16, 8, 8))  # 8 * w with w = 2
    assert kinds["a"][0] == kinds["b"][0] == "mixed_op"
    assert set(net.derive().values) == {"o", "w"}
