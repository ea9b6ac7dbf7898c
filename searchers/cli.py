"""``genolang search``: search a space's genotypes on a dataset; the best comes out as a file.

``genolang search SPACE_FILE --searcher random --budget N --out DIR [--data avdigits]
[--steps S] [--workers N] [--resume] [--seed S] [--device D] [--json]`` runs
the job of :func:`genolang.runtime.job.run_job`: backbones stating ``pretrain`` are trained
first (cached), then :func:`genolang.runtime.search.run_search` runs N trials, each trained S
steps (default: the searcher's ``DEFAULT_STEPS``, chosen by ``benchmarks/bench_ranking.py``) on
the frozen prefix's cached features (``--no-cache``: on the raw data) and scored by
validation accuracy, recorded in ``DIR/ledger.sqlite``; ``DIR/best.geno`` holds the best
genotype (importing SPACE_FILE). ``--final-epochs E`` then trains it beside late fusion and
the unimodal nets and prints their test accuracies. ``--resume`` continues a search killed
or finished in DIR (a larger ``--budget`` extends it). Phase lines go to stderr.

Differentiable searchers (``bmnas``, ``ssl-bmnas``) take ``--epochs N [--alternation
epoch|batch]`` instead of ``--budget``/``--steps``: :meth:`search` of the searcher class
(:func:`genolang.runtime.bilevel.run_bilevel`) trains the space's supernet, one ledger row per
epoch, and resumes from ``DIR/supernet.pt``. ``ssl-bmnas`` also takes ``--labelled-fraction R``
and, after the search, pretrains the best genotype contrastively and trains its classifier on
that stratified fraction of ``train`` (``--epochs`` epochs each), writing ``DIR/finetune.json``.

Importing this module imports neither torch nor the runtime; the handler does. Exit codes are
the main CLI's: 0 ok, 1 invalid input (any GenolangError), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from genolang.cli import EXIT_OK, out, out_json
from genolang.errors import UsageError

if TYPE_CHECKING:
    from genolang.runtime.dataset import MultimodalDataset
    from genolang.runtime.job import JobResult
    from genolang.runtime.search import SearchResult
    from genolang.space import Space

_CONFIG_ARGS = ("batch_size", "lr", "optimizer")


def cmd_search(args: argparse.Namespace) -> int:
    """Run (or resume) a search and print its summary."""
    from genolang.document import load
    from genolang.runtime.avdigits import default_cache_dir
    from genolang.runtime.job import run_job
    from genolang.searchers.base import searcher_class

    cls = searcher_class(args.searcher)  # an unknown name fails before the data is loaded
    if getattr(cls, "differentiable", False):
        return _cmd_bilevel(args, cls)
    if args.budget is None:
        raise UsageError(f"searcher {args.searcher!r} needs --budget N")
    if args.epochs is not None or args.alternation is not None or args.labelled_fraction is not None:
        raise UsageError("--epochs, --alternation and --labelled-fraction are for differentiable searchers "
                         "(bmnas, ssl-bmnas)")
    if args.budget < 1 or args.workers < 1 or (args.steps is not None and args.steps < 1):
        raise UsageError("--budget, --workers and --steps must be at least 1")
    if args.final_epochs < 0:
        raise UsageError("--final-epochs must be 0 (no final training) or more")
    space = load(args.space_file).space(args.space)
    show = not args.json and sys.stderr.isatty()
    start = time.perf_counter()
    if not args.json:
        _announce(f"data: {args.data} (seed {args.seed})")
    data = _load_data(args.data, seed=args.seed, space=space, progress=show)
    job = run_job(space, data, out_dir=Path(args.out), seed=args.seed, final_epochs=args.final_epochs,
                  features=not args.no_cache, device=args.device, progress=show,
                  phases={"data": time.perf_counter() - start}, searcher=args.searcher, budget=args.budget,
                  steps=args.steps, train_config=_train_config(args), resume=args.resume, workers=args.workers,
                  share_weights=not args.no_share, space_file=Path(args.space_file), cache_dir=default_cache_dir(),
                  announce=None if args.json else _announce)
    if args.json:
        out_json({"ok": True, "space": space.name, "searcher": args.searcher, **job.search.to_json(),
                  **job.to_json()})
    else:
        out(job_table(job))
    return EXIT_OK


def _announce(text: str) -> None:
    """A phase line on stderr (also without a terminal, so logs of redirected runs show progress)."""
    print(text, file=sys.stderr, flush=True)


def _cmd_bilevel(args: argparse.Namespace, cls: Any) -> int:
    """``--searcher bmnas|ssl-bmnas``: the bilevel search (and, for ssl-bmnas, the fine-tuning)."""
    from genolang.document import load

    _check_bilevel_args(args, ssl=getattr(cls, "self_supervised", False))
    space = load(args.space_file).space(args.space)
    _refuse_pretrain(space, args.searcher)
    show = not args.json and sys.stderr.isatty()
    data = _load_data(args.data, seed=args.seed, space=space, progress=show)
    config, ssl = _bilevel_configs(args, ssl=getattr(cls, "self_supervised", False))
    result = cls.search(space, data, out_dir=Path(args.out), epochs=args.epochs, config=config, seed=args.seed,
                        resume=args.resume, progress=show, device=args.device, space_file=Path(args.space_file),
                        **({"ssl": ssl} if ssl is not None else {}))
    finetune = None
    if ssl is not None and result.best is not None:
        from genolang.runtime.ssl import ssl_finetune

        finetune = ssl_finetune(space, result.best, data, ssl=ssl, seed=args.seed, device=args.device,
                                progress=show).to_json()
        (Path(args.out) / "finetune.json").write_text(json.dumps(finetune, indent=2) + "\n", encoding="utf-8")
    if args.json:
        out_json({"ok": True, "space": space.name, "searcher": args.searcher, "epochs": args.epochs,
                  **result.to_json(), "finetune": finetune})
    else:
        out(bilevel_table(result, finetune))
    return EXIT_OK


def _refuse_pretrain(space: Space, searcher: str) -> None:
    """Supernet searches do not pre-train backbones yet: refuse a space that asks for it."""
    from genolang.compiler.lower import lower
    from genolang.runtime.pretrain import to_pretrain

    names = to_pretrain(lower(space, space.default()))
    if names:
        raise UsageError(f"searcher {searcher!r} does not pre-train backbones yet, and space {space.name!r} "
                         f"asks for it ({', '.join(names)}): use a trial searcher (random, evolution, mfas, rl), "
                         f"or give the backbones `weights` instead of `pretrain`")


def _check_bilevel_args(args: argparse.Namespace, *, ssl: bool) -> None:
    if args.epochs is None or args.epochs < 1:
        raise UsageError(f"searcher {args.searcher!r} is differentiable: give --epochs N (N >= 1)")
    wrong = [flag for flag, value in (("--budget", args.budget), ("--steps", args.steps),
                                      ("--optimizer", args.optimizer)) if value is not None]
    wrong += [flag for flag, given in (("--final-epochs", args.final_epochs), ("--no-cache", args.no_cache)) if given]
    if args.labelled_fraction is not None and not ssl:
        wrong.append("--labelled-fraction")
    if wrong:
        raise UsageError(f"searcher {args.searcher!r} does not take {', '.join(wrong)}")
    if args.labelled_fraction is not None and not 0 < args.labelled_fraction <= 1:
        raise UsageError("--labelled-fraction must be in (0, 1]")


def _bilevel_configs(args: argparse.Namespace, *, ssl: bool) -> tuple[Any, Any]:
    """The BilevelConfig (and SslConfig for a self-supervised searcher) of the options given."""
    from pydantic import ValidationError

    from genolang.runtime.bilevel import BilevelConfig

    given = {k: v for k, v in (("batch_size", args.batch_size), ("w_lr", args.lr),
                               ("alternation", args.alternation)) if v is not None}
    try:
        config = BilevelConfig(**given)
        if not ssl:
            return config, None
        from genolang.runtime.ssl import SslConfig

        return config, SslConfig(labelled_fraction=args.labelled_fraction or 1.0, pretrain_epochs=args.epochs,
                                 finetune_epochs=args.epochs, batch_size=config.batch_size,
                                 lr=args.lr or SslConfig().lr)
    except ValidationError as exc:
        raise UsageError("; ".join(f"{e['loc']}: {e['msg']}" for e in exc.errors())) from None


def bilevel_table(result: SearchResult, finetune: dict[str, Any] | None = None) -> str:
    """The final table of a differentiable search: epochs, best epoch, genotype, (test accuracy), outputs."""
    best = "(none)" if result.best is None else f"{result.best_score:.4f} (epoch {result.best.meta.get('epoch')})"
    rows = [("epochs", str(result.done)), ("best val acc", best),
            ("best genotype", result.best.digest if result.best is not None else "-"),
            ("wall time", f"{result.seconds:.1f} s")]
    if finetune is not None:
        test = finetune.get("test_accuracy")
        rows.append(("test acc", f"{test:.4f} ({finetune['labelled']} labelled samples)" if test is not None
                     else f"- (no test split; {finetune['labelled']} labelled samples)"))
    names = ("best.geno", "trials.jsonl", "summary.json", "ledger.sqlite", "supernet.pt")
    rows.append(("wrote", ", ".join(str(result.out_dir / n) for n in names + (("finetune.json",) if finetune else ()))))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:{width}}  {v}" for k, v in rows)


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


def summary_table(result: SearchResult) -> str:
    """The final table: trials done/failed (and why), best val accuracy, best digest, wall time, outputs.

    The trials line reads ``16 done, 4 failed (CompileError E0400: 4)``: failed trials per
    reason class, most frequent first.
    """
    best = f"{result.best_score:.4f}" if result.best_score is not None else "(no trial succeeded)"
    why = ", ".join(f"{reason}: {count}" for reason, count in result.failures.items())
    rows = [("trials", f"{result.done} done, {result.failed} failed"
                       + (f" ({why})" if result.failed and why else "")
                       + (f" ({result.recovered} interrupted, retried)" if result.recovered else "")),
            ("best val acc", best),
            ("best genotype", result.best.digest if result.best is not None else "-"),
            ("wall time", f"{result.seconds:.1f} s"),
            ("wrote", ", ".join(str(result.out_dir / n) for n in ("best.geno", "trials.jsonl", "summary.json",
                                                                  "ledger.sqlite")))]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:{width}}  {v}" for k, v in rows)


def job_table(job: JobResult) -> str:
    """The search's table, then (when trained) the comparison and the wall time of each phase."""
    from genolang.runtime.final import table

    parts = [summary_table(job.search)]
    if job.pretrained and not job.rows:
        parts.append("pretrained  " + ", ".join(f"{k} test acc {v.test_accuracy}" for k, v in job.pretrained.items()))
    if job.rows:
        margin = job.margin()
        parts.append(table(job.rows) + ("" if margin is None else f"\nsearched - late fusion: {margin:+.4f} test acc"))
    parts.append("phases      " + ", ".join(f"{k} {v:.1f} s" for k, v in job.phases.items()))
    return "\n\n".join(parts)


def register(sub: Any, add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``genolang search`` to the main parser."""
    p = add(sub, "search", cmd_search, "search a space's genotypes on a dataset (random, ...); "
                                       "writes the best genotype and a resumable trial ledger")
    p.add_argument("space_file", metavar="SPACE_FILE", help="the .geno file declaring the space")
    p.add_argument("--space", help="the space to search when the file declares several")
    p.add_argument("--searcher", default="random", help="the search algorithm (default random)")
    p.add_argument("--budget", type=int, metavar="N", help="trials to finish (done or failed); not for bmnas")
    p.add_argument("--epochs", type=int, metavar="N", help="epochs of a differentiable search (bmnas, ssl-bmnas)")
    p.add_argument("--alternation", choices=("epoch", "batch"),
                   help="bmnas: weights then architecture per epoch (default, BM-NAS) or per batch (DARTS)")
    p.add_argument("--labelled-fraction", type=float, metavar="R",
                   help="ssl-bmnas: the labelled fraction of train for fine-tuning (default 1)")
    p.add_argument("-o", "--out", required=True, metavar="DIR",
                   help="write ledger.sqlite, trials.jsonl, best.geno, summary.json here")
    p.add_argument("--data", default="avdigits", metavar="SPEC", help="the dataset (default avdigits)")
    p.add_argument("--steps", type=int, metavar="S",
                   help="training steps per trial (default: the searcher's, chosen by benchmarks/bench_ranking.py)")
    p.add_argument("--workers", type=int, default=1, help="trials run in parallel processes (default 1)")
    p.add_argument("--resume", action="store_true", help="continue the search recorded in --out")
    p.add_argument("--seed", type=int, default=0, help="seed of the searcher, the data and the training")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    p.add_argument("--batch-size", type=int, help="training batch size (default 64)")
    p.add_argument("--lr", type=float, help="peak learning rate (default 1e-3)")
    p.add_argument("--optimizer", choices=("adam", "adamw", "sgd"), help="default adam")
    p.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    p.add_argument("--no-share", action="store_true", help="no parameter sharing between trials")
    p.add_argument("--final-epochs", type=int, default=0, metavar="E",
                   help="after the search, train the best genotype E epochs beside late fusion and the "
                        "unimodal nets, and compare their test accuracy (default 0: skip)")
    p.add_argument("--no-cache", action="store_true",
                   help="train every trial's whole network on the raw data (no frozen-prefix feature cache)")
