"""The main job: backbones pre-trained as part of it, the search on cached features, the final comparison.

Oracles: the baseline graphs' exact node lists; pre-training read back from its cache gives the
same tensors; the weights the job writes reproduce the test accuracy it reports; summary.json
holds every phase; the `pretrain` field's bounds.
"""

from __future__ import annotations

import json

import pytest
import torch
from conftest import EXAMPLES

import genolang
from genolang.cli import main
from genolang.compiler.baselines import late_fusion_graph, unimodal_graph
from genolang.compiler.compile import compile_genotype
from genolang.compiler.lower import lower
from genolang.errors import GenolangError
from genolang.runtime.evaluation import evaluate
from genolang.runtime.pretrain import apply_pretrained, pretrain_backbones
from genolang.runtime.train import load_weights

MAIN = EXAMPLES / "spaces" / "mfas_avdigits.geno"


def quick_space(tmp_path, epochs: int = 1):
    """The main job's space with ``pretrain = epochs`` (the file's own 10 take minutes)."""
    path = tmp_path / "main.geno"
    path.write_text(MAIN.read_text(encoding="utf-8").replace("pretrain = 10", f"pretrain = {epochs}"),
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    from genolang.runtime.data import load_dataset

    cache = tmp_path_factory.mktemp("cache")
    return load_dataset("avdigits-mini", seed=0, cache_dir=cache), cache


def test_the_pretrain_field_is_checked():
    text = MAIN.read_text(encoding="utf-8")
    assert lower(genolang.loads(text).space(), genolang.loads(text).space().default())["audio_net"].attrs[
        "pretrain"] == 10
    for bad in ("0", "1001", "2.5", "true"):
        with pytest.raises(GenolangError) as err:
            genolang.loads(text.replace("pretrain = 10 }       #", f"pretrain = {bad} }}       #")).space()
        assert err.value.diagnostics[0].code == "E0242" and err.value.line == 24


def test_baseline_graphs_on_the_main_space():
    space = genolang.load(MAIN).space()
    graph = lower(space, space.default())
    uni = unimodal_graph(graph, "audio_net")
    assert [(n.name, n.kind) for n in uni.nodes] == [
        ("audio", "input"), ("audio_net", "backbone"), ("audio_net.tap[3]", "tap"), ("classifier", "head")]
    assert uni["audio_net"].attrs["frozen"] is False and uni["classifier"].attrs["hidden"] is None
    late = late_fusion_graph(graph)
    assert [n.name for n in late.nodes if n.kind in ("tap", "concat", "head")] == [
        "image_net.tap[3]", "audio_net.tap[3]", "late_fusion/concat", "classifier"]
    assert late["late_fusion/concat"].shape == (84 + 128,) and late["classifier"].attrs["hidden"] == 100
    assert late["audio_net"].attrs["frozen"] is True


def test_pretraining_is_cached_and_loads_into_every_network(mini, tmp_path):
    data, _ = mini
    space = genolang.load(quick_space(tmp_path)).space()
    graph = lower(space, space.default())
    first = pretrain_backbones(graph, data, seed=0, cache_dir=tmp_path)
    again = pretrain_backbones(graph, data, seed=0, cache_dir=tmp_path)
    assert set(first) == {"image_net", "audio_net"} and not any(p.cached for p in first.values())
    assert all(p.cached for p in again.values())
    for name in first:
        assert first[name].state.keys() == again[name].state.keys()
        assert all(torch.equal(first[name].state[k], again[name].state[k]) for k in first[name].state)
        assert again[name].test_accuracy == first[name].test_accuracy
    other = pretrain_backbones(graph, data, seed=1, cache_dir=tmp_path)
    assert not any(p.cached for p in other.values())
    net = compile_genotype(space, space.sample(seed=3)).net
    assert apply_pretrained(net, first) == 2
    assert torch.equal(net.module_of("audio_net").state_dict()["body.hidden.0.weight"],
                       first["audio_net"].state["body.hidden.0.weight"])


def test_the_main_job_end_to_end_on_avdigits_mini(mini, tmp_path, monkeypatch, capsys):
    _, cache = mini
    monkeypatch.setenv("GENOLANG_CACHE", str(cache))
    space_file, out = quick_space(tmp_path), tmp_path / "run"
    code = main(["search", str(space_file), "--searcher", "mfas", "--budget", "4", "--steps", "5",
                 "--final-epochs", "2", "--data", "avdigits-mini", "-o", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "late fusion" in text and "searched - late fusion" in text and "phases" in text
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert set(summary["phases"]) == {"data", "pretrain", "search", "final"} and summary["done"] == 4
    rows = {r["name"]: r for r in summary["final"]["rows"]}
    assert list(rows) == ["searched", "late fusion", "image only", "audio only"]
    assert summary["final"]["margin_vs_late_fusion"] == pytest.approx(
        rows["searched"]["test_accuracy"] - rows["late fusion"]["test_accuracy"])
    assert rows["image only"]["test_accuracy"] == summary["pretrain"]["image_net"]["test_accuracy"]
    # the saved weights (backbones included) reproduce the reported test accuracy
    doc = genolang.load(out / "best.geno")
    best = doc.genotype()
    net = compile_genotype(doc.space(best.space), best).net
    load_weights(net, out / "final" / "model.pt")
    from genolang.runtime.data import load_dataset

    data = load_dataset("avdigits-mini", seed=0, cache_dir=cache)
    test = evaluate(net, data["test"], input_names=net.input_names, task="single_label")
    assert test.accuracy == rows["searched"]["test_accuracy"]
    assert len(list((cache / "backbones").glob("*.pt"))) == 2 and list((cache / "features").glob("*.pt"))


def test_supernet_searches_refuse_a_space_that_pretrains(tmp_path, capsys):
    code = main(["search", str(MAIN), "--searcher", "bmnas", "--epochs", "1", "--data", "avdigits-mini",
                 "-o", str(tmp_path / "run")])
    assert code == 2 and "does not pre-train backbones yet" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
