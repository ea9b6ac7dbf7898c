"""Genotypes as sequences of categorical actions, shared by the evolution and RL searchers.

A space's decisions are walked in declaration order; a decision is visited only when it is
active under the values decided before it. Each visited decision emits one or more
:class:`Step` s, each a categorical choice among a *static* vocabulary (``Step.options``,
the same for every genotype, so an RL controller can key one output head per
``Step.key``) of which ``Step.allowed`` are valid under the earlier values:

- ``choice``, ``int`` and ``bool`` decisions: one step over the domain's values;
- ``one`` references: one step over the declared candidates (times each label when the
  reference is op-labelled, ref-major: ``{"op": l, "ref": r}``); inactive candidates are
  not allowed;
- ``pick(k)`` / ``choose(k)``: k sequential picks among the remaining active candidates
  (keys ``path#0`` .. ``path#k-1``); a ``choose`` value is sorted at the end (so several
  action sequences decode to one value; :func:`encode` gives the sorted order);
- ``subset``: one keep/drop step per active candidate (key ``path#i``, ``i`` its declared
  index; options ``(False, True)``); dropping is not allowed once ``min`` needs every
  remaining candidate;
- labelled ``pick`` / ``choose`` / ``subset``: one op step (key ``path#j.op``) after each
  chosen reference.

Float decisions are continuous and have no such encoding: :func:`unsupported` says so.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from genolang.canonical import canonical_json
from genolang.domains import RefDomain
from genolang.errors import GenotypeError
from genolang.genotype import Genotype
from genolang.ir import DecisionIR
from genolang.space import Space
from genolang.walk import active_decisions

#: the vocabulary an RL controller accepts per step unless told otherwise
MAX_OPTIONS = 4096
MAX_MUTATE_TRIES = 100
_MISSING = object()

Chooser = Callable[["Step"], int]
StepGen = Generator["Step", int, Any]


@dataclass(frozen=True, slots=True)
class Step:
    """One categorical action: pick an index of ``options`` that is in ``allowed``."""

    key: str                   # the decision path, plus "#j" / "#j.op" for sub-actions
    path: str                  # the decision it belongs to
    kind: str                  # "value", "one", "pick", "keep" or "op"
    options: Sequence[Any]     # the static vocabulary of ``key``
    allowed: Sequence[int]     # the indices valid now (never empty)
    slot: Any = None           # pick: the pick number; keep / op: the reference concerned


@dataclass(frozen=True, slots=True)
class Trace:
    """A walk through a space: the values decided, the steps met and the actions taken."""

    values: dict[str, Any]
    steps: list[Step]
    actions: list[int]


class EncodingError(ValueError):
    """Actions or values that do not fit the space's action sequence."""


# ------------------------------------------------------------------ support
def unsupported(space: Space, *, max_options: int | None = None) -> str | None:
    """Why ``space`` has no action encoding (``None`` when it has one).

    Float decisions are continuous; with ``max_options``, a vocabulary larger than that
    (a wide ``int`` range) is refused too.
    """
    for d in space.ir.decisions:
        if d.domain.kind == "float":
            return f"decision '{d.path}' is continuous ({d.domain.text()}); only discrete spaces are supported"
    if max_options is not None:
        for key, size in vocabulary(space).items():
            if size > max_options:
                return f"step '{key}' has {size:,} options (at most {max_options:,} are supported)"
    return None


def vocabulary(space: Space) -> dict[str, int]:
    """Every step key of the space -> the size of its (static) vocabulary."""
    sizes: dict[str, int] = {}
    for d in space.ir.decisions:
        dom = d.domain
        if dom.kind != "ref":
            sizes[d.path] = dom.size()
            continue
        n, labels = len(dom.candidates), len(dom.labels or ())
        if dom.mode == "one":
            sizes[d.path] = n * max(labels, 1)
            continue
        slots = range(dom.k) if dom.mode in ("pick", "choose") else range(n)
        for j in slots:
            sizes[f"{d.path}#{j}"] = n if dom.mode != "subset" else 2
            if labels:
                sizes[f"{d.path}#{j}.op"] = labels
    return sizes


# ------------------------------------------------------------------ the steps of one decision
def decision_steps(space: Space, d: DecisionIR, values: dict[str, Any]) -> StepGen:
    """A generator of ``d`` 's steps under the earlier ``values``: send indices, get the value."""
    dom = d.domain
    if dom.kind == "float":
        raise EncodingError(f"decision '{d.path}' is continuous and has no action encoding")
    if dom.kind != "ref":
        return _value_steps(d)
    active = set(space.active_candidates(d, values))
    if dom.mode == "one":
        return _one_steps(d, active)
    if dom.mode == "subset":
        return _subset_steps(d, active)
    return _pick_steps(d, active)


def _value_steps(d: DecisionIR) -> StepGen:
    options = d.domain.values()
    i = yield Step(d.path, d.path, "value", options, range(len(options)))
    return options[i]


def _ref_domain(d: DecisionIR) -> RefDomain:
    assert isinstance(d.domain, RefDomain), "only reference decisions are walked by these steps"
    return d.domain


def _refs(d: DecisionIR) -> tuple[str, ...]:
    return tuple(c.ref for c in _ref_domain(d).candidates)


def _one_steps(d: DecisionIR, active: set[str]) -> StepGen:
    refs, labels = _refs(d), _ref_domain(d).labels
    ok = [i for i, c in enumerate(_ref_domain(d).candidates) if c.path in active]
    if not labels:
        i = yield Step(d.path, d.path, "one", refs, _nonempty(d, ok))
        return refs[i]
    options = tuple({"op": lab, "ref": r} for r in refs for lab in labels)
    allowed = [i * len(labels) + j for i in ok for j in range(len(labels))]
    i = yield Step(d.path, d.path, "one", options, _nonempty(d, allowed))
    return dict(options[i])


def _pick_steps(d: DecisionIR, active: set[str]) -> StepGen:
    refs, dom = _refs(d), _ref_domain(d)
    chosen: list[int] = []
    items: list[Any] = []
    for j in range(dom.k):
        allowed = [i for i, c in enumerate(dom.candidates) if c.path in active and i not in chosen]
        i = yield Step(f"{d.path}#{j}", d.path, "pick", refs, _nonempty(d, allowed), j)
        chosen.append(i)
        items.append((yield from _labelled(d, f"{d.path}#{j}", refs[i])))
    if dom.mode == "choose":
        items = [item for _, item in sorted(zip(chosen, items), key=lambda pair: pair[0])]
    return items


def _subset_steps(d: DecisionIR, active: set[str]) -> StepGen:
    refs, dom = _refs(d), _ref_domain(d)
    ok = [i for i, c in enumerate(dom.candidates) if c.path in active]
    if len(ok) < dom.min:
        raise EncodingError(f"'{d.path}': subset(min={dom.min}) has only {len(ok)} active candidate(s)")
    items: list[Any] = []
    for n, i in enumerate(ok):
        forced = len(items) + len(ok) - n <= dom.min
        keep = yield Step(f"{d.path}#{i}", d.path, "keep", (False, True), (1,) if forced else (0, 1), refs[i])
        if keep:
            items.append((yield from _labelled(d, f"{d.path}#{i}", refs[i])))
    return items


def _labelled(d: DecisionIR, key: str, ref: str) -> StepGen:
    labels = _ref_domain(d).labels
    if not labels:
        return ref
    o = yield Step(f"{key}.op", d.path, "op", labels, range(len(labels)), ref)
    return {"op": labels[o], "ref": ref}


def _nonempty(d: DecisionIR, allowed: list[int]) -> list[int]:
    if not allowed:
        raise EncodingError(f"'{d.path}' has too few active candidates for {d.domain.text()}")
    return allowed


# ------------------------------------------------------------------ walks
def walk(space: Space, chooser: Chooser) -> Trace:
    """Visit the active decisions in order, asking ``chooser`` for each step's index."""
    values: dict[str, Any] = {}
    steps: list[Step] = []
    actions: list[int] = []
    for d in active_decisions(space.ir.decisions, values):
        values[d.path] = _drive(decision_steps(space, d, values), chooser, steps, actions)
    return Trace(values, steps, actions)


def _drive(gen: StepGen, chooser: Chooser, steps: list[Step], actions: list[int]) -> Any:
    try:
        step = next(gen)
        while True:
            i = chooser(step)
            if i not in step.allowed:
                raise EncodingError(f"action {i} is not allowed at step '{step.key}' "
                                    f"({len(step.allowed)} of {len(step.options)} options are)")
            steps.append(step)
            actions.append(i)
            step = gen.send(i)
    except StopIteration as stop:
        return stop.value


def decision_choices(space: Space, d: DecisionIR, values: dict[str, Any], *,
                     limit: int = 100_000) -> list[Any]:
    """The finite list of values ``d`` can take given the earlier ``values`` (in step order).

    Compound references (pick, choose, subset) are enumerated through their sub-actions,
    each distinct value once; more than ``limit`` raises :class:`EncodingError`.
    """
    out: dict[str, Any] = {}
    stack: list[list[int]] = [[]]
    while stack:
        prefix = stack.pop()
        gen, step, value = decision_steps(space, d, values), None, _MISSING
        try:
            step = next(gen)
            for i in prefix:
                step = gen.send(i)
        except StopIteration as stop:
            value = stop.value
        if value is not _MISSING:
            out.setdefault(canonical_json(value), value)
            if len(out) > limit:
                raise EncodingError(f"'{d.path}' has more than {limit:,} values")
            continue
        assert step is not None, "the walk did not stop, so it yielded a step"
        stack.extend(prefix + [i] for i in reversed(list(step.allowed)))
    return list(out.values())


# ------------------------------------------------------------------ encode / decode
def target_index(step: Step, value: Any) -> int | None:
    """The index that steers ``step`` towards the decision value ``value`` (None: cannot)."""
    if value is _MISSING:
        return None
    if step.kind == "value" or step.kind == "one":
        i = _index_strict(step.options, value)
    elif step.kind == "pick":
        refs = _item_refs(value)
        i = _index_strict(step.options, refs[step.slot]) if step.slot < len(refs) else None
    elif step.kind == "keep":
        i = int(step.slot in _item_refs(value))
    else:
        ops = [item["op"] for item in value if isinstance(item, dict) and item.get("ref") == step.slot]
        i = _index_strict(step.options, ops[0]) if ops else None
    return i if i is not None and i in step.allowed else None


def _item_refs(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [item["ref"] if isinstance(item, dict) else item for item in value]


def _index_strict(options: Sequence[Any], value: Any) -> int | None:
    if isinstance(options, range):
        return options.index(value) if type(value) is int and value in options else None
    for i, option in enumerate(options):
        if type(option) is type(value) and option == value:
            return i
    return None


def encode(space: Space, genotype: Genotype) -> list[int]:
    """The actions that decode to ``genotype`` (choose picks in canonical order)."""
    return trace_of(space, genotype).actions


def trace_of(space: Space, genotype: Genotype) -> Trace:
    """The walk (steps and actions) that decodes to ``genotype``."""
    given = genotype.values

    def follow(step: Step) -> int:
        i = target_index(step, given.get(step.path, _MISSING))
        if i is None:
            raise EncodingError(f"the genotype's value of '{step.path}' does not fit step '{step.key}'")
        return i

    return walk(space, follow)


def decode(space: Space, actions: Sequence[int], *, name: str = "decoded") -> Genotype:
    """The genotype the ``actions`` spell (validated, forbid rules included)."""
    feed: Iterator[int] = iter(actions)

    def take(step: Step) -> int:
        i = next(feed, None)
        if i is None:
            raise EncodingError(f"ran out of actions at step '{step.key}'")
        return int(i)

    trace = walk(space, take)
    if len(trace.actions) != len(actions):
        raise EncodingError(f"{len(actions) - len(trace.actions)} action(s) left over")
    return space.validate(trace.values, name=name)


# ------------------------------------------------------------------ mutation
def mutate(space: Space, genotype: Genotype, rng: random.Random, *, name: str = "mutant",
           max_tries: int = MAX_MUTATE_TRIES) -> Genotype:
    """``genotype`` with ONE active decision changed to another valid value.

    One decision that has a choice is drawn uniformly, then one of its steps; that step
    takes another allowed option. Every other step keeps the parent's value where it is
    still allowed; decisions that become active, or whose old value no longer fits (other
    candidates active), are re-drawn at random. The result is validated by
    ``space.validate``; a child equal to the parent or forbidden is drawn again.
    """
    parent = trace_of(space, genotype)
    free = [(n, s) for n, s in enumerate(parent.steps) if len(s.allowed) > 1]
    paths = list(dict.fromkeys(s.path for _, s in free))
    if not paths:
        raise EncodingError(f"space '{space.name}' has a single genotype: nothing to mutate")
    for _ in range(max_tries):
        path = rng.choice(paths)
        at, _step = rng.choice([(n, s) for n, s in free if s.path == path])
        trace = walk(space, _mutator(genotype.values, at, rng))
        if trace.values != genotype.values:
            try:
                return space.validate(trace.values, name=name)
            except GenotypeError:
                continue
    raise EncodingError(f"no valid mutant of the genotype found in {max_tries} tries")


def _mutator(parent: dict[str, Any], at: int, rng: random.Random) -> Chooser:
    counter = itertools.count()

    def choose(step: Step) -> int:
        n = next(counter)
        want = target_index(step, parent.get(step.path, _MISSING))
        if n == at:
            while True:
                i = rng.choice(step.allowed)
                if i != want:
                    return i
        return want if want is not None else rng.choice(step.allowed)

    return choose
