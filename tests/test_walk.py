"""The one walk over active decisions (genolang.walk).

Oracles: a reference enumeration (every combination of every decision's values, then the
inactive ones dropped, duplicates merged) for :func:`branches`; the activity rule read off
the conditions for :func:`active_decisions`; and the order both visit in.
"""

from __future__ import annotations

import itertools

import genolang
from genolang.conditions import all_hold
from genolang.walk import active_decisions, branches

SPACE = """genolang 1
space s version 1 {
  input x { shape = [4] }
  k: choice(a, b, c)
  when k == a { u: choice(1, 2) }
  when k != c { v: bool }
  when k == b { w: int(1..3) }
  node n { in = @x; op = fc; hidden = 4 }
  head h { in = @n; classes = 2 }
}
"""


def reference(decisions):
    """Every full combination, each reduced to its active decisions (in order), without repeats."""
    seen = []
    for combo in itertools.product(*(d.domain.values() for d in decisions)):
        values = {}
        for d, v in zip(decisions, combo):
            if all_hold(d.conds, values):
                values[d.path] = v
        if values not in seen:
            seen.append(values)
    return seen


def test_branches_are_exactly_the_assignments_of_the_active_decisions_in_depth_first_order():
    ir = genolang.loads(SPACE).space().ir
    got = list(branches(ir.decisions, lambda d, values: d.domain.values()))
    assert got == reference(ir.decisions)
    assert len(got) == 2 * 2 + 2 * 3 + 1  # k=a: u, v; k=b: v, w; k=c: nothing else
    assert all(list(b) == [d.path for d in ir.decisions if d.path in b] for b in got)  # declaration order


def test_a_branch_with_no_options_ends_and_one_option_does_not_fork():
    ir = genolang.loads(SPACE).space().ir
    only_b = list(branches(ir.decisions, lambda d, values: ["b"] if d.path == "k" else d.domain.values()[:1]))
    assert only_b == [{"k": "b", "v": False, "w": 1}]
    assert list(branches(ir.decisions, lambda d, values: [] if d.path == "v" else d.domain.values())) == [
        {"k": "c"}]


def test_active_decisions_reads_the_values_as_the_caller_records_them():
    ir = genolang.loads(SPACE).space().ir
    for k in ("a", "b", "c"):
        values = {}
        seen = []
        for d in active_decisions(ir.decisions, values):
            seen.append(d.path)
            values[d.path] = k if d.path == "k" else d.domain.values()[0]
        assert seen == {"a": ["k", "u", "v"], "b": ["k", "v", "w"], "c": ["k"]}[k]
    assert [d.path for d in active_decisions(ir.decisions, {"k": "b"}, start=1)] == ["v", "w"]
