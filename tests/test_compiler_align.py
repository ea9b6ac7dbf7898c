"""Issue 13, must-hold 1: shapes agree under every choice, because the adapters align any two.

Before, a sum of a 32x32 and a 30x30 map, maps of transposed aspect, sequences of different
lengths, a map and a vector in one `combine`, a GroupNorm whose `groups` did not divide a
searched width, were E0380 compile errors for genotypes of a space `check` accepted. Each
case here has an oracle: the graph's adapter nodes and shapes, and the built network
against a reference computation (torch's own nearest interpolation, GroupNorm).
"""

from __future__ import annotations

import pytest

import genolang
from genolang.compiler.builder import GraphBuilder
from genolang.compiler.lower import lower
from genolang.shapes import divisor_at_most

torch = pytest.importorskip("torch")
F = torch.nn.functional


def space(body: str) -> genolang.Space:
    return genolang.loads(f"genolang 1\nspace s version 1 {{\n{body}\n}}\n", "align.geno").space()


def kinds(graph) -> list[tuple[str, tuple[int, ...]]]:
    return [(n.kind, n.shape) for n in graph.nodes]


def test_maps_no_halving_aligns_are_resampled_to_the_smallest_size():
    sp = space("input a { shape = [3, 32, 32] }\ninput b { shape = [3, 30, 30] }\n"
               "node n { x = [@a, @b]; combine = sum }\nhead h { in = @n; classes = 2 }")
    g = lower(sp, sp.default())
    assert ("resample", (3, 30, 30)) in kinds(g) and ("sum", (3, 30, 30)) in kinds(g)
    assert not any(k == "reduce" for k, _ in kinds(g))


def test_maps_a_halving_aligns_still_use_factorized_reduce():
    sp = space("input a { shape = [3, 32, 32] }\ninput b { shape = [3, 8, 8] }\n"
               "node n { x = [@a, @b]; combine = concat }\nhead h { in = @n; classes = 2 }")
    got = kinds(lower(sp, sp.default()))
    assert got.count(("reduce", (3, 16, 16))) == 1 and got.count(("reduce", (3, 8, 8))) == 1
    assert ("concat", (6, 8, 8)) in got and not any(k == "resample" for k, _ in got)


def test_transposed_aspects_meet_at_the_smallest_height_and_width():
    sp = space("input a { shape = [3, 8, 4] }\ninput b { shape = [2, 4, 8] }\n"
               "node n { x = [@a, @b]; combine = concat }\nhead h { in = @n; classes = 2 }")
    got = kinds(lower(sp, sp.default()))
    assert got.count(("resample", (3, 4, 4))) == 1 and got.count(("resample", (2, 4, 4))) == 1
    assert ("concat", (5, 4, 4)) in got


def test_sequences_meet_at_the_shortest_length_and_kinds_meet_as_vectors():
    sp = space("input s { shape = [4, 10] }\ninput t { shape = [2, 6] }\ninput m { shape = [3, 5, 5] }\n"
               "node n { x = [@s, @t]; combine = concat }\n"
               "node k { x = [@n, @m]; combine = concat }\nhead h { in = @k; classes = 2 }")
    got = kinds(lower(sp, sp.default()))
    assert ("resample", (4, 6)) in got and ("concat", (6, 6)) in got
    assert ("flatten", (36,)) in got and ("gap", (3,)) in got and ("concat", (39,)) in got


@pytest.mark.parametrize("size_in, size_out", [((32, 32), (30, 30)), ((8, 4), (4, 4)), ((7, 5), (3, 2)),
                                               ((4, 4), (6, 5)), ((10,), (6,))])
def test_resample_is_torch_nearest_interpolation(size_in, size_out):
    from genolang.compiler.resample import Resample

    x = torch.randn(2, 3, *size_in)
    want = F.interpolate(x, size=size_out, mode="nearest")  # the reference implementation
    torch.testing.assert_close(Resample(size_in, size_out)(x), want, rtol=0, atol=0)


def test_a_map_op_sees_any_value_as_a_map():
    b = GraphBuilder()
    v = b.add("v", "input", [], (5,))
    s = b.add("s", "input", [], (4, 7))
    assert b.to_map(v).shape == (5, 1, 1) and b.to_map(s).shape == (4, 7, 1)
    assert b.to_map(v) == b.to_map(v)  # memoised: one adapter per source


def test_a_seq_op_outside_a_group_with_length_reads_positions_as_the_sequence():
    sp = space("input a { shape = [3, 4, 5] }\nnode n { op = conv1d; filters = 6; x = @a }\n"
               "head h { in = @n; classes = 2 }")
    got = kinds(lower(sp, sp.default()))
    assert ("to_seq", (3, 20)) in got and ("op", (6, 20)) in got


@pytest.mark.parametrize("n, k, want", [(6, 4, 3), (8, 4, 4), (7, 4, 1), (12, 5, 4), (5, 64, 5), (1, 3, 1)])
def test_divisor_at_most(n, k, want):
    assert divisor_at_most(n, k) == want
    assert n % want == 0 and want <= max(1, k) and not any(n % d == 0 for d in range(want + 1, min(n, k) + 1))


def test_divisor_parameters_are_fitted_to_the_width_a_choice_gives():
    sp = space("input a { shape = [3, 8, 8] }\ninput v { shape = [6] }\n"
               "node c { op = conv; kernel = 3; filters: choice(4, 6); x = @a }\n"
               "node n { op = group_norm; groups = 4; x = @c }\n"
               "node t { op = self_attention; heads = 4; tokens = 4; x = @v }\n"
               "node k { x = [@n, @t]; combine = concat }\nhead h { in = @k; classes = 2 }")
    for width, groups in ((4, 4), (6, 3)):
        g = lower(sp, sp.validate({"c.filters": width}))
        assert g["n"].attrs["params"]["groups"] == groups
        assert g["t"].attrs["params"]["tokens"] == 3 and g["t"].attrs["params"]["heads"] == 2  # 6 = 3 x 2


def test_a_fitted_group_norm_computes_torch_group_norm():
    from genolang.compiler import compile_genotype

    sp = space("input a { shape = [6, 4, 4] }\nnode n { op = group_norm; groups = 4; x = @a }\n"
               "head h { in = @n; classes = 2 }")
    net = compile_genotype(sp, sp.default()).net.eval()
    x = torch.randn(2, 6, 4, 4)
    hidden = {}
    net.n.register_forward_hook(lambda m, i, o: hidden.setdefault("n", o))
    net(x)
    torch.testing.assert_close(hidden["n"], F.group_norm(x, 3, eps=1e-5))


def test_identity_like_ops_take_stride_one_or_two_at_check():
    with pytest.raises(genolang.SpaceError) as info:
        space("input a { shape = [3, 8, 8] }\nnode n { op: choice(conv3x3, identity); stride: choice(1, 3); "
              "x = @a }\nhead h { in = @n; classes = 2 }")
    assert info.value.code == "E0296" and "stride" in str(info.value) and info.value.line == 4


@pytest.mark.slow
def test_every_adapter_exports_with_onnxruntime_parity(tmp_path):
    from genolang.compiler import compile_genotype
    from genolang.compiler.export import export_compiled

    sp = space("input a { shape = [3, 9, 7] }\ninput s { shape = [4, 10] }\ninput v { shape = [5] }\n"
               "node c { op = conv; kernel = 3; filters = 4; stride = 3; x = @a }\n"
               "node m { x = [@a, @c]; combine = concat }\n"
               "node q { op = conv1d; filters = 4; stride = 3; x = @s }\n"
               "node r { x = [@s, @q]; combine = sum }\n"
               "node k { x = [@m, @r, @v]; combine = concat }\nhead h { in = @k; classes = 2 }")
    compiled = compile_genotype(sp, sp.default())
    assert {"resample", "gap", "flatten"} <= {n.kind for n in compiled.graph.nodes}
    report = export_compiled(compiled.graph, compiled.net, tmp_path / "net.onnx", check_batches=(1, 3), atol=1e-4)
    assert max(report.max_abs_diff.values()) <= 1e-4


# ---------------------------------------------------------------- backbones: the input is fixed and taken


@pytest.mark.parametrize("model", ["lenet_image", "lenet_audio", "lenet5", "spectro_cnn"])
def test_backbone_metadata_accepts_exactly_what_the_compiler_builds(model):
    """The torch-free rule check uses against the compiler's tap-shape function (the oracle)."""
    from genolang.compiler.backbones import BACKBONES
    from genolang.compiler.errors import ShapeError
    from genolang.opmeta import BACKBONE_META

    accepts = BACKBONE_META.get(model).accepts
    for shape in [(1, h, w) for h in range(1, 41, 3) for w in (1, 4, 15, 16, 40)] + [(1, 28), (28,)]:
        try:
            BACKBONES.get(model).tap_shapes(shape)
            built = True
        except ShapeError:
            built = False
        assert (accepts(shape) is None) == built, (model, shape)


def test_a_backbone_reads_an_input_and_takes_its_shape_at_check():
    with pytest.raises(genolang.SpaceError) as info:
        space("input x { shape = [1, 28, 28] }\nnode c { op = conv; kernel = 3; filters = 1; stride: choice(1, 8); "
              "x = @x }\nbackbone b { model = lenet5; in = @c }\nhead h { in = @b.tap[3]; classes = 2 }")
    assert info.value.code == "E0297" and info.value.line == 5
    with pytest.raises(genolang.SpaceError) as info:
        space("input x { shape = [1, 4, 4] }\nbackbone b { model = lenet_audio; in = @x }\n"
              "head h { in = @b.tap[4]; classes = 2 }")
    assert info.value.code == "E0298" and "needs H, W >= 16" in str(info.value)
    space("input x { shape = [1, 16, 16] }\nbackbone b { model = lenet_audio; in = @x }\n"
          "head h { in = @b.tap[4]; classes = 2 }")  # the smallest it takes


# ---------------------------------------------------------------- binary ops: exactly two values


@pytest.mark.parametrize("reads, ok", [
    ("x = @s; y = @t", True),
    ("a: pick(2, s, t, u)", True),
    ("a: subset(s, t, min=2)", True),
    ("x = @s", False),
    ("a: subset(s, t, u, min=1)", False),
    ("a: subset(s, t, min=1)", False),
    ("x = @s; y = @t; z = @u", False),
])
def test_a_binary_op_reads_exactly_two_values_in_every_genotype(reads, ok):
    body = ("input s { shape = [4, 10] }\ninput t { shape = [6, 7] }\ninput u { shape = [4, 10] }\n"
            f"node n {{ op = attention; length = 5; {reads} }}\nhead h {{ in = @n; classes = 2 }}")
    if not ok:
        with pytest.raises(genolang.SpaceError) as info:
            space(body)
        assert info.value.code == "E0299" and info.value.line == 6
        return
    sp = space(body)
    for seed in range(4):
        g = lower(sp, sp.sample(seed))
        xs = [g[i] for i in g["n"].inputs]
        assert len(xs) == 2 and xs[0].shape == xs[1].shape and xs[0].shape[1] == 5  # aligned to length 5
        assert xs[0].shape[0] in (4, 6)  # the first input's width (s and u have 4, t has 6)


# ---------------------------------------------------------------- taps of any shape


class OddTaps(torch.nn.Module):
    """A user's model whose taps check cannot know: a vector, a map and a rank-4 tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 8, 3, stride=2, padding=1)

    def forward(self, x):
        m = self.conv(x)
        return m.mean(dim=(2, 3)), m, m.reshape(x.shape[0], 2, 4, 8, 8)


def test_custom_taps_of_any_shape_feed_every_kind_of_op(monkeypatch, tmp_path):
    import sys
    import types

    from genolang.compiler import compile_genotype
    from genolang.compiler.export import export_compiled

    module = types.ModuleType("odd_taps")
    module.odd = OddTaps
    monkeypatch.setitem(sys.modules, "odd_taps", module)
    sp = space('input x { shape = [1, 16, 16] }\nbackbone b { model = custom; factory = "odd_taps:odd"; '
               "taps = 3; in = @x }\n"
               "node c { op: choice(conv3x3, max_pool_3x3); a: one(b.tap[*]) }\n"
               "node q { op = conv1d; filters = 4; a: one(b.tap[*]) }\n"
               "node k { combine: choice(sum, concat); a: subset(b.tap[*], c, q, min=2) }\n"
               "head h { in = @k; classes = 2 }")
    seen = set()
    for seed in range(12):
        compiled = compile_genotype(sp, sp.sample(seed))
        seen |= {n.kind for n in compiled.graph.nodes}
        with torch.no_grad():
            compiled.net.eval()(torch.randn(2, 1, 16, 16))
    assert {"as_map", "flatten", "to_seq"} <= seen
    compiled = compile_genotype(sp, sp.validate({"c.op": "conv3x3", "c.a": "@b.tap[2]", "q.a": "@b.tap[0]",
                                                 "k.combine": "concat", "k.a": ["@b.tap[2]", "@c", "@q"]}))
    report = export_compiled(compiled.graph, compiled.net, tmp_path / "net.onnx", check_batches=(1, 2), atol=1e-4)
    assert max(report.max_abs_diff.values()) <= 1e-4


def test_a_one_channel_map_halved_to_meet_a_strided_one():
    """Found by the space property test: a 1-channel input summed with its stride-2 conv is
    halved by FactorizedReduce(1, 1), whose one output channel cannot be split between its two
    convs (it built a conv of 0 channels); it now comes from the first conv alone."""
    from genolang.compiler.module import build_module
    from genolang.compiler.ops.base import FactorizedReduce

    sp = space("input x0 { shape = [1, 4, 4] }\n"
               "node m1 { op = conv; kernel = 3; filters = 2; stride: choice(1, 2, 3); x = @x0 }\n"
               "node m1_s { combine = sum; x = [@x0, @m1] }\nhead h { in: one(x0, m1_s); classes = 3 }")
    geno = sp.validate({"m1.stride": 2, "h.in": "@m1_s"})
    g = lower(sp, geno)
    assert ("reduce", (1, 2, 2)) in kinds(g)
    net = build_module(g).eval()
    x = torch.randn(3, 1, 4, 4)
    assert net(x).shape == (3, 3)
    fr = FactorizedReduce(1, 1).eval()
    assert fr.conv_2 is None and sum(p.numel() for p in fr.conv_1.parameters()) == 1
    torch.testing.assert_close(fr(x), fr.bn(fr.conv_1(torch.relu(x))))
    assert [c.out_channels for c in (FactorizedReduce(3, 5).conv_1, FactorizedReduce(3, 5).conv_2)] == [2, 3]
