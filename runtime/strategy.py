"""The strategy seam: what a search strategy sees and what it returns (NNI's ``Strategy.run``).

A study (:class:`~genolang.runtime.study.Study`) is a space, a storage, a strategy, an
executor and one :class:`~genolang.runtime.study.SearchConfig`. The strategy drives it:
``strategy.run(study)``. Two kinds share this one protocol:

- trial strategies (random, evolution, mfas, rl; :class:`genolang.searchers.base.Searcher`)
  propose genotypes from the study's history; the study trains them on its executor and
  records them in its storage;
- one-shot strategies (bmnas, ssl-bmnas) train the space's supernet themselves, writing one
  storage row per epoch.

The history a trial strategy sees is the storage's trials planned before the one asked for,
in planned order, running and failed trials included (:class:`Observation`): a strategy's
state is a function of its seed and of that history, so a resumed search needs no replay
(and, with ``ready``, parallel asks equal sequential ones: :mod:`genolang.runtime.search`).

Importing this module imports neither torch nor the compiler.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

from genolang.genotype import Genotype

Status = Literal["running", "done", "failed"]


@dataclass(frozen=True)
class Observation:
    """One trial of the history: its planned index, genotype, status and score (done trials)."""

    idx: int
    genotype: Genotype
    status: Status
    score: float | None = None

    @property
    def finished(self) -> bool:
        return self.status != "running"

    @property
    def failed(self) -> bool:
        return self.status == "failed"


History = Sequence[Observation]


class Outcome(Protocol):
    """What :meth:`Strategy.run` returns: a JSON view and a table for the terminal."""

    def to_json(self) -> dict[str, Any]: ...

    def table(self) -> str: ...


class Strategy(ABC):
    """A search strategy, registered by name; :meth:`run` drives a study to its end."""

    name: ClassVar[str] = ""

    @abstractmethod
    def run(self, study: Any) -> Outcome:
        """Search with ``study`` (its space, data, storage, executor and config); the outcome."""

    @classmethod
    def check_space(cls, space: Any) -> None:
        """Refuse a space this strategy cannot serve yet for a reason the user can act on
        (a :class:`~genolang.errors.UsageError`); checked before the data is loaded."""

    @classmethod
    def check_config(cls, config: Any) -> None:
        """Refuse a :class:`~genolang.runtime.study.SearchConfig` this strategy cannot honour
        (a :class:`~genolang.errors.UsageError` naming the options)."""
