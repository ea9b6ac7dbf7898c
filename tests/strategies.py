"""Hypothesis strategies over genotypes: drawn decision by decision, so failures shrink.

A failing genotype shrinks towards the first option of each choice, the smallest ints, the
first candidates and the smallest subsets: a minimal architecture that still fails.
"""

from __future__ import annotations

from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from genolang.conditions import all_hold
from genolang.errors import GenolangError


def _ref_value(draw: Any, d: Any, cands: tuple[str, ...]) -> Any:
    dom = d.domain

    def item(c: str) -> Any:
        return {"op": draw(st.sampled_from(dom.labels)), "ref": "@" + c} if dom.labels else "@" + c

    if dom.mode == "one":
        return item(draw(st.sampled_from(cands)))
    if dom.mode == "pick":
        return [item(c) for c in draw(st.permutations(cands))[:dom.k]]
    if dom.mode == "choose":
        chosen = draw(st.sets(st.sampled_from(cands), min_size=dom.k, max_size=dom.k))
        return [item(c) for c in cands if c in chosen]
    chosen = draw(st.sets(st.sampled_from(cands), min_size=dom.min, max_size=len(cands))) if cands else set()
    return [item(c) for c in cands if c in chosen]


@st.composite
def genotypes(draw: Any, space: Any) -> Any:
    """A valid genotype of ``space`` (float decisions drawn from their bounds)."""
    values: dict[str, Any] = {}
    for d in space.ir.decisions:
        if not all_hold(d.conds, values):
            continue
        dom = d.domain
        if dom.kind == "ref":
            cands = space.active_candidates(d, values)
            assume(len(cands) >= (dom.k if dom.mode in ("one", "pick", "choose") else dom.min))
            values[d.path] = _ref_value(draw, d, cands)
        elif dom.kind == "float":
            values[d.path] = draw(st.floats(dom.lo, dom.hi, allow_nan=False))
        else:
            values[d.path] = draw(st.sampled_from(list(dom.values())))
    try:
        return space.validate(values, name="drawn")
    except GenolangError:  # a `forbid` rejects it
        assume(False)
