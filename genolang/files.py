"""Writing files so that a kill at any moment leaves the old file or the new one, never a torn one.

:func:`atomic_write` writes through a temporary file in the target's folder, then
``os.replace`` s it over the target (atomic on POSIX and Windows); the temporary file is
removed if the write fails. Every file genolang writes for keeps (run folders, caches,
exported models, datasets, weights) goes through it. A write that fails (a full disk, no
permission) raises :class:`~genolang.errors.FileWriteError` (E0720) naming the file, and the
previous file is left as it was.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genolang.errors import FileWriteError


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp)`` on a temporary path next to ``path``, then move it over ``path``."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.replace(tmp, path)
    except FileWriteError:
        raise
    except OSError as exc:
        raise write_error(path, exc) from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_error(path: Path, exc: OSError) -> FileWriteError:
    """The catalogued error of a failed write of ``path`` (the OS's reason in it)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    error = FileWriteError(f"cannot write {path}: {reason}; the previous file (if any) is unchanged")
    error.errno, error.filename = exc.errno, str(path)
    return error


def atomic_text(path: str | os.PathLike[str], text: str) -> Path:
    """:func:`atomic_write` of a UTF-8 text."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """:func:`atomic_write` of bytes."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))
