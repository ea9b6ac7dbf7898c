"""Every example compiles to a module that runs forward and backward; exact parameter counts."""

from __future__ import annotations

import pytest
import torch
from conftest import GENOTYPE_FILES, SPACE_FILES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import genotypes

import genolang
from genolang.compiler.export import export_compiled
from genolang.compiler.lower import load_genotype, lower
from genolang.compiler.module import build_module
from genolang.compiler.summary import summarize

SMALL = [p for p in SPACE_FILES if p.stem in ("mfas_avmnist", "bmnas_avmnist", "randomnet_avmnist", "zoph_le_macro")]


def inputs(graph, batch: int, seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, *graph[name].shape, generator=gen) for name in graph.inputs]


def run_forward_backward(graph) -> torch.nn.Module:
    net = build_module(graph)
    out = net(*inputs(graph, 2))
    assert out.shape == (2, *graph[graph.outputs[0]].shape)
    out.logsumexp(1).sum().backward()
    trainable = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    missing = [n for n, p in trainable if p.grad is None]
    ignoring = any(n.attrs.get("op") in ("zero", "none") for n in graph.nodes)  # x * 0 ignores y
    assert ignoring or not missing, f"no gradient reaches {missing[:5]}"
    return net


@pytest.mark.parametrize("path", GENOTYPE_FILES + SPACE_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_example_compiles_runs_forward_and_backward(path):
    space, geno, _ = load_genotype(str(path))
    run_forward_backward(lower(space, geno))


def test_darts_v2_has_the_reference_parameter_count():
    """DARTS cnn/train.py logs 'param size = 3.349342MB' for DARTS_V2 (C=36, 20 cells, no auxiliary)."""
    space, geno, _ = load_genotype("examples/genotypes/darts_v2.geno")
    assert summarize(build_module(lower(space, geno))).params == 3_349_342


def test_mfas_table1_parameter_count_by_hand():
    """Fusion Linear layers on concat widths 12+12, 48+6+100, 3+12+100, 3+3+100; head 100->10."""
    space, geno, _ = load_genotype("examples/genotypes/mfas_best_avmnist.geno")
    summary = summarize(build_module(lower(space, geno)))
    widths = [12 + 12, 48 + 6 + 100, 3 + 12 + 100, 3 + 3 + 100]
    assert summary.trainable == sum(w * 100 + 100 for w in widths) + 100 * 10 + 10
    lenet = lambda c, blocks: sum(  # noqa: E731 - conv (no bias) + BN (weight, bias)
        (c * 2 ** (i - 1) if i else 1) * c * 2 ** i * (25 if i == 0 else 9) + 2 * c * 2 ** i for i in range(blocks))
    assert summary.frozen == lenet(3, 3) + lenet(3, 5)


def test_frozen_backbones_get_no_gradient_and_stay_in_eval_mode():
    space, geno, _ = load_genotype("examples/genotypes/mfas_best_avmnist.geno")
    net = build_module(lower(space, geno)).train()
    backbone = net.module_of("image_net")
    assert not backbone.body.training and not any(p.requires_grad for p in backbone.parameters())


@pytest.mark.parametrize("path", SMALL, ids=lambda p: p.stem)
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_genotypes_of_small_spaces_run_forward_and_backward(path, data):
    space = genolang.load(path).space()  # check accepts it, so every genotype compiles (docs/language.md)
    run_forward_backward(lower(space, data.draw(genotypes(space))))


@pytest.mark.slow
@pytest.mark.parametrize("path", GENOTYPE_FILES, ids=lambda p: p.stem)
def test_every_example_genotype_exports_and_matches_onnxruntime(path, tmp_path):
    """export_compiled checks onnxruntime against torch before writing: here at batch 1 and 3 (a
    dynamic batch); batch 64, the default, is checked in test_compiler_export.py on a model small
    enough to run it quickly (on RandomNet's and DARTS's it took most of a minute)."""
    import onnx

    space, geno, _ = load_genotype(str(path))
    graph = lower(space, geno)
    report = export_compiled(graph, build_module(graph), tmp_path / "model.onnx", check_batches=(1, 3))
    assert report.batches == (1, 3) and max(report.max_abs_diff.values()) <= 1e-3
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "model.onnx")).metadata_props}
    assert meta["genolang.digest"] == geno.digest and meta["genolang.fingerprint"] == space.fingerprint
    assert genolang.loads(meta["genolang.genotype"], "meta.geno", spaces=[space]).genotype() == geno


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in SMALL if p.stem != "randomnet_avmnist"], ids=lambda p: p.stem)
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_genotypes_of_small_spaces_export(path, data, tmp_path_factory):
    space = genolang.load(path).space()
    graph = lower(space, data.draw(genotypes(space)))
    export_compiled(graph, build_module(graph), tmp_path_factory.mktemp("onnx") / "m.onnx", check_batches=(1, 3))
