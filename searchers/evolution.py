"""Regularized (aging) evolution (Real, Aggarwal, Huang & Le, AAAI 2019).

The population holds the last ``population`` (P, default 20) results told, oldest first.
The first P asks are uniform random samples of the space (without repeats while the space
allows). Every later ask runs a tournament: ``sample`` (S, default 5) members are drawn
uniformly (with replacement, as in the paper's Algorithm 1), the best of them is the
parent, and the child is the parent with ONE decision mutated
(:func:`genolang.searchers.encoding.mutate`). Each tell appends the result to the
population and, once it holds more than P, removes the OLDEST member (aging), whatever
its score. Failed trials score -inf (never chosen as a parent while a sample holds a
scored member) but age like any other.

Children already asked or told are drawn again, up to ``max_attempts`` times (the paper's
spaces are too large for repeats to matter; small ones waste trials on them).

Resume: all randomness comes from one ``random.Random(seed)`` stream consumed by asks, and
the population changes only in tells. :meth:`EvolutionSearcher.replay` re-asks one genotype
before telling each result, so after replaying a sequential history the stream and the
population equal an uninterrupted run's. Genotypes asked during the replay but never told
(trials in flight when a parallel search stopped) are asked again first; with such gaps,
the asks that follow are valid and reproducible but not those of the first run, which
depended on when its results came back.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Iterable
from typing import Any, ClassVar, Mapping

from genolang.genotype import Genotype
from genolang.searchers.base import Result, Searcher, register_searcher
from genolang.searchers.encoding import EncodingError, mutate, unsupported
from genolang.space import Space

SEED_BITS = 63
WORST = -math.inf


@register_searcher("evolution")
class EvolutionSearcher(Searcher):
    """Tournament selection, single-decision mutation, and removal of the oldest member."""

    OPTIONS: ClassVar[Mapping[str, Any]] = {"population": 20, "sample": 5, "max_attempts": 10}

    def __init__(self, space: Space, *, seed: int = 0, **options: Any):
        super().__init__(space, seed=seed, **options)
        self.population_size = max(1, int(self.options["population"]))
        self.sample_size = max(1, int(self.options["sample"]))
        self._attempts = max(1, int(self.options["max_attempts"]))
        self._rng = random.Random(self.seed)
        self.population: deque[tuple[Genotype, float]] = deque()
        self._seen: set[str] = set()
        self._pending: dict[str, Genotype] = {}
        self._requeue: list[Genotype] = []
        self._asks = 0

    @classmethod
    def applies_to(cls, space: Space) -> str | None:
        """Any discrete space (mutation needs a finite set of values per decision)."""
        return unsupported(space)

    # ------------------------------------------------------------ ask
    def ask(self) -> Genotype:
        """A random sample while the initial population fills, then a tournament's mutant."""
        if self._requeue:
            genotype = self._requeue.pop(0)
        else:
            self._asks += 1
            if self._asks <= self.population_size or not self.population:
                genotype = self._random()
            else:
                genotype = self._child()
        self._seen.add(genotype.digest)
        self._pending[genotype.digest] = genotype
        return genotype

    def _random(self) -> Genotype:
        for _ in range(self._attempts):
            genotype = self.space.sample(self._rng.getrandbits(SEED_BITS), name=f"evolution_{self._asks}")
            if genotype.digest not in self._seen:
                break
        return genotype

    def _child(self) -> Genotype:
        parent = self.select()
        for _ in range(self._attempts):
            try:
                child = mutate(self.space, parent, self._rng, name=f"evolution_{self._asks}")
            except EncodingError:  # a space with a single genotype
                return parent
            if child.digest not in self._seen:
                break
        return child

    def select(self) -> Genotype:
        """Tournament: the best of ``sample`` members drawn with replacement (the first among equals)."""
        members = list(self.population)
        drawn = [members[self._rng.randrange(len(members))] for _ in range(self.sample_size)]
        best = max(score for _, score in drawn)
        return next(genotype for genotype, score in drawn if score == best)

    # ------------------------------------------------------------ tell
    def tell(self, genotype: Genotype, score: float | None, *, failed: bool = False) -> None:
        """Add the result to the population (failed: score -inf); past P members, drop the oldest."""
        super().tell(genotype, score, failed=failed)
        self._seen.add(genotype.digest)
        self._pending.pop(genotype.digest, None)
        value = WORST if failed or score is None else float(score)
        self.population.append((genotype, value))
        while len(self.population) > self.population_size:
            self.population.popleft()

    def replay(self, history: Iterable[Result]) -> None:
        """Re-ask one genotype per result (advancing the stream as the first run did), then tell it.

        What was asked during the replay but never told is asked again first.
        """
        for genotype, score, failed in history:
            self.ask()
            self.tell(genotype, score, failed=failed)
        self._requeue = list(self._pending.values())
        self._pending.clear()
