"""The continuous relaxation (compiler/relax.py) and the derivation rules (compiler/derive.py).

Mixed ops with one-hot weights equal their chosen candidate (same submodule, train and eval
mode); gradients reach the arch logits; ArchParams is seeded and apart from the weights; the
derivation rules match hand-worked examples and literal re-implementations of the reference
loops (DARTS ``genotype()._parse``, BM-NAS ``FusionNetwork.genotype`` v3) on random matrices.
"""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from genolang.compiler.derive import (
    argmax_op,
    bmnas_derive_cells,
    bmnas_pair_rule,
    bmnas_parse,
    darts_parse,
    darts_top_k,
    top_k_inputs,
)
from genolang.compiler.errors import OpParamError, ShapeError
from genolang.compiler.relax import ArchParams, MixedInput, MixedOp, one_hot_, split_parameters

PRIMITIVES = ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
              "dil_conv_3x3", "dil_conv_5x5"]
STEP_OPS = ["zero", "sum", "attention", "linear_glu", "concat_fc"]
EDGE_OPS = ["none", "skip"]


def randomize_bn(module: nn.Module) -> None:
    """Non-trivial running statistics, so eval mode exercises them."""
    gen = torch.Generator().manual_seed(0)
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)


def check_one_hot(mixed: MixedOp, xs: list[torch.Tensor]) -> None:
    arch = ArchParams({"d": len(mixed.ops)})
    for k in range(len(mixed.ops)):
        one_hot_(arch, "d", k)
        with torch.no_grad():
            assert torch.equal(mixed(*xs, weights=arch.weights("d")), mixed.ops[k](*xs)), mixed.names[k]


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_mixed_op_one_hot_equals_op_darts(stride, mode):
    torch.manual_seed(0)
    mixed = MixedOp(PRIMITIVES, c_in=4, c_out=4, stride=stride)
    randomize_bn(mixed)
    mixed.train(mode == "train")
    check_one_hot(mixed, [torch.randn(3, 4, 8, 8)])


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_mixed_op_one_hot_equals_op_bmnas(mode):
    torch.manual_seed(0)
    dropout = 0.0 if mode == "train" else 0.1      # train-mode dropout would draw differently
    mixed = MixedOp(STEP_OPS, c_in=4, c_out=4, length=6, dropout=dropout)
    randomize_bn(mixed)
    mixed.train(mode == "train")
    check_one_hot(mixed, [torch.randn(3, 4, 6), torch.randn(3, 4, 6)])


def test_mixed_op_structure_and_errors():
    mixed = MixedOp(PRIMITIVES, c_in=4, c_out=4)
    for name, op in zip(mixed.names, mixed.ops):
        bn = [m for m in op.modules() if isinstance(m, nn.BatchNorm2d)]
        assert all(not m.affine for m in bn), name
        wrapped = type(op) is nn.Sequential and isinstance(op[-1], nn.BatchNorm2d)
        assert wrapped == ("pool" in name), name
    assert mixed.index("skip_connect") == 3
    with pytest.raises(OpParamError):
        MixedOp(["none", "sum"], c_in=4, c_out=4)                 # map and seq mixed
    with pytest.raises(OpParamError):
        MixedOp(PRIMITIVES, c_in=4, c_out=4, kernal=3)            # no candidate takes it
    with pytest.raises(ShapeError):
        mixed(torch.randn(1, 4, 8, 8), weights=torch.ones(3))
    with pytest.raises(ShapeError):
        MixedOp(STEP_OPS, c_in=4, c_out=4, length=6)(torch.randn(1, 4, 6), weights=torch.ones(5))


def test_gradient_reaches_arch_logits():
    torch.manual_seed(0)
    mixed = MixedOp(PRIMITIVES, c_in=4, c_out=4, stride=2)
    arch = ArchParams({"edge": len(PRIMITIVES), "in": 3}, seed=1)
    xs = [torch.randn(2, 4, 8, 8) for _ in range(3)]
    x = MixedInput()(xs, arch.weights("in"))
    mixed(x, weights=arch.weights("edge")).square().mean().backward()
    for path in arch.paths():
        grad = arch.logits(path).grad
        assert grad is not None and grad.abs().sum() > 0, path
    assert all(p.grad is not None for p in mixed.parameters())


def test_mixed_input_is_weighted_sum():
    xs = [torch.randn(2, 3, 5) for _ in range(4)]
    w = torch.tensor([0.1, 0.2, 0.3, 0.4])
    torch.testing.assert_close(MixedInput()(xs, w), sum(wi * x for wi, x in zip(w, xs)))
    assert not list(MixedInput().parameters())
    with pytest.raises(ShapeError):
        MixedInput()(xs, torch.ones(3))


def test_arch_params_seeded_and_apart():
    shapes = {"normal.n[0].x": (2, 8), "fusion.cell[0].in": 6, "normal_n_0__x": 3}
    a, b, c = ArchParams(shapes, seed=2), ArchParams(shapes, seed=2), ArchParams(shapes, seed=3)
    for path in shapes:
        assert torch.equal(a.logits(path), b.logits(path))
        assert not torch.equal(a.logits(path), c.logits(path))
        assert a.logits(path).abs().max() < 1e-2
        torch.testing.assert_close(a.weights(path).sum(-1), torch.ones(a.logits(path).shape[:-1]))
    assert a.key("normal.n[0].x") == "normal_n_0__x" and a.key("normal_n_0__x") == "normal_n_0__x_2"
    assert a.paths() == tuple(shapes) and len(a) == 3 and "fusion.cell[0].in" in a
    model = nn.Sequential(MixedOp(PRIMITIVES, c_in=4, c_out=4), nn.Linear(3, 3))
    model.arch = a                                                 # held as a submodule, too
    weights, arch = split_parameters(model, a)
    assert {id(p) for p in arch} == {id(p) for p in a.parameters()}
    assert not {id(p) for p in weights} & {id(p) for p in arch}
    assert len(weights) + len(arch) == len(list(model.parameters()))
    with pytest.raises(ValueError):
        a.add("fusion.cell[0].in", 6)


def test_one_hot_is_exact():
    arch = ArchParams({"v": 5, "m": (3, 4)}, dtype=torch.float64)
    one_hot_(arch, "v", 2)
    assert arch.weights("v").tolist() == [0.0, 0.0, 1.0, 0.0, 0.0]
    one_hot_(arch, "m", [3, 0, 1])
    assert arch.weights("m").argmax(-1).tolist() == [3, 0, 1]
    assert set(arch.weights("m").flatten().tolist()) == {0.0, 1.0}
    with pytest.raises(ShapeError):
        one_hot_(arch, "m", [0, 1])
    with pytest.raises(IndexError):
        one_hot_(arch, "v", 5)


def test_supernet_one_hot_equals_derived_node():
    """A DARTS node over 3 edges: one-hot weights vs the network darts_top_k derives."""
    torch.manual_seed(0)
    edges = [MixedOp(PRIMITIVES, c_in=4, c_out=4) for _ in range(3)]
    arch = ArchParams({"node": (3, len(PRIMITIVES))})
    one_hot_(arch, "node", [PRIMITIVES.index(n) for n in ("sep_conv_3x3", "none", "max_pool_3x3")])
    xs = [torch.randn(2, 4, 8, 8) for _ in range(3)]
    w = arch.weights("node")
    with torch.no_grad():
        supernet = sum(e(x, weights=w[i]) for i, (e, x) in enumerate(zip(edges, xs)))
        derived = darts_top_k(w, op_names=PRIMITIVES)
        assert derived == [(0, "sep_conv_3x3"), (2, "max_pool_3x3")]
        chosen = sum(edges[j].ops[edges[j].index(op)](xs[j]) for j, op in derived)
    torch.testing.assert_close(supernet, chosen, rtol=0, atol=1e-6)


# ---------------------------------------------------------------- derivation rules


def test_darts_top_k_hand_worked():
    ops = ["none", "a", "b"]
    w = [[0.9, 0.05, 0.05], [0.1, 0.2, 0.7], [0.3, 0.4, 0.3]]
    assert darts_top_k(w, op_names=ops) == [(1, "b"), (2, "a")]
    assert darts_top_k(torch.tensor(w), op_names=ops, k=3) == [(1, "b"), (2, "a"), (0, "a")]
    assert darts_top_k([[0.0, 0.5, 0.5], [0.0, 0.5, 0.5]], op_names=ops, k=1) == [(0, "a")]
    assert darts_top_k([[0.9, 0.1]], op_names=["none", "skip"], exclude=()) == [(0, "none")]
    assert argmax_op([0.2, 0.5, 0.5, 0.1], ["w", "x", "y", "z"]) == "x"
    assert argmax_op([0.9, 0.05, 0.05], ops, exclude=("none",)) == "a"
    with pytest.raises(ValueError):
        darts_top_k(w, op_names=["none", "a"])
    with pytest.raises(ValueError):
        argmax_op([float("nan"), 1.0], ["a", "b"])


def ref_darts_parse(weights, primitives, steps=4):
    """DARTS cnn/model_search.py ``genotype()._parse``, written out as the reference does."""
    gene = []
    n = 2
    start = 0
    for i in range(steps):
        end = start + n
        W = weights[start:end]
        edges = sorted(range(i + 2), key=lambda x: -max(W[x][k] for k in range(len(W[x]))
                                                         if k != primitives.index("none")))[:2]
        for j in edges:
            k_best = None
            for k in range(len(W[j])):
                if k != primitives.index("none") and (k_best is None or W[j][k] > W[j][k_best]):
                    k_best = k
            gene.append((primitives[k_best], j))
        start = end
        n += 1
    return gene


def ref_bmnas_parse(weights, primitives, n_inputs, steps):
    """BM-NAS model_search.py ``FusionNetwork.genotype()._parse`` (sample strategy v3)."""
    none = primitives.index("none")
    gene, selected_nodes, n, start = [], [], n_inputs, 0
    for _ in range(steps):
        end = start + n
        W = weights[start:end]
        from_list = list(range(n_inputs))
        node_pairs = []
        for j_index, j in enumerate(from_list):
            for k in from_list[j_index + 1:]:
                if (j not in selected_nodes) or (k not in selected_nodes):
                    W_j_max = max(W[j][t] for t in range(len(W[j])) if t != none)
                    W_k_max = max(W[k][t] for t in range(len(W[k])) if t != none)
                    node_pairs.append([j, k, W_j_max * W_k_max])
        edges = sorted(node_pairs, key=lambda x: -x[2])[:1][0][0:2]
        selected_nodes = list(set(selected_nodes + edges))
        for j in edges:
            k_best = None
            for k in range(len(W[j])):
                if k != none and (k_best is None or W[j][k] > W[j][k_best]):
                    k_best = k
            gene.append((primitives[k_best], j))
        start, n = end, n + 1
    return gene


def random_weights(rng: random.Random, rows: int, cols: int, case: int) -> torch.Tensor:
    """Softmax of random logits; every third case small integers, for many exact ties."""
    if case % 3 == 0:
        return torch.tensor([[float(rng.randint(0, 3)) for _ in range(cols)] for _ in range(rows)])
    logits = torch.tensor([[rng.gauss(0, 1) for _ in range(cols)] for _ in range(rows)])
    return torch.softmax(logits, dim=-1)


def test_darts_parse_matches_reference_loop():
    rng = random.Random(0)
    for case in range(50):
        ops = PRIMITIVES if case % 2 else ["skip", "none", "conv"]     # 'none' not always first
        w = random_weights(rng, 14, len(ops), case)
        assert darts_parse(w, op_names=ops) == ref_darts_parse(w.tolist(), ops), case


def test_bmnas_parse_matches_reference_loop():
    rng = random.Random(1)
    for case in range(50):
        n_inputs, steps = rng.choice([(6, 2), (8, 2), (4, 2), (5, 3)])
        w = random_weights(rng, sum(n_inputs + i for i in range(steps)), len(EDGE_OPS), case)
        expected = ref_bmnas_parse(w.tolist(), EDGE_OPS, n_inputs, steps)
        assert bmnas_parse(w, n_backbone=n_inputs, steps=steps, op_names=EDGE_OPS) == expected, case


def test_bmnas_pairs_hand_worked():
    cell0 = [[0.4, 0.6], [0.5, 0.5], [0.3, 0.7]]
    cell1 = cell0 + [[0.01, 0.99]]
    assert bmnas_pair_rule(cell0, op_names=EDGE_OPS, selected=set()) == (0, 2)    # 0.42 > 0.35 > 0.30
    assert bmnas_pair_rule(cell0, op_names=EDGE_OPS, selected={0, 2}) == (1, 2)
    assert bmnas_derive_cells([cell0, cell1], n_backbone=3, op_names=EDGE_OPS) == [(0, 2), (1, 2)]
    assert bmnas_derive_cells([cell0, cell1], n_backbone=3, op_names=EDGE_OPS,
                              restrict_to_backbone=False) == [(0, 2), (2, 3)]
    assert bmnas_pair_rule([[0, 1.0]] * 4, op_names=EDGE_OPS) == (0, 1)            # ties: first pair
    with pytest.raises(ValueError):
        bmnas_derive_cells([[[0, 1.0]] * 2, [[0, 1.0]] * 3], n_backbone=2, op_names=EDGE_OPS)


def test_planted_candidate_is_derived():
    rng = random.Random(2)
    for case in range(10):
        w = random_weights(rng, 5, len(PRIMITIVES), case + 1).clone()
        w[2, PRIMITIVES.index("sep_conv_5x5")] = 5.0                   # candidate 2 clearly best
        assert darts_top_k(w, op_names=PRIMITIVES, k=1) == [(2, "sep_conv_5x5")]
        assert top_k_inputs(w.max(-1).values, 1) == [2]
        assert 2 in bmnas_pair_rule(w, op_names=PRIMITIVES)


def test_top_k_inputs():
    w = [0.1, 0.4, 0.2, 0.4, 0.05]
    assert top_k_inputs(w, 1) == [1]
    assert top_k_inputs(w, 3) == [1, 3, 2]
    assert top_k_inputs(torch.tensor(w), 3, order="index") == [1, 2, 3]
    with pytest.raises(ValueError):
        top_k_inputs(w, 6)
