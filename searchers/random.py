"""Random search (RandomNet, Alletto et al. 2020; Li & Talwalkar 2019): uniform samples of the space.

The searcher's samples form one stream: ``space.sample(s_k)`` for the k-th draw ``s_k`` of
``random.Random(seed)``. An ask returns the first sample of the stream that is not in the
history (running, done or failed), so:

- two searchers with the same seed ask the same genotypes;
- a resumed search asks what an uninterrupted one would: the history read back from the
  ledger determines the answer, and a trial that was running when the search was killed (its
  row removed on resume) is the first sample missing again, so it is asked again first.

Once ``max_attempts`` samples past the history's size are all in the history (a small or
exhausted space), a repeat is returned (``attempt`` picks which).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, ClassVar

from genolang.genotype import Genotype
from genolang.runtime.strategy import History
from genolang.searchers.base import Searcher, register_searcher
from genolang.space import Space

SEED_BITS = 63


class SampleStream:
    """The samples of ``random.Random(seed)``, drawn lazily and kept (a cache of a pure function)."""

    def __init__(self, space: Space, seed: int, prefix: str):
        self.space, self.prefix = space, prefix
        self._rng = random.Random(seed)
        self._samples: list[Genotype] = []

    def __getitem__(self, k: int) -> Genotype:
        while len(self._samples) <= k:
            n = len(self._samples) + 1
            self._samples.append(self.space.sample(self._rng.getrandbits(SEED_BITS), name=f"{self.prefix}_{n}"))
        return self._samples[k]

    def first_unseen(self, seen: set[str], *, limit: int) -> Genotype | None:
        """The first sample whose digest is not in ``seen`` among the first ``limit``; ``None`` if all are."""
        return next((self[k] for k in range(limit) if self[k].digest not in seen), None)


@register_searcher("random")
class RandomSearcher(Searcher):
    """Uniform random genotypes, without repeats while the space allows."""

    OPTIONS: ClassVar[Mapping[str, Any]] = {"max_attempts": 100}

    def __init__(self, space: Space, *, seed: int = 0, **options: Any):
        super().__init__(space, seed=seed, **options)
        self.stream = SampleStream(space, self.seed, "random")

    def ready(self, history: History) -> bool:
        """Always: an ask depends on the history's genotypes, never on their outcomes."""
        return True

    def ask(self, history: History, *, attempt: int = 0) -> Genotype:
        """The first sample not in the history (a repeat once the space looks exhausted)."""
        seen = {o.genotype.digest for o in history}
        limit = len(history) + max(1, int(self.options["max_attempts"]))
        fresh = self.stream.first_unseen(seen, limit=limit)
        return fresh if fresh is not None else self.stream[len(history) + attempt]
