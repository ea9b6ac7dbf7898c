"""MFAS's weight sharing (runtime/sharing.py LayerScheme): fusion layers only, keyed by layer
index, activation and shape, as the reference's ``get/set_central_states`` (seed_algorithms 2.6)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

import genolang
from genolang.compiler.compile import compile_genotype
from genolang.runtime.dataset import MultimodalDataset, Split
from genolang.runtime.sharing import LayerScheme, WeightBank, node_tensors
from genolang.searchers.base import make_searcher
from genolang.searchers.study import run_search

ROOT = Path(__file__).resolve().parents[1]
SPACE = genolang.load(ROOT / "examples/spaces/mfas_avmnist.geno").space()
SCHEME = LayerScheme(("fusion[0]", "fusion[1]", "fusion[2]", "fusion[3]"))
A_TAPS = (3, 6, 12, 24, 48)  # lenet_audio tap widths (c = 3)
I_TAPS = (3, 6, 12)          # lenet_image tap widths


def genotype(*layers: tuple[int, int, str]):
    values: dict = {"layers": len(layers)}
    for i, (a, b, act) in enumerate(layers):
        values |= {f"fusion[{i}].a": f"@audio_net.tap[{a}]", f"fusion[{i}].b": f"@image_net.tap[{b}]",
                   f"fusion[{i}].act": act}
    return SPACE.validate(values)


def net_of(g, seed: int = 0):
    torch.manual_seed(seed)
    return compile_genotype(SPACE, g).net


def reference_keys(*layers: tuple[int, int, str], hidden: int = 100) -> set:
    """The reference's keys "{l}.L_{in}_{out}.A_{act}", one weight and one bias per layer."""
    keys = set()
    for i, (a, b, act) in enumerate(layers):
        width = A_TAPS[a] + I_TAPS[b] + (hidden if i else 0)
        keys |= {(f"{i}.A_{act}", "fc.weight", (hidden, width)), (f"{i}.A_{act}", "fc.bias", (hidden,))}
    return keys


def test_only_fusion_layers_are_kept_under_layer_activation_and_shape() -> None:
    layers = ((1, 2, "sigmoid"), (4, 0, "relu"))
    bank = WeightBank(SCHEME)
    assert bank.store_from(net_of(genotype(*layers))) == 4
    assert set(bank.keys()) == reference_keys(*layers)  # no classifier, no backbone


def test_a_layer_loads_only_with_the_same_index_activation_and_shape() -> None:
    first = ((1, 2, "sigmoid"), (4, 0, "relu"))
    trained = net_of(genotype(*first), seed=1)
    bank = WeightBank(SCHEME)
    bank.store_from(trained)
    # layer 0 identical; layer 1 same shape, other activation; layer 2 = first's layer 1 at another index
    other = net_of(genotype((1, 2, "sigmoid"), (4, 0, "sigmoid"), (4, 0, "relu")), seed=2)
    before = {k: v.clone() for k, v in other.state_dict().items()}
    assert bank.load_into(other) == 2
    assert torch.equal(other.fusion_0__fc.weight, trained.fusion_0__fc.weight)
    assert torch.equal(other.fusion_0__fc.bias, trained.fusion_0__fc.bias)
    changed = {k for k, v in other.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"fusion_0__fc.weight", "fusion_0__fc.bias"}  # not the classifier, not layers 1 and 2


def test_the_default_scheme_still_shares_every_node() -> None:
    net = net_of(genotype((1, 2, "relu")))
    bank = WeightBank()
    assert bank.store_from(net) == len(list(node_tensors(net)))
    stored = bank.keys()  # a list (the bank is no dict)
    assert any(node == "classifier" for node, _, _ in stored)


def test_mfas_searcher_declares_the_layer_scheme() -> None:
    assert make_searcher("mfas", SPACE).sharing == SCHEME
    assert make_searcher("random", SPACE).sharing is None


def tiny_avmnist(n: int = 8) -> MultimodalDataset:
    gen = torch.Generator().manual_seed(0)

    def split() -> Split:
        return Split({"image": torch.randn(n, 1, 28, 28, generator=gen),
                      "audio": torch.randn(n, 1, 112, 112, generator=gen)}, torch.arange(n) % 10)

    return MultimodalDataset("tiny", {"train": split(), "val": split(), "test": split()}, num_classes=10)


def test_an_mfas_search_shares_what_the_reference_would(tmp_path: Path) -> None:
    result = run_search(SPACE, tiny_avmnist(), searcher="mfas", budget=6, steps=1, out_dir=tmp_path / "run",
                        features=False)
    seen: set = set()
    for trial in sorted(result.trials, key=lambda t: t.idx):
        keys = {key for key, _ in SCHEME(net_of(SPACE.validate(json.loads(trial.genotype)["values"])))}
        assert trial.metrics["shared_tensors"] == len(keys & seen), trial.idx
        seen |= keys
    saved = WeightBank.load(tmp_path / "run" / "shared_weights.pt")
    assert set(saved.keys()) == seen and all(node[0].isdigit() for node, _, _ in seen)
