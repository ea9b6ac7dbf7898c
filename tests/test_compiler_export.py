"""ONNX export: dynamic batch, metadata, checks against PyTorch, atomic writes, refused ops."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from genolang.compiler.errors import CompileError, ExportError
from genolang.compiler.export import ExportReport, export_compiled, export_onnx
from genolang.compiler.graph import GNode, Graph


class Toy(nn.Module):
    """conv-BN-ReLU-GAP on an image, concatenated with a vector, then a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.head = nn.Linear(4 + 3, 5)

    def forward(self, image: torch.Tensor, vec: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.conv(image).mean(dim=(2, 3)), vec], dim=1))


def toy_graph() -> Graph:
    nodes = (GNode("image", "input", (), (1, 8, 8), {"dtype": "float32"}),
             GNode("vec", "input", (), (3,), {"dtype": "float32"}),
             GNode("conv", "op", ("image",), (4, 8, 8), {"op": "conv3x3"}, block="net"),
             GNode("pool", "gap", ("conv",), (4,), block="net"),
             GNode("cat", "concat", ("pool", "vec"), (7,), block="fusion"),
             GNode("head", "head", ("cat",), (5,), {"classes": 5}, block="head"))
    return Graph(nodes, ("image", "vec"), ("head",), space="toy", genotype="toy_best",
                 digest="sha256:0123", fingerprint="sha256:4567", text="genotype toy_best of toy version 1 {}\n")


def trained_toy() -> Toy:
    torch.manual_seed(0)
    net = Toy()
    net.conv[1].running_mean.uniform_(-0.5, 0.5)  # a non-trivial BatchNorm to fold
    net.conv[1].running_var.uniform_(0.5, 2.0)
    return net.train()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    net = trained_toy()
    path = tmp_path_factory.mktemp("onnx") / "toy.onnx"
    report = export_compiled(toy_graph(), net, path, metadata={"extra": "1"})
    return net, path, report


def test_export_writes_a_checked_model_with_metadata(exported):
    net, path, report = exported
    assert isinstance(report, ExportReport) and report.path == path and path.is_file()
    assert report.batches == (1, 3, 64) and set(report.max_abs_diff) == {1, 3, 64}
    assert max(report.max_abs_diff.values()) < 1e-4
    assert report.file_size == path.stat().st_size and "Conv" in report.op_types
    assert list(report.op_types) == sorted(report.op_types)
    assert net.training, "the module's mode is given back"
    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props}
    assert props["genolang.genotype"] == toy_graph().text and props["genolang.digest"] == "sha256:0123"
    assert props["genolang.fingerprint"] == "sha256:4567" and props["genolang.space"] == "toy"
    assert props["genolang.version"] and props["extra"] == "1"
    assert [i.name for i in model.graph.input] == ["image", "vec"]
    assert [o.name for o in model.graph.output] == ["head"]
    assert all(i.type.tensor_type.shape.dim[0].dim_param for i in model.graph.input), "batch axis is dynamic"
    assert report.to_json()["max_abs_diff"].keys() == {"1", "3", "64"}


@pytest.mark.parametrize("batch", [1, 3, 64])
def test_onnxruntime_matches_torch(exported, batch):
    net, path, _ = exported
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(batch)
    image = rng.standard_normal((batch, 1, 8, 8), dtype=np.float32)
    vec = rng.standard_normal((batch, 3), dtype=np.float32)
    (got,) = session.run(None, {"image": image, "vec": vec})
    with torch.no_grad():
        expected = net.eval()(torch.from_numpy(image), torch.from_numpy(vec)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


class TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(6, 2), nn.Linear(6, 3)

    def forward(self, *xs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.a(xs[0]), self.b(xs[0] * xs[1])


def test_varargs_forward_several_outputs_and_no_chatter(tmp_path, capsys):
    report = export_onnx(TwoHeads(), tmp_path / "two.onnx", input_names=["x", "y"], output_names=["p", "q"],
                         input_shapes={"x": (6,), "y": (6,)}, check_batches=(1, 5))
    captured = capsys.readouterr()
    assert captured.out == "" and "torch.onnx" not in captured.err, "the exporter's progress lines are silenced"
    model = onnx.load(str(report.path))
    assert [o.name for o in model.graph.output] == ["p", "q"] and set(report.max_abs_diff) == {1, 5}


class Noisy(nn.Module):
    """Random in ONNX and in PyTorch alike, so the two can never agree."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) + torch.rand_like(x)


def test_a_mismatch_raises_and_writes_nothing(tmp_path):
    with pytest.raises(ExportError) as exc:
        export_onnx(Noisy(), tmp_path / "noisy.onnx", input_names=["x"], output_names=["out"],
                    input_shapes={"x": (4,)}, check_batches=(3,))
    message = exc.value.first.message
    assert "'out'" in message and "batch 3" in message and "max abs diff" in message
    assert exc.value.code == "E0405" and isinstance(exc.value, CompileError)
    assert list(tmp_path.iterdir()) == [], "no model and no temporary file is left"


def test_denied_op_types_are_refused(tmp_path):
    with pytest.raises(ExportError, match="Gemm"):
        export_onnx(nn.Linear(4, 2), tmp_path / "lin.onnx", input_names=["x"], output_names=["y"],
                    input_shapes={"x": (4,)}, deny_ops={"Gemm"})
    assert list(tmp_path.iterdir()) == []


class Branchy(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cond(x.sum() > 0, lambda t: t + 1, lambda t: t - 1, (x,))


def test_control_flow_is_refused_by_default(tmp_path):
    with pytest.raises(ExportError, match=r"refused op.*If"):
        export_onnx(Branchy(), tmp_path / "b.onnx", input_names=["x"], output_names=["y"],
                    input_shapes={"x": (4,)})
    assert not (tmp_path / "b.onnx").exists()


class Unexportable(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[x > 0].sum().reshape(1).expand(int(x.sum().item() > 0) + 1)


def test_exporter_failures_become_export_errors(tmp_path):
    with pytest.raises(ExportError, match=r"torch.onnx.export failed") as exc:
        export_onnx(Unexportable(), tmp_path / "u.onnx", input_names=["x"], output_names=["y"],
                    input_shapes={"x": (4,)})
    assert "\x1b[" not in str(exc.value), "colour codes are stripped"
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments(tmp_path):
    with pytest.raises(ExportError, match="no input shape for 'x'"):
        export_onnx(nn.Linear(4, 2), tmp_path / "a.onnx", input_names=["x"], output_names=["y"], input_shapes={})
    with pytest.raises(ExportError, match="positive"):
        export_onnx(nn.Linear(4, 2), tmp_path / "a.onnx", input_names=["x"], output_names=["y"],
                    input_shapes={"x": (4,)}, check_batches=(0,))
    with pytest.raises(ExportError, match="2 name"):
        export_onnx(nn.Linear(4, 2), tmp_path / "a.onnx", input_names=["x"], output_names=["y", "z"],
                    input_shapes={"x": (4,)})


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_export_of_a_cuda_network(tmp_path):
    net = trained_toy().cuda()
    report = export_compiled(toy_graph(), net, tmp_path / "toy.onnx", cuda=True)
    assert report.path.is_file() and next(net.parameters()).is_cuda
