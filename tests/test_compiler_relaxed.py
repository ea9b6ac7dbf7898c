"""The supernet reuses the genotype's lowering over a value map with relaxed decisions.

Oracles: with every decision fixed, the supernet's graph is node for node the genotype's
graph (one lowering); a decision inactive under the fixed values is absent from the value
map, so it is neither relaxed nor derived; the value map holds exactly the fixed values and
a marker per other active decision.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import genolang
from genolang.compiler.lower import lower
from genolang.compiler.relaxed import Relaxed, decided, relaxed_values
from genolang.compiler.supernet import build_supernet, lower_supernet

ROOT = Path(__file__).resolve().parent.parent
WHEN = """genolang 1
space s version 1 {
  input x { shape = [3, 8, 8] }
  k: choice(a, b)
  node n {
    in = @x; op = conv; filters = 8
    when k == a { act: choice(relu, tanh) }
  }
  node m { in = @n; op: choice(conv3x3, sep3x3) }
  head h { in = @m; classes = 2 }
}
"""


@pytest.mark.parametrize("name", ["darts_cifar", "bmnas_avmnist", "randomnet_avmnist"])
def test_a_supernet_with_every_decision_fixed_is_the_genotype_graph(name):
    space = genolang.load(str(ROOT / "examples" / "spaces" / f"{name}.geno")).space()
    for seed in (0, 1):
        g = space.sample(seed)
        graph, alphas, relaxed, fixed = lower_supernet(space, fixed=g.values)
        assert (alphas, relaxed, fixed) == ({}, {}, g.values)
        assert graph.nodes == lower(space, g).nodes


def test_the_value_map_holds_the_fixed_values_and_a_marker_per_other_active_decision():
    space = genolang.loads(WHEN).space()
    assert relaxed_values(space, {"k": "b"}) == {"k": "b", "m.op": Relaxed("m.op", space.ir.decisions[2].domain)}
    both = relaxed_values(space, {"k": "a"})
    assert list(both) == ["k", "n.act", "m.op"] and decided(both) == {"k": "a"}


def test_a_decision_inactive_under_the_fixed_values_is_neither_relaxed_nor_derived():
    space = genolang.loads(WHEN).space()
    off = build_supernet(space, fixed={"k": "b"})
    assert off.arch.paths() == ("m.op",)
    assert set(off.derive().values) == {"k", "m.op"}
    on = build_supernet(space, fixed={"k": "a"})
    assert on.arch.paths() == ("n.act", "m.op")
    assert set(on.derive().values) == {"k", "n.act", "m.op"}
