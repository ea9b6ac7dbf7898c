"""Loading a saved ``state_dict`` into a compiled network (``export --weights``, ``train``'s checkpoints).

One reader for every caller; each names the error class of its layer (a
:class:`~genolang.compiler.errors.CompileError` for the compiler, a ``TrainError`` for the
runtime), so a bad file is reported where it was asked for.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from genolang.errors import GenolangError


def load_state_file(net: Any, path: str | os.PathLike[str], *, error: type[GenolangError]) -> None:
    """Load a ``state_dict`` (or a checkpoint holding one under ``"state_dict"``) into ``net``, strictly.

    A missing or unreadable file, a file that holds no state dict, and weights that do not fit
    raise ``error`` naming the file (``weights_only`` unpickling).
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise error(f"no weights file {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors of many kinds
        raise error(f"cannot read weights {path}: {exc}") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise error(f"{path} holds a {type(state).__name__}, not a state_dict")
    try:
        net.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, ValueError) as exc:
        raise error(f"weights {path} do not fit the network (another genotype?): {exc}") from exc
