"""Property tests over every example space: sampled genotypes validate, round-trip and keep
their digest under reformatting, reordering and relative references."""

from __future__ import annotations

import json
import random

import jsonschema
import pytest
from conftest import SPACE_FILES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import genolang
from genolang.validate import absolute

SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
NAMES = [p.stem for p in SPACE_FILES]


def _body(text: str) -> tuple[str, list[str], str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("genotype "))
    return "\n".join(lines[: start + 1]), lines[start + 1:-1], lines[-1]


def relative(ref: str, path: str, space) -> str:
    """The shortest relative spelling of an absolute ``@ref`` seen from decision ``path``."""
    target = ref[1:]
    prefix = path
    while prefix:
        prefix = prefix.rpartition(".")[0]
        if prefix and target.startswith(prefix + "."):
            rel = "@" + target[len(prefix) + 1:]
            if absolute(rel, path, space.ir) == ref:
                return rel
    return ref


def relativize(value, path: str, space):
    if isinstance(value, list):
        return [relativize(v, path, space) for v in value]
    if isinstance(value, dict):
        return {"op": value["op"], "ref": relative(value["ref"], path, space)}
    if isinstance(value, str) and value.startswith("@"):
        return relative(value, path, space)
    return value


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(seed=SEEDS)
def test_sample_validates_and_round_trips(spaces, name, seed):
    space = spaces[name]
    g = space.sample(seed)
    assert space.sample(seed) == g, "sampling must be deterministic per seed"
    assert space.validate(g.values) == g
    text = g.to_text()
    again = genolang.loads(text, "sample.geno", spaces=[space]).genotype()
    assert again == g and again.digest == g.digest
    assert again.to_text() == text, "text -> parse -> print must be the identity"
    assert space.from_json(json.loads(g.canonical_json())) == g


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(seed=SEEDS, order=st.randoms(use_true_random=False))
def test_digest_survives_reordering_reformatting_and_relative_refs(spaces, name, seed, order):
    space = spaces[name]
    g = space.sample(seed)
    head, body, tail = _body(g.to_text())
    order.shuffle(body)
    noisy = [f"   {line.strip().replace(' = ', '=')}   # reordered" for line in body]
    moved = genolang.loads("\n\n".join([head, *noisy, tail]), "x.geno", spaces=[space]).genotype()
    assert moved.digest == g.digest
    rel = {path: relativize(value, path, space) for path, value in g.values.items()}
    assert space.validate(rel).digest == g.digest


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=SEEDS, b=SEEDS)
def test_diff_lists_exactly_the_changed_paths(spaces, name, a, b):
    ga, gb = spaces[name].sample(a), spaces[name].sample(b)
    expected = {p for p in set(ga.values) | set(gb.values) if ga.values.get(p) != gb.values.get(p)}
    assert {p for p, _, _ in ga.diff(gb)} == expected
    assert ga.diff(ga) == []
    assert (ga == gb) == (not expected)


@pytest.mark.parametrize("name", NAMES)
def test_default_is_valid(spaces, name):
    space = spaces[name]
    d = space.default()
    assert space.validate(d.values) == d


@pytest.mark.parametrize("name", NAMES)
def test_schema_accepts_samples_and_rejects_broken_ones(spaces, name):
    space = spaces[name]
    schema = space.json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for seed in range(20):
        validator.validate(json.loads(space.sample(seed).canonical_json()))
    doc = json.loads(space.sample(0).canonical_json())
    doc["values"]["no_such_decision"] = 1
    assert not validator.is_valid(doc)
    doc = json.loads(space.sample(0).canonical_json())
    doc["fingerprint"] = "sha256:" + "0" * 64
    assert not validator.is_valid(doc)


def test_sampling_covers_every_value_of_a_small_space():
    space = genolang.loads("genolang 1\nspace s version 1 { a: choice(x, y, z); b: bool }").space()
    seen = {space.sample(seed).canonical_json() for seed in range(200)}
    assert len(seen) == space.size() == 6
    assert random.Random(0).random() == random.Random(0).random()
