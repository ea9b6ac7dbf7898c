"""Graph IR -> PyTorch (compiler/module.py) and the per-block summary (compiler/summary.py).

Graphs are written BY HAND here (GNode lists), independent of the lowering: one graph (the
"zoo") holds every node kind: a lenet_image backbone and its taps, a log_mel front-end on a
(1, 16000) waveform, map ops at stride 2, an activation, sums of 2 and 3 inputs,
concatenations, gap, flatten, to_seq of a map and of a vector, proj of a map, a seq and a
vector, reduce, resample, as_map, the binary attention op on seqs, heads with and without a hidden layer.
Checked: every node's shape at batch 1 and 3, an oracle forward written by hand with the
net's own submodules, gradients, deterministic state-dict keys, the summary's counts, and
that the forward is generated straight-line code.
"""

from __future__ import annotations

import copy
import json
import pickle

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from genolang.compiler.errors import CompileError
from genolang.compiler.graph import KINDS, GNode, Graph
from genolang.compiler.module import GraphNet, ToSeq, build_block, build_module, sanitize
from genolang.compiler.summary import summarize

MEL = {"n_mels": 16, "n_fft": 128, "hop_length": 400}


def zoo_nodes(*, frozen: bool = False) -> list[GNode]:
    """Every node kind once or more; shapes worked out by hand (batch omitted)."""
    lenet = {"model": "lenet_image", "frozen": frozen, "weights": None, "params": {"c": 3},
             "in_shape": (1, 28, 28), "tap_shapes": [(3,), (6,), (12,)]}

    def op(name, inputs, shape, op_name, c_in, c_out, stride=1, params=None, block="audio", macs=0):
        attrs = {"op": op_name, "c_in": c_in, "c_out": c_out, "stride": stride, "params": params or {}}
        return GNode(name, "op", inputs, shape, attrs, block=block, macs=macs)

    return [
        GNode("image", "input", (), (1, 28, 28), {"dtype": "float32"}),
        GNode("wave", "input", (), (1, 16000), {"dtype": "float32"}),
        GNode("image_net", "backbone", ("image",), (), lenet, block="image_net", macs=1000),
        *[GNode(f"image_net.tap[{i}]", "tap", ("image_net",), (3 * 2 ** i,), {"index": i}, block="image_net")
          for i in range(3)],
        GNode("mel", "frontend", ("wave",), (1, 16, 41), {"name": "log_mel", "params": MEL}, block="audio"),
        op("conv", ("mel",), (4, 8, 21), "conv3x3", 1, 4, stride=2, macs=200),
        op("cell[0].sep", ("conv",), (4, 4, 11), "sep_conv_3x3", 4, 4, stride=2, macs=300),
        GNode("cell[0].red", "reduce", ("conv",), (4, 4, 11), {"c_in": 4, "c_out": 4}, block="audio", macs=7),
        GNode("cell[0].act", "act", ("cell[0].sep",), (4, 4, 11),
              {"act": "leaky_relu", "params": {"negative_slope": 0.2}}, block="audio"),
        GNode("cell[0].sum", "sum", ("cell[0].act", "cell[0].red"), (4, 4, 11), block="audio"),
        GNode("cell[0].proj", "proj", ("cell[0].sum",), (6, 4, 11), {"c_in": 4, "c_out": 6}, block="audio"),
        GNode("cell[0].out", "concat", ("cell[0].sum", "cell[0].proj"), (10, 4, 11), block="audio"),
        GNode("audio/gap", "gap", ("cell[0].out",), (10,), block="audio"),
        GNode("audio/to_seq", "to_seq", ("cell[0].out",), (5, 8),
              {"c_in": 10, "c_out": 5, "length": 8, "positions": 44}, block="fusion", macs=400),
        GNode("image/to_seq", "to_seq", ("image_net.tap[2]",), (5, 8),
              {"c_in": 12, "c_out": 5, "length": 8, "positions": 1}, block="fusion", macs=480),
        op("fusion.att", ("audio/to_seq", "image/to_seq"), (5, 8), "attention", 5, 5,
           params={"length": 8, "dropout": 0.0}, block="fusion", macs=640),
        GNode("fusion.proj", "proj", ("fusion.att",), (7, 8), {"c_in": 5, "c_out": 7}, block="fusion"),
        GNode("fusion.norm", "layernorm", ("fusion.proj",), (7, 8), {"shape": [7, 8]}, block="fusion", macs=112),
        GNode("fusion/flatten", "flatten", ("fusion.norm",), (56,), block="fusion"),
        *[GNode(f"vec.p{i}", "proj", (f"image_net.tap[{i}]",), (9,), {"c_in": 3 * 2 ** i, "c_out": 9},
                block="vec", macs=27 * 2 ** i) for i in range(3)],
        GNode("vec.sum", "sum", ("vec.p0", "vec.p1", "vec.p2"), (9,), block="vec"),
        GNode("vec/as_map", "as_map", ("vec.sum",), (9, 1, 1), block="vec"),
        GNode("audio/resample", "resample", ("cell[0].out",), (10, 3, 7),
              {"in_shape": [10, 4, 11], "size": [3, 7]}, block="audio"),
        GNode("all", "concat", ("audio/gap", "fusion/flatten", "vec.sum", "image_net.tap[0]"), (78,), block="head"),
        GNode("head", "head", ("all",), (10,), {"c_in": 78, "classes": 10, "hidden": 16, "dropout": 0.2,
                                                "task": "classification"}, block="head", macs=1408),
        GNode("head2", "head", ("vec.sum",), (2,), {"c_in": 9, "classes": 2, "hidden": None, "dropout": 0.3},
              block="head", macs=18),
    ]


def zoo(*, frozen: bool = False, every_output: bool = False) -> Graph:
    """The zoo graph; ``every_output`` makes every value node an output (to check all shapes)."""
    nodes = zoo_nodes(frozen=frozen)
    outputs = [n.name for n in nodes if n.kind not in ("input", "backbone")] if every_output else ["head", "head2"]
    return Graph(tuple(nodes), ("image", "wave"), tuple(outputs), space="zoo", genotype="zoo#0")


def inputs(batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 1, 28, 28, generator=gen), torch.randn(batch, 1, 16000, generator=gen)


@pytest.fixture(scope="module")
def net() -> GraphNet:
    torch.manual_seed(0)
    return build_module(zoo()).eval()


def test_zoo_covers_every_kind():
    assert {n.kind for n in zoo_nodes()} == KINDS


@pytest.mark.parametrize("batch", [1, 3])
def test_every_node_shape_matches_the_graph(batch):
    graph = zoo(every_output=True)
    outs = build_module(graph).eval()(*inputs(batch))
    assert len(outs) == len(graph.outputs)
    for name, out in zip(graph.outputs, outs):
        assert tuple(out.shape) == (batch, *graph[name].shape), name


def oracle(net: GraphNet, image: torch.Tensor, wave: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The zoo's forward written by hand with the net's own submodules."""
    m = net.module_of
    taps = m("image_net")(image)
    conv = m("conv")(m("mel")(wave))
    total = m("cell[0].act")(m("cell[0].sep")(conv)) + m("cell[0].red")(conv)
    out = torch.cat([total, m("cell[0].proj")(total)], dim=1)
    att = m("fusion.att")(m("audio/to_seq")(out), m("image/to_seq")(taps[2]))
    proj = m("fusion.proj")(att)
    flat = F.layer_norm(proj, [7, 8], m("fusion.norm").weight, m("fusion.norm").bias).flatten(1)
    vec = m("vec.p0")(taps[0]) + m("vec.p1")(taps[1]) + m("vec.p2")(taps[2])
    both = torch.cat([out.mean((2, 3)), flat, vec, taps[0]], dim=1)
    return m("head")(both), m("head2")(vec)


def test_forward_equals_hand_written_oracle(net):
    x = inputs(3)
    got, want = net(*x), oracle(net, *x)
    assert isinstance(got, tuple) and len(got) == 2
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=0, atol=0)


def test_inputs_by_keyword_and_single_output():
    image, wave = inputs(2)
    nodes = zoo_nodes()
    graph = Graph(tuple(nodes), ("image", "wave"), ("head2",))
    single = build_module(graph).eval()
    out = single(wave=wave, image=image)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 2)
    torch.testing.assert_close(out, single(image, wave), rtol=0, atol=0)
    assert single.input_names == ("image", "wave") and single.output_names == ("head2",)


def test_gradients_reach_every_trainable_parameter():
    torch.manual_seed(1)
    net = build_module(zoo()).train()
    loss = sum(out.square().mean() for out in net(*inputs(3)))
    loss.backward()
    missing = [k for k, p in net.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())
    # fusion.att queries with audio/to_seq over keys from image/to_seq, a vector tap repeated L
    # times: all keys are equal, the softmax is uniform whatever the query, so the query's
    # parameters get an exactly-zero gradient (or a rounding-level one); every other is nonzero
    zero = {k for k, p in net.named_parameters() if not p.grad.abs().sum() > 0}
    assert zero <= {"audio_to_seq.conv.weight", "audio_to_seq.conv.bias", "audio_to_seq.bn.weight",
                    "audio_to_seq.bn.bias"}


def test_frozen_backbone_is_fixed_and_counted_as_frozen():
    net = build_module(zoo(frozen=True)).train()
    body = net.module_of("image_net")
    assert not body.body.training and net.module_of("head").training
    loss = sum(out.sum() for out in net(*inputs(2)))
    loss.backward()
    assert all(p.grad is None and not p.requires_grad for p in body.parameters())
    summary = summarize(net)
    assert summary.row("image_net").trainable == 0
    assert summary.row("image_net").frozen == sum(p.numel() for p in body.parameters()) > 0


def test_state_dict_keys_are_deterministic():
    a, b = build_module(zoo()), build_module(zoo())
    assert list(a.state_dict()) == list(b.state_dict())
    assert {k.split(".")[0] for k in a.state_dict()} <= set(a.names.values())
    assert a.names["cell[0].sep"] == "cell_0__sep"
    assert any(k.startswith("cell_0__sep.") for k in a.state_dict())


def test_forward_is_generated_straight_line_code(net):
    graph = net.graph
    lines = net.code.strip().splitlines()
    assert lines[0] == "def forward(self, image, wave):"
    body = lines[1:-1]
    assert lines[-1].strip().startswith("return")
    assert len(body) == sum(n.kind != "input" for n in graph.nodes)  # one line per node
    assert not any(word in net.code for word in ("for ", "while ", "getattr(", "if "))
    assert type(net).forward.__code__.co_filename.startswith("<genolang.GraphNet.forward")
    assert len(list(net.fx_graph.nodes)) == len(graph.nodes) + 1  # + the output node


def test_summary_counts_match_the_modules(net):
    summary = summarize(net)
    blocks = [r.block for r in summary.rows]
    assert blocks == ["(none)", "image_net", "audio", "fusion", "vec", "head"]
    for row in summary.rows:
        nodes = [n for n in net.graph.nodes if (n.block or "(none)") == row.block]
        modules = [net.module_of(n.name) for n in nodes]
        numel = sum(p.numel() for mod in modules if mod is not None for p in mod.parameters())
        assert row.trainable + row.frozen == numel
        assert row.macs == sum(n.macs for n in nodes) and row.flops == 2 * row.macs
        assert row.nodes == len(nodes)
    assert summary.params == sum(p.numel() for p in net.parameters())
    assert summary.macs == net.graph.macs() and summary.flops == 2 * summary.macs
    assert summary.outputs == {"head": (10,), "head2": (2,)}
    data = json.loads(summary.dumps())
    assert data["totals"]["params"] == summary.params and len(data["rows"]) == len(summary.rows)
    table = summary.table()
    assert all(block in table for block in blocks) and "total" in table and "output head: [10]" in table
    assert len({len(line) for line in table.splitlines()[:3]}) <= 2


def test_copy_and_pickle_keep_the_forward(net):
    x = inputs(2)
    want = net(*x)
    for other in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        assert isinstance(other, GraphNet) and other.code == net.code
        assert list(other.state_dict()) == list(net.state_dict())
        for g, w in zip(other(*x), want):
            torch.testing.assert_close(g, w, rtol=0, atol=0)


@pytest.mark.parametrize("positions,length", [(44, 8), (10, 8), (3, 8), (1, 8), (16, 8), (8, 8), (7, 3)])
def test_to_seq_pool_is_adaptive_max_pooling(positions, length):
    module = ToSeq(4, 6, length, positions=positions)
    x = torch.randn(2, 4, positions)
    torch.testing.assert_close(module.pool(x), F.adaptive_max_pool1d(x, length), rtol=0, atol=0)
    assert module(torch.randn(2, 4, 1, positions)).shape == (2, 6, length)


def test_to_seq_of_a_vector_repeats_it():
    module = ToSeq(3, 5, 4, positions=1)
    x = torch.randn(2, 3)
    assert torch.equal(module.pool(x), x.unsqueeze(-1).expand(2, 3, 4))


def test_build_block_by_kind():
    nodes = {n.name: n for n in zoo_nodes()}
    for name in ("image", "image_net.tap[0]", "cell[0].sum", "cell[0].out", "audio/gap", "fusion/flatten"):
        assert build_block(nodes[name]) is None
    assert isinstance(build_block(nodes["vec.p0"]), nn.Linear)
    seq = build_block(nodes["fusion.proj"])
    assert [type(m) for m in seq] == [nn.Conv1d, nn.BatchNorm1d, nn.ReLU]
    assert [type(m) for m in build_block(nodes["head"])] == [nn.Linear, nn.ReLU, nn.Dropout, nn.Linear]
    assert [type(m) for m in build_block(nodes["head2"])] == [nn.Dropout, nn.Linear]
    plain = GNode("h", "head", ("x",), (3,), {"c_in": 4, "classes": 3})
    assert [type(m) for m in build_block(plain)] == [nn.Linear]
    assert build_block(nodes["cell[0].proj"], affine=False)[2].weight is None
    assert build_block(nodes["cell[0].red"], affine=False).bn.weight is None
    with pytest.raises(CompileError, match="in_shape"):
        build_block(nodes["mel"])
    with pytest.raises(CompileError, match="unknown kind"):
        build_block(GNode("q", "mystery", (), (1,)))


def test_names_are_sanitized_injectively():
    assert sanitize("fusion[1].x") == "fusion_1__x"
    assert sanitize("0abc") == "n_0abc"
    assert sanitize("train") == "train_" and sanitize("graph") == "graph_" and sanitize("for") == "for_"
    x = GNode("x", "input", (), (3,))
    clash = [x, GNode("a.b", "proj", ("x",), (3,), {"c_in": 3, "c_out": 3}),
             GNode("a_b", "proj", ("x",), (3,), {"c_in": 3, "c_out": 3})]
    with pytest.raises(CompileError, match="both map to"):
        build_module(Graph(tuple(clash), ("x",), ("a_b",)))


def test_awkward_names_still_build():
    """Names of Python keywords, of nn.Module attributes and of the forward's own globals."""
    nodes = [GNode("torch", "input", (), (4,)), GNode("self", "input", (), (4,)), GNode("input", "input", (), (4,)),
             GNode("for", "concat", ("torch", "self", "input"), (12,)),
             GNode("_modules", "proj", ("for",), (3,), {"c_in": 12, "c_out": 3}),
             GNode("sum", "sum", ("_modules", "_modules", "_modules"), (3,))]
    net = build_module(Graph(tuple(nodes), ("torch", "self", "input"), ("sum",)))
    assert net.names["torch"] == "torch_" and net.names["self"] == "self_" and net.names["_modules"] == "_modules_"
    assert list(net.state_dict()) == ["_modules_.weight", "_modules_.bias"]
    x = torch.randn(2, 4)
    torch.testing.assert_close(net(x, x, x), 3 * net._modules_(torch.cat([x, x, x], dim=1)))


def test_malformed_graphs_are_refused():
    x = GNode("x", "input", (), (3,))
    late = GNode("p", "proj", ("q",), (3,), {"c_in": 3, "c_out": 3})
    with pytest.raises(CompileError, match="before it is defined"):
        build_module(Graph((x, late), ("x",), ("p",)))
    with pytest.raises(CompileError, match="not listed"):
        build_module(Graph((x,), (), ("x",)))
    with pytest.raises(CompileError, match="is not a node"):
        build_module(Graph((x,), ("x",), ("y",)))
    with pytest.raises(CompileError, match="lacks the attribute 'c_out'"):
        build_block(GNode("p", "proj", ("x",), (3,), {"c_in": 3}))
