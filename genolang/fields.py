"""Typed, ranged parameter declarations of ops, activations and backbones (torch-free).

A :class:`Field` says what one parameter accepts: its type ("int", "float", "bool", "str"),
its default (:data:`~genolang.registry.REQUIRED` when it has none), an inclusive range, a
set of allowed values, whether it must be odd and whether ``None`` is allowed.
:meth:`Field.problem` answers a value with the reason it is refused (``None`` when legal), so
the language's checker (statically, at a field's line) and the compiler (when it binds) use
the same rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from genolang.registry import REQUIRED, close_names, hint

TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,)}


@dataclass(frozen=True)
class Field:
    """One parameter: ``Field("kernel", "int", 3, lo=1, odd=True)``."""

    name: str
    type: str
    default: Any = REQUIRED
    lo: float | None = None
    hi: float | None = None
    choices: tuple[Any, ...] = ()
    odd: bool = False
    optional: bool = False
    doc: str = ""

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"field {self.name!r}: type must be one of {sorted(TYPES)}, got {self.type!r}")

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not legal here, or ``None``."""
        v: Any = value
        if value is None and self.optional:
            return None
        if (type(value) is bool and self.type != "bool") or not isinstance(value, TYPES[self.type]):
            return f"expected {self.describe()}, got {value!r}"
        if self.choices and value not in self.choices:
            return f"expected one of {', '.join(repr(c) for c in self.choices)}, got {value!r}"
        if (self.lo is not None and v < self.lo) or (self.hi is not None and v > self.hi):
            return f"expected {self.describe()}, got {value!r}"
        if self.odd and v % 2 == 0:
            return f"expected an odd {self.type}, got {value!r}"
        return None

    def describe(self) -> str:
        """Human words for the accepted values: "an int in [1, 7], odd"."""
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        text = {"int": "an int", "float": "a number", "bool": "true or false", "str": "a string"}[self.type]
        if self.lo is not None or self.hi is not None:
            lo = "-inf" if self.lo is None else f"{self.lo:g}"
            hi = "inf" if self.hi is None else f"{self.hi:g}"
            text += f" in [{lo}, {hi}]"
        if self.odd:
            text += ", odd"
        return text + (" (or none)" if self.optional else "")

    def to_json(self) -> dict[str, Any]:
        """A plain record (``genolang ops`` prints it; docs tables are made from it)."""
        return {"name": self.name, "type": self.type, "required": self.required,
                "default": None if self.required else self.default, "lo": self.lo, "hi": self.hi,
                "choices": list(self.choices), "odd": self.odd, "optional": self.optional, "doc": self.doc}


def fields_from_params(params: Mapping[str, Any]) -> tuple[Field, ...]:
    """Fields for an old-style ``{name: default}`` declaration: the type read off the default."""
    out = []
    for name, default in params.items():
        kind = ("bool" if isinstance(default, bool) else "int" if isinstance(default, int)
                else "float" if isinstance(default, float) else "str" if isinstance(default, str) else None)
        if kind is None:  # REQUIRED or None: any value of any plain type; the builder checks
            out.append(Field(name, "float", default, optional=True) if default is None else _Any(name, "str"))
        else:
            out.append(Field(name, kind, default))
    return tuple(out)


@dataclass(frozen=True)
class _Any(Field):
    """A required parameter of an old-style declaration: any value; the builder checks it."""

    def problem(self, value: Any) -> str | None:
        return None

    def describe(self) -> str:
        return "any value"


def bind_fields(owner: str, fields: Sequence[Field], given: Mapping[str, Any], *, strict: bool = True,
                error: type[Exception] = TypeError) -> dict[str, Any]:
    """``given`` completed with the fields' defaults; unknown, missing or illegal values raise ``error``.

    ``owner`` names the entry in messages ("op 'conv'"). Without ``strict`` unknown keys are
    dropped (a supernet hands one node's parameters to every candidate op).
    """
    declared = {f.name: f for f in fields}
    unknown = sorted(set(given) - set(declared))
    if unknown and strict:
        key = unknown[0]
        accepted = ", ".join(sorted(declared)) or "none"
        raise error(f"{owner} has no parameter {key!r}{hint(close_names(key, declared))} (accepted: {accepted})")
    bound = {k: given.get(k, f.default) for k, f in declared.items()}
    missing = sorted(k for k, v in bound.items() if v is REQUIRED)
    if missing:
        raise error(f"{owner} needs the parameter {missing[0]!r}")
    for k in sorted(set(given) & set(declared)):
        why = declared[k].problem(given[k])
        if why is not None:
            raise error(f"{owner}: parameter {k!r}: {why}")
    return bound
