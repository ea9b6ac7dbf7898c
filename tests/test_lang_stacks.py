"""A searched count for each item of a stack's `cells` (not only the last).

Copies are numbered as if every searched count were at its maximum, so a copy's path does
not depend on the other counts; copies beyond a count are inactive. Oracles: the exact IR
(paths, cells, conditions), the exact size, and for every genotype of the example space the
exact list of copies built and the copy each one reads.
"""

from __future__ import annotations

import itertools

from conftest import EXAMPLES

import genolang
from genolang.compiler.compile import compile_genotype


def resnet_stages():
    return genolang.load(EXAMPLES / "spaces" / "resnet_stages.geno").space()


def test_every_item_may_have_a_searched_count():
    s = resnet_stages()
    items = {p: (e.fields["cell"], [c.text() for c in e.conds]) for p, e in s.ir.entities.items() if e.kind == "item"}
    assert items == {
        "net[0]": ("block", []), "net[1]": ("block", ["n1 > 1"]), "net[2]": ("block", ["n1 > 2"]),
        "net[3]": ("down", []),
        "net[4]": ("block", []), "net[5]": ("block", ["n2 > 1"]), "net[6]": ("block", ["n2 > 2"]),
        "net[7]": ("down", []),
        "net[8]": ("block", ["n3 > 0"]), "net[9]": ("block", ["n3 > 1"]),
    }
    # w (2) * block.a.op (2) * n1 (3) * n2 (3) * n3 (3)
    assert s.size() == 2 * 2 * 3 * 3 * 3 == 108


def expected_copies(n1: int, n2: int, n3: int) -> list[int]:
    return [*range(n1), 3, *range(4, 4 + n2), 7, *range(8, 8 + n3)]


def test_each_genotype_builds_exactly_its_copies_in_a_chain():
    s = resnet_stages()
    for n1, n2, n3 in itertools.product((1, 2, 3), (1, 2, 3), (0, 1, 2)):
        g = s.validate({"w": 8, "block.a.op": "conv3x3", "n1": n1, "n2": n2, "n3": n3})
        nodes = {n.name: n for n in compile_genotype(s, g).graph.nodes}
        built = sorted(int(name[4:-4]) for name in nodes if name.startswith("net[") and name.endswith("].in"))
        assert built == expected_copies(n1, n2, n3)
        outputs = ["stem"] + [f"net[{i}].{'a' if i in (3, 7) else 'b'}" for i in built]
        for before, i in zip(outputs, built):  # each copy reads the previous built copy (@prev)
            assert nodes[f"net[{i}].in"].inputs == (before,)
        assert nodes[outputs[-1]].shape == (32, 8, 8)  # two stride-2 reductions double w twice


def test_a_count_decision_may_serve_several_items():
    s = genolang.loads("""genolang 1
space s version 1 {
  input x { shape = [3, 8, 8] }
  cell c { in = @prev; node a { op = conv3x3 } }
  n: int(0..2)
  stack st { in = @x; channels = 4; cells = [c * n, c, c * n] }
  head h { in = @st; classes = 2 }
}
""").space()
    assert s.size() == 3
    conds = {p: [c.text() for c in e.conds] for p, e in s.ir.entities.items() if e.kind == "item"}
    assert conds == {"st[0]": ["n > 0"], "st[1]": ["n > 1"], "st[2]": [], "st[3]": ["n > 0"], "st[4]": ["n > 1"]}
    for n in range(3):
        nodes = [x.name for x in compile_genotype(s, s.validate({"n": n})).graph.nodes]
        assert sorted(x[:5] for x in nodes if x.endswith(".in")) == sorted(
            [f"st[{i}]" for i in range(n)] + ["st[2]"] + [f"st[{3 + i}]" for i in range(n)])
