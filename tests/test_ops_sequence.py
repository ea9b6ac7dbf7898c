"""The ops for sequences, attention, embeddings, normalisation and dropout (docs/language.md, "Ops").

tests/test_compiler_ops.py runs every registered op (these included) through its shape, MAC,
gradient and ONNX checks at one input kind; here the ops that take any kind are run at all
three ranks, each op is compared with a reference computation (PyTorch's functional form or
``nn.MultiheadAttention`` with the same weights), the shape rules' refusals are checked, and
the ops are lowered from a space.
"""

from __future__ import annotations

import math

import pytest
import torch
from test_compiler_ops import onnx_roundtrip, randomize_bn
from torch import nn
from torch.nn import functional as F

import genolang
from genolang.compiler import OPS, ShapeError
from genolang.compiler.compile import compile_genotype

SHAPES = {"vector": (6,), "seq": (4, 8), "map": (4, 8, 8)}
ANY_OPS = [n for n in OPS.names() if OPS.get(n).kind == "any"]
PARAMS = {"group_norm": {"groups": 2}, "self_attention": {"heads": 2}}


def _randomize_affine(module: nn.Module) -> nn.Module:
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    return randomize_bn(module)


def test_the_any_kind_ops_are_the_documented_ones():
    assert set(ANY_OPS) == {"self_attention", "layer_norm", "batch_norm", "group_norm", "dropout"}


@pytest.mark.parametrize("kind", SHAPES)
@pytest.mark.parametrize("name", ANY_OPS)
def test_any_kind_op_keeps_the_shape_and_exports(name, kind):
    shape = SHAPES[kind]
    spec = OPS.get(name)
    module = _randomize_affine(spec.build(c_in=shape[0], c_out=shape[0], **PARAMS.get(name, {}))).eval()
    x = torch.randn(2, *shape)
    assert tuple(module(x).shape[1:]) == spec.out_shape([shape], c_out=shape[0], **PARAMS.get(name, {})) == shape
    onnx_roundtrip(module, [x])


# ---------------------------------------------------------------- reference computations


@pytest.mark.parametrize("kind", SHAPES)
def test_layer_norm_normalises_the_channels_at_each_position(kind):
    x = torch.randn(3, *SHAPES[kind])
    module = _randomize_affine(OPS.get("layer_norm").build(c_in=x.shape[1], c_out=x.shape[1])).eval()
    w, b = module.norm.weight, module.norm.bias
    mean, var = x.mean(1, keepdim=True), x.var(1, unbiased=False, keepdim=True)
    view = (1, -1) + (1,) * (x.dim() - 2)
    ref = (x - mean) / torch.sqrt(var + 1e-5) * w.view(view) + b.view(view)
    torch.testing.assert_close(module(x), ref)


@pytest.mark.parametrize("kind", SHAPES)
def test_batch_norm_eval_uses_running_statistics_per_channel(kind):
    x = torch.randn(3, *SHAPES[kind])
    module = _randomize_affine(OPS.get("batch_norm").build(c_in=x.shape[1], c_out=x.shape[1], eps=1e-3)).eval()
    view = (1, -1) + (1,) * (x.dim() - 2)
    ref = ((x - module.running_mean.view(view)) / torch.sqrt(module.running_var.view(view) + 1e-3)
           * module.weight.view(view) + module.bias.view(view))
    torch.testing.assert_close(module(x), ref)


def test_group_norm_of_a_vector_normalises_each_group_of_features():
    x = torch.randn(3, 6)
    module = _randomize_affine(OPS.get("group_norm").build(c_in=6, c_out=6, groups=2)).eval()
    g = x.view(3, 2, 3)
    normed = ((g - g.mean(-1, keepdim=True)) / torch.sqrt(g.var(-1, unbiased=False, keepdim=True) + 1e-5)).view(3, 6)
    torch.testing.assert_close(module(x), normed * module.weight + module.bias)


@pytest.mark.parametrize("kind, tokens", [("vector", 2), ("seq", 1), ("map", 1)])
def test_self_attention_equals_torch_multihead_attention(kind, tokens):
    shape = SHAPES[kind]
    width = shape[0] // tokens
    heads = 3 if width % 3 == 0 else 2
    module = _randomize_affine(OPS.get("self_attention").build(c_in=shape[0], c_out=shape[0], heads=heads,
                                                               tokens=tokens)).eval()
    ref = nn.MultiheadAttention(width, heads, batch_first=True).eval()
    with torch.no_grad():
        ref.in_proj_weight.copy_(module.attn.qkv.weight)
        ref.in_proj_bias.copy_(module.attn.qkv.bias)
        ref.out_proj.weight.copy_(module.attn.out.weight)
        ref.out_proj.bias.copy_(module.attn.out.bias)
    x = torch.randn(2, *shape)
    t = x.reshape(2, tokens, width) if kind == "vector" else x.flatten(2).transpose(1, 2)
    expected, _ = ref(t, t, t, need_weights=False)
    expected = expected.reshape(x.shape) if kind == "vector" else expected.transpose(1, 2).reshape(x.shape)
    torch.testing.assert_close(module(x), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("kernel, dilation", [(1, 1), (3, 1), (5, 2)])
def test_conv1d_is_a_same_padded_convolution_then_batch_norm(kernel, dilation, stride):
    spec = OPS.get("conv1d")
    module = _randomize_affine(spec.build(c_in=4, c_out=6, stride=stride, kernel=kernel, dilation=dilation)).eval()
    conv, bn = module[0], module[1]
    x = torch.randn(2, 4, 9)
    y = F.conv1d(x, conv.weight, stride=stride, padding=dilation * (kernel - 1) // 2, dilation=dilation)
    ref = (y - bn.running_mean[:, None]) / torch.sqrt(bn.running_var[:, None] + bn.eps) * bn.weight[:, None] \
        + bn.bias[:, None]
    torch.testing.assert_close(module(x), ref)
    out = spec.out_shape([(4, 9)], c_out=6, stride=stride, kernel=kernel, dilation=dilation)
    assert out == tuple(module(x).shape[1:]) == (6, math.ceil(9 / stride))


def test_embedding_looks_up_clamped_truncated_ids():
    module = OPS.get("embedding").build(c_in=5, c_out=3, vocab=10).eval()
    x = torch.tensor([[0.0, 2.7, 9.0, 42.0, -3.0]])
    out = module(x)
    table = module.table.weight
    assert out.shape == (1, 3, 5)
    for j, i in enumerate([0, 2, 9, 9, 0]):
        torch.testing.assert_close(out[0, :, j], table[i])
    assert OPS.get("embedding").out_shape([(5,)], c_out=3, vocab=10) == (3, 5)


def test_dropout_is_identity_in_eval_and_drops_in_training():
    module = OPS.get("dropout").build(c_in=4, c_out=4, p=0.25)
    x = torch.ones(4, 1000)
    assert torch.equal(module.eval()(x), x)
    torch.manual_seed(0)
    y = module.train()(x)
    kept = y != 0
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 1 / 0.75))  # survivors scaled by 1/(1-p)
    assert 0.2 < 1 - kept.float().mean().item() < 0.3  # 4000 Bernoulli(0.25) draws


# ---------------------------------------------------------------- shape rules refuse


@pytest.mark.parametrize("name, shape, params, message", [
    ("self_attention", (4, 8), {"heads": 3}, "heads=3 does not divide the token width 4"),
    ("self_attention", (6,), {"tokens": 4}, "tokens=4 does not divide the vector's 6 features"),
    ("self_attention", (4, 8), {"tokens": 2}, "applies to vector inputs only"),
    ("group_norm", (4, 8, 8), {"groups": 3}, "groups=3 does not divide the 4 channels"),
    ("conv1d", (4, 8, 8), {}, "rank 2"),
    ("embedding", (4, 8), {"vocab": 5}, "rank 1"),
])
def test_shape_rules_refuse(name, shape, params, message):
    with pytest.raises(ShapeError, match=message):
        OPS.get(name).out_shape([shape], c_out=shape[0], **params)


# ---------------------------------------------------------------- lowered from a space

SPACE = """genolang 1
space s version 1 {
  input seq { shape = [4, 12] }
  input img { shape = [4, 6, 6] }
  node c { op = conv1d; kernel = 3; filters = 8; stride = 2; x = @seq }
  node a { op = self_attention; heads: choice(2, 4); x = @c }
  node m { op = self_attention; x = @img }
  node n { op = batch_norm; x = @m }
  node d { op = dropout; p = 0.2; x = @n }
  node f { op = fc; hidden = 5; combine = concat; a = @a; b = @d }
  head h { in = @f; classes = 3 }
}
"""


def test_ops_lower_with_their_shape_rules():
    space = genolang.loads(SPACE).space()
    for heads in (2, 4):
        compiled = compile_genotype(space, space.validate({"a.heads": heads}))
        g = compiled.graph
        assert g["c"].shape == (8, 6) and g["a"].shape == (8, 6)  # stride 2: L = 12 -> 6
        assert g["m"].shape == g["n"].shape == g["d"].shape == (4, 6, 6)  # maps stay maps
        assert g["a"].attrs["params"]["heads"] == heads
        out = compiled.net.eval()(torch.randn(2, 4, 12), torch.randn(2, 4, 6, 6))
        assert tuple(out.shape) == (2, 3)


def test_the_documented_residual_around_attention():
    """docs/language.md: a node without ``op`` summing the attention and its input is a residual."""
    text = """genolang 1
space s version 1 {
  input x { shape = [4, 12] }
  node attn { op = self_attention; heads = 2; a = @x }
  node r { combine = sum; a = @attn; b = @x }
  head h { in = @r; classes = 3 }
}
"""
    space = genolang.loads(text).space()
    compiled = compile_genotype(space, space.default())
    assert (compiled.graph["r"].kind, compiled.graph["r"].inputs) == ("sum", ("attn", "x"))
