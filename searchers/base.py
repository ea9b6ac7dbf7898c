"""The searcher interface (ask/tell, as optuna's) and the registry of searchers.

A searcher sees the Space IR and a history of (genotype, score) results; never modules,
data or devices. The driver (:func:`genolang.runtime.search.run_search`) asks it for a
genotype, trains it, and tells it the validation accuracy (higher is better), or that the
trial failed (diverged, out of memory, did not compile). A resumed search builds a fresh
searcher with the same seed and :meth:`Searcher.replay` s the ledger's history into it, so
a searcher must hold no state that the history does not determine.

Searchers register themselves by name::

    @register_searcher("random")
    class RandomSearcher(Searcher):
        OPTIONS = {"max_attempts": 100}
        def ask(self) -> Genotype: ...

and are built with :func:`make_searcher` (unknown names get did-you-mean hints; a searcher
that does not apply to the space says why).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from importlib import import_module
from typing import Any, ClassVar, TypeVar

from genolang.registry import Registry, close_names
from genolang.genotype import Genotype
from genolang.runtime.errors import SearchError
from genolang.space import Space

log = logging.getLogger(__name__)

#: a told result: (genotype, score or None, failed)
Result = tuple[Genotype, "float | None", bool]
S = TypeVar("S", bound=type)

#: modules of the built-in searchers, imported on demand by :func:`load_builtins`
BUILTIN_MODULES: tuple[str, ...] = tuple(f"genolang.searchers.{m}" for m in (
    "random", "evolution", "mfas", "bmnas", "rl"))


class Searcher(ABC):
    """Ask/tell search over one space; deterministic for a given ``seed``.

    Subclasses set ``name`` (done by :func:`register_searcher`), declare their options with
    defaults in ``OPTIONS`` (anything else is refused with close names), implement
    :meth:`ask`, and extend :meth:`tell` (calling ``super().tell``) to learn from results.
    """

    name: ClassVar[str] = ""
    OPTIONS: ClassVar[Mapping[str, Any]] = {}
    #: training steps per trial when the user gives none, chosen with
    #: ``benchmarks/bench_ranking.py`` (README, "A trial budget that ranks"): the smallest S whose
    #: scores rank architectures like full training does (Kendall tau >= 0.5) on the fusion spaces
    DEFAULT_STEPS: ClassVar[int] = 200

    def __init__(self, space: Space, *, seed: int = 0, **options: Any):
        reason = self.applies_to(space)
        if reason is not None:
            raise SearchError(f"searcher {self.name!r} does not apply to space {space.name!r}: {reason}")
        self.space = space
        self.seed = int(seed)
        self.options: dict[str, Any] = self._bind(options)
        self.history: list[Result] = []

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
        """``None`` when this searcher can search ``space``; else the reason it cannot."""
        return None

    @abstractmethod
    def ask(self) -> Genotype:
        """The next genotype to evaluate (valid in ``self.space``)."""

    def tell(self, genotype: Genotype, score: float | None, *, failed: bool = False) -> None:
        """The result of a trial: its validation accuracy, or ``failed=True`` (score ignored)."""
        self.history.append((genotype, None if failed else score, bool(failed)))

    def replay(self, history: Iterable[Result]) -> None:
        """Bring a fresh searcher to where one that saw ``history`` (in ask order) stands.

        The default tells each result in order; searchers whose asks consume randomness
        override it so that the next ask equals the one an uninterrupted run would make.
        """
        for genotype, score, failed in history:
            self.tell(genotype, score, failed=failed)

    def best(self) -> tuple[Genotype, float] | None:
        """The best (genotype, score) told so far (the LATEST told among equals, as the search's best)."""
        scored = [(g, s) for g, s, failed in self.history if not failed and s is not None]
        if not scored:
            return None
        top = max(s for _, s in scored)
        return next((g, s) for g, s in reversed(scored) if s == top)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(space={self.space.name!r}, seed={self.seed}, told={len(self.history)})"


#: searcher name -> class; filled by :func:`register_searcher` and by plugins (entry point group
#: ``genolang.searchers``, docs/extending.md); its errors are the search layer's (E0701)
SEARCHERS: Registry[type[Searcher]] = Registry("searcher", errors=(SearchError, SearchError),
                                               entry_points="genolang.searchers")


def register_searcher(name: str) -> Callable[[S], S]:
    """Class decorator: register a :class:`Searcher` subclass under ``name`` (once)."""

    def decorate(cls: S) -> S:
        if not (isinstance(cls, type) and issubclass(cls, Searcher)):
            raise TypeError(f"@register_searcher({name!r}) decorates Searcher subclasses, not {cls!r}")
        cls.name = name
        SEARCHERS.add(name, cls, origin=cls.__module__)
        return cls

    return decorate


def load_builtins() -> Registry[type[Searcher]]:
    """Import the built-in searcher modules that exist (each registers itself); the registry."""
    for module in BUILTIN_MODULES:
        try:
            import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return SEARCHERS


def searcher_class(name: str) -> type[Searcher]:
    """The class registered as ``name``; an unknown name raises :class:`SearchError` with hints."""
    return load_builtins().get(name)


def make_searcher(name: str, space: Space, *, seed: int = 0, **options: Any) -> Searcher:
    """A searcher by name, seeded; refuses unknown names, options, and spaces it does not fit."""
    cls = searcher_class(name)
    searcher = cls(space, seed=seed, **options)
    log.debug("made %r", searcher)
    return searcher
