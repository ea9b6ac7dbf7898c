"""The compiled RandomNet AV-digits sample against its hand-written twin (benchmarks/twins_randomnet.py).

Same parameter counts; once the twin has loaded the compiled weights, identical outputs (eval
mode, batch 1 and 3), identical losses, gradients and BN statistics after one training step
(train mode). Also: the genotype file is what its header says (``Space.sample(0)``, the first
seed that compiles and reads both modalities), and the pruned third image cell is absent.
"""

from __future__ import annotations

from typing import ClassVar

import pytest
import torch
from torch.nn import functional as F

import genolang
from benchmarks.twins import GENOTYPES, example_inputs, named_tensors
from benchmarks.twins_randomnet import STEM, RandomNetTwin, build_pair
from genolang.compiler.module import GraphNet
from genolang.compiler.summary import summarize

EXACT = {"rtol": 0.0, "atol": 1e-6}


def counts(module: torch.nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts."""
    params = list(module.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def train_step(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...], labels: torch.Tensor) -> torch.Tensor:
    """One forward + cross-entropy + backward in train mode."""
    model.train()
    model.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(*inputs), labels)
    loss.backward()
    return loss.detach()


def prefixed(net: GraphNet, twin: RandomNetTwin, *, buffers: bool) -> list[tuple[str, str]]:
    """(compiled name, twin name) of every parameter (or buffer) by the twin's NODE_MAP."""
    pairs = []
    for node, (attr, sub) in twin.NODE_MAP.items():
        prefix = net.names[node] + (f".{sub}" if sub else "")
        module = twin.source_module(net, node)
        named = module.named_buffers() if buffers else module.named_parameters()
        pairs += [(f"{prefix}.{n}", f"{attr}.{n}") for n, _ in named]
    return pairs


@pytest.fixture()
def pair() -> tuple[GraphNet, RandomNetTwin]:
    """A fresh compiled net and its twin, loaded with its weights."""
    return build_pair()


def test_genotype_file_is_the_first_seed_reading_both_modalities() -> None:
    doc = genolang.load(GENOTYPES / f"{STEM}.geno")
    geno = doc.genotype()
    space = doc.space(geno.space)
    assert geno.values == space.sample(0).values
    # fusion1 reads one selection over both modalities (`xy`), fusion2 and 3 one per modality
    selected = [v for path, vs in geno.values.items() if path.startswith("fusion") and path.endswith(
        (".x", ".y", ".xy")) for v in vs]
    assert any(v.startswith("@image_stack") for v in selected)
    assert any(v.startswith("@audio_stack") for v in selected)


def test_parameter_counts_match(pair: tuple[GraphNet, RandomNetTwin]) -> None:
    net, twin = pair
    assert counts(twin) == counts(net)
    summary = summarize(net)
    assert counts(net) == (summary.params, summary.trainable) and summary.frozen == 0
    assert len(list(twin.buffers())) == len(list(net.buffers()))


@pytest.mark.parametrize("batch", [1, 3])
def test_outputs_match_in_eval(pair: tuple[GraphNet, RandomNetTwin], batch: int) -> None:
    net, twin = pair
    net.eval()
    twin.eval()
    inputs = example_inputs(net, batch, seed=batch)
    with torch.no_grad():
        expected = net(*inputs)
        got = twin(*inputs)
    assert got.shape == (batch, 10)
    torch.testing.assert_close(got, expected, **EXACT)


def test_gradients_match_after_one_step(pair: tuple[GraphNet, RandomNetTwin]) -> None:
    net, twin = pair
    inputs = example_inputs(net, 5, seed=7)
    labels = torch.tensor([0, 3, 9, 3, 1])
    torch.testing.assert_close(train_step(twin, inputs, labels), train_step(net, inputs, labels), **EXACT)
    compiled, mine = dict(net.named_parameters()), dict(twin.named_parameters())
    pairs = prefixed(net, twin, buffers=False)
    assert len(pairs) == len(compiled) == len(mine)
    for c_name, t_name in pairs:
        c_grad, t_grad = compiled[c_name].grad, mine[t_name].grad
        assert c_grad is not None and t_grad is not None, c_name
        torch.testing.assert_close(t_grad, c_grad, **EXACT, msg=f"gradient of {c_name}")


def test_train_mode_updates_the_same_buffers(pair: tuple[GraphNet, RandomNetTwin]) -> None:
    net, twin = pair
    inputs = example_inputs(net, 4, seed=3)
    labels = torch.tensor([1, 2, 3, 4])
    train_step(net, inputs, labels)
    train_step(twin, inputs, labels)
    theirs, mine = dict(net.named_buffers()), dict(twin.named_buffers())
    pairs = prefixed(net, twin, buffers=True)
    assert len(pairs) == len(theirs)
    for c_name, t_name in pairs:
        torch.testing.assert_close(mine[t_name], theirs[c_name], **EXACT, msg=c_name)


def test_load_copies_every_parameter_and_buffer(pair: tuple[GraphNet, RandomNetTwin]) -> None:
    net, twin = pair
    fresh = RandomNetTwin()
    tensors = named_tensors(fresh)
    with torch.no_grad():
        for t in tensors.values():
            if t.is_floating_point():
                t.fill_(0.5)
    fresh.load_from_compiled(net)
    for name, tensor in named_tensors(twin).items():
        assert torch.equal(tensors[name], tensor), name


def test_incomplete_mapping_is_refused(pair: tuple[GraphNet, RandomNetTwin]) -> None:
    class Partial(RandomNetTwin):
        NODE_MAP: ClassVar = {k: v for k, v in RandomNetTwin.NODE_MAP.items() if k != "audio_stack[2].in"}

    with pytest.raises(ValueError, match="audio_stack_2__in"):
        Partial().load_from_compiled(pair[0])


def test_third_image_cell_is_pruned(pair: tuple[GraphNet, RandomNetTwin]) -> None:
    net, twin = pair
    assert not any(n.name.startswith("image_stack[2]") for n in net.graph.nodes)
    assert any(n.name.startswith("audio_stack[2]") for n in net.graph.nodes)
    assert not hasattr(twin, "image_cell2")
