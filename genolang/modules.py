"""Importing the modules that wire sub-command groups into the CLI (``genolang``, its runtime).

Registries import their built-in modules themselves (:class:`~genolang.registry.Registry`'s
``builtins``); this is the CLI's one loop for the rest. A missing module is an error (no module
of the package is optional), so nothing is silently left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import import_module
from types import ModuleType


def import_all(names: Iterable[str]) -> list[ModuleType]:
    """Import each module named (each registers its entries on import); the modules, in order."""
    return [import_module(name) for name in names]
