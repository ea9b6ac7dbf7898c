"""Compiler building blocks: backbones (LeNets, torchvision, custom) and the log_mel front-end, on CPU.

Every backbone: static tap shapes equal the real ones, frozen means no gradients and eval-mode
BN, unfrozen means a gradient for every parameter, weights load from a local file
(``weights_only=True``), and the module exports to ONNX matching onnxruntime. log_mel: the
conv1d DFT implementation equals torchaudio's MelSpectrogram (rtol 1e-4) and both export.
"""

from __future__ import annotations

import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torch import nn
from torch.nn import functional as F

from genolang.compiler import BACKBONES, FRONTENDS, CompileError, OpParamError, ShapeError, UnknownNameError
from genolang.compiler.backbones.lenet import GPLeNet

IMAGE, AUDIO = (1, 28, 28), (1, 32, 32)
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TV = dict(name="resnet18", taps=["layer1", "layer3", "avgpool"])


class TinyNet(nn.Module):
    """A user's module for the ``custom`` backbone: two outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.head = nn.Conv2d(4, 8, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.stem(x)
        return a.mean(dim=(2, 3)), self.head(a)


@pytest.fixture(autouse=True)
def user_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``user_nets`` module holding the factory ``tiny`` (as if installed by the user)."""
    module = types.ModuleType("user_nets")
    module.tiny = TinyNet
    monkeypatch.setitem(sys.modules, "user_nets", module)


CASES = {
    "lenet_image": (IMAGE, {}),
    "lenet_audio": (AUDIO, {}),
    "torchvision": ((3, 32, 32), TV),
    "custom": (AUDIO, {"factory": "user_nets:tiny"}),
    "custom_taps": (AUDIO, {"factory": "user_nets:tiny", "taps": ["stem.1", "head"]}),
}


def onnx_roundtrip(module: nn.Module, x: torch.Tensor, batches=(1, 3), rtol: float = 1e-3, atol: float = 1e-5) -> None:
    """Export with the dynamo exporter (opset 18, dynamic batch); onnxruntime must match torch."""
    import onnxruntime as ort

    module = module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(module, (x,), dynamo=True, opset_version=18, verbose=False,
                                 dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=1024)},))
    session = ort.InferenceSession(prog.model_proto.SerializeToString(), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for n in batches:
        xn = torch.randn(n, *x.shape[1:])
        with torch.no_grad():
            ref = module(xn)
        refs = ref if isinstance(ref, (list, tuple)) else [ref]
        got = session.run(None, {name: xn.numpy()})
        assert len(got) == len(refs)
        for g, r in zip(got, refs):
            np.testing.assert_allclose(g, r.numpy(), rtol=rtol, atol=atol)


def spec_of(case: str):
    return BACKBONES.get(case.split("_taps")[0])


# ---------------------------------------------------------------- every backbone


@pytest.mark.parametrize("case", CASES)
def test_tap_shapes_are_static(case: str) -> None:
    in_shape, params = CASES[case]
    spec = spec_of(case)
    taps = spec.build(in_shape=in_shape, **params).eval()(torch.randn(2, *in_shape))
    assert [tuple(t.shape[1:]) for t in taps] == spec.tap_shapes(in_shape, **params)
    if spec.taps is not None:
        assert len(taps) == spec.taps


@pytest.mark.parametrize("case", CASES)
def test_frozen_backbone_has_no_gradients_and_eval_bn(case: str) -> None:
    in_shape, params = CASES[case]
    net = spec_of(case).build(in_shape=in_shape, frozen=True, **params)
    wrapper = nn.ModuleList([net]).train()
    assert wrapper.training and not any(m.training for m in net.body.modules())
    assert not any(p.requires_grad for p in net.parameters())
    x = torch.randn(2, *in_shape)
    for a, b in zip(net(x), net(x)):  # eval BN: deterministic, running stats untouched
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("case", CASES)
def test_unfrozen_backward_reaches_every_parameter(case: str) -> None:
    in_shape, params = CASES[case]
    net = spec_of(case).build(in_shape=in_shape, **params).train()
    sum(t.square().sum() for t in net(torch.randn(2, *in_shape))).backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


@pytest.mark.parametrize("case", ["lenet_image", "lenet_audio", "custom", "custom_taps"])
def test_backbone_exports_to_onnx(case: str) -> None:
    in_shape, params = CASES[case]
    onnx_roundtrip(spec_of(case).build(in_shape=in_shape, frozen=True, **params), torch.randn(2, *in_shape))


def test_torchvision_backbone_exports_to_onnx() -> None:
    net = BACKBONES.get("torchvision").build(in_shape=(3, 32, 32), frozen=True, **TV)
    onnx_roundtrip(net, torch.randn(2, 3, 32, 32), batches=(3,), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("case", CASES)
def test_weights_load_from_local_file(case: str, tmp_path: Path) -> None:
    in_shape, params = CASES[case]
    spec = spec_of(case)
    src = spec.build(in_shape=in_shape, **params).eval()
    state = {f"module.{k}": v for k, v in _model_of(src, case).state_dict().items()}  # DataParallel-style keys
    if case.startswith("lenet"):
        state["module.classifier.0.weight"] = torch.zeros(10, 12)  # the reference's head, skipped
    torch.save({"state_dict": state}, tmp_path / "w.pt")
    dst = spec.build(in_shape=in_shape, weights=tmp_path / "w.pt", **params).eval()
    x = torch.randn(2, *in_shape)
    for a, b in zip(src(x), dst(x)):
        torch.testing.assert_close(a, b)


def _model_of(net: nn.Module, case: str) -> nn.Module:
    """The module a checkpoint is for: the whole torchvision model (the extractor drops its
    unused head), the user's module, or the LeNet body."""
    if case == "torchvision":
        full = torchvision.models.get_model(TV["name"], weights=None)
        full.load_state_dict(net.body.extractor.state_dict(), strict=False)
        return full
    body = net.body
    return body.extractor if hasattr(body, "extractor") else body


# ---------------------------------------------------------------- LeNet specifics and errors


@pytest.mark.parametrize("blocks, after_pool", [(3, False), (5, True)])
def test_lenet_gp1_quirk(blocks: int, after_pool: bool) -> None:
    """gp1: mean of block 1 before its pool (image), after it (audio), as the MFAS reference."""
    name = "lenet_image" if blocks == 3 else "lenet_audio"
    net = BACKBONES.get(name).build(in_shape=AUDIO).body.eval()
    assert isinstance(net, GPLeNet) and net.blocks == blocks
    x = torch.randn(2, *AUDIO)
    act = F.relu(net.bn1(net.conv1(x)))
    expected = (F.max_pool2d(act, 2) if after_pool else act).mean(dim=(2, 3))
    torch.testing.assert_close(net(x)[0], expected)


def test_lenet_channels_and_size_checks() -> None:
    assert BACKBONES.get("lenet_audio").tap_shapes((1, 112, 112), c=6) == [(6,), (12,), (24,), (48,), (96,)]
    with pytest.raises(ShapeError, match="H, W >= 16"):
        BACKBONES.get("lenet_audio").tap_shapes((1, 8, 8))


def test_backbone_errors(tmp_path: Path) -> None:
    tv = BACKBONES.get("torchvision")
    with pytest.raises(UnknownNameError, match="did you mean 'resnet18'"):
        tv.tap_shapes((3, 32, 32), name="resnet81", taps=["layer4"])
    with pytest.raises(UnknownNameError, match="did you mean 'layer4'"):
        tv.tap_shapes((3, 32, 32), name="resnet18", taps=["layer5"])
    with pytest.raises(ShapeError, match="3 channels"):
        tv.tap_shapes((1, 32, 32), name="resnet18", taps=["layer4"])
    custom = BACKBONES.get("custom")
    with pytest.raises(OpParamError, match=r"package.module:callable"):
        custom.build(in_shape=AUDIO, factory="user_nets.tiny")
    with pytest.raises(UnknownNameError, match="did you mean 'tiny'"):
        custom.build(in_shape=AUDIO, factory="user_nets:tinny")
    with pytest.raises(CompileError, match="gives 2 outputs"):
        custom.tap_shapes(AUDIO, factory="user_nets:tiny", taps=3)
    with pytest.raises(CompileError, match="no file"):
        BACKBONES.get("lenet_image").build(in_shape=IMAGE, weights=tmp_path / "missing.pt")
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(CompileError, match="do not fit"):
        BACKBONES.get("lenet_image").build(in_shape=IMAGE, weights=tmp_path / "bad.pt")


# ---------------------------------------------------------------- log_mel front-end


LOG_MEL_CONFIGS = [
    {"n_fft": 256, "hop_length": 128, "n_mels": 32},
    {"n_fft": 512, "win_length": 400, "hop_length": 160, "n_mels": 40, "f_min": 20.0, "f_max": 7600.0},
    {"n_fft": 256, "n_mels": 32, "power": 1.0, "center": False},
]


@pytest.mark.parametrize("params", LOG_MEL_CONFIGS)
def test_log_mel_conv_equals_torchaudio(params: dict) -> None:
    import torchaudio

    spec = FRONTENDS.get("log_mel")
    x = torch.randn(3, 1, 4000)
    module = spec.build(in_shape=(1, 4000), **params).eval()
    ref = torchaudio.transforms.MelSpectrogram(sample_rate=16000, **params)(x[:, 0])
    torch.testing.assert_close(module.spectrogram(x), ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())
    out = module(x)
    db = torchaudio.transforms.AmplitudeToDB("power" if params.get("power", 2.0) == 2.0 else "magnitude")(ref)
    assert tuple(out.shape[1:]) == spec.out_shape((1, 4000), **params)
    torch.testing.assert_close(out[:, 0], db, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(module(x[:, 0]), out)  # (N, T) input too


def test_log_mel_top_db_and_natural_log() -> None:
    spec = FRONTENDS.get("log_mel")
    x = torch.randn(2, 1, 4000)
    out = spec.build(in_shape=(4000,), n_mels=32, top_db=30.0)(x)
    assert torch.all(out.amax(dim=(1, 2, 3)) - out.amin(dim=(1, 2, 3)) <= 30.0 + 1e-4)
    plain = spec.build(in_shape=(4000,), n_mels=32, log="log", eps=1e-6)
    torch.testing.assert_close(plain(x)[:, 0], torch.log(plain.spectrogram(x) + 1e-6))
    with pytest.raises(ShapeError, match="too short"):
        spec.out_shape((1, 100))


@pytest.mark.parametrize("impl", ["conv", "torchaudio"])
def test_log_mel_exports_to_onnx(impl: str) -> None:
    module = FRONTENDS.get("log_mel").build(in_shape=(1, 4000), n_fft=256, hop_length=128, n_mels=32, impl=impl)
    onnx_roundtrip(module, torch.randn(2, 1, 4000), rtol=1e-3, atol=1e-3)


def test_log_mel_conv_exports_with_torchscript_exporter(tmp_path: Path) -> None:
    """The conv implementation also goes through the legacy exporter, which refuses torch.stft."""
    import onnxruntime as ort

    module = FRONTENDS.get("log_mel").build(in_shape=(1, 4000), n_fft=256, hop_length=128, n_mels=32).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.randn(2, 1, 4000),), str(tmp_path / "m.onnx"), dynamo=False,
                          opset_version=18, input_names=["wave"], dynamic_axes={"wave": {0: "batch"}})
    x = torch.randn(3, 1, 4000)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"wave": x.numpy()})
    np.testing.assert_allclose(got[0], module(x).detach().numpy(), rtol=1e-3, atol=1e-3)


# ---------------------------------------------------------------- weights from a trained model


def test_unimodal_model_checkpoint_loads_into_mfas_backbone(tmp_path: Path) -> None:
    """The model.pt of a unimodal net (keys ``image_net.body.*``) feeds the MFAS space's frozen
    backbone, named by a path relative to the space's file; taps equal the trained body's."""
    from genolang.compiler import compile_genotype, compile_path

    uni = compile_path(EXAMPLES / "spaces" / "mfas_image_only.geno")
    with torch.no_grad():
        for p in uni.net.parameters():
            p.uniform_(-1, 1)
    (tmp_path / "ckpt").mkdir()
    torch.save(uni.net.state_dict(), tmp_path / "ckpt" / "model.pt")
    text = (EXAMPLES / "spaces" / "mfas_avmnist.geno").read_text()
    text = text.replace("model = lenet_image; in = @image;",
                        'model = lenet_image; in = @image; weights = "ckpt/model.pt";')
    (tmp_path / "mfas.geno").write_text(text)
    from genolang.document import load

    space = load(tmp_path / "mfas.geno").space("mfas_avmnist")
    net = compile_genotype(space, space.sample(0)).net.eval()
    x = torch.randn(2, *IMAGE)
    want = uni.net.image_net.body.eval()(x)
    for a, b in zip(want, net.image_net.body(x)):
        torch.testing.assert_close(a, b)


def test_sub_state_dict_prefix_rules() -> None:
    from genolang.compiler.backbones.base import sub_state_dict

    t = torch.zeros(1)
    state = {"a.body.w": t, "a.body.b": t, "head.w": t}
    assert list(sub_state_dict(state, ["w", "b"])) == ["w", "b"]  # only "a.body." holds both
    assert sub_state_dict(state, ["w", "missing"]) is None
    with pytest.raises(CompileError, match="several fitting modules"):
        sub_state_dict({"x.w": t, "y.w": t}, ["w"])
