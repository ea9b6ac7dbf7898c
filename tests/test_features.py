"""Frozen-prefix evaluation: the compiler's static split and the runtime's feature cache.

Oracles: the static set and boundary of known graphs (exact names); the prefix and rest nets
composed equal the full net (exact, in eval mode); a network trained on cached features
equals the same network trained on raw data (logits within 1e-5, equal val accuracy); cache
keys change with the frozen weights and the dataset, and stay for another genotype reading
the same taps.
"""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import EXAMPLES

import genolang
from genolang.compiler.compile import compile_genotype
from genolang.compiler.static import split_graph, split_net
from genolang.runtime.dataset import MultimodalDataset, Split
from genolang.runtime.features import FeatureCache
from genolang.runtime.train import TrainConfig, evaluate, train

MFAS = EXAMPLES / "spaces" / "mfas_avmnist.geno"
BEST = {"layers": 2, "fusion[0].a": "@audio_net.tap[4]", "fusion[0].b": "@image_net.tap[2]",
        "fusion[0].act": "relu", "fusion[1].a": "@audio_net.tap[1]", "fusion[1].b": "@image_net.tap[0]",
        "fusion[1].act": "sigmoid"}


@pytest.fixture(scope="module")
def mfas():
    return genolang.load(MFAS).space()


def av_data(seed: int = 0, n: tuple[int, int, int] = (96, 40, 40)) -> MultimodalDataset:
    gen = torch.Generator().manual_seed(seed)

    def split(k: int) -> Split:
        y = torch.randint(0, 10, (k,), generator=gen)
        image = torch.randint(0, 256, (k, 1, 28, 28), generator=gen, dtype=torch.uint8)
        audio = torch.randint(0, 256, (k, 1, 112, 112), generator=gen, dtype=torch.uint8)
        image[:, 0, :4, :4] = (y * 25).to(torch.uint8)[:, None, None]  # something to learn
        return Split({"image": image, "audio": audio}, y)

    return MultimodalDataset("av-synth", {"train": split(n[0]), "val": split(n[1]), "test": split(n[2])}, 10)


def test_the_static_set_and_boundary_of_an_mfas_genotype(mfas):
    graph = compile_genotype(mfas, mfas.validate(BEST)).graph
    cut = split_graph(graph)
    assert {"image", "audio", "image_net", "audio_net"} <= cut.static
    assert not any(n.startswith("fusion") for n in cut.static)
    assert set(cut.boundary) == {"image_net.tap[0]", "image_net.tap[2]", "audio_net.tap[1]", "audio_net.tap[4]"}
    assert cut.rest.inputs == cut.boundary and cut.prefix.outputs == cut.boundary
    assert all(graph[b].kind == "tap" for b in cut.cached) and cut.useful


def test_an_unfrozen_backbone_or_a_trainable_stem_is_not_static():
    doc = genolang.loads("""genolang 1
space s version 1 {
  input image { shape = [1, 28, 28] }
  backbone net { model = lenet_image; in = @image }
  head y { in = @net.tap[2]; classes = 10 }
}""")
    cut = split_graph(compile_genotype(doc.space(), doc.space().default()).graph)
    assert cut.static == {"image"} and cut.boundary == ("image",) and not cut.useful
    doc = genolang.load(EXAMPLES / "genotypes" / "randomnet_avdigits_sample.geno")
    genotype = doc.genotype()
    graph = compile_genotype(doc.space(genotype.space), genotype).graph
    assert split_graph(graph).static == {"image", "audio"}


def test_prefix_then_rest_is_the_full_network(mfas):
    net = compile_genotype(mfas, mfas.validate(BEST)).net.eval()
    prefix, rest, _ = split_net(net)
    x, a = torch.randn(5, 1, 28, 28), torch.randn(5, 1, 112, 112)
    assert torch.equal(rest(*prefix(x, a)), net(x, a))
    assert all(rest.module_of(n) is net.module_of(n) for n in rest.names if rest.module_of(n) is not None)


def test_signatures_name_what_is_computed_not_where(mfas):
    one = split_graph(compile_genotype(mfas, mfas.validate(BEST)).graph)
    other = dict(BEST, layers=1)
    two = split_graph(compile_genotype(mfas, mfas.validate({k: v for k, v in other.items()
                                                             if not k.startswith("fusion[1]")})).graph)
    assert one.signatures["audio_net.tap[4]"] == two.signatures["audio_net.tap[4]"]
    assert one.signatures["image_net.tap[0]"] != one.signatures["audio_net.tap[1]"]


def test_training_on_cached_features_equals_training_on_raw_data(mfas):
    data = av_data()
    genotype = mfas.validate(BEST)
    torch.manual_seed(3)
    raw_net = compile_genotype(mfas, genotype).net
    cached_net = copy.deepcopy(raw_net)
    config = TrainConfig(steps=6, batch_size=16, seed=5, amp=False)
    raw = train(raw_net, data, config, input_names=raw_net.input_names, device="cpu")
    cache = FeatureCache(data)
    rest, features = cache.prepare(cached_net)
    cached = train(rest, features, config, input_names=rest.input_names, device="cpu")
    assert cached.best_val.accuracy == raw.best_val.accuracy
    assert cached.best_val.loss == pytest.approx(raw.best_val.loss, abs=1e-5)
    test = data["test"]
    with torch.no_grad():
        a = raw_net.eval()(*(test.take(slice(None)).inputs[n].float() / 255 for n in raw_net.input_names))
        b = cached_net.eval()(*(test.inputs[n].float() / 255 for n in cached_net.input_names))
    assert (a - b).abs().max() < 1e-5
    metrics = evaluate(cached_net, data["test"], input_names=cached_net.input_names, task="single_label")
    assert metrics.accuracy == raw.test.accuracy


def test_the_cache_computes_once_and_reuses_memory_and_disk(mfas, tmp_path):
    data = av_data(1, (32, 16, 16))
    torch.manual_seed(0)
    net = compile_genotype(mfas, mfas.validate(BEST)).net
    cache = FeatureCache(data, cache_dir=tmp_path)
    _rest, feats = cache.prepare(net)
    # one pass computes every vector tap of the two backbones (3 + 5), not only the 4 read
    assert cache.computed == 1 and len(list((tmp_path / "features").glob("*.pt"))) == 8
    other = {"layers": 1, "fusion[0].a": "@audio_net.tap[3]", "fusion[0].b": "@image_net.tap[1]",
             "fusion[0].act": "relu"}
    cache.prepare(_with_backbones(compile_genotype(mfas, mfas.validate(other)).net, net))
    assert cache.computed == 1
    again = copy.deepcopy(net)
    _, feats2 = cache.prepare(again)
    assert cache.computed == 1
    fresh = FeatureCache(data, cache_dir=tmp_path)
    _, feats3 = fresh.prepare(net)
    assert fresh.computed == 0 and fresh.loaded == 4
    for split in data.splits:
        for name in feats[split].inputs:
            assert torch.equal(feats[split].inputs[name], feats3[split].inputs[name])
            assert torch.equal(feats[split].inputs[name], feats2[split].inputs[name])


def _with_backbones(net, source):
    for name in ("image_net", "audio_net"):
        net.module_of(name).load_state_dict(source.module_of(name).state_dict())
    return net


def test_keys_follow_the_frozen_weights_and_the_data(mfas):
    data = av_data(2, (16, 8, 8))
    torch.manual_seed(0)
    net = compile_genotype(mfas, mfas.validate(BEST)).net
    cut = split_graph(net.graph)
    cache = FeatureCache(data)
    before = cache.keys(net, cut.graph, cut.cached)
    with torch.no_grad():
        net.module_of("image_net").body.conv1.weight.add_(1.0)
    after = cache.keys(net, cut.graph, cut.cached)
    assert after["image_net.tap[0]"] != before["image_net.tap[0]"]
    assert after["audio_net.tap[1]"] == before["audio_net.tap[1]"]
    keys = FeatureCache(av_data(3, (16, 8, 8))).keys(net, cut.graph, cut.cached)
    assert keys["audio_net.tap[1]"] != after["audio_net.tap[1]"]


def test_a_torn_cache_file_is_recomputed(mfas, tmp_path):
    data = av_data(4, (16, 8, 8))
    net = compile_genotype(mfas, mfas.validate(BEST)).net
    FeatureCache(data, cache_dir=tmp_path).prepare(net)
    for path in (tmp_path / "features").glob("*.pt"):
        path.write_bytes(b"garbage")
    fresh = FeatureCache(data, cache_dir=tmp_path)
    fresh.prepare(net)
    assert fresh.computed == 1 and fresh.loaded == 0
