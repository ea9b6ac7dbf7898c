"""Documents: one `.geno` file with its imports, spaces and genotypes resolved."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from genolang import ast as A
from genolang.errors import (
    Collector,
    Diagnostic,
    GenolangError,
    GenolangSyntaxError,
    GenotypeError,
    LimitError,
    Source,
    SpaceError,
    UsageError,
    did_you_mean,
)
from genolang.genotype import Genotype
from genolang.parser import parse
from genolang.resolve import resolve_space
from genolang.space import Space
from genolang.validate import genotype_from_decl

MAX_IMPORT_DEPTH = 32
MAX_IMPORT_PATH = 4096  # bytes; longer paths are refused before the OS sees them


@dataclass
class Document:
    """A parsed and validated file.

    ``spaces`` and ``genotypes`` hold what the file itself declares, in order;
    ``imported`` the spaces its imports bring into scope.
    """

    source: Source
    module: A.Module
    path: Path | None = None
    spaces: dict[str, Space] = field(default_factory=dict)
    genotypes: dict[str, Genotype] = field(default_factory=dict)
    imported: dict[str, Space] = field(default_factory=dict)
    imports: tuple[str, ...] = ()

    def space(self, name: str | None = None) -> Space:
        """The space called ``name`` (declared or imported); the only one when ``name`` is None."""
        visible = {**self.imported, **self.spaces}
        if name is None:
            if len(self.spaces) == 1:
                return next(iter(self.spaces.values()))
            raise UsageError(f"{self.source.name} declares {len(self.spaces)} spaces; name one "
                             f"({', '.join(self.spaces) or 'none'})")
        if name not in visible:
            hint = " ".join(did_you_mean(name, visible))
            raise UsageError(f"{self.source.name} has no space '{name}'. {hint}".strip())
        return visible[name]

    def genotype(self, name: str | None = None) -> Genotype:
        """The genotype called ``name``; the only one when ``name`` is None."""
        if name is None:
            if len(self.genotypes) == 1:
                return next(iter(self.genotypes.values()))
            raise UsageError(f"{self.source.name} holds {len(self.genotypes)} genotypes; name one "
                             f"({', '.join(self.genotypes) or 'none'})")
        if name not in self.genotypes:
            hint = " ".join(did_you_mean(name, self.genotypes))
            raise UsageError(f"{self.source.name} has no genotype '{name}'. {hint}".strip())
        return self.genotypes[name]


def loads(text: str, name: str = "<input>", *, base: Path | None = None, spaces: Iterable[Space] = (),
          _stack: tuple[Path, ...] = (), _cache: dict[Path, Document] | None = None) -> Document:
    """Parse and validate a document's text.

    Imports resolve relative to ``base``; ``spaces`` are in scope as if imported (so a
    genotype text can be checked against an already loaded space without re-reading it).
    Each imported file is loaded once, however many files import it.
    """
    cache: dict[Path, Document] = {} if _cache is None else _cache
    module = parse(text, name)
    source = Source(name, text)
    doc = Document(source, module, imports=tuple(i.path for i in module.items if isinstance(i, A.Import)),
                   imported={s.name: s for s in spaces})
    errors: list[Diagnostic] = []
    kinds: set[type] = set()
    for item in module.items:
        try:
            _item(doc, item, base, _stack, cache)
        except GenolangError as exc:
            errors.extend(exc.diagnostics)
            kinds.add(type(exc))
    if errors:
        raise _most_severe(errors, kinds)
    return doc


def load(path: str | Path, *, _stack: tuple[Path, ...] = (), _cache: dict[Path, Document] | None = None) -> Document:
    """Read, parse and validate a `.geno` file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"no such file: {_shown(path)}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # ValueError: a NUL byte in the path
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)[:200]  # not the path again
        raise UsageError(f"cannot read {_shown(path)}: {why}") from None
    doc = loads(text, str(path), base=path.parent, _stack=_stack + (path.resolve(),), _cache=_cache)
    doc.path = path
    return doc


def _shown(path: Path) -> str:
    """A path for a message: as it is, or escaped and cut when odd (NUL, undecodable bytes, very long)."""
    text = str(path)
    return text if text.isprintable() and len(text) <= 300 else ascii(text)[:300]


def _item(doc: Document, item: A.Item, base: Path | None, stack: tuple[Path, ...],
          cache: dict[Path, Document]) -> None:
    diag = Collector(doc.source, GenotypeError if isinstance(item, A.GenotypeDecl) else SpaceError)
    if isinstance(item, A.Import):
        _import(doc, item, base, stack, diag, cache)
    elif isinstance(item, A.SpaceDecl):
        if item.name in doc.spaces or item.name in doc.imported:
            diag.add("E0212", f"space '{item.name}' is defined twice", item.span)
        else:
            doc.spaces[item.name] = Space(resolve_space(item, doc.source))
    else:
        _genotype(doc, item, diag)
    diag.raise_if_any()


def _import(doc: Document, item: A.Import, base: Path | None, stack: tuple[Path, ...], diag: Collector,
            cache: dict[Path, Document]) -> None:
    shown = _shown_path(item.path)
    try:
        target, problem = _import_target(item.path, base)
    except (OSError, ValueError) as exc:  # e.g. ENAMETOOLONG, ELOOP, a surrogate the OS refuses
        target, problem = None, f"not a usable path ({getattr(exc, 'strerror', None) or type(exc).__name__})"
    if target is not None and target.resolve() in stack:
        diag.add("E0214", f"import cycle: '{shown}' imports this file again", item.span)
        return
    if problem is None and len(stack) >= MAX_IMPORT_DEPTH:
        problem = "imports nested too deep"
    if problem is not None:
        diag.add("E0213", f"cannot import '{shown}': {problem}", item.span)
        return
    assert target is not None, "_import_target gives a target or the problem"
    key = target.resolve()
    other = cache.get(key) or load(target, _stack=stack, _cache=cache)
    cache[key] = other
    for name, space in {**other.imported, **other.spaces}.items():
        if name in doc.spaces or (name in doc.imported and doc.imported[name] is not space):
            diag.add("E0212", f"space '{name}' is defined twice (also in '{item.path}')", item.span)
        doc.imported[name] = space


def _import_target(path: str, base: Path | None) -> tuple[Path | None, str | None]:
    """(the file an import names, None) or (None, why it cannot be imported)."""
    if "\x00" in path:
        return None, "a path cannot hold a NUL character"
    if len(path.encode("utf-8", "surrogatepass")) > MAX_IMPORT_PATH:
        return None, f"the path is longer than {MAX_IMPORT_PATH} bytes"
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return None, "the path is not valid UTF-8"
    target = (base or Path(".")) / path
    return (target, None) if target.is_file() else (None, "no such file")


def _shown_path(path: str) -> str:
    """An import path as an error message shows it: escaped, and cut when long."""
    text = path.encode("utf-8", "backslashreplace").decode("utf-8")
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= 120 else text[:117] + "..."


def _genotype(doc: Document, item: A.GenotypeDecl, diag: Collector) -> None:
    visible = {**doc.imported, **doc.spaces}
    space = visible.get(item.space)
    if space is None:
        diag.add("E0300", f"genotype '{item.name}' is of unknown space '{item.space}'", item.span,
                 help=did_you_mean(item.space, visible) or ("import the file that declares it",))
    elif space.version != item.version:
        diag.add("E0302", f"genotype '{item.name}' is of {item.space} version {item.version}, "
                          f"but the space is at version {space.version}", item.span)
    elif item.name in doc.genotypes:
        diag.add("E0311", f"genotype '{item.name}' is defined twice", item.span)
    else:
        doc.genotypes[item.name] = genotype_from_decl(space.ir, item, doc.source)


def _most_severe(errors: list[Diagnostic], kinds: set[type]) -> GenolangError:
    """One error holding every diagnostic, of the most severe class raised."""
    for kind in (LimitError, GenolangSyntaxError, SpaceError, UsageError, GenotypeError):
        if kind in kinds:
            return kind(errors)
    return GenolangError(errors)
