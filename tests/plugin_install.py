"""Install a plugin's entry points for a test, without pip or a network.

``pip install`` of a local project needs a build backend, which an offline machine may lack;
what genolang reads is only the entry points (importlib.metadata), and these are declared in a
``NAME.dist-info/entry_points.txt`` found on ``sys.path``. :func:`install` writes that folder
from the project's pyproject.toml (``[project.entry-points.*]``), so the test uses the
plugin's real declaration, and puts it and the project's sources on ``sys.path``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import tomllib


def write_dist_info(project: Path, target: Path) -> Path:
    """``target/NAME-VERSION.dist-info`` (METADATA, entry_points.txt) for the project at ``project``."""
    meta = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    name, version = meta["name"], meta["version"]
    info = target / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8")
    lines = []
    for group, entries in meta.get("entry-points", {}).items():
        lines.append(f"[{group}]")
        lines += [f"{ep} = {value}" for ep, value in entries.items()]
        lines.append("")
    (info / "entry_points.txt").write_text("\n".join(lines), encoding="utf-8")
    return info


def install(project: Path, target: Path) -> list[str]:
    """Write the dist-info into ``target`` and put ``target`` and ``project`` on ``sys.path``; the paths added."""
    write_dist_info(project, target)
    added = [str(target), str(project)]
    sys.path[:0] = added
    return added


def uninstall(added: list[str], package: str) -> None:
    """Undo :func:`install`: the paths leave ``sys.path``, the package's modules ``sys.modules``."""
    for path in added:
        sys.path.remove(path)
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]
