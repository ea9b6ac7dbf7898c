"""Types and ranges of block fields: part of the static semantics, readable without torch.

A field's value (fixed, or every value a decision on it can take) must have the field's
type and lie in its range, so that whatever genotype a search picks, the compiler gets a
value it can build: ``dropout = 2.0``, ``filters = 1.5`` or ``hidden: choice(16, 0)`` are
refused by ``check`` (E0290) instead of failing (or silently rounding) in the lowering.
Fields of inputs and backbones describe the data and the pretrained model, not the
architecture searched: a decision on one is refused (E0291).

Node fields not listed here are op parameters the op's own metadata checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from genolang import catalog
from genolang.domains import BoolDomain, ChoiceDomain, FloatDomain, IntDomain

MAX_WIDTH = 1 << 16      # channels, filters, hidden units, classes, lengths
MAX_KERNEL = 31
MAX_STRIDE = 16
ENUMERATED = 4096        # int domains up to this size are checked value by value


@dataclass(frozen=True)
class FieldType:
    """What a field accepts: a test on one value and its description for messages."""

    accepts: Callable[[Any], bool]
    what: str
    integral: bool = True  # float domains never fit an integral field


def _int_in(lo: int, hi: int, *, odd: bool = False) -> Callable[[Any], bool]:
    return lambda x: type(x) is int and lo <= x <= hi and (not odd or x % 2 == 1)


WIDTH = FieldType(_int_in(1, MAX_WIDTH), f"a positive integer (at most {MAX_WIDTH})")
KERNEL = FieldType(_int_in(1, MAX_KERNEL, odd=True), f"an odd positive integer (at most {MAX_KERNEL})")
STRIDE = FieldType(_int_in(1, MAX_STRIDE), f"a positive integer (at most {MAX_STRIDE})")
PROBABILITY = FieldType(lambda x: type(x) in (int, float) and 0 <= x < 1, "a number p with 0 <= p < 1",
                        integral=False)

def _ref(x: Any) -> bool:
    return isinstance(x, str) and x.startswith("@")


ONE_REF = FieldType(_ref, "one reference, e.g. @x")
REFS = FieldType(lambda x: _ref(x) or (isinstance(x, list) and bool(x) and all(_ref(i) for i in x)),
                 "a reference or a non-empty list of references, e.g. [@a, @b]")

#: (block kind, field) -> its type; "node" entries apply to every node, whatever its op
FIELD_TYPES: dict[tuple[str, str], FieldType] = {
    ("head", "in"): ONE_REF,
    ("backbone", "in"): ONE_REF,
    ("stack", "in"): ONE_REF,
    ("group", "in"): REFS,
    ("cell", "in"): REFS,
    ("head", "classes"): WIDTH,
    ("head", "hidden"): WIDTH,
    ("head", "dropout"): PROBABILITY,
    ("head", "task"): FieldType(lambda x: x in catalog.TASKS, f"one of {sorted(catalog.TASKS)}"),
    ("cell", "stride"): FieldType(_int_in(1, 2), "1 or 2 (a reduction cell halves the map once)"),
    ("cell", "channels"): WIDTH,
    ("group", "channels"): WIDTH,
    ("group", "length"): WIDTH,
    ("stack", "channels"): WIDTH,
    ("node", "filters"): WIDTH,
    ("node", "hidden"): WIDTH,
    ("node", "length"): WIDTH,
    ("node", "stride"): STRIDE,
    ("node", "kernel"): KERNEL,
    ("node", "kernel_h"): KERNEL,
    ("node", "kernel_w"): KERNEL,
    ("node", "dropout"): PROBABILITY,
}

#: block kinds whose fields are never searched (the data and the pretrained models)
UNSEARCHED: frozenset[str] = frozenset({"input", "backbone"})


def field_type(kind: str, field: str) -> FieldType | None:
    return FIELD_TYPES.get((kind, field))


def bad_value(kind: str, field: str, value: Any) -> str | None:
    """Why a fixed ``value`` does not fit ``kind.field`` (None: it fits, or the field is free)."""
    ftype = field_type(kind, field)
    if ftype is None or _fits(ftype, value) or not isinstance(value, (int, float, str, bool, list, dict)):
        return None  # a computed value (`w * 2`) is checked by its own rules
    return f"invalid {kind} {field}: expected {ftype.what}, got {_shown(value)}"


def bad_domain(kind: str, field: str, domain: Any) -> str | None:
    """Why some value of a decision's ``domain`` does not fit ``kind.field`` (None: all fit)."""
    ftype = field_type(kind, field)
    if ftype is None:
        return None
    if isinstance(domain, FloatDomain):
        if ftype.integral:
            return f"`{field}` of a {kind} must be {ftype.what}; a float domain gives reals"
        values: Any = (domain.lo, domain.hi)
    elif isinstance(domain, IntDomain) and not domain.log and domain.size() > ENUMERATED:
        values = (domain.lo, domain.lo + domain.step, domain.hi)  # the range and the parity
    elif isinstance(domain, (IntDomain, ChoiceDomain, BoolDomain)):
        values = domain.values()
    else:
        return None  # reference domains: references are checked as such
    wrong = next((v for v in values if not _fits(ftype, v)), _OK)
    if wrong is _OK:
        return None
    return f"`{field}` of a {kind} must be {ftype.what}; its domain {domain.text()} holds {_shown(wrong)}"


_OK = object()


def _fits(ftype: FieldType, value: Any) -> bool:
    try:
        return bool(ftype.accepts(value))
    except TypeError:  # an unhashable value where a name is expected
        return False


def _shown(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."
