"""The ``train`` and ``infer`` subcommands, registered into ``genolang`` by :func:`register`.

``genolang train FILE --data SPEC --out DIR`` compiles FILE's genotype (``--genotype`` names
one; a lone space compiles its defaults, see ``genolang compile``), trains it on the dataset
SPEC names (:func:`genolang.runtime.data.load_dataset`) and writes ``DIR/model.pt`` (the best
``state_dict`` of the whole network, with the genotype's digest, which ``export --weights``
checks), ``DIR/metrics.json`` and ``DIR/genotype.geno``; a non-empty DIR is refused unless
``--overwrite`` (E0724). Backbones
stating ``pretrain`` are pre-trained first (read back from the cache when a search with the
same ``--seed`` did it), and a frozen prefix runs once, on cached features, as in a search.
``genolang infer MODEL.onnx
--data SPEC`` runs an exported model over one split with onnxruntime. The same ``--seed``
gives the same dataset splits, so ``infer`` on ``test`` sees the samples ``train`` tested on.

Importing this module imports neither torch nor the compiler; the handlers do.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genolang.cli import EXIT_OK, out, out_json
from genolang.errors import Diagnostic, UsageError
from genolang.runtime.errors import TrainError

if TYPE_CHECKING:
    from genolang.genotype import Genotype
    from genolang.runtime.dataset import MultimodalDataset
    from genolang.runtime.train import TrainConfig, TrainResult
    from genolang.space import Space

_CONFIG_ARGS = ("epochs", "steps", "batch_size", "lr", "optimizer", "seed")


# ------------------------------------------------------------------ subcommands
def cmd_train(args: argparse.Namespace) -> int:
    import torch

    from genolang.compiler.compile import compile_genotype
    from genolang.compiler.lower import load_genotype
    from genolang.runtime.avdigits import default_cache_dir
    from genolang.runtime.features import FeatureCache
    from genolang.runtime.pretrain import pretrain_backbones
    from genolang.runtime.search_trial import TrialContext, train_compiled
    from genolang.runtime.train import resolve_device

    config = train_config(args)
    device = resolve_device(args.device)
    out_dir = Path(args.out)
    check_train_out(out_dir, overwrite=args.overwrite)
    space, genotype, origin = load_genotype(args.file, genotype=args.genotype)
    show = _show_progress(args)
    data = load_data(args.data, seed=args.seed, space=space, progress=show)
    torch.manual_seed(args.seed)  # the initial weights
    compiled = compile_genotype(space, genotype)
    meta = {"genotype": {"name": genotype.name, "space": space.name, "digest": genotype.digest, "origin": origin,
                         "file": args.file},
            "data": args.data, "params": compiled.summary.params, "trainable": compiled.summary.trainable}
    ctx = TrialContext(space, data, config, str(device), None, pretrain_backbones(
        compiled.graph, data, seed=args.seed, cache_dir=default_cache_dir(), device=str(device), progress=show),
        FeatureCache(data, cache_dir=default_cache_dir(), device=device))
    result = train_compiled(compiled.net, ctx, config, device=device, out_dir=out_dir, progress=show, meta=meta,
                            weights_of=compiled.net, digest=genotype.digest)
    write_genotype(out_dir / "genotype.geno", genotype, space)
    if args.json:
        out_json({"ok": True, "out": str(out_dir), **meta, **result.to_json()})
    else:
        out(summary_table(result, meta=meta, out_dir=out_dir, total=config.steps))
    return EXIT_OK


def cmd_infer(args: argparse.Namespace) -> int:
    from genolang.runtime.onnx import OnnxModel, infer

    model = OnnxModel(args.model)
    data = load_data(args.data, seed=args.seed, space=None, progress=_show_progress(args))
    result = infer(model, data[args.split], batch_size=args.batch_size, progress=_show_progress(args),
                   task=data.task)
    doc = {"model": args.model, "genotype": model.genotype, "digest": model.digest, "split": args.split,
           **result.to_json()}
    if args.json:
        out_json({"ok": True, **doc})
        return EXIT_OK
    m = result.metrics
    f1 = f", weighted F1 {m.f1_weighted:.4f}" if m.f1_weighted is not None else ""
    out(f"accuracy {m.accuracy:.4f}{f1} on {m.n} samples of {data.name}/{args.split}; {args.model} "
        f"({model.genotype or 'no genolang metadata'}) on {result.provider}, "
        f"{result.samples_per_second:,.0f} samples/s")
    return EXIT_OK


# ------------------------------------------------------------------ helpers
def train_config(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` of the options given (the others keep their defaults)."""
    from pydantic import ValidationError

    from genolang.runtime.train import TrainConfig

    given = {k: getattr(args, k) for k in _CONFIG_ARGS if getattr(args, k, None) is not None}
    if args.no_amp:
        given["amp"] = False
    try:
        return TrainConfig(**given)
    except ValidationError as exc:
        problems = "; ".join(f"--{'-'.join(map(str, e['loc'])).replace('_', '-')}: {e['msg']}"
                             for e in exc.errors())
        raise UsageError(problems) from None


def load_data(spec: str, *, seed: int, space: Space | None, progress: bool) -> MultimodalDataset:
    """``load_dataset(spec, seed=)``, checked against ``space``'s inputs when given."""
    from genolang.runtime.data import check_against_space, load_dataset

    dataset = load_dataset(spec, seed=seed, progress=progress)
    if space is not None:
        check_against_space(dataset, space)
    return dataset


def write_genotype(path: Path, genotype: Genotype, space: Space) -> Path:
    """The genotype's text, importing its space's file (relative to ``path``) when there is one."""
    from genolang.files import atomic_text

    source = Path(space.ir.source.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    imports = (Path(os.path.relpath(source.resolve(), path.parent.resolve())).as_posix(),) \
        if source.is_file() else ()
    return atomic_text(path, genotype.to_text(imports=imports))


def summary_table(result: TrainResult, *, meta: dict[str, Any], out_dir: Path, total: int | None) -> str:
    """A short two-column summary of a finished run."""
    best, test = result.best_val, result.test
    rows = [("genotype", f"{meta['genotype']['name']} of {meta['genotype']['space']} "
                         f"({meta['genotype']['origin']})"),
            ("params", f"{meta['params']:,} ({meta['trainable']:,} trainable)"),
            ("best val", f"{_score(best)} at step {result.best_step}/{total or result.steps}"),
            ("test", _score(test) if test is not None else "(no test split)"),
            ("time", f"{result.seconds:.1f} s on {result.device}"),
            ("throughput", f"{result.samples_per_second:,.0f} samples/s (training)"),
            ("wrote", ", ".join(str(out_dir / n) for n in ("model.pt", "metrics.json", "genotype.geno")))]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:{width}}  {v}" for k, v in rows)


def check_train_out(out: Path, *, overwrite: bool) -> None:
    """``train`` writes into a new or empty folder; one holding files needs ``--overwrite`` (E0724)."""
    if out.exists() and not out.is_dir():
        raise TrainError(Diagnostic("E0724", f"{out} is a file, not a folder"))
    if not overwrite and out.is_dir() and any(out.iterdir()):
        raise TrainError(Diagnostic("E0724", f"{out} is not empty (an earlier run's model.pt, metrics.json?): "
                                             f"pass --overwrite to replace them, or pick another folder; "
                                             f"nothing was changed"))


def _score(m: Any) -> str:
    text = f"acc {m.accuracy:.4f}"
    return text + (f", weighted F1 {m.f1_weighted:.4f}" if m.f1_weighted is not None else "") + f" (n={m.n})"


def _show_progress(args: argparse.Namespace) -> bool:
    return not args.json  # a rich bar on a terminal, else a line per epoch (runtime.progress)


# ------------------------------------------------------------------ registration
def register(sub: Any, add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``train`` and ``infer`` to the main CLI's subparsers."""
    p = add(sub, "train", cmd_train, "train a genotype's network on a dataset; keep the best on val")
    p.add_argument("file", help="a .geno file holding a genotype, or a space (its default is trained)")
    p.add_argument("--genotype", help="the genotype to use when the file holds several")
    p.add_argument("--data", required=True, metavar="SPEC", help="the dataset (see `genolang data`)")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="write model.pt, metrics.json, genotype.geno")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=int, help="passes over the training split (default 10)")
    length.add_argument("--steps", type=int, help="optimizer steps in all (instead of --epochs)")
    p.add_argument("--batch-size", type=int, help="training batch size (default 64)")
    p.add_argument("--lr", type=float, help="peak learning rate (default 1e-3)")
    p.add_argument("--optimizer", choices=("adam", "adamw", "sgd"), help="default adam")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    p.add_argument("--seed", type=int, default=0, help="seed of the data splits, weights and shuffling")
    p.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the model.pt, metrics.json and genotype.geno of a non-empty --out folder")
    p = add(sub, "infer", cmd_infer, "run an exported ONNX model over a dataset split (onnxruntime)")
    p.add_argument("model", help="an .onnx file written by `genolang export`")
    p.add_argument("--data", required=True, metavar="SPEC", help="the dataset (see `genolang data`)")
    p.add_argument("--split", default="test", help="train, val or test (default test)")
    p.add_argument("--batch-size", type=int, default=256, help="default 256")
    p.add_argument("--seed", type=int, default=0, help="the dataset seed (as given to train)")


__all__ = ["cmd_infer", "cmd_train", "load_data", "register", "summary_table", "train_config", "write_genotype"]
