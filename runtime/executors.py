"""Executors: where trials run, chosen by name (``SearchConfig.executor``).

An executor is opened for one search with the trials' shared context and trial function, and
hands back ``submit(job) -> Future[TrialOutcome]``; the driver
(:class:`~genolang.runtime.search.SearchRun`) keeps ``workers`` futures in flight and alone
writes the storage. With weight sharing, a job carries the driver's weight bank and the
outcome the trial's trained tensors (:mod:`genolang.runtime.sharing`): the driver's bank is
the only one, workers keep none. Registered:

- ``inline``: each trial runs at once in this process (one worker);
- ``process``: a "spawn" :class:`~concurrent.futures.ProcessPoolExecutor`; each worker loads
  the dataset once in its initializer (the bank travels pickled with each job, one blob);
- ``ray``: trials as Ray tasks on a local Ray instance or a cluster
  (:mod:`genolang.runtime.ray_executor`, the optional extra ``genolang[ray]``).

A new executor (a cluster queue) is one subclass of :class:`Executor` registered with
:func:`register_executor`: implement :meth:`Executor.open`; an executor with options of its
own names the config fields in ``takes`` and reads them in :meth:`Executor.from_config`.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Any, ClassVar, TypeVar

import torch

from genolang.registry import Registry
from genolang.runtime.dataset import MultimodalDataset
from genolang.runtime.errors import SearchError
from genolang.runtime.search_trial import TrialContext, TrialFn, TrialJob, TrialOutcome, execute, worker_context

#: ``submit(job)``: a future of the trial's outcome
Submit = Callable[[TrialJob], "Future[TrialOutcome]"]
E = TypeVar("E", bound="type[Executor]")


class Executor(ABC):
    """Runs trials for one search; ``in_process``: in the driver's process, one at a time."""

    name: ClassVar[str] = ""
    in_process: ClassVar[bool] = False
    #: the :data:`EXECUTOR_OPTIONS` this executor reads (the others must keep their defaults)
    takes: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def from_config(cls, config: Any) -> Executor:
        """The executor for a :class:`~genolang.runtime.study.SearchConfig` (its ``takes`` fields)."""
        return cls()

    @abstractmethod
    @contextmanager
    def open(self, ctx: TrialContext, fn: TrialFn, *, workers: int, data: MultimodalDataset | str,
             data_seed: int) -> Iterator[Submit]:
        """Start the workers; yield ``submit``; on exit, stop them (cancelling what has not started)."""


#: executor name -> class; filled by :func:`register_executor` (and the built-in modules named here)
EXECUTORS: Registry[type[Executor]] = Registry("executor", errors=(SearchError, SearchError),
                                               builtins=("genolang.runtime.ray_executor",))
#: the SearchConfig fields that belong to one executor or another (their CLI flags)
EXECUTOR_OPTIONS = {"ray_address": "--ray-address", "cpus_per_trial": "--cpus-per-trial",
                    "gpus_per_trial": "--gpus-per-trial"}


def register_executor(name: str) -> Callable[[E], E]:
    """Class decorator: register an :class:`Executor` subclass under ``name`` (once)."""

    def decorate(cls: E) -> E:
        cls.name = name
        EXECUTORS.add(name, cls, origin=cls.__module__)
        return cls

    return decorate


def executor_named(name: str, *, workers: int, config: Any = None) -> Executor:
    """The executor ``name`` (``"auto"``: inline for one worker, else the process pool), made from
    ``config`` (a SearchConfig: an option of another executor, set, is refused)."""
    if name == "auto":
        name = "inline" if workers == 1 else "process"
    cls = EXECUTORS.get(name)
    if cls.in_process and workers != 1:
        raise SearchError(f"executor {name!r} runs one trial at a time (got workers={workers})")
    if config is None:
        return cls()
    fields = type(config).model_fields
    foreign = [flag for key, flag in EXECUTOR_OPTIONS.items()
               if key not in cls.takes and getattr(config, key) != fields[key].default]
    if foreign:
        raise SearchError(f"{', '.join(foreign)} {'is an option' if len(foreign) == 1 else 'are options'} "
                          f"of --executor ray, not of {name!r}")
    return cls.from_config(config)


@register_executor("inline")
class InlineExecutor(Executor):
    """Each submitted trial runs at once, in this process."""

    in_process = True

    @contextmanager
    def open(self, ctx: TrialContext, fn: TrialFn, *, workers: int, data: MultimodalDataset | str,
             data_seed: int) -> Iterator[Submit]:
        yield partial(_run_now, partial(execute, ctx=ctx, fn=fn))


def _run_now(call: Callable[[TrialJob], TrialOutcome], job: TrialJob) -> Future:
    future: Future = Future()
    try:
        future.set_result(call(job))
    except Exception as exc:  # handed over as a pool's future would
        future.set_exception(exc)
    return future


# ------------------------------------------------------------------ the process pool
_WORKER: dict[str, Any] = {}


def _init_worker(parts: dict[str, Any], fn: TrialFn, threads: int) -> None:
    """A pool worker's initializer: its context (:func:`worker_context`: the dataset loaded once,
    the sharing scheme, the feature cache) and the trial function."""
    torch.set_num_threads(threads)
    _WORKER["ctx"] = worker_context(**parts)
    _WORKER["fn"] = fn


def _run_in_worker(job: TrialJob) -> TrialOutcome:
    return execute(job, _WORKER["ctx"], _WORKER["fn"])


@register_executor("process")
class ProcessExecutor(Executor):
    """A "spawn" process pool: ``workers`` processes, ``cpu_count // workers`` threads each.

    Workers get ``data`` as given: a spec string is loaded by each worker (``data_seed``), a
    dataset is pickled to each once.
    """

    @contextmanager
    def open(self, ctx: TrialContext, fn: TrialFn, *, workers: int, data: MultimodalDataset | str,
             data_seed: int) -> Iterator[Submit]:
        try:
            pickle.dumps(fn)
        except Exception as exc:  # lambdas, closures, functions of __main__ under "python -c"
            raise SearchError(f"with workers > 1 the trial function must be picklable (a module-level function "
                              f"or a functools.partial of one): {exc}") from None
        threads = max(1, (os.cpu_count() or 1) // workers)
        parts = {"space": ctx.space, "data": data, "data_seed": data_seed, "config": ctx.config, "device": ctx.device,
                 "share": ctx.bank is not None,
                 "scheme": ctx.bank.scheme if ctx.bank is not None else None, "pretrained": ctx.pretrained,
                 "features": (ctx.features is not None, getattr(ctx.features, "cache_dir", None))}
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker, initargs=(parts, fn, threads))
        def submit(job: TrialJob) -> Future[TrialOutcome]:
            return pool.submit(_run_in_worker, job)

        try:
            yield submit
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
