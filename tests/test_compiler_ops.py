"""Compiler building blocks: the op and activation registries (every entry, on CPU).

For every registered op: the output shape equals the registry's static shape function (at
stride 1 and 2, keeping and changing the width), the static MAC count equals a count taken
with hooks on the built module, every parameter gets a gradient, stride 2 halves H and W
(rounding up), and the op exports to ONNX (dynamo exporter, opset 18, dynamic batch) with
onnxruntime matching torch at batch 1 and 3. Tiny shapes: C=4, H=W=8, L=8.
"""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from genolang import catalog
from genolang.compiler import (
    ACTIVATIONS,
    BACKBONES,
    FRONTENDS,
    OPS,
    OpParamError,
    Registry,
    RegistryError,
    ShapeError,
    UnknownNameError,
)

C, H, L, D = 4, 8, 8, 6
IN_SHAPES = {"map": (C, H, H), "vector": (D,), "seq": (C, L), "any": (C, H, H)}
#: values for required parameters other than ``length``
REQUIRED_VALUES = {"vocab": 11}
OP_NAMES = OPS.names()
MAP_OPS = [n for n in OP_NAMES if OPS.get(n).kind == "map"]
BINARY_OPS = [n for n in OP_NAMES if OPS.get(n).arity == 2]


def op_setup(name: str, *, c_out: int | None = None, stride: int = 1, shape: tuple[int, ...] | None = None):
    """(spec, module, input shapes, build kwargs) of op ``name`` at the test sizes."""
    spec = OPS.get(name)
    shape = shape or IN_SHAPES[spec.kind]
    params = {"length": shape[-1]} if spec.kind == "seq" and "length" in spec.params else {}
    params.update({f.name: REQUIRED_VALUES[f.name] for f in spec.fields if f.required and f.name != "length"})
    if c_out is None or spec.keeps_width:
        c_out = shape[0] if spec.kind != "vector" else 5
    kw = dict(c_out=c_out, stride=stride, **params)
    return spec, spec.build(c_in=shape[0], **kw), [shape] * spec.arity, kw


def randomize_bn(module: nn.Module) -> nn.Module:
    """Non-trivial BN running statistics, so eval-mode comparisons exercise them."""
    gen = torch.Generator().manual_seed(0)
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
    return module


def onnx_roundtrip(module: nn.Module, inputs: list[torch.Tensor], batches=(1, 3)) -> None:
    """Export with the dynamo exporter (opset 18, dynamic batch); onnxruntime must match torch."""
    import onnxruntime as ort

    module = module.eval()
    batch = torch.export.Dim("batch", min=1, max=1024)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(module, tuple(inputs), dynamo=True, opset_version=18, verbose=False,
                                 dynamic_shapes=tuple({0: batch} for _ in inputs))
    session = ort.InferenceSession(prog.model_proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert len(names) == len(inputs), "the exported graph must keep every input"
    for n in batches:
        xs = [torch.randn(n, *x.shape[1:]) for x in inputs]
        with torch.no_grad():
            ref = module(*xs)
        refs = ref if isinstance(ref, (list, tuple)) else [ref]
        got = session.run(None, {name: x.numpy() for name, x in zip(names, xs)})
        assert len(got) == len(refs)
        for g, r in zip(got, refs):
            np.testing.assert_allclose(g, r.numpy(), rtol=1e-3, atol=1e-5)


# ---------------------------------------------------------------- registries vs catalog


def test_registered_names_equal_catalog() -> None:
    assert set(OPS.names()) == set(catalog.OPS)
    assert set(ACTIVATIONS.names()) == set(catalog.ACTIVATIONS)
    assert set(BACKBONES.names()) == set(catalog.BACKBONES)
    assert set(FRONTENDS.names()) == set(catalog.FRONTENDS)
    for name, taps in catalog.BACKBONES.items():
        assert BACKBONES.get(name).taps == taps


def test_package_import_is_light() -> None:
    """``import genolang.compiler`` (what the CLI does for its subcommands) must not load torch."""
    code = "import sys, genolang.compiler, genolang.compiler.errors; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_duplicate_registration_refused() -> None:
    reg: Registry[object] = Registry("thing")
    reg.register("a")(lambda: 1)
    with pytest.raises(RegistryError, match="'a' is already registered"):
        reg.register("a")(lambda: 2)
    with pytest.raises(RegistryError, match="already registered"):
        OPS.register("sep_conv_3x3", kind="map", shape=lambda *a, **k: (), macs=lambda *a, **k: 0)(lambda **k: None)


@pytest.mark.parametrize("registry, wrong, right", [
    (OPS, "sep_conv3x3", "sep_conv_3x3"), (OPS, "dil_conv_3x5", "dil_conv_3x3"), (OPS, "atention", "attention"),
    (ACTIVATIONS, "lrelu", "relu"), (ACTIVATIONS, "leakyrelu", "leaky_relu"), (BACKBONES, "lenet_img", "lenet_image"),
    (FRONTENDS, "logmel", "log_mel"),
])
def test_unknown_name_suggests_close_name(registry: Registry, wrong: str, right: str) -> None:
    with pytest.raises(UnknownNameError) as err:
        registry.get(wrong)
    assert right in err.value.suggestions
    assert f"did you mean '{right}'" in str(err.value) or f"'{right}'" in str(err.value)


def test_param_binding_errors() -> None:
    with pytest.raises(OpParamError, match="did you mean 'kernel_h'"):
        OPS.get("conv").build(c_in=C, c_out=C, kernel_hh=3)
    assert OPS.get("conv").bind({"kernel_h": 5, "length": 8}, strict=False) == {"kernel_h": 5, "kernel_w": 3,
                                                                                 "kernel": None}
    with pytest.raises(OpParamError, match="odd"):
        OPS.get("conv").build(c_in=C, c_out=C, kernel_h=2)
    with pytest.raises(OpParamError, match="needs the parameter 'length'"):
        OPS.get("attention").build(c_in=C, c_out=C)
    with pytest.raises(OpParamError, match="keeps the width"):
        OPS.get("concat_fc").build(c_in=C, c_out=2 * C, length=L)
    with pytest.raises(OpParamError, match="takes no stride"):
        OPS.get("fc").build(c_in=D, c_out=5, stride=2)
    with pytest.raises(OpParamError, match="did you mean 'negative_slope'"):
        ACTIVATIONS.get("leaky_relu").build(negativ_slope=0.2)


def test_shape_errors() -> None:
    with pytest.raises(ShapeError, match="takes 2 input"):
        OPS.get("sum").out_shape([(C, L)], c_out=C)
    with pytest.raises(ShapeError, match="rank 3"):
        OPS.get("sep_conv_3x3").out_shape([(C, L)], c_out=C)
    with pytest.raises(ShapeError, match="one shape"):
        OPS.get("attention").out_shape([(C, L), (C, L + 1)], c_out=C, length=L)
    with pytest.raises(ShapeError, match="L=8"):
        OPS.get("attention").out_shape([(C, 4), (C, 4)], c_out=C, length=8)


# ---------------------------------------------------------------- every op


@pytest.mark.parametrize("name", OP_NAMES)
@pytest.mark.parametrize("c_out", [C, 6])
@pytest.mark.parametrize("stride", [1, 2])
def test_op_shape_matches_static(name: str, c_out: int, stride: int) -> None:
    spec = OPS.get(name)
    if stride == 2 and not spec.strided:
        pytest.skip("no stride for this kind")
    _, module, shapes, kw = op_setup(name, c_out=c_out, stride=stride)
    out = module(*[torch.randn(2, *s) for s in shapes])
    assert tuple(out.shape[1:]) == spec.out_shape(shapes, **kw)
    assert spec.out_shape(shapes, **kw)[0] == (kw["c_out"])


@pytest.mark.parametrize("name", MAP_OPS)
@pytest.mark.parametrize("size", [8, 7])
def test_stride2_halves_height_and_width(name: str, size: int) -> None:
    spec, module, shapes, kw = op_setup(name, stride=2, shape=(C, size, size))
    out = module(torch.randn(2, C, size, size))
    assert tuple(out.shape[2:]) == (math.ceil(size / 2),) * 2
    assert spec.out_shape(shapes, **kw) == tuple(out.shape[1:])


def hooked_macs(module: nn.Module, inputs: list[torch.Tensor]) -> int:
    """MACs of the convs and linears of ``module``, counted while it runs on one sample."""
    total = 0

    def hook(m: nn.Module, _: tuple, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(m, nn.Linear):
            total += m.in_features * m.out_features * (out.numel() // m.out_features)
        else:
            total += out[0].numel() * (m.in_channels // m.groups) * math.prod(m.kernel_size)

    layers = [m for m in module.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]
    handles = [m.register_forward_hook(hook) for m in layers]
    module.eval()(*[x[:1] for x in inputs])
    for h in handles:
        h.remove()
    return total


@pytest.mark.parametrize("name", OP_NAMES)
@pytest.mark.parametrize("c_out", [C, 6])
def test_op_macs_match_modules(name: str, c_out: int) -> None:
    spec, module, shapes, kw = op_setup(name, c_out=c_out, stride=2 if name == "skip_connect" else 1)
    counted = hooked_macs(module, [torch.randn(2, *s) for s in shapes])
    if name == "attention":  # two (L x C) @ (C x L)-sized matmuls, no modules to hook
        counted += 2 * C * L * L
    if name == "self_attention":  # QKᵀ and AV over T = H*W tokens of width C
        counted += 2 * C * (H * H) ** 2
    assert spec.macs(shapes, **kw) == counted


@pytest.mark.parametrize("name", OP_NAMES)
def test_op_backward_reaches_every_parameter(name: str) -> None:
    _, module, shapes, _ = op_setup(name, c_out=6)
    params = list(module.parameters())
    if not params:
        pytest.skip("parameter-free op")
    xs = [torch.randn(2, *s, requires_grad=True) for s in shapes]
    module.train()(*xs).square().sum().backward()
    assert all(p.grad is not None for p in params)
    assert (xs[0].grad is not None) != OPS.get(name).int_input  # ids get no gradient


@pytest.mark.parametrize("name", OP_NAMES)
def test_op_exports_to_onnx(name: str) -> None:
    _, module, shapes, _ = op_setup(name, c_out=6, stride=2 if OPS.get(name).strided else 1)
    onnx_roundtrip(randomize_bn(module), [torch.randn(2, *s) for s in shapes])


def test_attention_is_reference_formula() -> None:
    """softmax(xᵀy / sqrt(C)) yᵀ, transposed back, then LayerNorm([C, L]) (BM-NAS ScaledDotAttn)."""
    module = OPS.get("attention").build(c_in=C, c_out=C, length=L).eval()
    x, y = torch.randn(2, C, L), torch.randn(2, C, L)
    attn = torch.softmax(x.transpose(1, 2) @ y / math.sqrt(C), dim=-1)
    ref = nn.functional.layer_norm((attn @ y.transpose(1, 2)).transpose(1, 2), [C, L])
    torch.testing.assert_close(module(x, y), ref)


# ---------------------------------------------------------------- activations


@pytest.mark.parametrize("name", ACTIVATIONS.names())
def test_activation_shape_and_export(name: str) -> None:
    spec = ACTIVATIONS.get(name)
    module = spec.build()
    for shape in IN_SHAPES.values():
        assert tuple(module(torch.randn(2, *shape)).shape[1:]) == spec.out_shape(shape)
    onnx_roundtrip(module, [torch.randn(2, C, H, H)])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_ops_run_on_cuda_like_cpu() -> None:
    for name in OP_NAMES:
        _, module, shapes, _ = op_setup(name, c_out=6)
        xs = [torch.randn(2, *s) for s in shapes]
        module = randomize_bn(module).eval()
        ref = module(*xs)
        got = module.to("cuda")(*[x.to("cuda") for x in xs])
        torch.testing.assert_close(got.cpu(), ref, rtol=1e-3, atol=1e-4, msg=name)


def test_group_norm_with_one_value_per_group_at_batch_one() -> None:
    """A group of one value normalises to 0, so the output is the bias (F.group_norm refused batch 1);
    other shapes agree with nn.GroupNorm on the (N, C, 1) view."""
    from genolang.compiler.ops.norm import GroupNormAny

    norm = GroupNormAny(3, 3)
    with torch.no_grad():
        norm.bias.copy_(torch.tensor([0.5, -1.0, 2.0]))
    bias = norm.bias.detach()  # atol: the rounding of x - mean, divided by sqrt(eps)
    torch.testing.assert_close(norm(torch.randn(1, 3)), bias.expand(1, 3), rtol=0, atol=1e-4)
    torch.testing.assert_close(norm(torch.randn(1, 3, 1)), bias.view(1, 3, 1), rtol=0, atol=1e-4)
    wide, x = GroupNormAny(2, 6), torch.randn(4, 6)
    ref = nn.GroupNorm(2, 6)
    ref.load_state_dict(wide.state_dict())
    torch.testing.assert_close(wide(x), ref(x.unsqueeze(-1)).squeeze(-1))
