"""What the benchmarks share: example spaces by name, their pre-trained backbones, progress lines.

Imported by the benchmark scripts as a neighbour (``python benchmarks/x.py`` puts this folder
on ``sys.path``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]  # for examples/spaces only (nothing imported from here)


def space_path(name: str) -> Path:
    """examples/spaces/NAME.geno, or ``name`` itself when it is a path."""
    path = Path(name)
    if path.suffix == ".geno" or path.exists():
        return path
    return ROOT / "examples" / "spaces" / f"{name}.geno"


def load_space(name: str) -> Any:
    import genolang

    path = space_path(name)
    if not path.is_file():
        raise SystemExit(f"no space file {path} (give a name of examples/spaces/ or a .geno path)")
    return genolang.load(path).space()


def pretrain(space: Any, data: Any, *, seed: int, cache: Any, device: Any,
             epochs: int | None = None) -> tuple[dict[str, Any], float]:
    """(backbone node -> Pretrained, seconds) for the backbones of ``space`` stating ``pretrain``
    (``epochs`` overrides the space's, for smoke runs)."""
    from genolang.compiler.lower import lower
    from genolang.runtime.pretrain import pretrain_backbones

    start = time.perf_counter()
    done = pretrain_backbones(lower(space, space.default()), data, seed=seed, cache_dir=cache, device=device,
                              epochs=epochs)
    return done, time.perf_counter() - start


def note(text: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(text, file=sys.stderr, flush=True)
