"""Importing the built-in modules that register entries (datasets, searchers, CLI groups).

One loop for every "import the built-ins" site; a missing module is an error (no module of
the package is optional), so nothing is silently left unregistered.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import import_module
from types import ModuleType


def import_all(names: Iterable[str]) -> list[ModuleType]:
    """Import each module named (each registers its entries on import); the modules, in order."""
    return [import_module(name) for name in names]
