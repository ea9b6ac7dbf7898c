"""Subcommands of the runtime (``data``, ``train``, ``infer``), registered into ``genolang``.

Each group lives in its own module and imports torch only inside its handlers, so that
``genolang check`` stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any, Callable

GROUPS = ("genolang.runtime.cli_data", "genolang.runtime.cli_train")


def register(sub: Any, add: Callable[..., Any]) -> None:
    for name in GROUPS:
        try:
            module = import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub, add)
