"""The compiler's registries: the core registry (:mod:`genolang.registry`) raising compiler errors.

One pattern for every concept, as DARTS's single ``OPS`` table (cnn/operations.py) but as a
decorator registry: a name is registered once (a second registration is refused with the
module that holds the first, :class:`~genolang.compiler.errors.RegistryError`, E0401), an
unknown name is answered with the close names (:class:`~genolang.compiler.errors.UnknownNameError`,
E0402), and the entries can be listed. The language-side metadata of ops, activations and
backbones lives in :mod:`genolang.opmeta`; the compiler's registries hold what builds them.

Entries that take parameters declare them as a mapping name -> default; :func:`bind_params`
checks a node's parameters against that declaration, so a misspelt field is a compile error
("op 'conv' has no parameter 'kernal'; did you mean 'kernel'?"), never a silent default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from genolang import registry as core
from genolang.compiler.errors import OpParamError, RegistryError, UnknownNameError
from genolang.registry import REQUIRED, close_names, first_line, hint

__all__ = ["REQUIRED", "Registry", "bind_params", "close_names", "first_line"]

T = TypeVar("T")


class Registry(core.Registry[T]):
    """:class:`genolang.registry.Registry` whose errors are the compiler's (E0401, E0402)."""

    def __init__(self, kind: str, **kw: Any):
        kw.setdefault("errors", (RegistryError, UnknownNameError))
        super().__init__(kind, **kw)


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
        raise OpParamError(f"{owner} has no parameter {key!r}{hint(close_names(key, list(declared)))} "
                           f"(accepted: {accepted})")
    bound = {k: given.get(k, default) for k, default in declared.items()}
    missing = sorted(k for k, v in bound.items() if v is REQUIRED)
    if missing:
        raise OpParamError(f"{owner} needs the parameter {missing[0]!r}")
    return bound
