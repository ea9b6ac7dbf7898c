"""The one-shot supernet: relaxation shapes, planted derivations, one-hot equivalence, refusals."""

from __future__ import annotations

import pytest
import torch

import genolang
from genolang.compiler.errors import CompileError
from genolang.compiler.lower import lower
from genolang.compiler.module import build_module
from genolang.compiler.relax import one_hot_
from genolang.compiler.supernet import build_supernet
from genolang.compiler.supernet_lower import NONE_OP


def load(path: str):
    doc = genolang.load(path)
    if doc.genotypes:
        g = doc.genotype()
        return doc.space(g.space), g
    return doc.space(), None


def plant(net, genotype) -> None:
    """One-hot architecture weights pointing at ``genotype``'s values."""
    for path in net.arch.paths():
        d, value, cands = net.relaxed[path], genotype.values[path], net.candidates(path)
        if d.kind == "choice":
            one_hot_(net.arch, path, [str(o) for o in d.options].index(value))
        elif d.labels:
            items = value if isinstance(value, list) else [value]
            ops = {cands.index(i["ref"][1:]): i["op"] for i in items}
            names = (NONE_OP, *d.labels)
            one_hot_(net.arch, path, [names.index(ops.get(j, NONE_OP)) for j in range(len(cands))])
        elif d.mode == "one":
            one_hot_(net.arch, path, cands.index(value[1:]))
        else:  # (none, skip) per candidate; a pick's first choice is the strongest
            rank = {cands.index(r[1:]): i for i, r in enumerate(value)}
            with torch.no_grad():
                for j, row in enumerate(net.arch.logits(path)):
                    row.copy_(torch.tensor([0.0, 3.0 - rank[j]]) if j in rank else torch.tensor([3.0, 0.0]))


def test_darts_relaxation_has_the_reference_alpha_shapes():
    space, _ = load("examples/spaces/darts_cifar.geno")
    net = build_supernet(space, seed=2)
    shapes = {p: tuple(net.arch.logits(p).shape) for p in net.arch.paths()}
    # DARTS: alpha_normal and alpha_reduce are (14, 8): 2 + 3 + 4 + 5 edges, 8 primitives
    assert shapes == {f"{c}.n[{i}].x": (2 + i, 8) for c in ("normal", "reduce") for i in range(4)}


def test_bmnas_relaxation_has_the_reference_alpha_beta_gamma_shapes():
    space, _ = load("examples/spaces/bmnas_avmnist.geno")
    net = build_supernet(space)
    shapes = {p: tuple(net.arch.logits(p).shape) for p in net.arch.paths()}
    for c in range(2):  # alpha: 8 features + earlier cells, (none, skip); beta: 2 + i; gamma: 5 ops
        assert shapes[f"fusion.cell[{c}].in"] == (8 + c, 2)
        for s in range(2):
            assert shapes[f"fusion.cell[{c}].step[{s}].x"] == (2 + s, 2)
            assert shapes[f"fusion.cell[{c}].step[{s}].op"] == (5,)


@pytest.mark.parametrize("path,rule", [("examples/genotypes/darts_v2.geno", "darts"),
                                       ("examples/genotypes/randomnet_sample.geno", "darts"),
                                       ("examples/genotypes/bmnas_sample.geno", "darts")])
def test_a_planted_genotype_is_derived_back(path, rule):
    space, geno = load(path)
    net = build_supernet(space, seed=1)
    plant(net, geno)
    assert net.derive(rule=rule).values == geno.values


def test_bmnas_pair_rule_skips_pairs_already_taken_and_earlier_cells():
    space, geno = load("examples/genotypes/bmnas_sample.geno")
    net = build_supernet(space, seed=0)
    plant(net, geno)
    with torch.no_grad():  # make cell 1 prefer cell 0's output: the reference rule ignores it
        net.arch.logits("fusion.cell[1].in")[8] = torch.tensor([-9.0, 9.0])
    derived = net.derive(rule="bmnas")
    assert derived.values["fusion.cell[0].in"] == geno.values["fusion.cell[0].in"]
    assert "@fusion.cell[0]" not in derived.values["fusion.cell[1].in"]
    assert "@fusion.cell[0]" in net.derive(rule="bmnas", restrict=False).values["fusion.cell[1].in"]


MINI = """genolang 1
space mini version 1 {
  enum E { sep_conv_3x3, dil_conv_3x3, skip_connect, conv3x3 }
  input image { shape = [3, 12, 12] }
  node stem { op = conv; kernel = 3; in = @image; filters = 12 }
  cell normal {
    in = [@prev2, @prev]
    node n[3] { x: choose(2, in, n.before, op=E); combine = sum }
    out = concat_all
  }
  cell reduce {
    in = [@prev2, @prev]
    stride = 2
    node n[2] { x: choose(2, in, n.before, op=E); combine = sum }
    out = concat_all
  }
  stack net { in = @stem; channels = 4; cells = [normal, reduce, normal] }
  head classifier { in = @net; classes = 3 }
}
"""


def _copy_supernet_weights(net, derived, genotype) -> None:
    """Give the derived network the supernet's weights: shared nodes by name, edges by candidate."""
    for node in derived.graph.nodes:
        mod = derived.module_of(node.name)
        if mod is None:
            continue
        if node.name in net.graph:
            mod.load_state_dict(net.net.module_of(node.name).state_dict())
            continue
        item, rest = node.name.split(".", 1)  # "net[2].n[1]/e0"
        n, e = rest.split("/e")
        template = net.graph[f"{item}.{n}.x/e0"].attrs["decision"]
        chosen = genotype.values[template][int(e)]
        j = net.candidates(template).index(chosen["ref"][1:])
        mixed = net.net.module_of(f"{item}.{n}.x/e{j}")
        mod.load_state_dict(mixed.ops[mixed.index(chosen["op"])].state_dict())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_one_hot_supernet_computes_the_derived_network(seed):
    space = genolang.loads(MINI, "mini.geno").space()
    net = build_supernet(space, seed=seed)
    geno = space.sample(seed)
    plant(net, geno)
    derived = build_module(lower(space, geno), affine=False)
    _copy_supernet_weights(net, derived, geno)
    x = torch.randn(3, 3, 12, 12, generator=torch.Generator().manual_seed(seed))
    net.eval(), derived.eval()
    with torch.no_grad():
        torch.testing.assert_close(net(x), derived(x), rtol=1e-5, atol=1e-5)
    assert net.derive().values == geno.values


def test_gradients_reach_arch_and_weights_which_stay_apart():
    space, _ = load("examples/spaces/bmnas_avmnist.geno")
    net = build_supernet(space, seed=0)
    weights, arch = net.weight_parameters(), net.arch_parameters()
    assert not {id(p) for p in weights} & {id(p) for p in arch} and len(arch) == 10
    x = [torch.randn(4, *net.graph[i].shape) for i in net.graph.inputs]
    net(*x).logsumexp(1).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in arch)
    assert all(p.grad is not None for p in weights)


@pytest.mark.parametrize("path,decision", [("examples/spaces/mfas_avmnist.geno", "layers"),
                                           ("examples/spaces/zoph_le_macro.geno", "net.layer[0].kernel_h")])
def test_decisions_that_cannot_be_relaxed_are_refused_by_name(path, decision):
    space, _ = load(path)
    with pytest.raises(CompileError) as info:
        build_supernet(space)
    assert f"`{decision}`" in str(info.value) and info.value.first.span is not None


def test_fixed_decisions_make_a_space_relaxable():
    space, _ = load("examples/spaces/mfas_avmnist.geno")
    net = build_supernet(space, fixed={"layers": 2})
    assert set(net.arch.paths()) == {f"fusion[{i}].{k}" for i in range(2) for k in ("a", "b", "act")}
    assert net.derive().values["layers"] == 2
