"""MFAS (Pérez-Rúa et al., CVPR 2019): progressive SMBO with a recurrent surrogate, as ask/tell.

Applies to spaces shaped like MFAS: one int decision ``layers: int(1..L)`` counting the
instances of one repeated node, whose instances hold only discrete decisions (``one``,
``choice``, ``bool``, small ``int``) and nothing else in the space is searched. Inside the
searcher only, an architecture is an integer array with one row per layer: row ``l`` holds,
for each decision of instance ``l`` in declaration order, the index of its value (the
reference's ``[audio_idx, image_idx, act_id]`` triplet on ``mfas_avmnist.geno``). Asks and
tells are genotypes by name.

The loop is the reference's ``_epnas`` (E_search = ``iterations`` rounds of L steps)::

    step (si, l): confs = add_layer(sampled, layer_confs[l], l)
      first step: TRAIN all confs; fit the surrogate; sampled = sample_k(confs, accs, K, T)
      later:      sampled = sample_k(confs, surrogate(confs), K, T); TRAIN them; fit
      T = temperature(si * iterations + l)    # the reference's index; see fix_temperature_index

"TRAIN" is the study's round trip: :meth:`MfasSearcher.ask` hands out the step's batch one
genotype at a time (the first member not in the history); once every member has finished in
the history, the surrogate is refitted and the next batch built. A failed trial counts as
accuracy 0. Defaults are the reference code's: K=15
(``samples``), T0=10, T_final=0.2, sigma=4 (``temperature_decay``), 50 surrogate epochs of
Adam(lr 1e-3) on MSE; L is the count decision's maximum.

Surrogate (:class:`SimpleRecurrentSurrogate`): Linear(n_feats, 100) -> Sigmoid ->
LSTM(100, 100) -> last output -> Linear(100, 1) -> Sigmoid, Linear weights U(-0.1, 0.1) and
biases 1.8 (the LSTM keeps PyTorch's U(-1/sqrt(H), 1/sqrt(H))), raw integer ids as float
features. Its data are keyed by length then conf bytes (duplicates keep the max accuracy);
a fit is ``epochs`` passes over one batch per length with one Adam kept across refits.

Weight sharing (with the study's ``share_weights``, the default; the reference has it off
unless ``--weightsharing``): the reference's scheme, :class:`~genolang.runtime.sharing.LayerScheme`
(``self.sharing``): fusion layers only, never the classifier, keyed by layer index,
activation and tensor shape.

Deviations from the reference, all documented choices:

- the first step's batch (every one-layer architecture) is asked in a seeded random order
  (the reference trains it in product order), so that seeds differ from the first ask;
- ``fix_temperature_index=True`` indexes the schedule by ``si * L + l`` (strictly
  decreasing) instead of the reference's ``si * iterations + l``;
- after the E_search x L steps, ``after_schedule="random"`` (default) asks uniform random
  genotypes not asked before (an embedded :class:`RandomSearcher`); ``"continue"`` runs
  further rounds (si = E_search, E_search + 1, ...) on the same schedule;
- sample_k treats negative or missing accuracies as 0, all-zero accuracies as uniform, and
  when fewer than K confs have non-zero probability draws the rest uniformly;
- with parallel trials, the driver asks while the step's batch has members not in the history
  (:meth:`MfasSearcher.ready`) and then waits for the batch's results, so the trials equal a
  one-worker run's (an ask made anyway gets a random genotype); any result outside the step's
  batch is surrogate data.

Determinism: numpy, torch and random streams are derived from ``seed``; the surrogate is
initialised from a private ``torch.Generator`` (the global RNG is untouched) and fits on
one CPU thread (restored afterwards). Before each ask the searcher takes in the history's
trials that finished since the last ask, in planned order (a batch member already finished
earlier counts with that result), so its state is a function of the seed and the history: a
resumed sequential search equals an uninterrupted one, with no replay, and a trial that was
running when the search was killed is asked again first.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from genolang.conditions import CountCond
from genolang.domains import IntDomain
from genolang.genotype import Genotype
from genolang.ir import DecisionIR
from genolang.runtime.errors import SearchError
from genolang.runtime.sharing import LayerScheme
from genolang.runtime.strategy import History
from genolang.searchers.base import Searcher, register_searcher
from genolang.searchers.mfas_surrogate import SimpleRecurrentSurrogate, Surrogate, torch_threads
from genolang.searchers.random import RandomSearcher
from genolang.space import Space

__all__ = ["LayerStructure", "MfasSearcher", "SimpleRecurrentSurrogate", "Surrogate", "add_layer",
           "layer_structure", "sample_k", "sample_probabilities", "temperature", "torch_threads"]

MAX_LAYER_CONFS = 4096   # |layer_confs| above which a layer is too wide to unfold
MAX_INT_VALUES = 256     # an int decision inside a layer is enumerated up to this size
THREADS = 1              # CPU threads for surrogate fits (determinism)
NEEDS = ("mfas needs a repeat counted by an int decision (`layers: int(1..L)`), "
         "whose instances have only discrete decisions")


# ------------------------------------------------------------------ pure pieces
def temperature(t: int, *, t0: float = 10.0, t_final: float = 0.2, decay: float = 4.0) -> float:
    """The reference schedule: ``(t0 - t_final) * exp(-(t + 1)^2 / decay^2) + t_final``."""
    return (t0 - t_final) * math.exp(-((t + 1) ** 2) / decay ** 2) + t_final


def sample_probabilities(accs: Sequence[float] | np.ndarray, T: float) -> np.ndarray:
    """``p = (acc / sum acc) ** (1 / T)``, normalised; uniform when every accuracy is 0."""
    a = np.nan_to_num(np.asarray(accs, dtype=np.float64), nan=0.0).clip(min=0.0)
    total = a.sum()
    p = a / total if total > 0 else np.full(len(a), 1.0 / max(1, len(a)))
    p = p ** (1.0 / T)
    return p / p.sum()


def sample_k(confs: Sequence[Any], accs: Sequence[float] | np.ndarray, k: int, T: float,
             rng: np.random.Generator) -> list[Any]:
    """``min(k, len(confs))`` confs drawn WITHOUT replacement with :func:`sample_probabilities`."""
    n = len(confs)
    k = min(k, n)
    p = sample_probabilities(accs, T)
    live = int(np.count_nonzero(p))
    if live >= k:
        picked = rng.choice(n, size=k, replace=False, p=p)
    else:  # too few non-zero: all of those (in p order), then uniformly among the rest
        first = rng.choice(n, size=live, replace=False, p=p)
        rest = rng.choice(np.flatnonzero(p == 0), size=k - live, replace=False)
        picked = np.concatenate([first, rest])
    return [confs[int(i)] for i in picked]


def add_layer(prev: Sequence[np.ndarray], layer_confs: np.ndarray, l: int) -> list[np.ndarray]:
    """Unfold layer ``l``: each prev arch x each layer conf, REPLACING row ``l`` or APPENDING it.

    With no ``prev`` (the first step) each layer conf is a one-layer architecture.
    """
    table = np.asarray(layer_confs, dtype=np.int64)
    if not len(prev):
        return [row[None, :].copy() for row in table]
    out = []
    for arch in prev:
        for row in table:
            if l < len(arch):
                conf = arch.copy()
                conf[l] = row
            else:
                conf = np.vstack([arch, row[None, :]])
            out.append(conf)
    return out


# ------------------------------------------------------------------ the space's shape
@dataclass(frozen=True)
class LayerStructure:
    """An MFAS-shaped space: the count decision and, per layer, its decisions and value lists."""

    count: str
    paths: tuple[tuple[str, ...], ...]                 # [layer][decision] -> decision path
    values: tuple[tuple[tuple[Any, ...], ...], ...]    # [layer][decision] -> its values
    instances: tuple[str, ...] = ()                    # [layer] -> the repeated node's entity path

    @property
    def depth(self) -> int:
        """L: the number of layers (the count decision's maximum)."""
        return len(self.paths)

    def table(self, l: int) -> np.ndarray:
        """Every row of layer ``l`` (value indices, product order): the reference's layer confs."""
        return np.array(list(itertools.product(*(range(len(v)) for v in self.values[l]))), dtype=np.int64)

    def to_values(self, conf: np.ndarray) -> dict[str, Any]:
        """Rows -> plain genotype values (``count`` = number of rows)."""
        values: dict[str, Any] = {self.count: len(conf)}
        for l, row in enumerate(conf):
            for path, options, i in zip(self.paths[l], self.values[l], row):
                values[path] = options[int(i)]
        return values

    def to_conf(self, values: Mapping[str, Any]) -> np.ndarray | None:
        """Genotype values -> rows; ``None`` if they do not fit the table."""
        try:
            rows = [[[_key(v) for v in options].index(_key(values[path]))
                     for path, options in zip(self.paths[l], self.values[l])] for l in range(values[self.count])]
        except (KeyError, ValueError, TypeError, IndexError):
            return None
        return np.array(rows, dtype=np.int64)


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _discrete_values(d: DecisionIR) -> tuple[Any, ...] | None:
    dom = d.domain
    if dom.kind in ("choice", "bool") or (dom.kind == "int" and dom.size() <= MAX_INT_VALUES):
        return tuple(dom.values())
    if dom.kind == "ref" and dom.mode == "one" and dom.unconditional is not None:
        refs = ["@" + p for p in dom.unconditional]
        labels = dom.labels
        return tuple({"op": op, "ref": r} for r in refs for op in labels) if labels else tuple(refs)
    return None


def _instances(space: Space, count: str) -> list[str]:
    """The entity paths of the repeat counted by ``count``, by index (fewer if irregular)."""
    found: dict[int, list[str]] = {}
    for path, entity in space.entities.items():
        if entity.count == count:
            idx = next((c.index for c in entity.conds if isinstance(c, CountCond) and c.path == count), 0)
            found.setdefault(idx, []).append(path)
    return [found[i][0] for i in sorted(found) if len(found[i]) == 1]


def _find_repeat(space: Space) -> tuple[DecisionIR, list[str]] | str:
    counts = [d for d in space.ir.decisions if d.domain.kind == "int" and not d.conds]
    for d in counts:
        instances = _instances(space, d.path)
        if not instances:
            continue
        dom = d.domain
        assert isinstance(dom, IntDomain), "counts holds int decisions only"
        if dom.lo != 1 or dom.step != 1 or dom.log or len(instances) != dom.hi:
            return f"its repeat count `{d.path}: {dom.text()}` is not int(1..L) over one repeated node"
        return d, instances
    return "no int decision counting the instances of a repeated node"


def layer_structure(space: Space) -> LayerStructure | str:
    """The space's MFAS layer structure, or the reason it has none."""
    if space.ir.forbids:
        return "`forbid` rules"
    found = _find_repeat(space)
    if isinstance(found, str):
        return found
    count, instances = found
    paths: list[list[str]] = [[] for _ in instances]
    values: list[list[tuple[Any, ...]]] = [[] for _ in instances]
    for d in space.ir.decisions:
        if d is count:
            continue
        layer = next((i for i, p in enumerate(instances) if d.path.startswith(p + ".")), None)
        if layer is None:
            return f"decision `{d.path}` outside the repeat `{instances[0]}`"
        if any(not (isinstance(c, CountCond) and c.path == count.path) for c in d.conds):
            return f"decision `{d.path}` with its own condition ({' and '.join(c.text() for c in d.conds)})"
        options = _discrete_values(d)
        if not options:
            return f"decision `{d.path}: {d.domain.text()}`, which is not a discrete one/choice/bool/int"
        paths[layer].append(d.path)
        values[layer].append(options)
    fields = {tuple(p[len(inst):] for p in ps) for inst, ps in zip(instances, paths)}
    if len(fields) != 1 or not paths[0]:
        return f"instances of `{count.path}`'s repeat with differing or no decisions"
    if max(math.prod(len(v) for v in vs) for vs in values) > MAX_LAYER_CONFS:
        return f"more than {MAX_LAYER_CONFS} value combinations per layer"
    return LayerStructure(count.path, tuple(map(tuple, paths)), tuple(map(tuple, values)), tuple(instances))


# ------------------------------------------------------------------ the searcher
@register_searcher("mfas")
class MfasSearcher(Searcher):
    """MFAS's progressive SMBO over an MFAS-shaped space (see the module doc)."""

    OPTIONS: ClassVar[Mapping[str, Any]] = {
        "iterations": 3, "samples": 15, "t0": 10.0, "t_final": 0.2, "temperature_decay": 4.0,
        "surrogate_epochs": 50, "surrogate_lr": 1e-3, "surrogate_hidden": 100, "surrogate_embedding": 100,
        "fix_temperature_index": False, "after_schedule": "random"}

    @classmethod
    def applies_to(cls, space: Space) -> str | None:
        """``None`` for MFAS-shaped spaces, else what the space has that MFAS cannot search."""
        found = layer_structure(space)
        return f"{NEEDS}; {space.name!r} has {found}" if isinstance(found, str) else None

    def __init__(self, space: Space, *, seed: int = 0, **options: Any):
        super().__init__(space, seed=seed, **options)
        self._check_options()
        structure = layer_structure(space)
        if isinstance(structure, str):  # applies_to (checked by the base class) said otherwise
            raise SearchError(f"{NEEDS}; {space.name!r} has {structure}")
        self.structure = structure
        self.sharing = LayerScheme(structure.instances)  # MFAS's weight sharing (runtime.sharing)
        s_np, s_torch, s_random = np.random.SeedSequence(self.seed).generate_state(3)
        self._rng = np.random.default_rng(int(s_np))
        self._random = RandomSearcher(space, seed=int(s_random))
        self.surrogate = Surrogate(len(structure.paths[0]), lr=float(self.options["surrogate_lr"]),
                                   hidden=int(self.options["surrogate_hidden"]),
                                   embedding=int(self.options["surrogate_embedding"]),
                                   generator=torch.Generator().manual_seed(int(s_torch)), threads=THREADS)
        self.temperature = float(self.options["t0"])
        self.step_sizes: list[int] = []  # batch size of each step planned so far
        self._sampled: list[np.ndarray] = []
        self._taken: set[tuple[int, str]] = set()  # (idx, digest) of the trials taken in
        self._known: dict[str, float] = {}  # digest -> accuracy of every finished trial taken in
        self._plan(0)

    def _check_options(self) -> None:
        o = self.options
        if o["after_schedule"] not in ("random", "continue"):
            raise SearchError(f"mfas: after_schedule must be 'random' or 'continue', not {o['after_schedule']!r}")
        for key in ("iterations", "samples", "surrogate_epochs", "surrogate_hidden", "surrogate_embedding"):
            if not isinstance(o[key], int) or o[key] < (0 if key == "surrogate_epochs" else 1):
                raise SearchError(f"mfas: option {key} must be a positive integer, got {o[key]!r}")
        for key in ("t0", "t_final", "temperature_decay", "surrogate_lr"):
            if isinstance(o[key], bool) or not isinstance(o[key], (int, float)) or not o[key] > 0:
                raise SearchError(f"mfas: option {key} must be positive, got {o[key]!r}")

    # -------------------------------------------------------------- the schedule
    @property
    def scheduled(self) -> bool:
        """Whether asks still come from the MFAS schedule (not the random tail)."""
        done = self.step >= int(self.options["iterations"]) * self.structure.depth
        return not done or self.options["after_schedule"] == "continue"

    def _t_index(self, step: int) -> int:
        si, l = divmod(step, self.structure.depth)
        stride = self.structure.depth if self.options["fix_temperature_index"] else int(self.options["iterations"])
        return si * stride + l

    def _plan(self, step: int) -> None:
        """Build step ``step``'s batch (the architectures to train)."""
        self.step = step
        self._batch: list[np.ndarray] = []
        self._results: dict[int, float] = {}
        self._order: list[int] = []
        self._genotypes: list[Genotype] = []
        self._digests: list[str] = []
        if not self.scheduled:
            return
        l = step % self.structure.depth
        confs = add_layer(self._sampled, self.structure.table(l), l)
        if step == 0:
            self._batch = confs
            self._order = [int(i) for i in self._rng.permutation(len(confs))]
        else:
            predicted = self.surrogate.predict(confs)
            self._batch = self._sampled = sample_k(confs, predicted, int(self.options["samples"]),
                                                   self.temperature, self._rng)
            self._order = list(range(len(self._batch)))
        self._genotypes = [self.space.validate(self.structure.to_values(c), name=f"mfas_{step}_{i}")
                           for i, c in enumerate(self._batch)]
        self._digests = [g.digest for g in self._genotypes]
        self.step_sizes.append(len(self._batch))

    def _finish(self) -> None:
        """Every result of the step is in: refit, (first step) sample, cool down, plan the next."""
        accs = [self._results[i] for i in range(len(self._batch))]
        for conf, acc in zip(self._batch, accs):
            self.surrogate.add(conf, acc)
        self.surrogate.fit(int(self.options["surrogate_epochs"]))
        if self.step == 0:
            self._sampled = sample_k(self._batch, accs, int(self.options["samples"]), self.temperature, self._rng)
        self.temperature = temperature(self._t_index(self.step), t0=float(self.options["t0"]),
                                       t_final=float(self.options["t_final"]),
                                       decay=float(self.options["temperature_decay"]))
        self._plan(self.step + 1)

    # -------------------------------------------------------------- ask
    def ready(self, history: History) -> bool:
        """While the step's batch has a member not in the history, or after the schedule (random asks)."""
        self.observe(history)
        if not self.scheduled:
            return True
        known = {o.genotype.digest for o in history}
        return any(self._digests[p] not in known for p in self._order)

    def ask(self, history: History, *, attempt: int = 0) -> Genotype:
        """The step's next architecture not in the history; random genotypes after the schedule or while waiting."""
        self.observe(history)
        known = {o.genotype.digest for o in history}
        fresh = next((self._genotypes[p] for p in self._order if self._digests[p] not in known), None)
        return fresh if fresh is not None else self._random.ask(history, attempt=attempt)

    def observe(self, history: History) -> int:
        """Take in the trials that finished since the last ask (planned order; failed: accuracy 0); how many."""
        new = [o for o in history if o.finished and (o.idx, o.genotype.digest) not in self._taken]
        for o in new:
            self._taken.add((o.idx, o.genotype.digest))
            acc = 0.0 if o.failed or o.score is None or not math.isfinite(o.score) else float(o.score)
            self._known[o.genotype.digest] = acc
            if o.genotype.digest in self._digests:
                self._collect()
                continue
            conf = self.structure.to_conf(o.genotype.values)
            if conf is not None:
                self.surrogate.add(conf, acc)
        return len(new)

    def _collect(self) -> None:
        """Give the batch the results known for its members; a complete batch plans the next (and so on)."""
        while self._batch:
            for pos, digest in enumerate(self._digests):
                if digest in self._known:
                    self._results[pos] = self._known[digest]
            if len(self._results) < len(self._batch):
                return
            self._finish()
