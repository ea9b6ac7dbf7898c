"""The compiler's subcommands: ``genolang compile``, ``export`` and ``draw``.

Registered into the main parser by :func:`register` (see :func:`genolang.cli._extensions`).
Importing this module imports neither torch nor the compiler proper, so ``genolang check``
stays fast; each handler imports what it needs. Exit codes and error rendering are the main
CLI's: 0 ok, 1 invalid input (any :class:`~genolang.errors.GenolangError`), 2 bad usage.

FILE may hold genotypes (``--genotype`` names one when there are several) or a space alone:
then its declared defaults are compiled (``Space.default()``), or ``Space.sample(seed=0)``
when it declares none; the output says which.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genolang.cli import EXIT_OK, out, out_json
from genolang.errors import UsageError

if TYPE_CHECKING:
    from genolang.compiler.graph import Graph
    from genolang.genotype import Genotype
    from genolang.space import Space


@dataclass(frozen=True)
class Target:
    """The genotype a command compiles, its space and where it came from."""

    space: Space
    genotype: Genotype
    origin: str  # "genotype", "default" or "sample(seed=0)"

    def describe(self) -> str:
        where = f"{self.space.name} v{self.space.version}"
        if self.origin == "genotype":
            return f"genotype {self.genotype.name} of {where}"
        why = "declared defaults" if self.origin == "default" else "no genotype and no defaults declared"
        return f"{self.origin} genotype of {where} ({why})"

    def to_json(self) -> dict[str, Any]:
        return {"genotype": self.genotype.name, "space": self.space.name, "origin": self.origin,
                "digest": self.genotype.digest}


# ------------------------------------------------------------------ subcommands
def cmd_compile(args: argparse.Namespace) -> int:
    from genolang.compiler.compile import compile_genotype

    target = resolve_target(args.file, genotype=args.genotype)
    summary = compile_genotype(target.space, target.genotype).summary  # budgets checked (E0370)
    if args.json:
        out_json({"file": args.file, **target.to_json(), "summary": summary.to_json()})
    else:
        out(f"# {target.describe()}")
        out(summary.table())
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from genolang.compiler.compile import compile_genotype
    from genolang.compiler.export import export_compiled

    target = resolve_target(args.file, genotype=args.genotype)
    compiled = compile_genotype(target.space, target.genotype)  # budgets checked (E0370), as the API
    graph, net = compiled.graph, compiled.net
    if args.weights:
        load_weights(net, Path(args.weights), digest=target.genotype.digest)
    report = export_compiled(graph, net, args.out, opset=args.opset)
    if args.json:
        out_json({"file": args.file, **target.to_json(), **report.to_json()})
    else:
        worst = max(report.max_abs_diff.values(), default=0.0)
        out(f"wrote {report.path} ({report.file_size} bytes, opset {report.opset}): {target.describe()}; "
            f"onnxruntime matches PyTorch at batches {', '.join(map(str, report.batches))} "
            f"(max abs diff {worst:.2g})")
    return EXIT_OK


def cmd_draw(args: argparse.Namespace) -> int:
    from genolang.compiler.draw import DotMissingError, render, to_dot

    target = resolve_target(args.file, genotype=args.genotype)
    text = to_dot(lower_target(target))
    if not args.out:
        sys.stdout.write(text)
        return EXIT_OK
    path = Path(args.out)
    if path.suffix.lower() != ".dot":
        try:
            written = render(text, path)
        except DotMissingError as exc:
            written = path.with_suffix(".dot")
            sys.stderr.write(f"genolang draw: warning: {exc.first.message}; wrote {written} instead\n")
            _write_text(written, text)
    else:
        written = _write_text(path, text)
    if args.json:
        out_json({"file": args.file, **target.to_json(), "path": str(written)})
    else:
        out(f"wrote {written}: {target.describe()}")
    return EXIT_OK


# ------------------------------------------------------------------ helpers
def resolve_target(path: str, *, genotype: str | None = None) -> Target:
    """The genotype named (or the only one) in ``path``; a lone space's default or sample."""
    from genolang.compiler.lower import load_genotype

    return Target(*load_genotype(path, genotype=genotype))


def lower_target(target: Target) -> Graph:
    """The Graph IR of a target (imports the compiler, hence torch)."""
    from genolang.compiler.lower import lower

    return lower(target.space, target.genotype)


def load_weights(net: Any, path: Path, *, digest: str | None = None) -> None:
    """Load a ``state_dict`` (or a checkpoint holding one under ``"state_dict"``) into ``net``;
    weights that store another genotype's ``digest`` are refused (E0722)."""
    from genolang.compiler.errors import CompileError
    from genolang.compiler.weights import load_state_file

    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    load_state_file(net, path, error=CompileError, digest=digest)


def _write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------ registration
def register(sub: Any, add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``compile``, ``export`` and ``draw`` to the main CLI's subparsers."""
    p = add(sub, "compile", cmd_compile, "lower a genotype to a PyTorch network and summarise it")
    _common(p)
    p = add(sub, "export", cmd_export, "export a genotype's network to ONNX, checked against PyTorch")
    _common(p)
    p.add_argument("-o", "--out", required=True, help="the .onnx file to write")
    p.add_argument("--weights", help="a state_dict (.pt) to load into the network first")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    p = add(sub, "draw", cmd_draw, "Graphviz picture of a genotype's compiled graph")
    _common(p)
    p.add_argument("-o", "--out", help="write to a .dot, .png, .svg or .pdf file (default: dot text on stdout)")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a .geno file holding a genotype, or a space (its default is compiled)")
    p.add_argument("--genotype", help="the genotype to use when the file holds several")


__all__ = ["Target", "cmd_compile", "cmd_draw", "cmd_export", "register", "resolve_target"]
