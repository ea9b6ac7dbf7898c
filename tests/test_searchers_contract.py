"""Every registered searcher keeps the contract of ``searcher_contract.py``; the registry's own rules."""

from __future__ import annotations

import pytest
from searcher_contract import CONTRACT, SPACES, Loop, check_one_shot_resume, drive, load_space, planted_score

from genolang.runtime.errors import SearchError
from genolang.searchers.base import SEARCHERS, Searcher, load_builtins, make_searcher, register_searcher
from genolang.searchers.bmnas import OneShotStrategy
from genolang.searchers.random import RandomSearcher

NAMES = load_builtins().names()
ONE_SHOT = [n for n in NAMES if issubclass(SEARCHERS.get(n), OneShotStrategy)]


@pytest.mark.parametrize("check", CONTRACT, ids=lambda c: c.__name__.removeprefix("check_"))
@pytest.mark.parametrize("space_name", sorted(SPACES))
@pytest.mark.parametrize("name", NAMES)
def test_contract(name: str, space_name: str, check) -> None:
    check(name, load_space(space_name))


@pytest.mark.parametrize("name", ONE_SHOT)
def test_one_shot_strategies_resume(name: str, tmp_path) -> None:
    check_one_shot_resume(name, tmp_path)


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

        def ask(self, history, *, attempt=0):
            raise AssertionError

    with pytest.raises(SearchError, match="does not apply to space 'tiny': needs a supernet"):
        Picky(load_space("tiny"))


def test_random_exhausts_a_small_space_then_repeats() -> None:
    space = load_space("tiny")
    assert space.size() == 12
    asked = drive(Loop(make_searcher("random", space, seed=0)), planted_score(space), 15)
    assert len({g.digest for g in asked[:12]}) == 12
    assert all(space.validate(g.values) == g for g in asked[12:])


def test_random_asks_again_what_was_running_when_a_search_stopped() -> None:
    """Parallel trials: the ledger lost rows 2 and 4 (running when killed) -> those come back first."""
    space = load_space("flat")
    first = Loop(make_searcher("random", space, seed=5))
    asked = [first.ask() for _ in range(6)]
    for i in (0, 1, 3, 5):
        first.tell(asked[i], 0.5)
    resumed = Loop(make_searcher("random", space, seed=5), [o for o in first.history if o.finished])
    again = [resumed.ask(), resumed.ask()]
    assert [g.digest for g in again] == [asked[2].digest, asked[4].digest]
    assert resumed.ask() == first.ask()
