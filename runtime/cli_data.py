"""``genolang data``: list the built-in datasets, build (and cache) one, describe any dataset.

``data list``, ``data build NAME [--seed S] [--cache-dir D]`` and ``data info SPEC`` (SPEC is
a built-in name, a ``.npz``/``.pt`` file or a folder of split files). Each takes ``--json``,
before or after the leaf command. Importing this module imports no torch: the handlers import
:mod:`genolang.runtime.data` when they run. Exit codes are the main CLI's (0, 1, 2).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from genolang.cli import EXIT_OK, out, out_json
from genolang.errors import UsageError

Handler = Callable[[argparse.Namespace], int]


# ------------------------------------------------------------------ subcommands
def cmd_list(args: argparse.Namespace) -> int:
    """The built-in datasets and their one-line descriptions."""
    from genolang.runtime.data import builtins

    rows = [{"name": spec.name, "description": spec.description} for spec in builtins()]
    if args.json:
        out_json(rows)
    elif not rows:
        out("no built-in datasets")
    else:
        width = max(len(r["name"]) for r in rows)
        for r in rows:
            out(f"{r['name']:{width}}  {r['description']}")
    return EXIT_OK


def cmd_build(args: argparse.Namespace) -> int:
    """Build a built-in dataset (from its cache when there), then describe it."""
    from genolang.runtime.data import builtin, describe

    dataset = builtin(args.name).build(seed=args.seed, cache_dir=args.cache_dir, progress=not args.json)
    _show(describe(dataset), as_json=args.json)
    return EXIT_OK


def cmd_info(args: argparse.Namespace) -> int:
    """Describe a built-in dataset or a dataset on disk."""
    from genolang.runtime.data import describe, load_dataset

    dataset = load_dataset(args.spec, seed=args.seed, cache_dir=args.cache_dir, progress=not args.json)
    _show(describe(dataset), as_json=args.json)
    return EXIT_OK


def _no_leaf(args: argparse.Namespace) -> int:
    raise UsageError("choose a subcommand: list, build or info")


# ------------------------------------------------------------------ rendering
def _show(desc: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        out_json(desc)
        return
    for line in render(desc):
        out(line)


def render(desc: dict[str, Any]) -> list[str]:
    """The table ``data build`` and ``data info`` print for a :func:`describe` dict."""
    lines = [f"dataset  {desc['name']}  ({desc['task']}, {desc['num_classes']} classes)",
             f"digest   {desc['digest']}"]
    if desc.get("meta", {}).get("source"):
        lines.append(f"source   {desc['meta']['source']}")
    mods = desc["modalities"]
    width = max([len("modality"), *map(len, mods)])
    shapes = {k: str(m["shape"]) for k, m in mods.items()}
    swidth = max([len("shape"), *map(len, shapes.values())])
    lines += ["", f"{'modality':{width}}  {'shape':{swidth}}  dtype"]
    lines += [f"{k:{width}}  {shapes[k]:{swidth}}  {m['dtype']}" for k, m in mods.items()]
    lines += ["", f"{'split':5}  {'samples':>7}  class counts"]
    for split, n in desc["sizes"].items():
        counts = " ".join(map(str, desc["class_counts"][split]))
        lines.append(f"{split:5}  {n:>7}  {counts}")
    return lines


# ------------------------------------------------------------------ parser
def _leaf(leaves: Any, name: str, func: Handler, help: str) -> argparse.ArgumentParser:
    """Like the main CLI's ``add``; its ``--json`` keeps one given before the leaf (``data --json list``)."""
    p = leaves.add_parser(name, help=help, description=help)
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
    p.set_defaults(func=func)
    return p


def _build_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="seed of a built-in dataset's recipe (default 0)")
    p.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="where built datasets are cached (default: the dataset's own choice)")


def register(sub: Any, add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``genolang data {list,build,info}`` to the main parser."""
    group = add(sub, "data", _no_leaf, "datasets: list the built-ins, build and cache one, describe one")
    leaves = group.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    _leaf(leaves, "list", cmd_list, "built-in datasets and their descriptions")
    p = _leaf(leaves, "build", cmd_build, "build a built-in dataset (cached) and describe it")
    p.add_argument("name", metavar="NAME")
    _build_options(p)
    p = _leaf(leaves, "info", cmd_info, "describe a built-in dataset, a .npz/.pt file or a folder")
    p.add_argument("spec", metavar="SPEC")
    _build_options(p)
