"""Errors raised by the compiler's building blocks (registries, ops, backbones, front-ends).

They extend :class:`genolang.errors.GenolangError`, so the CLI renders them like every other
diagnostic. Codes ``E04xx`` belong to the compiler.
"""

from __future__ import annotations

from genolang.errors import GenolangError


class CompileError(GenolangError):
    """A genotype or a building block that cannot be turned into a network."""

    default_code = "E0400"


class RegistryError(CompileError, ValueError):
    """A registry misuse, e.g. the same name registered twice."""

    default_code = "E0401"


class UnknownNameError(CompileError, LookupError):
    """A name no registry entry answers to; ``suggestions`` holds the close names."""

    default_code = "E0402"

    def __init__(self, message: str, suggestions: tuple[str, ...] = ()):
        self.suggestions = suggestions
        super().__init__(message)


class OpParamError(CompileError, TypeError):
    """An op, activation, backbone or front-end given a parameter it does not accept."""

    default_code = "E0403"


class ShapeError(CompileError, ValueError):
    """An input whose rank, kind or size a building block cannot consume."""

    default_code = "E0404"


class ExportError(CompileError, RuntimeError):
    """A network the ONNX exporter refuses, or whose ONNX graph disagrees with PyTorch."""

    default_code = "E0405"
