"""``genolang search``: search a space's genotypes on a dataset; the best comes out as a file.

``genolang search SPACE_FILE --searcher random --budget N --out DIR [--data avdigits]
[--steps S] [--workers N] [--executor inline|process|ray] [--resume] [--seed S] [--device D] [--json]`` runs
the job of :func:`genolang.runtime.job.run_job`: backbones stating ``pretrain`` are trained
first (cached), then the study (:mod:`genolang.runtime.study`) runs N trials, each trained S
steps (default: the searcher's ``DEFAULT_STEPS``, chosen by ``benchmarks/bench_ranking.py``) on
the frozen prefix's cached features (``--no-cache``: on the raw data) and scored by
validation accuracy, recorded in ``DIR/ledger.sqlite``; ``DIR/best.geno`` holds the best
genotype (importing SPACE_FILE). ``--final-epochs E`` then trains it beside late fusion and
the unimodal nets and prints their test accuracies. ``--resume`` continues a search killed
or finished in DIR (a larger ``--budget`` extends it). Phase lines go to stderr.
``--executor ray [--ray-address ADDR] [--cpus-per-trial C] [--gpus-per-trial G]`` runs the
trials as Ray tasks (:mod:`genolang.runtime.ray_executor`; docs/distributed.md).

One-shot searchers (``bmnas``, ``ssl-bmnas``) take ``--epochs N [--alternation
epoch|batch]`` instead of ``--budget``/``--steps``: they train the space's supernet
(:func:`genolang.runtime.bilevel.run_bilevel`), one ledger row per epoch, and resume from
``DIR/supernet.pt``. ``ssl-bmnas`` also takes ``--labelled-fraction R``
and, after the search, pretrains the best genotype contrastively and trains its classifier on
that stratified fraction of ``train`` (``--epochs`` epochs each), writing ``DIR/finetune.json``.

The flags become one :class:`~genolang.runtime.study.SearchConfig` (recorded in
``summary.json``); the strategy it names checks it and runs the study
(:func:`genolang.searchers.study.run_study`), whatever its kind. Importing this module
imports neither torch nor the runtime's training code; the handler does. Exit codes are
the main CLI's: 0 ok, 1 invalid input (any GenolangError), 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from genolang.cli import EXIT_OK, out, out_json
from genolang.errors import UsageError
from genolang.runtime.tables import bilevel_table, job_table, summary_table

if TYPE_CHECKING:
    from genolang.runtime.dataset import MultimodalDataset
    from genolang.runtime.study import SearchConfig
    from genolang.space import Space

__all__ = ["bilevel_table", "cmd_search", "job_table", "register", "search_config", "summary_table"]

_CONFIG_ARGS = ("batch_size", "lr", "optimizer")


def cmd_search(args: argparse.Namespace) -> int:
    """Run (or resume) a search and print its summary."""
    from genolang.document import load
    from genolang.runtime.avdigits import default_cache_dir
    from genolang.runtime.study import Study
    from genolang.searchers.base import searcher_class
    from genolang.searchers.study import run_study

    cls = searcher_class(args.searcher)  # an unknown name fails before the data is loaded
    config = search_config(args, self_supervised=getattr(cls, "self_supervised", False))
    cls.check_config(config)
    space = load(args.space_file).space(args.space)
    cls.check_space(space)
    if config.resume:  # a folder or ledger that is not there is refused before the data is loaded
        from pathlib import Path

        from genolang.runtime.runfolder import check_resumable

        check_resumable(Path(config.out_dir))
    show = not args.json  # a rich bar on a terminal, else a line per trial or epoch (runtime.progress)
    start = time.perf_counter()
    if not args.json:
        _announce(f"data: {args.data} (seed {args.seed})")
    data = _load_data(args.data, seed=args.seed, space=space, progress=show)
    study = Study(space, data, config, progress=show, cache_dir=default_cache_dir(),
                  announce=None if args.json else _announce, phases={"data": time.perf_counter() - start})
    outcome = run_study(study)
    if args.json:
        out_json({"ok": True, "space": space.name, "searcher": args.searcher, **outcome.to_json()})
    else:
        out(outcome.table())
    return EXIT_OK


def _announce(text: str) -> None:
    """A phase line on stderr (also without a terminal, so logs of redirected runs show progress)."""
    print(text, file=sys.stderr, flush=True)


def search_config(args: argparse.Namespace, *, self_supervised: bool = False) -> SearchConfig:
    """The :class:`SearchConfig` of the command's flags (bad values: a UsageError naming the flag)."""
    from pydantic import ValidationError

    from genolang.runtime.study import SearchConfig

    if args.labelled_fraction is not None and not 0 < args.labelled_fraction <= 1:
        raise UsageError("--labelled-fraction must be in (0, 1]")
    try:
        return SearchConfig(searcher=args.searcher, out_dir=str(args.out), data=args.data,
                            space_file=str(args.space_file), seed=args.seed, resume=args.resume,
                            budget=args.budget, steps=args.steps, epochs=args.epochs, executor=args.executor,
                            workers=args.workers, ray_address=args.ray_address,
                            cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial,
                            share_weights=not args.no_share, features=not args.no_cache,
                            final_epochs=args.final_epochs, device=args.device, train=_train_config(args),
                            bilevel=_bilevel_config(args), ssl=_ssl_config(args, self_supervised))
    except ValidationError as exc:
        raise UsageError("; ".join(f"--{str(e['loc'][0]).replace('_', '-')}: {e['msg']}"
                                   for e in exc.errors())) from None


def _bilevel_config(args: argparse.Namespace) -> Any:
    """The BilevelConfig of a one-shot search (``None`` when none of its flags is given and no --epochs)."""
    from pydantic import ValidationError

    from genolang.runtime.bilevel import BilevelConfig

    if args.epochs is None and args.alternation is None:
        return None
    given = {k: v for k, v in (("batch_size", args.batch_size), ("w_lr", args.lr),
                               ("alternation", args.alternation)) if v is not None}
    try:
        return BilevelConfig(**given)
    except ValidationError as exc:
        raise UsageError("; ".join(f"{e['loc']}: {e['msg']}" for e in exc.errors())) from None


def _ssl_config(args: argparse.Namespace, self_supervised: bool) -> Any:
    """The SslConfig of ``ssl-bmnas`` (or of a given --labelled-fraction, which other searchers refuse)."""
    from genolang.runtime.ssl import SslConfig

    if not self_supervised and args.labelled_fraction is None:
        return None
    if not self_supervised or args.epochs is None:
        return SslConfig(labelled_fraction=args.labelled_fraction or 1.0)
    return SslConfig(labelled_fraction=args.labelled_fraction or 1.0, pretrain_epochs=args.epochs,
                     finetune_epochs=args.epochs, batch_size=args.batch_size or 96, lr=args.lr or SslConfig().lr)


def _train_config(args: argparse.Namespace) -> Any:
    """The TrainConfig of the options given (``steps`` is set per trial by the search)."""
    from pydantic import ValidationError

    from genolang.runtime.train import TrainConfig

    given: dict[str, Any] = {k: getattr(args, k) for k in _CONFIG_ARGS if getattr(args, k, None) is not None}
    if args.no_amp:
        given["amp"] = False
    try:
        return TrainConfig(seed=args.seed, **given)
    except ValidationError as exc:
        raise UsageError("; ".join(f"--{'-'.join(map(str, e['loc'])).replace('_', '-')}: {e['msg']}"
                                   for e in exc.errors())) from None


def _load_data(spec: str, *, seed: int, space: Space, progress: bool) -> MultimodalDataset:
    """The dataset SPEC names, checked against the space's inputs."""
    from genolang.runtime.data import check_against_space, load_dataset

    dataset = load_dataset(spec, seed=seed, progress=progress)
    check_against_space(dataset, space)
    return dataset


def register(sub: Any, add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``genolang search`` to the main parser."""
    p = add(sub, "search", cmd_search, "search a space's genotypes on a dataset (random, ...); "
                                       "writes the best genotype and a resumable trial ledger")
    p.add_argument("space_file", metavar="SPACE_FILE", help="the .geno file declaring the space")
    p.add_argument("--space", help="the space to search when the file declares several")
    p.add_argument("--searcher", default="random", help="the search algorithm (default random)")
    p.add_argument("--budget", type=int, metavar="N", help="trials to finish (done or failed); not for bmnas")
    p.add_argument("--epochs", type=int, metavar="N", help="epochs of a one-shot (supernet) search (bmnas, ssl-bmnas)")
    p.add_argument("--alternation", choices=("epoch", "batch"),
                   help="bmnas: weights then architecture per epoch (default, BM-NAS) or per batch (DARTS)")
    p.add_argument("--labelled-fraction", type=float, metavar="R",
                   help="ssl-bmnas: the labelled fraction of train for fine-tuning (default 1)")
    p.add_argument("-o", "--out", required=True, metavar="DIR",
                   help="write ledger.sqlite, trials.jsonl, best.geno, summary.json here")
    p.add_argument("--data", default="avdigits", metavar="SPEC", help="the dataset (default avdigits)")
    p.add_argument("--steps", type=int, metavar="S",
                   help="training steps per trial (default: the searcher's, chosen by benchmarks/bench_ranking.py)")
    p.add_argument("--workers", type=int, default=1, help="trials run in parallel (default 1); with weight sharing "
                   "(the default) each trial waits for the previous one: add --no-share")
    p.add_argument("--executor", default="auto", metavar="NAME",
                   help="where trials run: inline, process, ray (default auto: inline for one worker, else process)")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="--executor ray: join the Ray cluster at ADDR (host:port or auto; default: start Ray here)")
    p.add_argument("--cpus-per-trial", type=float, default=1.0, metavar="C",
                   help="--executor ray: CPUs Ray reserves per trial (default 1)")
    p.add_argument("--gpus-per-trial", type=float, default=0.0, metavar="G",
                   help="--executor ray: GPUs Ray reserves per trial, fractions allowed (default 0)")
    p.add_argument("--resume", action="store_true", help="continue the search recorded in --out")
    p.add_argument("--seed", type=int, default=0, help="seed of the searcher, the data and the training")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    p.add_argument("--batch-size", type=int, help="training batch size (default 64)")
    p.add_argument("--lr", type=float, help="peak learning rate (default 1e-3)")
    p.add_argument("--optimizer", choices=("adam", "adamw", "sgd"), help="default adam")
    p.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    p.add_argument("--no-share", action="store_true", help="no parameter sharing between trials (lets --workers N "
                   "run N trials at once)")
    p.add_argument("--final-epochs", type=int, default=0, metavar="E",
                   help="after the search, train the best genotype E epochs beside late fusion and the "
                        "unimodal nets, and compare their test accuracy (default 0: skip)")
    p.add_argument("--no-cache", action="store_true",
                   help="train every trial's whole network on the raw data (no frozen-prefix feature cache)")
