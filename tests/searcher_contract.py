"""The contract every registered searcher keeps (a reusable suite, not collected on its own).

``tests/test_searchers_contract.py`` runs each check of :data:`CONTRACT` for every name in
``SEARCHERS`` (after :func:`~genolang.searchers.base.load_builtins`) on the small spaces of
:data:`SPACES`. A new searcher (mfas, bmnas, rl, evolution) is covered as soon as it registers.
Differentiable searchers (``differentiable = True``) skip the ask/tell checks and keep
:func:`check_differentiable_resume` instead, on :data:`BILEVEL_SPACE`.

The checks drive searchers with a cheap synthetic score: the fraction of decisions on which
a genotype agrees with a planted target (1.0 at the optimum), so they need no training.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

import pytest

import genolang
from genolang.genotype import Genotype
from genolang.runtime.errors import SearchError
from genolang.searchers.base import Searcher, make_searcher, searcher_class
from genolang.space import Space

SPACES: dict[str, str] = {
    # choice, int and a one-of reference, all unconditional
    "flat": """genolang 1
space flat version 1 {
  input x { shape = [4] }
  enum Act { relu, tanh, identity, sigmoid }
  node n[3] { op = fc; hidden: choice(4, 8, 16); act: Act; inp = @x }
  node fuse { op = fc; hidden: int(2..5); inp: one(n[*]); act: Act }
  head y { in = @fuse; classes = 2 }
}
""",
    # a searched repeat count (conditional decisions) and a Bernoulli subset of references
    "nested": """genolang 1
space nested version 1 {
  input x { shape = [4] }
  input z { shape = [3] }
  enum Act { relu, tanh, identity }
  depth: int(1..3)
  node h[depth] { op = fc; hidden: choice(4, 8); act: Act; inp = @x }
  node g { op = fc; hidden = 4; act: Act; inp = @z }
  node fuse { op = fc; hidden = 8; combine = concat; x: subset(h[*], g, min = 1); act: Act }
  head y { in = @fuse; classes = 2 }
}
""",
    # 12 genotypes: small enough to exhaust
    "tiny": """genolang 1
space tiny version 1 {
  input x { shape = [4] }
  node a { op = fc; hidden: choice(4, 8, 16); act: choice(relu, tanh); inp = @x }
  node b { op = fc; hidden = 4; act = relu; inp: one(x, a) }
  head y { in = @b; classes = 2 }
}
""",
}

Score = Callable[[Genotype], float]


def load_space(name: str) -> Space:
    return genolang.loads(SPACES[name], f"{name}.geno").space()


def planted_score(space: Space, *, seed: int = 12345) -> Score:
    """Agreement with a planted target genotype: 1.0 exactly at the target."""
    target = space.sample(seed).values

    def score(genotype: Genotype) -> float:
        return sum(genotype.values.get(p) == v for p, v in target.items()) / len(target)

    return score


def searcher_for(name: str, space: Space, *, seed: int = 0) -> Searcher:
    """The searcher, or a pytest skip when it does not apply to ``space`` (with its reason).

    Differentiable searchers (``differentiable = True``: bmnas, ssl-bmnas) do not ask/tell;
    :func:`check_differentiable_resume` covers them instead.
    """
    if getattr(searcher_class(name), "differentiable", False):
        pytest.skip(f"{name} is differentiable (no ask/tell); see check_differentiable_resume")
    reason = searcher_class(name).applies_to(space)
    if reason is not None:
        pytest.skip(f"{name} does not apply to this space: {reason}")
    return make_searcher(name, space, seed=seed)


def drive(searcher: Searcher, score: Score, n: int, *, fail_every: int = 0) -> list[Genotype]:
    """n ask/tell rounds (every ``fail_every``-th told as failed); the genotypes asked."""
    asked = []
    for i in range(n):
        genotype = searcher.ask()
        asked.append(genotype)
        failed = bool(fail_every) and i % fail_every == fail_every - 1
        searcher.tell(genotype, None if failed else score(genotype), failed=failed)
    return asked


# ------------------------------------------------------------------ the checks
def check_asks_lie_in_the_space(name: str, space: Space) -> None:
    """Every ask is a genotype of the space that validates back to itself."""
    searcher = searcher_for(name, space)
    for genotype in drive(searcher, planted_score(space), 20):
        assert genotype.fingerprint == space.fingerprint
        assert space.validate(genotype.values) == genotype


def check_deterministic_under_a_seed(name: str, space: Space) -> None:
    """Two instances with one seed ask the same genotypes; another seed asks others."""
    score = planted_score(space)
    first = drive(searcher_for(name, space, seed=7), score, 15)
    again = drive(searcher_for(name, space, seed=7), score, 15)
    other = drive(searcher_for(name, space, seed=8), score, 15)
    assert [g.digest for g in first] == [g.digest for g in again]
    assert [g.digest for g in first] != [g.digest for g in other]


def check_resumable_by_replay(name: str, space: Space) -> None:
    """Replaying N results into a fresh searcher, then asking, equals the (N+1)-th ask."""
    score = planted_score(space)
    for n in (0, 1, 6):
        original = searcher_for(name, space, seed=3)
        drive(original, score, n, fail_every=4)
        expected = original.ask()
        resumed = searcher_for(name, space, seed=3)
        resumed.replay(list(original.history))
        assert resumed.ask() == expected, f"after replaying {n} results"


def check_tolerates_failed_trials(name: str, space: Space) -> None:
    """Failed trials (no score) are told and the search goes on, even when all fail."""
    searcher = searcher_for(name, space)
    for _ in range(8):
        genotype = searcher.ask()
        searcher.tell(genotype, None, failed=True)
    assert space.validate(searcher.ask().values)
    drive(searcher, planted_score(space), 5, fail_every=2)
    assert space.validate(searcher.ask().values)


def check_refuses_unknown_options(name: str, space: Space) -> None:
    """An option the searcher does not declare is an error, not silently ignored."""
    searcher_for(name, space)
    with pytest.raises(SearchError, match="no option"):
        make_searcher(name, space, seed=0, no_such_option_xyz=1)


def check_finds_good_genotypes(name: str, space: Space, *, budget: int = 30, seeds: int = 5) -> None:
    """The optimum is found, or the median best beats random's; random itself finds a decent one.

    "Decent": random's median best is at least the 90th percentile of single samples.
    """
    score = planted_score(space)
    bests = [max(map(score, drive(searcher_for(name, space, seed=s), score, budget))) for s in range(seeds)]
    if name == "random":
        singles = sorted(score(space.sample(10_000 + i)) for i in range(500))
        assert statistics.median(bests) >= singles[int(0.9 * len(singles))]
        return
    baseline = [max(map(score, drive(make_searcher("random", space, seed=100 + s), score, budget)))
                for s in range(seeds)]
    assert max(bests) >= 1.0 or statistics.median(bests) >= statistics.median(baseline), (bests, baseline)


# ------------------------------------------------------------------ differentiable searchers
#: a space every differentiable searcher applies to: one BM-NAS cell over three vector inputs
BILEVEL_SPACE = """genolang 1
space cellmini version 1 {
  input a { shape = [4] }
  input b { shape = [4] }
  input c { shape = [4] }
  enum StepOp { sum, concat_fc }
  group fusion {
    channels = 4
    length = 2
    group cell[1] {
      in: choose(2, a, b, c)
      node step[1] { x: pick(2, cell.in, step.before); op: StepOp }
      out = concat_all
    }
    out = concat_all
  }
  head y { in = @fusion; classes = 2 }
}
"""


def bilevel_data(seed: int = 0):
    """48 train / 24 val samples of three 4-d vectors; the label reads a and c."""
    import torch

    from genolang.runtime.dataset import MultimodalDataset, Split

    gen = torch.Generator().manual_seed(seed)

    def split(n: int) -> Split:
        a, b, c = (torch.randn(n, 4, generator=gen) for _ in range(3))
        return Split({"a": a, "b": b, "c": c}, (a[:, 0] + c[:, 0] > 0).long())

    return MultimodalDataset("bilevel-mini", {"train": split(48), "val": split(24)}, num_classes=2)


def check_differentiable_resume(name: str, tmp_path) -> None:
    """1 epoch + a resumed 2nd equals 2 epochs in one go: ledger rows, derived genotypes, best."""
    import torch

    from genolang.runtime.bilevel import BilevelConfig

    cls, space = searcher_class(name), genolang.loads(BILEVEL_SPACE, "cellmini.geno").space()
    assert cls.applies_to(space) is None
    with pytest.raises(SearchError, match="differentiable"):
        make_searcher(name, space, seed=0).ask()
    config = BilevelConfig(batch_size=16, arch_lr=1e-2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        whole = cls.search(space, bilevel_data(), out_dir=tmp_path / "whole", epochs=2, config=config)
        cls.search(space, bilevel_data(), out_dir=tmp_path / "cut", epochs=1, config=config)
        resumed = cls.search(space, bilevel_data(), out_dir=tmp_path / "cut", epochs=2, config=config, resume=True)
    finally:
        torch.set_num_threads(threads)
    assert [t.budget["epoch"] for t in resumed.trials] == [1, 2]
    assert [t.digest for t in resumed.trials] == [t.digest for t in whole.trials]
    assert [t.score for t in resumed.trials] == pytest.approx([t.score for t in whole.trials], abs=1e-6)
    assert resumed.best == whole.best


CONTRACT: tuple[Callable[[str, Space], None], ...] = (
    check_asks_lie_in_the_space, check_deterministic_under_a_seed, check_resumable_by_replay,
    check_tolerates_failed_trials, check_refuses_unknown_options, check_finds_good_genotypes)
