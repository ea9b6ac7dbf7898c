"""Random search (RandomNet, Alletto et al. 2020; Li & Talwalkar 2019): uniform samples of the space.

Each ask draws a sampling seed from the searcher's own ``random.Random(seed)`` stream and
returns ``space.sample(that_seed)``, skipping genotypes already asked or told; after
``max_attempts`` draws that all repeat (a small or exhausted space), a repeat is returned.
The asks are a pure function of the seed and of what was told, so:

- two searchers with the same seed ask the same genotypes;
- :meth:`RandomSearcher.replay` of N results (in ask order), then :meth:`ask`, gives the
  (N+1)-th ask of an uninterrupted run. Genotypes asked but never told (trials in flight
  when a parallel search was killed) are asked again first.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any, ClassVar, Mapping

from genolang.genotype import Genotype
from genolang.searchers.base import Result, Searcher, register_searcher
from genolang.space import Space

SEED_BITS = 63


@register_searcher("random")
class RandomSearcher(Searcher):
    """Uniform random genotypes, without repeats while the space allows."""

    OPTIONS: ClassVar[Mapping[str, Any]] = {"max_attempts": 100}

    def __init__(self, space: Space, *, seed: int = 0, **options: Any):
        super().__init__(space, seed=seed, **options)
        self._rng = random.Random(self.seed)
        self._seen: set[str] = set()
        self._pending: dict[str, Genotype] = {}  # asked, not told yet (in ask order)
        self._requeue: list[Genotype] = []
        self._asks = 0

    def ask(self) -> Genotype:
        """The next sample not asked or told before (a repeat once ``max_attempts`` all repeat)."""
        genotype = self._requeue.pop(0) if self._requeue else self._draw()
        self._seen.add(genotype.digest)
        self._pending[genotype.digest] = genotype
        return genotype

    def _draw(self) -> Genotype:
        attempts = max(1, int(self.options["max_attempts"]))
        for _ in range(attempts):
            self._asks += 1
            genotype = self.space.sample(self._rng.getrandbits(SEED_BITS), name=f"random_{self._asks}")
            if genotype.digest not in self._seen:
                return genotype
        return genotype

    def tell(self, genotype: Genotype, score: float | None, *, failed: bool = False) -> None:
        super().tell(genotype, score, failed=failed)
        self._seen.add(genotype.digest)
        self._pending.pop(genotype.digest, None)

    def replay(self, history: Iterable[Result]) -> None:
        """Re-ask one genotype per result (advancing the stream as the first run did), then tell it.

        What was asked during the replay but never told is asked again first.
        """
        for genotype, score, failed in history:
            self.ask()
            self.tell(genotype, score, failed=failed)
        self._requeue = list(self._pending.values())
        self._pending.clear()
