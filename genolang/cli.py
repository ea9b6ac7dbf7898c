"""The `genolang` command line: one small function per subcommand over the library.

Exit status: 0 success, 1 invalid input (any :class:`GenolangError`), 2 bad usage.
Language commands import neither torch nor the compiler, so they start fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from genolang.document import Document, load
from genolang.errors import GenolangError, UsageError
from genolang.files import atomic_text

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def out_json(doc: Any) -> None:
    out(json.dumps(doc, indent=2, ensure_ascii=False))


# ------------------------------------------------------------------ subcommands
def cmd_check(args: argparse.Namespace) -> int:
    reports, status = [], EXIT_OK
    for name in args.files:
        try:
            doc = load(name)
        except UsageError:
            raise
        except GenolangError as exc:
            status = EXIT_INVALID
            reports.append({"file": name, "ok": False, "diagnostics": [d.to_json() for d in exc.diagnostics]})
            if not args.json:
                sys.stderr.write(exc.render() + "\n\n")
            continue
        reports.append(_check_report(name, doc))
        if not args.json:
            spaces = ", ".join(f"space {s.name} v{s.version} ({len(s.ir.decisions)} decisions)"
                               for s in doc.spaces.values())
            genotypes = ", ".join(f"genotype {g.name}" for g in doc.genotypes.values())
            out(f"ok  {name}: {'; '.join(x for x in (spaces, genotypes) if x) or 'empty'}")
    if args.json:
        out_json(reports)
    return status


def _check_report(name: str, doc: Document) -> dict[str, Any]:
    return {"file": name, "ok": True,
            "spaces": [{"name": s.name, "version": s.version, "fingerprint": s.fingerprint,
                        "decisions": len(s.ir.decisions)} for s in doc.spaces.values()],
            "genotypes": [{"name": g.name, "space": g.space, "digest": g.digest}
                          for g in doc.genotypes.values()]}


def cmd_size(args: argparse.Namespace) -> int:
    spaces = []
    for name in args.files:
        doc = load(name)
        spaces += [doc.space(args.space)] if args.space else list(doc.spaces.values())
    if not spaces:
        raise UsageError(f"{', '.join(args.files)}: no space declared")
    sizes = {s.name: s.size() for s in spaces}
    if args.json:
        out_json({name: str(n) if n > 2**53 else n for name, n in sizes.items()})
    else:
        width = max(map(len, sizes))
        for name, n in sizes.items():
            out(f"{name:{width}}  {n}" + (f"  (~{n:.3e})" if n >= 10**6 else ""))
    return EXIT_OK


def cmd_sample(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise UsageError("-n must be at least 1")
    space = load(args.file).space(args.space)
    genotypes = [space.sample(args.seed + i, name=f"sample_{args.seed + i}") for i in range(args.n)]
    if args.json:
        out_json([{**g.canonical(), "name": g.name, "digest": g.digest} for g in genotypes])
        return EXIT_OK
    # the import is written relative to where the text will live: --out's folder, else here
    where = Path(args.out).resolve().parent if args.out else Path.cwd()
    text = (f'genolang 1\n\nimport "{_relative(Path(args.file), where)}"\n\n'
            + "\n".join(g.to_text(header=False) for g in genotypes))
    if args.out:
        atomic_text(args.out, text)
        out(f"wrote {args.n} genotype(s) to {args.out}")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _relative(path: Path, start: Path) -> str:
    import os

    return Path(os.path.relpath(path.resolve(), start)).as_posix()


def cmd_hash(args: argparse.Namespace) -> int:
    doc = load(args.file)
    genotypes = [doc.genotype(args.genotype)] if args.genotype else list(doc.genotypes.values())
    rows = [{"kind": "genotype", "name": g.name, "digest": g.digest} for g in genotypes]
    if not args.genotype:
        rows += [{"kind": "space", "name": s.name, "digest": s.fingerprint} for s in doc.spaces.values()]
    if args.json:
        out_json(rows)
    else:
        for r in rows:
            out(f"{r['digest']}  {r['kind']} {r['name']}")
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    a = load(args.a).genotype(args.genotype_a)
    b = load(args.b).genotype(args.genotype_b)
    changes = a.diff(b)
    if args.json:
        out_json({"same_space": a.fingerprint == b.fingerprint, "identical": a == b,
                  "changes": [{"path": p, "a": x, "b": y} for p, x, y in changes]})
        return EXIT_OK
    if a.fingerprint != b.fingerprint:
        out(f"# note: different spaces ({a.space} v{a.version} vs {b.space} v{b.version})")
    for path, x, y in changes:
        mark = "+" if x is None else "-" if y is None else "~"
        shown = _show(y) if x is None else _show(x) if y is None else f"{_show(x)} -> {_show(y)}"
        out(f"{mark} {path}: {shown}")
    if not changes:
        out("identical" if a == b else "no decision differs")
    return EXIT_OK


def _show(value: Any) -> str:
    from genolang.genotype import format_value

    return format_value(value)


def cmd_fmt(args: argparse.Namespace) -> int:
    from genolang.formatter import format_text

    changed = []
    for name in args.files:
        path = Path(name)
        text = _read(path)
        pretty = format_text(text, name)
        if pretty != text:
            changed.append(name)
            if args.write:
                atomic_text(path, pretty)
        if not (args.write or args.check or args.json):
            sys.stdout.write(pretty)
    if args.json:
        out_json({"changed": changed, "written": bool(args.write)})
    elif args.check or args.write:
        for name in changed:
            out(f"{'reformatted' if args.write else 'would reformat'} {name}")
    return EXIT_INVALID if args.check and changed else EXIT_OK


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None


def cmd_schema(args: argparse.Namespace) -> int:
    out_json(load(args.file).space(args.space).json_schema())
    return EXIT_OK


# ------------------------------------------------------------------ parser
Handler = Callable[[argparse.Namespace], int]
if TYPE_CHECKING:
    Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
    Adder = Callable[[Subparsers, str, Handler, str], argparse.ArgumentParser]
    Extension = Callable[[Subparsers, Adder], None]  # a layer's ``register(sub, add)``


def _add(sub: Subparsers, name: str, func: Handler, help: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help, description=help)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=func)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genolang", description="Declarative NAS genotypes: check, "
                                     "sample, hash, diff, format and compile search spaces.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add(sub, "check", cmd_check, "parse and validate .geno files").add_argument("files", nargs="+", metavar="FILE")
    p = _add(sub, "size", cmd_size, "exact number of genotypes of each space")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--space", help="the space to use when the file declares several")
    p = _add(sub, "sample", cmd_sample, "random valid genotypes, reproducible per seed")
    p.add_argument("file")
    p.add_argument("-n", type=int, default=1, help="how many (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first genotype; the i-th uses seed+i")
    p.add_argument("--space")
    p.add_argument("-o", "--out", help="write to this file (its import then points back correctly)")
    p = _add(sub, "hash", cmd_hash, "sha256 digests of genotypes (and fingerprints of spaces)")
    p.add_argument("file")
    p.add_argument("--genotype")
    p = _add(sub, "diff", cmd_diff, "decision paths whose values differ between two genotypes")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--genotype-a")
    p.add_argument("--genotype-b")
    p = _add(sub, "fmt", cmd_fmt, "print files in the canonical layout (comments kept)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("-w", "--write", action="store_true", help="rewrite the files in place")
    p.add_argument("--check", action="store_true", help="exit 1 if a file is not formatted")
    p = _add(sub, "schema", cmd_schema, "JSON Schema of a space's genotype JSON")
    p.add_argument("file")
    p.add_argument("--space")
    for extend in _extensions():
        extend(sub, _add)
    return parser


def _extensions() -> list[Extension]:
    """Subcommand groups of the compiler and runtime, registered without importing torch."""
    from genolang.modules import import_all

    return [m.register for m in import_all(("genolang.compiler.cli", "genolang.runtime.cli",
                                            "genolang.searchers.cli", "genolang.runtime.cli_report"))]


def _version() -> str:
    from genolang import __version__

    return f"genolang {__version__}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.func(args)
        return status
    except UsageError as exc:
        sys.stderr.write(f"genolang {args.command}: {exc.first.message}\n")
        return EXIT_USAGE
    except GenolangError as exc:
        if getattr(args, "json", False):
            out_json({"ok": False, "diagnostics": [d.to_json() for d in exc.diagnostics]})
        else:
            sys.stderr.write(exc.render() + "\n")
        return EXIT_INVALID
    except OSError as exc:  # a file we were asked to write (or read) is out of reach
        sys.stderr.write(f"genolang {args.command}: {exc.strerror or exc}: {exc.filename or ''}\n")
        return EXIT_INVALID
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
