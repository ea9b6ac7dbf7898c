"""Trial strategies (searchers) and the registry of every strategy.

A searcher sees the Space IR and the study's history: every trial of the storage planned
before the one asked for, in planned order, running and failed ones included
(:class:`~genolang.runtime.strategy.Observation`); never modules, data or devices.
:meth:`Searcher.ask` proposes the next genotype from that history, and its result is a pure
function of the seed, the options and the history (a searcher may cache what it learnt from
trials it has already seen, nothing else). So a resumed search, whose history is read back
from the ledger, needs no replay: the next ask is the one an uninterrupted (sequential) run
would make.

Every strategy, trial-based or one-shot (:mod:`genolang.searchers.bmnas`), is a
:class:`~genolang.runtime.strategy.Strategy` registered by name::

    @register_searcher("random")
    class RandomSearcher(Searcher):
        OPTIONS = {"max_attempts": 100}
        def ask(self, history, *, attempt=0) -> Genotype: ...

and built with :func:`make_searcher` (unknown names get did-you-mean hints; a strategy that
does not apply to the space says why); ``strategy.run(study)`` runs the search.
"""

from __future__ import annotations

import hashlib
import logging
from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

from genolang.errors import UsageError
from genolang.genotype import Genotype
from genolang.registry import Registry, close_names
from genolang.runtime.errors import SearchError
from genolang.runtime.strategy import History, Strategy
from genolang.space import Space

log = logging.getLogger(__name__)

S = TypeVar("S", bound=type)

#: modules of the built-in searchers, imported by :data:`SEARCHERS` when first queried
BUILTIN_MODULES: tuple[str, ...] = tuple(f"genolang.searchers.{m}" for m in (
    "random", "evolution", "mfas", "bmnas", "rl"))


def seed_for(seed: int, *parts: int) -> int:
    """A 63-bit seed derived from ``seed`` and integers (an ask's index, an attempt): stable across runs."""
    digest = hashlib.sha256(":".join(str(int(p)) for p in (seed, *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


class SpaceStrategy(Strategy):
    """A strategy built for one space, seeded, with declared options (every registered strategy).

    Subclasses set ``name`` (done by :func:`register_searcher`) and declare their options with
    defaults in ``OPTIONS`` (anything else is refused with close names).
    """

    OPTIONS: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, space: Space, *, seed: int = 0, **options: Any):
        reason = self.applies_to(space)
        if reason is not None:
            raise SearchError(f"searcher {self.name!r} does not apply to space {space.name!r}: {reason}")
        self.space = space
        self.seed = int(seed)
        self.options: dict[str, Any] = self._bind(options)

    @classmethod
    def _bind(cls, given: Mapping[str, Any]) -> dict[str, Any]:
        for key in given:
            if key not in cls.OPTIONS:
                close = close_names(key, list(cls.OPTIONS))
                hint = f"; did you mean {close[0]!r}?" if close else ""
                accepted = ", ".join(sorted(cls.OPTIONS)) or "none"
                raise SearchError(f"searcher {cls.name!r} has no option {key!r}{hint} (accepted: {accepted})")
        return {**cls.OPTIONS, **given}

    @classmethod
    def applies_to(cls, space: Space) -> str | None:
        """``None`` when this strategy can search ``space``; else the reason it cannot."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(space={self.space.name!r}, seed={self.seed})"


class Searcher(SpaceStrategy):
    """A trial strategy: :meth:`ask` proposes the next genotype from the history.

    ``attempt`` counts the proposals in a row that the study found already in its storage
    (0 first); a searcher that returned a repeat should propose something else if it can.
    """

    #: training steps per trial when the user gives none, chosen with
    #: ``benchmarks/bench_ranking.py`` (README, "A trial budget that ranks"): the smallest S whose
    #: scores rank architectures like full training does (Kendall tau >= 0.5) on the fusion spaces
    DEFAULT_STEPS: ClassVar[int] = 200

    #: how the trials share weights when the study shares them (``share_weights``): a scheme of
    #: :mod:`genolang.runtime.sharing` (``None``: its default, every node by name and shape)
    sharing: Any = None

    @abstractmethod
    def ask(self, history: History, *, attempt: int = 0) -> Genotype:
        """The next genotype to evaluate (valid in ``self.space``), given the whole history."""

    def ready(self, history: History) -> bool:
        """Whether :meth:`ask` may be called while some trials of ``history`` are still running.

        Only when its answer cannot depend on their outcomes: the driver then runs trials in
        parallel and still gets a one-worker run's asks (:mod:`genolang.runtime.search`).
        By default no: asks wait for every earlier trial, as in a one-worker run.
        """
        return False

    @classmethod
    def check_config(cls, config: Any) -> None:
        """A trial search needs ``budget``; the one-shot options are refused."""
        if config.budget is None:
            raise UsageError(f"searcher {cls.name!r} needs --budget N")
        alternation = config.bilevel is not None and "alternation" in config.bilevel.model_fields_set
        wrong = [flag for flag, given in (("--epochs", config.epochs is not None), ("--alternation", alternation),
                                          ("--labelled-fraction", config.ssl is not None)) if given]
        if wrong:
            raise UsageError(f"{', '.join(wrong)}: for the one-shot searchers (bmnas, ssl-bmnas), "
                             f"not {cls.name!r}")

    def run(self, study: Any) -> Any:
        """The job of :func:`genolang.runtime.job.run_job`: pre-train, search by trials, final training."""
        from genolang.runtime.job import run_job

        return run_job(study, self)


#: searcher name -> class; filled by :func:`register_searcher` and by plugins (entry point group
#: ``genolang.searchers``, docs/extending.md); its errors are the search layer's (E0701)
SEARCHERS: Registry[type[SpaceStrategy]] = Registry("searcher", errors=(SearchError, SearchError),
                                                    entry_points="genolang.searchers", builtins=BUILTIN_MODULES)


def register_searcher(name: str) -> Callable[[S], S]:
    """Class decorator: register a strategy (a :class:`Searcher` or a one-shot strategy) under ``name`` (once)."""

    def decorate(cls: S) -> S:
        if not (isinstance(cls, type) and issubclass(cls, SpaceStrategy)):
            raise TypeError(f"@register_searcher({name!r}) decorates Strategy subclasses, not {cls!r}")
        cls.name = name
        SEARCHERS.add(name, cls, origin=cls.__module__)
        return cls

    return decorate


def load_builtins() -> Registry[type[SpaceStrategy]]:
    """The registry, its built-in searcher modules imported (each registers itself on import)."""
    SEARCHERS.load_builtins()
    return SEARCHERS


def searcher_class(name: str) -> type[SpaceStrategy]:
    """The class registered as ``name``; an unknown name raises :class:`SearchError` with hints."""
    return load_builtins().get(name)


def make_searcher(name: str, space: Space, *, seed: int = 0, **options: Any) -> Any:
    """A searcher by name, seeded; refuses unknown names, options, and spaces it does not fit."""
    cls = searcher_class(name)
    searcher = cls(space, seed=seed, **options)
    log.debug("made %r", searcher)
    return searcher
