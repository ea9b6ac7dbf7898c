"""Name -> entry registries filled by decorators, shared by every layer (torch-free).

One pattern for every concept (ops, activations, backbones, front-ends, datasets,
searchers), as DARTS's single ``OPS`` table (cnn/operations.py) but as a decorator
registry: a name is registered once (a second registration is refused with the module that
holds the first), an unknown name is answered with the close names (difflib), and the
entries can be listed.

Errors come from the layer that owns the registry: a registry is built with the exception
classes it raises (``errors=(DuplicateClass, UnknownClass)``, each called with the message;
the unknown-name error gets a ``suggestions`` attribute); the defaults are this module's
:class:`RegistryError` (E0002) and :class:`UnknownNameError` (E0003).

Third-party packages extend a registry without forking through an entry point group
(``entry_points="genolang.ops"``, see docs/extending.md): the group is read once, lazily,
the first time the registry is asked for a name, its names or its length. Loading an entry
point imports its module, whose decorators register the entries; an entry point that names
an object (``pkg.mod:thing``) not registered by that import is added under the entry
point's name.
"""

from __future__ import annotations

import difflib
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from importlib import import_module, metadata
from types import ModuleType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from genolang.errors import GenolangError

if TYPE_CHECKING:  # what entry_points() returns: SelectableGroups before 3.12 (it has .select too)
    if sys.version_info >= (3, 12):
        _Scan = metadata.EntryPoints
    else:
        _Scan = metadata.SelectableGroups

log = logging.getLogger(__name__)

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


class RegistryError(GenolangError, ValueError):
    """A registry misuse, e.g. the same name registered twice, or a broken entry point."""

    default_code = "E0002"


class UnknownNameError(GenolangError, LookupError):
    """A name no registry entry answers to; ``suggestions`` holds the close names."""

    default_code = "E0003"

    def __init__(self, message: Any, suggestions: tuple[str, ...] = ()):
        self.suggestions = suggestions
        super().__init__(message)


class _Required:
    """Marks a declared parameter that has no default."""

    _instance: _Required | None = None

    def __new__(cls) -> _Required:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


def close_names(name: str, candidates: Iterable[str], n: int = 3) -> tuple[str, ...]:
    """The candidates closest to ``name`` (difflib ratio >= 0.6), best first."""
    return tuple(difflib.get_close_matches(name, sorted(set(candidates)), n=n, cutoff=0.6))


def hint(close: tuple[str, ...]) -> str:
    """"; did you mean 'a' or 'b'?" for close names, "" without any."""
    return ("; did you mean " + " or ".join(repr(c) for c in close) + "?") if close else ""


def first_line(obj: object) -> str:
    """The first line of ``obj``'s docstring ("" without one): an entry's default citation."""
    lines = (getattr(obj, "__doc__", None) or "").strip().splitlines()
    return lines[0] if lines else ""


_SCANNED: dict[tuple[str, ...], _Scan] = {}


def entry_points(group: str) -> tuple[metadata.EntryPoint, ...]:
    """The installed entry points of ``group`` (importlib.metadata), sorted by name.

    The installed distributions are scanned once per ``sys.path`` (a scan costs tens of
    milliseconds; every registry reads its group from the same scan).
    """
    key = tuple(sys.path)
    if key not in _SCANNED:
        _SCANNED.clear()
        _SCANNED[key] = metadata.entry_points()
    return tuple(sorted(_SCANNED[key].select(group=group), key=lambda ep: ep.name))


class Registry(Generic[T]):
    """A name -> entry table of one concept (``kind``: "op", "activation", ...).

    ``wrap(name, obj, **meta)`` turns what the decorator receives into the stored entry;
    without it the decorated object itself is stored. ``errors`` are the (duplicate, unknown)
    exception classes; ``entry_points`` the group plugins register through; ``fallback``
    answers a name the table lacks (``None`` for none), e.g. the compiler's op table building
    an entry from the op's torch-free metadata.
    """

    def __init__(self, kind: str, *, wrap: Callable[..., T] | None = None,
                 errors: tuple[type[Exception], type[Exception]] = (RegistryError, UnknownNameError),
                 entry_points: str | None = None, fallback: Callable[[str], T | None] | None = None,
                 extra_names: Callable[[], Iterable[str]] | None = None, builtins: tuple[str, ...] = ()):
        self.kind = kind
        self.group = entry_points
        self._wrap = wrap
        self._duplicate, self._unknown = errors
        self._fallback = fallback
        self._extra_names = extra_names
        self._entries: dict[str, T] = {}
        self._origin: dict[str, str] = {}
        self._loaded = entry_points is None
        self._builtins = builtins
        self._builtins_loaded = not builtins
        self._names: tuple[str, ...] | None = None  # names() without extra_names, until the table changes

    def register(self, name: str, **meta: Any) -> Callable[[F], F]:
        """Decorator: ``@OPS.register("sep_conv_3x3", kind="map", ...)``; returns the object."""

        def decorate(obj: F) -> F:
            entry: Any = self._wrap(name, obj, **meta) if self._wrap is not None else obj
            self.add(name, entry, origin=getattr(obj, "__module__", "?"))
            return obj

        return decorate

    def add(self, name: str, entry: T, *, origin: str = "?") -> T:
        """Store ``entry`` under ``name``; a name already taken is refused."""
        self.load_builtins()
        if not isinstance(name, str) or not name:
            raise self._duplicate(f"{self.kind} names must be non-empty strings, got {name!r}")
        if name in self._entries:
            raise self._duplicate(f"{self.kind} {name!r} is already registered (by {self._origin[name]}); "
                                  f"registering it again from {origin} is refused")
        self._entries[name] = entry
        self._origin[name] = origin
        self._names = None
        return entry

    def remove(self, name: str) -> None:
        """Forget ``name`` (tests that register a throw-away entry clean up with it)."""
        self._entries.pop(name, None)
        self._origin.pop(name, None)
        self._names = None

    def get(self, name: str) -> T:
        """The entry of ``name``; an unknown name raises the registry's unknown-name error."""
        if isinstance(name, str) and name in self._entries and self._builtins_loaded:
            return self._entries[name]
        self.load_plugins()
        if isinstance(name, str) and name in self._entries:
            return self._entries[name]
        found = self._fallback(name) if self._fallback is not None and isinstance(name, str) else None
        if found is not None:
            return self.add(name, found, origin="fallback")
        close = close_names(str(name), self.names())
        err = self._unknown(f"unknown {self.kind} {name!r}{hint(close)} (known: {', '.join(self.names())})")
        err.suggestions = close  # type: ignore[attr-defined]
        raise err

    __getitem__ = get

    def origin(self, name: str) -> str:
        """The module that registered ``name``."""
        self.get(name)
        return self._origin[name]

    def names(self) -> tuple[str, ...]:
        """Registered names (with the plugins' and the fallback's), sorted."""
        self.load_plugins()
        if self._extra_names is None:  # a hot path of check: one sort per change of the table
            if self._names is None:
                self._names = tuple(sorted(self._entries))
            return self._names
        return tuple(sorted({*self._entries, *self._extra_names()}))

    def items(self) -> list[tuple[str, T]]:
        """(name, entry) pairs, sorted by name."""
        return [(n, self.get(n)) for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} entries)"

    # ------------------------------------------------------------------ plugins

    def load_builtins(self) -> None:
        """Import the modules holding the built-in entries (once)."""
        if self._builtins_loaded:
            return
        self._builtins_loaded = True
        for module in self._builtins:
            import_module(module)

    def load_plugins(self) -> None:
        """Import the built-in modules, then the entry points of this registry's group (once)."""
        self.load_builtins()
        if self._loaded:
            return
        self._loaded = True
        for ep in entry_points(self.group or ""):
            self.load_entry_point(ep)

    def reload_plugins(self) -> None:
        """Read the entry point group again at the next query (after installing a plugin in-process)."""
        self._loaded = self.group is None
        _SCANNED.clear()

    def load_entry_point(self, ep: metadata.EntryPoint) -> None:
        """Import one entry point; an object it names that its import did not register is added."""
        try:
            obj = ep.load()
        except Exception as exc:  # a plugin may fail in any way; say which one
            raise self._duplicate(f"{self.kind} plugin {ep.name!r} ({ep.value}) of entry point group "
                                  f"{self.group!r} failed to load: {type(exc).__name__}: {exc}") from None
        if isinstance(obj, ModuleType) or ep.name in self._entries:
            return
        self.add(ep.name, obj, origin=ep.value)
