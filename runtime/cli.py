"""Subcommands of the runtime (``data``, ``train``, ``infer``), registered into ``genolang``.

Each group lives in its own module and imports torch only inside its handlers, so that
``genolang check`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from genolang.modules import import_all

GROUPS = ("genolang.runtime.cli_data", "genolang.runtime.cli_train")


def register(sub: Any, add: Callable[..., Any]) -> None:
    for module in import_all(GROUPS):
        module.register(sub, add)
