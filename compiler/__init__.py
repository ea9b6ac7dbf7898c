"""genolang.compiler: genotype -> Graph IR -> PyTorch module and ONNX graph (issue: compiler)."""

# Light on import: the CLI imports ``genolang.compiler.cli`` without torch, so the package
# itself imports nothing heavy; the names below load their module on first access (PEP 562).
from __future__ import annotations

from importlib import import_module as _import_module
from typing import Any as _Any

_EXPORTS: dict[str, str] = {
    "ACTIVATIONS": "activations", "ActivationSpec": "activations", "register_activation": "activations",
    "BACKBONES": "backbones", "Backbone": "backbones", "BackboneSpec": "backbones",
    "CompileError": "errors", "ExportError": "errors", "OpParamError": "errors", "RegistryError": "errors",
    "ShapeError": "errors",
    "UnknownNameError": "errors",
    "FRONTENDS": "frontends", "FrontendSpec": "frontends",
    "OPS": "ops", "OpSpec": "ops", "register_op": "ops",
    "REQUIRED": "registry", "Registry": "registry",
    "Graph": "graph", "GNode": "graph",
    "lower": "lower", "load_genotype": "lower",
    "GraphNet": "module", "build_module": "module",
    "Summary": "summary", "summarize": "summary",
    "Compiled": "compile", "compile_genotype": "compile", "compile_path": "compile", "check_budgets": "compile",
    "Supernet": "supernet", "build_supernet": "supernet",
    "ArchParams": "relax",
    "ExportReport": "export", "export_compiled": "export", "export_onnx": "export",
    "to_dot": "draw",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> _Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'genolang.compiler' has no attribute {name!r}")
    value = getattr(_import_module(f"genolang.compiler.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(_EXPORTS) | {n for n in globals() if not n.startswith("_")})
