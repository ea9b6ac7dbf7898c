"""ONNX export with a dynamic batch axis, checked against PyTorch before anything is written.

:func:`export_onnx` traces a module with ``torch.onnx.export(..., dynamo=True)``, stamps the
genolang metadata into ``metadata_props``, runs the ONNX checker (``full_check``) and strict
shape inference, refuses graphs using a denied op (control flow), then runs onnxruntime at
several batch sizes on seeded random inputs and compares every output with eager PyTorch.
Only a model that passes is written, atomically (a temporary file in the target folder, then
``os.replace``). Any failure is an :class:`~genolang.compiler.errors.ExportError`.

:func:`export_compiled` fills the names, shapes and metadata from a :class:`Graph`.

Exporter quirks handled here: the example batch used for tracing is 2 (``torch.export``
specialises sizes 0 and 1), the exporter's progress lines are silenced with ``verbose=False``
and its warnings are logged at debug level; BatchNorm in eval mode is folded into the
preceding convolution by the exporter's optimiser, so tolerances must allow float reordering.
"""

from __future__ import annotations

import inspect
import io
import logging
import os
import re
import time
import warnings
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from genolang.compiler.errors import ExportError
from genolang.files import atomic_bytes

if TYPE_CHECKING:  # torch and onnx are imported by the functions that need them
    import numpy as np
    import onnx
    import torch

    from genolang.compiler.graph import Graph

log = logging.getLogger(__name__)

#: op types refused in an exported graph: control flow means a shape- or data-dependent
#: Python branch was captured, which a NAS network should never need
DENY_OPS: frozenset[str] = frozenset({"AdaptiveMaxPool", "Loop", "If", "Scan"})
TRACE_BATCH = 2  # torch.export specialises example sizes 0 and 1
MAX_PROTO_BYTES = 2**31 - 1  # protobuf's limit for a single-file model
_NO_METADATA: Mapping[str, str] = MappingProxyType({})
_CHATTY_LOGGERS = ("torch.onnx", "torch.export", "torch._export", "onnxscript", "onnx_ir")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_onnx` wrote and checked."""

    path: Path
    opset: int
    batches: tuple[int, ...]
    max_abs_diff: dict[int, float] = field(default_factory=dict)  # batch -> over all outputs
    file_size: int = 0
    op_types: tuple[str, ...] = ()
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "opset": self.opset, "batches": list(self.batches),
                "max_abs_diff": {str(b): d for b, d in self.max_abs_diff.items()},
                "file_size": self.file_size, "op_types": list(self.op_types), "seconds": self.seconds}


def export_onnx(net: torch.nn.Module, path: str | os.PathLike[str], *, input_names: Sequence[str],
                output_names: Sequence[str], input_shapes: Mapping[str, tuple[int, ...]],
                metadata: Mapping[str, str] = _NO_METADATA, opset: int = 18,
                check_batches: Sequence[int] = (1, 3, 64), rtol: float = 1e-3, atol: float = 1e-5,
                seed: int = 0, deny_ops: Collection[str] = DENY_OPS, cuda: bool = False) -> ExportReport:
    """Export ``net`` to ONNX at ``path`` with a dynamic batch axis; check it; write it last.

    ``input_shapes`` omit the batch; inputs are float32. ``cuda`` lets onnxruntime use its
    CUDA provider when available (the CPU provider otherwise). The module is put in eval mode
    for the export and the checks, and given back in the mode it came in.
    """
    start = time.perf_counter()
    _check_arguments(input_names, input_shapes, check_batches)
    was_training = net.training
    net.eval()
    try:
        model = _trace(net, input_names=input_names, output_names=output_names,
                       input_shapes=input_shapes, opset=opset)
        ops = op_types(model)
        _refuse_ops(ops, deny_ops)
        for key, value in metadata.items():
            _set_prop(model, str(key), str(value))
        _check_model(model)
        diffs = _compare(net, model, input_shapes={n: tuple(input_shapes[n]) for n in input_names},
                         output_names=output_names, batches=check_batches, tol=(rtol, atol), seed=seed,
                         cuda=cuda)
    finally:
        net.train(was_training)
    target = Path(path)
    size = _write(model, target)
    report = ExportReport(target, opset, tuple(check_batches), diffs, size, ops, time.perf_counter() - start)
    log.info("exported %s (%d bytes, opset %d) in %.1fs", target, size, opset, report.seconds)
    return report


def export_compiled(graph: Graph, net: torch.nn.Module, path: str | os.PathLike[str], **kw: Any) -> ExportReport:
    """:func:`export_onnx` with names, shapes and metadata taken from ``graph``.

    Keyword arguments go to :func:`export_onnx`; a ``metadata`` mapping is added to (and
    overrides) the graph's own keys.
    """
    metadata = {**graph_metadata(graph), **dict(kw.pop("metadata", {}))}
    return export_onnx(net, path, input_names=graph.inputs, output_names=graph.outputs,
                       input_shapes=graph.input_shapes(), metadata=metadata, **kw)


def graph_metadata(graph: Graph) -> dict[str, str]:
    """The ``metadata_props`` genolang stamps into a model compiled from ``graph``."""
    from genolang import __version__

    return {"genolang.genotype": graph.text, "genolang.name": graph.genotype, "genolang.digest": graph.digest,
            "genolang.fingerprint": graph.fingerprint, "genolang.space": graph.space,
            "genolang.version": __version__}


def op_types(model: onnx.ModelProto) -> tuple[str, ...]:
    """Sorted op types of a model, subgraphs and local functions included."""
    found: set[str] = set()
    for graph in _graphs(model.graph):
        found.update(n.op_type for n in graph.node)
    for function in model.functions:
        found.update(n.op_type for n in function.node)
    return tuple(sorted(found))


# ------------------------------------------------------------------ steps
def _check_arguments(input_names: Sequence[str], input_shapes: Mapping[str, tuple[int, ...]],
                     batches: Sequence[int]) -> None:
    missing = [n for n in input_names if n not in input_shapes]
    if missing:
        raise ExportError(f"no input shape for {', '.join(map(repr, missing))}")
    if not batches or any(int(b) < 1 for b in batches):
        raise ExportError(f"check batches must be positive sizes, got {list(batches)}")


def _trace(net: torch.nn.Module, *, input_names: Sequence[str], output_names: Sequence[str],
           input_shapes: Mapping[str, tuple[int, ...]], opset: int) -> onnx.ModelProto:
    import torch

    device = _device(net)
    args = tuple(torch.randn(TRACE_BATCH, *input_shapes[n], device=device) for n in input_names)
    batch = torch.export.Dim("batch", min=1)
    try:
        with _quiet():
            program = torch.onnx.export(net, args, dynamo=True, opset_version=opset, verbose=False,
                                        input_names=list(input_names), output_names=list(output_names),
                                        dynamic_shapes=_dynamic_shapes(net, len(args), batch))
            assert program is not None, "dynamo=True always returns an ONNXProgram"
            model = program.model_proto
    except Exception as exc:  # the exporter raises many unrelated types
        raise ExportError(f"torch.onnx.export failed: {_brief(exc)}") from exc
    if len(model.graph.output) != len(output_names):
        raise ExportError(f"the network has {len(model.graph.output)} output(s), "
                          f"{len(output_names)} name(s) given ({', '.join(output_names)})")
    return model


def _dynamic_shapes(net: torch.nn.Module, count: int, batch: Any) -> tuple[Any, ...]:
    """Axis 0 of every input is ``batch``, shaped like ``forward``'s signature (``*args`` nests)."""
    specs: list[Any] = []
    left = count
    for param in inspect.signature(net.forward).parameters.values():
        if left and param.kind == param.VAR_POSITIONAL:
            specs.append(tuple({0: batch} for _ in range(left)))
            left = 0
        elif left and param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            specs.append({0: batch})
            left -= 1
    return tuple(specs)


def _refuse_ops(ops: Sequence[str], deny: Collection[str]) -> None:
    bad = sorted(set(ops) & set(deny))
    if bad:
        raise ExportError(f"the ONNX graph uses refused op(s) {', '.join(bad)}: a data- or shape-dependent "
                          f"branch or loop was captured (refused: {', '.join(sorted(deny))})")


def _set_prop(model: onnx.ModelProto, key: str, value: str) -> None:
    for prop in model.metadata_props:
        if prop.key == key:
            prop.value = value
            return
    entry = model.metadata_props.add()
    entry.key, entry.value = key, value


def _check_model(model: onnx.ModelProto) -> None:
    import onnx

    if model.ByteSize() > MAX_PROTO_BYTES:
        raise ExportError(f"the model is {model.ByteSize()} bytes, over the 2 GB of a single ONNX file")
    try:
        onnx.checker.check_model(model, full_check=True)
        onnx.shape_inference.infer_shapes(model, strict_mode=True)
    except Exception as exc:  # ValidationError, InferenceError, ...
        raise ExportError(f"the exported ONNX model is invalid: {_brief(exc)}") from exc


def _compare(net: torch.nn.Module, model: onnx.ModelProto, *, input_shapes: Mapping[str, tuple[int, ...]],
             output_names: Sequence[str], batches: Sequence[int], tol: tuple[float, float], seed: int,
             cuda: bool) -> dict[int, float]:
    """Batch -> max abs diff between onnxruntime and eager PyTorch; ExportError on a mismatch."""
    import numpy as np

    session = _session(model, cuda=cuda)
    diffs: dict[int, float] = {}
    for batch in batches:
        rng = np.random.default_rng([seed, int(batch)])
        feeds = {n: rng.standard_normal((int(batch), *s), dtype=np.float32) for n, s in input_shapes.items()}
        expected = _eager(net, feeds)
        try:
            got = session.run(list(output_names), feeds)
        except Exception as exc:  # onnxruntime's own error types
            raise ExportError(f"onnxruntime failed at batch {batch}: {_brief(exc)}") from exc
        if len(expected) != len(output_names):
            raise ExportError(f"the network returned {len(expected)} output(s), expected {len(output_names)}")
        diffs[int(batch)] = max(_diff(n, g, e, batch=int(batch), tol=tol)
                                for n, g, e in zip(output_names, got, expected))
    return diffs


def _diff(name: str, got: np.ndarray, expected: np.ndarray, *, batch: int, tol: tuple[float, float]) -> float:
    import numpy as np

    if got.shape != expected.shape:
        raise ExportError(f"ONNX output '{name}' has shape {list(got.shape)} at batch {batch}, "
                          f"PyTorch {list(expected.shape)}")
    worst = float(np.max(np.abs(got.astype(np.float64) - expected), initial=0.0))
    if not np.allclose(got, expected, rtol=tol[0], atol=tol[1], equal_nan=True):
        raise ExportError(f"ONNX output '{name}' differs from PyTorch at batch {batch}: max abs diff "
                          f"{worst:.3g} (rtol {tol[0]:g}, atol {tol[1]:g})")
    return worst


def _eager(net: torch.nn.Module, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    import torch

    device = _device(net)
    with torch.no_grad():
        out = net(*(torch.from_numpy(x).to(device) for x in feeds.values()))
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [t.detach().to("cpu", torch.float64).numpy() for t in outs]


def _session(model: onnx.ModelProto, *, cuda: bool) -> Any:
    import onnxruntime as ort

    providers = ["CPUExecutionProvider"]
    if cuda and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    try:
        return ort.InferenceSession(model.SerializeToString(), options, providers=providers)
    except Exception as exc:
        raise ExportError(f"onnxruntime cannot load the exported model: {_brief(exc)}") from exc


def _write(model: onnx.ModelProto, path: Path) -> int:
    """Write atomically (:func:`genolang.files.atomic_bytes`); the size in bytes."""
    data = model.SerializeToString()
    atomic_bytes(path, data)
    return len(data)


# ------------------------------------------------------------------ helpers
def _device(net: torch.nn.Module) -> torch.device:
    import torch

    for tensor in (*net.parameters(), *net.buffers()):
        return tensor.device
    return torch.device("cpu")


def _graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    """``graph`` and every subgraph (If/Loop/Scan bodies), depth first."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _graphs(attr.g)
            for sub in attr.graphs:
                yield from _graphs(sub)


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporter: its logs below ERROR, its warnings and its prints (torch.export prints
    a partial graph to stderr when it fails) go to this module's debug log; errors still raise."""
    saved = {name: logging.getLogger(name).level for name in _CHATTY_LOGGERS}
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    chatter = io.StringIO()
    try:
        with warnings.catch_warnings(record=True) as caught, redirect_stdout(chatter), redirect_stderr(chatter):
            warnings.simplefilter("always")
            yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
        for w in caught:
            log.debug("exporter warning: %s", w.message)
        if chatter.getvalue().strip():
            log.debug("exporter output:\n%s", chatter.getvalue().rstrip())


def _brief(exc: BaseException, limit: int = 1500) -> str:
    """The root cause of ``exc``: its first paragraph and "Caused by" lines, without colour codes."""
    root = exc
    while root.__cause__ is not None:
        root = root.__cause__
    paragraphs = _ANSI.sub("", str(root)).strip().split("\n\n")
    kept = [paragraphs[0]] + [line for line in "\n".join(paragraphs[1:]).splitlines()
                               if line.startswith("Caused by")]
    text = " ".join(line.strip() for line in "\n".join(kept).splitlines() if line.strip())
    text = f"{type(root).__name__}: {text}"
    if root is not exc:
        text = f"({type(exc).__name__}) {text}"
    return text if len(text) <= limit else text[:limit] + " ..."
