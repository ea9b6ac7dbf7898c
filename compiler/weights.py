"""Loading a saved ``state_dict`` into a compiled network (``export --weights``, ``train``'s checkpoints).

One reader for every caller; each names the error class of its layer (a
:class:`~genolang.compiler.errors.CompileError` for the compiler, a ``TrainError`` for the
runtime), so a bad file is reported where it was asked for.

The weights genolang writes (``train``'s and the search's ``model.pt``) are a checkpoint
:func:`weights_record`: ``{"format", "genotype_digest", "state_dict"}``. Given the digest of
the genotype they are loaded into, :func:`load_state_file` refuses weights trained for
another one (E0722), even when every tensor fits (a genotype differing only in an
activation). A bare ``state_dict`` (older files, other tools) carries no digest and loads
as before, when its tensors fit.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from genolang.errors import Diagnostic, GenolangError

WEIGHTS_FORMAT = "genolang-weights 1"
DIGEST_KEY = "genotype_digest"


def weights_record(state: dict[str, Any], digest: str | None) -> dict[str, Any]:
    """What a weights file holds: the state dict and the digest of the genotype it was trained for."""
    return {"format": WEIGHTS_FORMAT, DIGEST_KEY: digest, "state_dict": state}


def load_state_file(net: Any, path: str | os.PathLike[str], *, error: type[GenolangError],
                    digest: str | None = None) -> None:
    """Load a ``state_dict`` (or a checkpoint holding one under ``"state_dict"``) into ``net``, strictly.

    A missing or unreadable file, a file that holds no state dict, and weights that do not fit
    raise ``error`` naming the file (``weights_only`` unpickling). With ``digest`` (the
    genotype's), a file that stores another genotype's digest raises ``error`` with code E0722.
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
        stored = state.get(DIGEST_KEY)
        if digest is not None and isinstance(stored, str) and stored != digest:
            raise error(Diagnostic("E0722", f"weights {path} were trained for genotype {stored}, not for "
                                            f"{digest}; export the genotype they were trained for (the "
                                            f"genotype.geno or best.geno beside them)"))
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise error(f"{path} holds a {type(state).__name__}, not a state_dict")
    try:
        net.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, ValueError) as exc:
        raise error(f"weights {path} do not fit the network (another genotype?): {exc}") from exc
