"""The invariant of issue 13, as a property over generated SPACES (tests/space_strategies.py).

A space that `check` accepts yields only genotypes (the default and samples) that compile,
run forward and export to ONNX with onnxruntime parity; otherwise `check` refuses it with a
GenolangError. Any other exception, or a GenolangError after `check`, is a failure, and
hypothesis shrinks the space to a minimal one.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from space_strategies import space_texts

import genolang


def check(text: str) -> genolang.Space | None:
    try:
        return genolang.loads(text, "generated.geno").space()
    except genolang.GenolangError:
        return None  # refused cleanly: allowed


def run_forward(compiled) -> None:
    graph = compiled.graph
    torch.manual_seed(0)
    feeds = [torch.randn(2, *graph.input_shapes()[n]) for n in graph.inputs]
    with torch.no_grad():
        out = compiled.net(*feeds)
    outs = out if isinstance(out, (list, tuple)) else [out]
    assert all(torch.isfinite(o).all() for o in outs)


@pytest.mark.slow
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=space_texts())
def test_a_space_check_accepts_compiles_runs_and_exports(tmp_path_factory, text):
    from genolang.compiler import compile_genotype
    from genolang.compiler.export import export_compiled

    sp = check(text)
    if sp is None:
        return
    genotypes = [sp.default()] + [sp.sample(seed) for seed in range(3)]
    for i, geno in enumerate(genotypes):
        compiled = compile_genotype(sp, geno)
        run_forward(compiled)
        if i == 1:  # one export per space keeps the test short; parity at atol 1e-4
            path = tmp_path_factory.mktemp("onnx") / "net.onnx"
            report = export_compiled(compiled.graph, compiled.net, path, check_batches=(1, 2), atol=1e-4)
            assert max(report.max_abs_diff.values()) <= 1e-3


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(space_texts())
def test_check_answers_with_a_space_or_a_genolang_error(text):
    """The language level alone (no torch): check, size, sample and default never raise anything else."""
    sp = check(text)
    if sp is None:
        return
    assert sp.size() >= 1
    for seed in range(3):
        assert sp.validate(dict(sp.sample(seed).values)).digest == sp.sample(seed).digest
    sp.default()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(space_texts(wrong=False))
def test_spaces_drawn_without_mistakes_are_accepted(text):
    """The strategy's well-formed spaces are not refused: check is not stricter than the rules."""
    genolang.loads(text, "generated.geno")
