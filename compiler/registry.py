"""Name -> entry registries filled by decorators (ops, activations, backbones, front-ends).

One pattern for every concept, as DARTS's single ``OPS`` table (cnn/operations.py) but as a
decorator registry: a name is registered once (a second registration is refused with the
module that holds the first), an unknown name is answered with the close names (difflib),
and the entries can be listed (tests check them against :mod:`genolang.catalog`).

Entries that take parameters declare them as a mapping name -> default; :func:`bind_params`
checks a node's parameters against that declaration, so a misspelt field is a compile error
("op 'conv' has no parameter 'kernal'; did you mean 'kernel'?"), never a silent default.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from genolang.compiler.errors import OpParamError, RegistryError, UnknownNameError

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


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


def close_names(name: str, candidates: Iterator[str] | list[str] | tuple[str, ...], n: int = 3) -> tuple[str, ...]:
    """The candidates closest to ``name`` (difflib ratio >= 0.6), best first."""
    return tuple(difflib.get_close_matches(name, sorted(set(candidates)), n=n, cutoff=0.6))


def first_line(obj: object) -> str:
    """The first line of ``obj``'s docstring ("" without one): an entry's default citation."""
    lines = (getattr(obj, "__doc__", None) or "").strip().splitlines()
    return lines[0] if lines else ""


def _hint(close: tuple[str, ...]) -> str:
    return ("; did you mean " + " or ".join(repr(c) for c in close) + "?") if close else ""


class Registry(Generic[T]):
    """A name -> entry table of one concept (``kind``: "op", "activation", ...).

    ``wrap(name, obj, **meta)`` turns what the decorator receives into the stored entry (for
    ops: a function into an :class:`~genolang.compiler.ops.base.OpSpec`); without it the
    decorated object itself is stored.
    """

    def __init__(self, kind: str, *, wrap: Callable[..., T] | None = None):
        self.kind = kind
        self._wrap = wrap
        self._entries: dict[str, T] = {}
        self._origin: dict[str, str] = {}

    def register(self, name: str, **meta: Any) -> Callable[[F], F]:
        """Decorator: ``@OPS.register("sep_conv_3x3", kind="map", ...)``; returns the object."""

        def decorate(obj: F) -> F:
            entry = self._wrap(name, obj, **meta) if self._wrap is not None else obj
            self.add(name, entry, origin=getattr(obj, "__module__", "?"))
            return obj

        return decorate

    def add(self, name: str, entry: T, *, origin: str = "?") -> T:
        """Store ``entry`` under ``name``; a name already taken raises :class:`RegistryError`."""
        if not isinstance(name, str) or not name:
            raise RegistryError(f"{self.kind} names must be non-empty strings, got {name!r}")
        if name in self._entries:
            raise RegistryError(f"{self.kind} {name!r} is already registered (by {self._origin[name]}); "
                                f"registering it again from {origin} is refused")
        self._entries[name] = entry
        self._origin[name] = origin
        return entry

    def get(self, name: str) -> T:
        """The entry of ``name``; an unknown name raises :class:`UnknownNameError` with hints."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            close = close_names(str(name), list(self._entries))
            raise UnknownNameError(f"unknown {self.kind} {name!r}{_hint(close)} "
                                   f"(known: {', '.join(self.names())})", close) from None

    __getitem__ = get

    def names(self) -> tuple[str, ...]:
        """Registered names, sorted."""
        return tuple(sorted(self._entries))

    def items(self) -> list[tuple[str, T]]:
        """(name, entry) pairs, sorted by name."""
        return [(n, self._entries[n]) for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self)} entries)"


def bind_params(owner: str, declared: Mapping[str, Any], given: Mapping[str, Any], *,
                strict: bool = True) -> dict[str, Any]:
    """``given`` completed with the defaults of ``declared``.

    ``owner`` names the entry in messages ("op 'conv'"). With ``strict`` an undeclared key
    raises :class:`OpParamError` (with close names); without it such keys are dropped, which
    is what a supernet wants when it hands one node's parameters to every candidate op.
    A declared parameter whose default is :data:`REQUIRED` must be given.
    """
    unknown = sorted(set(given) - set(declared))
    if unknown and strict:
        key = unknown[0]
        accepted = ", ".join(sorted(declared)) or "none"
        raise OpParamError(f"{owner} has no parameter {key!r}{_hint(close_names(key, list(declared)))} "
                           f"(accepted: {accepted})")
    bound = {k: given.get(k, default) for k, default in declared.items()}
    missing = sorted(k for k, v in bound.items() if v is REQUIRED)
    if missing:
        raise OpParamError(f"{owner} needs the parameter {missing[0]!r}")
    return bound
