"""The same block name in exclusive `when` branches: not in the language (docs/language.md).

A name is declared once; variants of one block are written as one block whose differing
part is a decision, with `when` inside it. Oracles: the refusal's code and help, the exact
size and decisions of the idiom, and the compiled shapes of each of its genotypes.
"""

from __future__ import annotations

import pytest

import genolang
from genolang.compiler.compile import compile_genotype


def test_a_block_name_twice_in_exclusive_branches_is_refused_with_the_idiom():
    with pytest.raises(genolang.GenolangError) as info:
        genolang.loads("""genolang 1
space s version 1 {
  k: choice(a, b)
  input x { shape = [4] }
  when k == a { node n { in = @x; op = fc; hidden = 4 } }
  when k == b { node n { in = @x; op = fc; hidden = 8 } }
}
""")
    first = info.value.diagnostics[0]
    assert (first.code, first.span.line) == ("E0211", 6)
    assert any("make what differs a decision" in h for h in first.help)


def test_the_variant_idiom_sizes_and_compiles_each_variant():
    s = genolang.loads("""genolang 1
space s version 1 {
  input x { shape = [3, 8, 8] }
  node n {
    in = @x
    op: choice(conv, maxpool3x3)
    when op == conv { filters: choice(8, 16) }
  }
  head h { in = @n; classes = 2 }
}
""").space()
    assert s.size() == 2 + 1
    assert [(d.path, [c.text() for c in d.conds]) for d in s.ir.decisions] == [
        ("n.op", []), ("n.filters", ["n.op == conv"])]
    shapes = {}
    for values in ({"n.op": "conv", "n.filters": 8}, {"n.op": "conv", "n.filters": 16}, {"n.op": "maxpool3x3"}):
        graph = compile_genotype(s, s.validate(values)).graph
        shapes[tuple(values.values())] = next(n.shape for n in graph.nodes if n.name == "n")
    assert shapes == {("conv", 8): (8, 8, 8), ("conv", 16): (16, 8, 8), ("maxpool3x3",): (3, 8, 8)}
