"""Every registered searcher keeps the contract of ``searcher_contract.py``; the registry's own rules."""

from __future__ import annotations

import pytest

from genolang.runtime.errors import SearchError
from genolang.searchers.base import SEARCHERS, Searcher, load_builtins, make_searcher, register_searcher
from genolang.searchers.random import RandomSearcher
from searcher_contract import CONTRACT, SPACES, check_differentiable_resume, drive, load_space, planted_score

NAMES = load_builtins().names()
DIFFERENTIABLE = [n for n in NAMES if getattr(SEARCHERS.get(n), "differentiable", False)]


@pytest.mark.parametrize("check", CONTRACT, ids=lambda c: c.__name__.removeprefix("check_"))
@pytest.mark.parametrize("space_name", sorted(SPACES))
@pytest.mark.parametrize("name", NAMES)
def test_contract(name: str, space_name: str, check) -> None:
    check(name, load_space(space_name))


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_differentiable_searchers_resume(name: str, tmp_path) -> None:
    check_differentiable_resume(name, tmp_path)


def test_random_is_registered_with_its_name() -> None:
    assert "random" in NAMES and SEARCHERS.get("random") is RandomSearcher and RandomSearcher.name == "random"


def test_unknown_searcher_names_get_close_names() -> None:
    with pytest.raises(SearchError, match="did you mean 'random'"):
        make_searcher("randm", load_space("tiny"), seed=0)


def test_a_name_is_registered_once() -> None:
    with pytest.raises(Exception, match="already registered"):
        register_searcher("random")(type("Other", (RandomSearcher,), {}))


def test_a_searcher_that_does_not_apply_says_why() -> None:
    class Picky(Searcher):
        name = "picky"

        @classmethod
        def applies_to(cls, space):
            return "needs a supernet-friendly space"

        def ask(self):
            raise AssertionError

    with pytest.raises(SearchError, match="does not apply to space 'tiny': needs a supernet"):
        Picky(load_space("tiny"))


def test_random_exhausts_a_small_space_then_repeats() -> None:
    space = load_space("tiny")
    assert space.size() == 12
    asked = drive(make_searcher("random", space, seed=0), planted_score(space), 15)
    assert len({g.digest for g in asked[:12]}) == 12
    assert all(space.validate(g.values) == g for g in asked[12:])


def test_random_asks_again_what_was_in_flight_when_a_search_stopped() -> None:
    """Parallel trials: history with gaps (asks 2 and 4 were never told) -> those come back first."""
    space = load_space("flat")
    first = make_searcher("random", space, seed=5)
    asked = [first.ask() for _ in range(6)]
    told = [asked[i] for i in (0, 1, 3, 5)]
    resumed = make_searcher("random", space, seed=5)
    resumed.replay([(g, 0.5, False) for g in told])
    again = [resumed.ask(), resumed.ask()]
    assert {g.digest for g in again} == {asked[2].digest, asked[4].digest}
    assert resumed.ask() == first.ask()


def test_best_is_the_highest_score_told() -> None:
    space = load_space("flat")
    searcher = make_searcher("random", space, seed=1)
    a, b, c = (searcher.ask() for _ in range(3))
    searcher.tell(a, 0.2)
    searcher.tell(b, None, failed=True)
    searcher.tell(c, 0.7)
    assert searcher.best() == (c, 0.7)
    d = searcher.ask()
    searcher.tell(d, 0.7)
    assert searcher.best() == (d, 0.7)  # ties: the later told (RandomNet's >=)
