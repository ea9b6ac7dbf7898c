"""The Space API: decisions, exact size against brute force, validate, errors, imports."""

from __future__ import annotations

import itertools
import math

import pytest

import genolang
from genolang import GenolangError, GenotypeError, SpaceError


def brute_force_size(space) -> int:
    """Count distinct valid genotypes by enumerating every assignment of every decision."""
    decisions = space.ir.decisions
    domains = [d.domain.values() for d in decisions]
    seen = set()
    for combo in itertools.product(*domains):
        full = dict(zip((d.path for d in decisions), combo))
        values = {}
        for d in decisions:
            if all(c.holds(values) for c in d.conds):
                values[d.path] = full[d.path]
        try:
            seen.add(space.validate(values).canonical_json())
        except GenotypeError:
            pass
    return len(seen)


SMALL = {
    "plain": ("a: int(1..3); b: choice(x, y); c: bool", 3 * 2 * 2),
    # with `log`, step is a factor: 2, 4, 8, 16; without, an increment: 0, 5, 10
    "step_and_log": ("a: int(2..16, log, step=2); b: int(0..10, step=5)", 4 * 3),
    "when": ("kind: choice(mlp, attn)\n when kind == mlp { width: int(1..4) }\n"
             " when kind == attn { heads: choice(1, 2) }", 4 + 2),
    "nested_when": ("a: bool\n when a { b: int(1..3)\n when b >= 2 { c: choice(p, q) } }",
                    1 + (1 + 2 + 2)),
    "count": ("n: int(0..3)\n node x[n] { op = fc; act: choice(relu, tanh) }", 1 + 2 + 4 + 8),
    "forbid": ("a: choice(x, y, z); b: choice(x, y, z)\n forbid (a == x and b == x) or (a == y and not b != z)",
               9 - 2),
    "forbid_in_when": ("a: bool\n when a { b: int(1..3) }\n forbid a and b > 1", 1 + 1),
    "member": ("a: int(1..5)\n when a in {1, 3} { b: bool }", 3 + 2 * 2),
}


@pytest.mark.parametrize("name", SMALL)
def test_size_equals_brute_force(name):
    body, expected = SMALL[name]
    space = genolang.loads(f"genolang 1\nspace s version 1 {{\n {body}\n}}").space()
    assert space.size() == expected == brute_force_size(space)


def test_reference_domain_sizes_follow_the_formulas():
    text = """genolang 1
space s version 1 {
  input x { shape = [4] }
  node n[5] { op = fc; act = relu; inp = @x }
  enum Op { fc, identity, zero }
  node one_ { op = fc; i: one(n[*]) }
  node pick_ { op = fc; i: pick(2, n[*]) }
  node choose_ { op = fc; i: choose(2, n[*], op = Op) }
  node subset_ { op = fc; i: subset(n[*], min = 1) }
}"""
    space = genolang.loads(text).space()
    # one: 5; pick (ordered): 5*4; choose (unordered) with an op each: C(5,2)*3^2; subset: 2^5 - 1
    assert space.size() == 5 * (5 * 4) * (math.comb(5, 2) * 3**2) * (2**5 - 1)


def test_validate_names_every_problem():
    space = genolang.load("examples/spaces/mfas_avmnist.geno").space()
    with pytest.raises(GenotypeError) as err:
        space.validate({"layers": 2, "fusion[0].act": "tanh", "fusion[0].a": "@nowhere",
                        "fusoin[0].b": "@image_net.tap[0]"})
    codes = [d.code for d in err.value.diagnostics]
    assert {"E0340", "E0321", "E0331"} <= set(codes)
    assert any(c in codes for c in ("E0362", "E0363"))
    assert "did you mean 'fusion[0].b'" in err.value.render()


def test_inactive_value_is_reported():
    space = genolang.load("examples/spaces/mfas_avmnist.geno").space()
    values = dict(space.default().values)
    values["fusion[1].act"] = "relu"
    with pytest.raises(GenotypeError, match="inactive") as err:
        space.validate(values)
    assert err.value.code == "E0332"


def test_decisions_are_flat_with_activity():
    space = genolang.load("examples/spaces/mfas_avmnist.geno").space()
    decisions = space.decisions()
    assert [d.path for d in decisions[:4]] == ["layers", "fusion[0].a", "fusion[0].b", "fusion[0].act"]
    assert decisions[0].activity == "always"
    assert decisions[-1].path == "fusion[3].act" and decisions[-1].activity == "layers > 3"
    assert len(decisions) == 1 + 4 * 3


def test_float_space_has_no_finite_size():
    space = genolang.loads("genolang 1\nspace s version 1 { lr: float(0.0001..0.1, log) }").space()
    with pytest.raises(SpaceError, match="continuous"):
        space.size()
    assert 1e-4 <= space.sample(3).values["lr"] <= 0.1


def test_imports_cycles_and_unknown_spaces(tmp_path):
    (tmp_path / "a.geno").write_text('genolang 1\nimport "b.geno"\nspace a version 1 { x: bool }\n')
    (tmp_path / "b.geno").write_text('genolang 1\nimport "a.geno"\nspace b version 1 { y: bool }\n')
    with pytest.raises(GenolangError) as err:
        genolang.load(tmp_path / "a.geno")
    assert "E0214" in {d.code for d in err.value.diagnostics}
    (tmp_path / "g.geno").write_text('genolang 1\ngenotype g of nope version 1 { x = true }\n')
    with pytest.raises(GenolangError) as err:
        genolang.load(tmp_path / "g.geno")
    assert err.value.code == "E0300" and (err.value.line, err.value.column) == (2, 10)


def test_fingerprint_mismatch_is_reported():
    space_text = "genolang 1\nspace s version 1 { a: int(1..3) }\n"
    g = genolang.loads(space_text).space().sample(0)
    edited = genolang.loads(space_text.replace("1..3", "1..4")).space()
    with pytest.raises(GenotypeError) as err:
        genolang.loads(g.to_text(), spaces=[edited])
    assert err.value.code == "E0301"
    with pytest.raises(GenotypeError):
        edited.from_json({**g.canonical(), "values": g.values})
