"""Regularized (aging) evolution (Real, Aggarwal, Huang & Le, AAAI 2019).

The population holds the last ``population`` (P, default 20) finished trials, oldest first.
The first P asks are uniform random samples of the space (without repeats while the space
allows). Every later ask runs a tournament: ``sample`` (S, default 5) members are drawn
uniformly (with replacement, as in the paper's Algorithm 1), the best of them is the
parent, and the child is the parent with ONE decision mutated
(:func:`genolang.searchers.encoding.mutate`). Each finished trial joins the population,
and once it holds more than P the OLDEST member leaves (aging), whatever its score. Failed
trials score -inf (never chosen as a parent while a sample holds a scored member) but age
like any other.

Children already in the history are drawn again, up to ``max_attempts`` times (the paper's
spaces are too large for repeats to matter; small ones waste trials on them).

State from the history: the population is the last P finished trials of the history, in
planned order; the k-th ask (k = the history's size) is a random sample (the first of
:class:`~genolang.searchers.random.SampleStream` not in the history) while k < P or nothing
has finished, else a tournament child drawn with ``random.Random(seed_for(seed, k, attempt))``.
So a resumed search asks what an uninterrupted sequential one would, with no replay. With
several workers the first P asks run in parallel (:meth:`EvolutionSearcher.ready`), each later
one once every earlier trial has finished, so the trials equal a one-worker run's.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any, ClassVar

from genolang.genotype import Genotype
from genolang.runtime.strategy import History
from genolang.searchers.base import Searcher, register_searcher, seed_for
from genolang.searchers.encoding import EncodingError, mutate, unsupported
from genolang.searchers.random import SampleStream
from genolang.space import Space

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
        self.stream = SampleStream(space, self.seed, "evolution")

    @classmethod
    def applies_to(cls, space: Space) -> str | None:
        """Any discrete space (mutation needs a finite set of values per decision)."""
        return unsupported(space)

    def population(self, history: History) -> list[tuple[Genotype, float]]:
        """The last P finished trials (planned order), failed ones scoring -inf."""
        finished = [o for o in history if o.finished]
        return [(o.genotype, WORST if o.failed or o.score is None else float(o.score))
                for o in finished[-self.population_size:]]

    def ready(self, history: History) -> bool:
        """While the first population fills (random samples; later asks wait for every earlier trial)."""
        return len(history) < self.population_size

    def ask(self, history: History, *, attempt: int = 0) -> Genotype:
        """A random sample while the initial population fills, then a tournament's mutant."""
        k, seen = len(history), {o.genotype.digest for o in history}
        population = self.population(history)
        if k < self.population_size or not population:
            fresh = self.stream.first_unseen(seen, limit=k + self._attempts)
            return fresh if fresh is not None else self.stream[k + attempt]
        rng = random.Random(seed_for(self.seed, k, attempt))
        return self._child(self.select(population, rng), rng, seen, name=f"evolution_{k + 1}")

    def _child(self, parent: Genotype, rng: random.Random, seen: set[str], *, name: str) -> Genotype:
        for _ in range(self._attempts):
            try:
                child = mutate(self.space, parent, rng, name=name)
            except EncodingError:  # a space with a single genotype
                return parent
            if child.digest not in seen:
                break
        return child

    def select(self, population: list[tuple[Genotype, float]], rng: random.Random) -> Genotype:
        """Tournament: the best of ``sample`` members drawn with replacement (the first among equals)."""
        drawn = [population[rng.randrange(len(population))] for _ in range(self.sample_size)]
        best = max(score for _, score in drawn)
        return next(genotype for genotype, score in drawn if score == best)
