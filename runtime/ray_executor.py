"""The ``ray`` executor: each trial a Ray task, on a local Ray instance or a cluster joined.

``genolang search ... --executor ray [--ray-address ADDR] [--cpus-per-trial C]
[--gpus-per-trial G] --workers N``: the driver keeps the strategy and the storage (it alone
writes the SQLite ledger, as with every executor) and keeps ``N`` trials in flight, each a
Ray task asking Ray for ``C`` CPUs and ``G`` GPUs (fractions allowed: ``0.5`` puts two trials
on one GPU; Ray sets ``CUDA_VISIBLE_DEVICES`` for the task). Without ``--ray-address`` a local
Ray instance is started for the search (``ceil(N * C)`` logical CPUs, no dashboard) and
stopped after it; with one (``host:port`` of a cluster's head, or ``auto``) the cluster is
joined, and left running.

What travels: the search's context (space, dataset, training config, pre-trained backbones,
trial function) is put in Ray's object store **once** and passed by reference; a Ray worker
process fetches it at its first trial and keeps it (with its feature cache) for the next
trials of the search it runs (Ray reuses a worker for tasks of the same shape,
``max_calls=0``). With weight sharing, each job carries the driver's weight bank (a
:class:`~genolang.runtime.sharing.BankState`, one blob, which Ray puts in its object store
with the task) and the outcome brings the trial's trained tensors back: workers keep no bank,
and the driver's (``shared_weights.pt``) is the only one, as with every executor. Back
travels the trial's :class:`~genolang.runtime.search_trial.TrialOutcome` (metrics or failure
reason, and the trained tensors); the ledger, ``trials.jsonl``, ``best.geno``,
``summary.json`` and ``shared_weights.pt`` are written by the driver, in ``--out`` on the
driver's machine.

Faults: a trial whose worker process dies or whose node goes away is retried by Ray
(``max_retries``: :data:`RETRIES`) with the same job, hence the same planned index: it is
recorded once, when it finishes. A trial lost more often than that stops the search with a
:class:`~genolang.runtime.errors.SearchError` (its ledger row is released; ``--resume``
continues). Ray is an optional extra: without it, ``--executor ray`` is an
:class:`~genolang.runtime.errors.ExtraMissingError` (E0710) naming ``genolang[ray]``.
Importing this module does not import Ray.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

import torch

from genolang.runtime.dataset import MultimodalDataset
from genolang.runtime.errors import ExtraMissingError, SearchError
from genolang.runtime.executors import Executor, Submit, register_executor
from genolang.runtime.search_trial import TrialContext, TrialFn, TrialJob, TrialOutcome, execute, worker_context

__all__ = ["EXTRA", "RETRIES", "RayExecutor", "import_ray", "run_trial"]

log = logging.getLogger(__name__)

#: how many times Ray reruns a trial whose worker process or node died
RETRIES = 3
#: the install command the missing-extra error names
EXTRA = "pip install 'genolang[ray]'"


def import_ray() -> Any:
    """The ``ray`` module, or an :class:`ExtraMissingError` naming the extra."""
    try:
        import ray
    except ImportError:
        raise ExtraMissingError(f"--executor ray needs Ray, an optional extra of genolang: {EXTRA}") from None
    return ray


@register_executor("ray")
class RayExecutor(Executor):
    """Trials as Ray tasks with ``cpus``/``gpus`` each; ``address``: a cluster to join (``None``: local)."""

    takes = frozenset({"ray_address", "cpus_per_trial", "gpus_per_trial"})

    def __init__(self, address: str | None = None, cpus: float = 1.0, gpus: float = 0.0):
        self.address, self.cpus, self.gpus = address, cpus, gpus

    @classmethod
    def from_config(cls, config: Any) -> RayExecutor:
        """The executor of the config's Ray options; without Ray installed, E0710 before anything runs."""
        import_ray()
        return cls(config.ray_address, config.cpus_per_trial, config.gpus_per_trial)

    @contextmanager
    def open(self, ctx: TrialContext, fn: TrialFn, *, workers: int, data: MultimodalDataset | str,
             data_seed: int) -> Iterator[Submit]:
        """Connect, put the context in the object store, yield ``submit``; ``data`` (a spec) is not
        used: workers on other machines could not load it, so the driver's loaded dataset travels."""
        ray = import_ray()
        with _connected(ray, self.address, num_cpus=math.ceil(workers * self.cpus)):
            resources = ray.cluster_resources()
            self.check_resources(resources)
            log.info("ray: %s trials in flight, %g CPUs and %g GPUs each, on %s (%g CPUs, %g GPUs)", workers,
                     self.cpus, self.gpus, self.address or "a local instance", resources.get("CPU", 0.0),
                     resources.get("GPU", 0.0))
            cache = getattr(ctx.features, "cache_dir", None) if self.address is None else None
            parts = {"space": ctx.space, "data": ctx.data, "data_seed": data_seed, "config": ctx.config,
                     "device": ctx.device, "share": ctx.bank is not None,
                     "scheme": ctx.bank.scheme if ctx.bank is not None else None, "pretrained": ctx.pretrained,
                     "features": (ctx.features is not None, cache)}
            shared = ray.put((parts, fn))  # the dataset enters the object store once
            task = ray.remote(max_calls=0, max_retries=RETRIES, retry_exceptions=False)(run_trial)
            task = task.options(num_cpus=self.cpus, num_gpus=self.gpus)
            threads = max(1, int(self.cpus))
            inflight: dict[Any, None] = {}
            try:
                yield lambda job: _submit(ray, task.remote(job, [shared], threads), job, inflight)
            finally:
                for ref in list(inflight):
                    ray.cancel(ref)

    def check_resources(self, available: dict[str, float]) -> None:
        """Refuse a request no node of the cluster could ever grant (a search would wait forever)."""
        for kind, wanted in (("CPU", self.cpus), ("GPU", self.gpus)):
            if wanted > available.get(kind, 0.0):
                where = f"the Ray cluster at {self.address}" if self.address else "the local Ray instance"
                raise SearchError(f"--{kind.lower()}s-per-trial {wanted:g}: {where} has "
                                  f"{available.get(kind, 0.0):g} {kind}s in all")


@contextmanager
def _connected(ray: Any, address: str | None, *, num_cpus: int) -> Iterator[None]:
    """Ray started locally (``address`` None) or joined; a Ray session already open is used as is."""
    if ray.is_initialized():
        yield
        return
    try:
        if address is None:  # workers on this machine import what the driver can (as a spawned pool's)
            paths = [p for p in sys.path if p and os.path.isdir(p)]
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False,
                     job_config=ray.job_config.JobConfig(code_search_path=paths))
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise SearchError(f"--executor ray could not {'join the Ray cluster at ' + address if address else 'start Ray'}"
                          f": {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    try:
        yield
    finally:
        ray.shutdown()


def _submit(ray: Any, ref: Any, job: TrialJob, inflight: dict[Any, None]) -> Future:
    """The trial's outcome as a plain future: Ray's task error becomes its cause, a lost trial a SearchError."""
    inflight[ref] = None
    outer: Future = Future()

    def settle(inner: Future) -> None:
        inflight.pop(ref, None)
        try:
            outer.set_result(inner.result())
        except ray.exceptions.RayTaskError as exc:  # the trial function raised: a bug, as in-process
            outer.set_exception(exc.cause if isinstance(exc.cause, BaseException) else exc)
        except ray.exceptions.TaskCancelledError as exc:
            outer.set_exception(exc)
        except ray.exceptions.RayError as exc:  # worker or node lost RETRIES + 1 times
            first = (str(exc).strip().splitlines() or [""])[0]
            outer.set_exception(SearchError(f"trial {job.idx} was lost {RETRIES + 1} times by Ray "
                                            f"({type(exc).__name__}: {first}); --resume continues the search"))

    ref.future().add_done_callback(settle)
    return outer


# ------------------------------------------------------------------ on a Ray worker
#: the search this worker process serves: object id -> (context, trial function)
_SERVED: dict[str, tuple[TrialContext, TrialFn]] = {}


def run_trial(job: TrialJob, shared: list[Any], threads: int) -> TrialOutcome:
    """A trial on a Ray worker; ``shared[0]`` refers to the search's context (fetched once per process).

    The reference comes inside a list so that Ray does not fetch the context for every task.
    """
    key = shared[0].hex()
    if key not in _SERVED:
        import ray

        parts, fn = ray.get(shared[0])
        torch.set_num_threads(threads)
        _SERVED.clear()  # a worker serves one search at a time: the previous one's context goes
        _SERVED[key] = (worker_context(**parts), fn)
    ctx, fn = _SERVED[key]
    return execute(job, ctx, fn)
