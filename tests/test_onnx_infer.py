"""ONNX inference: an exported genotype under onnxruntime agrees with PyTorch's evaluation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import genolang
from genolang.cli import main
from genolang.compiler.compile import compile_genotype
from genolang.compiler.export import export_compiled
from genolang.errors import UsageError
from genolang.runtime.dataset import MultimodalDataset, Split
from genolang.runtime.errors import DataError
from genolang.runtime.onnx import InferResult, OnnxModel, default_providers, infer
from genolang.runtime.train import TrainConfig, evaluate, train

SPACE = """genolang 1

space t version 1 {
  input x { shape = [16] }
  node h { op = fc; hidden = 32; in = @x; act = relu }
  head y { in = @h; classes = 4 }
}
"""


def linear_data(n: int = 512, *, seed: int = 3) -> MultimodalDataset:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(16, 4, generator=g)

    def split(m: int) -> Split:
        x = torch.randn(m, 16, generator=g)
        return Split({"x": x}, (x @ w).argmax(1))

    return MultimodalDataset("linear", {"train": split(n), "val": split(200), "test": split(300)}, 4)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A briefly trained network of the small space, exported (and checked) to ONNX."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    space = genolang.loads(SPACE, "t.geno").space()
    torch.manual_seed(0)
    compiled = compile_genotype(space, space.default())
    data = linear_data()
    train(compiled.net, data, TrainConfig(epochs=2, lr=1e-2), input_names=compiled.net.input_names)
    path = tmp_path_factory.mktemp("onnx") / "t.onnx"
    export_compiled(compiled.graph, compiled.net, path, check_batches=(1, 5))
    yield compiled, data, path
    torch.set_num_threads(threads)


def test_infer_matches_torch_evaluate(exported):
    compiled, data, path = exported
    model = OnnxModel(path)
    split = data["test"]
    result = infer(model, split, batch_size=64)
    expected = evaluate(compiled.net, split, input_names=("x",), task="single_label", batch_size=64)
    assert isinstance(result, InferResult) and result.metrics.n == expected.n == 300
    assert result.metrics.accuracy == expected.accuracy > 0.5
    assert result.metrics.loss == pytest.approx(expected.loss, abs=1e-5)
    with torch.no_grad():
        logits = compiled.net.eval()(split.inputs["x"]).numpy()
    np.testing.assert_allclose(result.logits, logits, atol=1e-5, rtol=0)
    assert (result.predictions == logits.argmax(1)).all() and result.samples_per_second > 0


def test_model_names_and_metadata(exported):
    compiled, _, path = exported
    model = OnnxModel(path, providers=["CPUExecutionProvider"])
    assert model.input_names == ("x",) and model.output_names == ("y",)
    assert model.input_shapes == {"x": (16,)} and model.provider == "CPUExecutionProvider"
    if model.metadata:  # stamped by genolang's exporter
        assert model.digest == compiled.genotype.digest and model.genotype == "default"
    assert default_providers()[-1] == "CPUExecutionProvider"
    out = model.run({"x": np.zeros((3, 16), np.float64)})
    assert out.shape == (3, 4) and out.dtype == np.float32


def test_uint8_inputs_are_scaled_like_split_batches(exported):
    compiled, _, path = exported
    raw = torch.randint(0, 256, (40, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    split = Split({"x": raw}, torch.zeros(40, dtype=torch.long))
    result = infer(OnnxModel(path), split, batch_size=16)
    with torch.no_grad():
        expected = compiled.net.eval()(raw.float() / 255).numpy()
    np.testing.assert_allclose(result.logits, expected, atol=1e-5, rtol=0)


def test_multi_label_metrics_agree_with_evaluate(exported):
    compiled, data, path = exported
    x = data["val"].inputs["x"]
    labels = (x[:, :4] > 0).long()  # (N, 4) multi-hot: the task follows the labels' shape
    split = Split({"x": x}, labels)
    result = infer(OnnxModel(path), split, batch_size=50, progress=True)
    expected = evaluate(compiled.net, split, input_names=("x",), task="multi_label", batch_size=50)
    for key in ("accuracy", "f1_macro", "f1_weighted", "f1_micro"):
        assert getattr(result.metrics, key) == pytest.approx(getattr(expected, key), abs=1e-9)
    assert result.predictions.shape == (200, 4) and set(np.unique(result.predictions)) <= {0, 1}


def test_bad_inputs_and_files(exported, tmp_path):
    _, _, path = exported
    model = OnnxModel(path)
    with pytest.raises(DataError, match="needs input"):
        model.run({"z": np.zeros((1, 16), np.float32)})
    with pytest.raises(DataError, match="lacks"):
        infer(model, Split({"z": torch.zeros(2, 16)}, torch.zeros(2, dtype=torch.long)))
    with pytest.raises(DataError, match="shape"):
        infer(model, Split({"x": torch.zeros(2, 8)}, torch.zeros(2, dtype=torch.long)))
    with pytest.raises(UsageError, match="no such file"):
        OnnxModel(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(UsageError, match="cannot load"):
        OnnxModel(tmp_path / "junk.onnx")


def test_cli_infer_with_an_injected_dataset(exported, monkeypatch, capsys):
    from genolang.runtime import cli_train

    compiled, data, path = exported
    monkeypatch.setattr(cli_train, "load_data", lambda spec, **kw: data)
    assert main(["infer", str(path), "--data", "synthetic", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    expected = evaluate(compiled.net, data["test"], input_names=("x",), task="single_label")
    assert doc["ok"] and doc["n"] == 300 and doc["accuracy"] == expected.accuracy
    assert doc["provider"].endswith("ExecutionProvider") and doc["split"] == "test"
    assert main(["infer", str(path), "--data", "synthetic", "--split", "val", "--batch-size", "7"]) == 0
    text = capsys.readouterr().out
    assert "accuracy" in text and "200 samples" in text and "ExecutionProvider" in text
    assert main(["infer", str(path), "--data", "synthetic", "--split", "nope"]) == 1
    assert "no split 'nope'" in capsys.readouterr().err


def test_cli_infer_on_an_npz_file(exported, tmp_path, capsys):
    from genolang.runtime import data as loaders

    compiled, data, path = exported
    npz = loaders.save_dataset(data, tmp_path / "linear.npz")
    assert main(["infer", str(path), "--data", str(npz), "--split", "val", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    expected = evaluate(compiled.net, data["val"], input_names=("x",), task="single_label")
    assert doc["n"] == 200 and doc["accuracy"] == expected.accuracy


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_provider_is_used_when_available(exported):
    _, data, path = exported
    model = OnnxModel(path)
    if "CUDAExecutionProvider" not in default_providers():
        pytest.skip("this onnxruntime build has no CUDA provider")
    assert model.provider == "CUDAExecutionProvider"
    assert infer(model, data["test"]).metrics.n == 300
