"""The one walk over a space's decisions: declaration order, active ones only.

A decision is *active* when its conditions (the ``when`` and repeat counts around it) hold
under the values decided before it. Every consumer that builds or reads a genotype decision
by decision goes through :func:`active_decisions`: :class:`~genolang.space.Space` (sample,
default, size), the searchers' action encoding and the supernet's derivation.
:func:`branches` enumerates instead of deciding: one branch per value of each decision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from genolang.conditions import all_hold
from genolang.ir import DecisionIR

#: a decision's possible values under the earlier ones (for :func:`branches`)
Options = Callable[[DecisionIR, Mapping[str, Any]], Sequence[Any]]


def is_active(d: DecisionIR, values: Mapping[str, Any]) -> bool:
    """Whether ``d`` 's conditions hold under ``values``."""
    return not d.conds or all_hold(d.conds, values)


def active_decisions(decisions: Sequence[DecisionIR], values: Mapping[str, Any], *,
                     start: int = 0) -> Iterator[DecisionIR]:
    """The decisions from ``start`` on that are active, in order, each tested when reached.

    ``values`` is read as it stands when a decision is reached: the caller records each
    decision's value in it (``values[d.path] = ...``) before asking for the next one, so
    later conditions see the earlier choices.
    """
    for i in range(start, len(decisions)):
        d = decisions[i]
        if is_active(d, values):
            yield d


def branches(decisions: Sequence[DecisionIR], options: Options) -> Iterator[dict[str, Any]]:
    """Every assignment of the active ``decisions``, depth first in declaration order.

    At each active decision the walk forks once per value of ``options(d, values)`` (in that
    order; none ends the branch). Lazy: a branch's siblings are made when it is done.
    """
    position = {d.path: i for i, d in enumerate(decisions)}
    pending: list[Iterator[tuple[int, dict[str, Any]]]] = [iter([(0, {})])]
    while pending:
        step = next(pending[-1], None)
        if step is None:
            pending.pop()
            continue
        start, values = step
        for d in active_decisions(decisions, values, start=start):
            choices = options(d, values)
            if len(choices) != 1:
                pending.append(_forks(position[d.path] + 1, values, d.path, choices))
                break
            values[d.path] = choices[0]
        else:
            yield values


def _forks(start: int, values: dict[str, Any], path: str, choices: Sequence[Any]
           ) -> Iterator[tuple[int, dict[str, Any]]]:
    for v in choices:
        yield start, {**values, path: v}
