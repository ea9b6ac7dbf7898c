"""Compiled networks against hand-written PyTorch twins (benchmarks/twins.py).

For the MFAS and BM-NAS example genotypes: the same parameter counts, and once the twin has
loaded the compiled weights, identical outputs (eval mode), identical gradients and BN
statistics after one training step (train mode, dropout masks drawn from the same seed).
"""

from __future__ import annotations

from typing import ClassVar

import pytest
import torch
from torch.nn import functional as F

from benchmarks.twins import (
    TWINS,
    BMNASTwin,
    MFASTwin,
    Twin,
    build_pair,
    example_inputs,
    named_tensors,
)
from genolang.compiler.module import GraphNet
from genolang.compiler.summary import summarize

STEMS = sorted(TWINS)
EXACT = {"rtol": 0.0, "atol": 1e-6}


def counts(module: torch.nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts."""
    params = list(module.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def train_step(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...], labels: torch.Tensor) -> torch.Tensor:
    """One forward + cross-entropy + backward in train mode, dropout drawn from seed 1234."""
    model.train()
    model.zero_grad(set_to_none=True)
    torch.manual_seed(1234)
    loss = F.cross_entropy(model(*inputs), labels)
    loss.backward()
    return loss.detach()


@pytest.mark.parametrize("stem", STEMS)
def test_parameter_counts_match(stem: str) -> None:
    net, twin = build_pair(stem)
    assert counts(twin) == counts(net)
    summary = summarize(net)
    assert counts(net) == (summary.params, summary.trainable)
    assert summary.frozen > 0  # the LeNets are frozen in both spaces


@pytest.mark.parametrize("stem", STEMS)
@pytest.mark.parametrize("batch", [1, 5])
def test_outputs_match_in_eval(stem: str, batch: int) -> None:
    net, twin = build_pair(stem)
    net.eval()
    twin.eval()
    inputs = example_inputs(net, batch, seed=batch)
    with torch.no_grad():
        expected = net(*inputs)
        got = twin(*inputs)
    assert got.shape == (batch, 10)
    torch.testing.assert_close(got, expected, **EXACT)


@pytest.mark.parametrize("stem", STEMS)
def test_gradients_match_after_one_step(stem: str) -> None:
    net, twin = build_pair(stem)
    inputs = example_inputs(net, 5, seed=7)
    labels = torch.tensor([0, 3, 9, 3, 1])
    torch.testing.assert_close(train_step(twin, inputs, labels), train_step(net, inputs, labels), **EXACT)
    compiled = dict(net.named_parameters())
    mine = dict(twin.named_parameters())
    pairs = twin.parameter_pairs(net)
    assert len(pairs) == len(compiled)
    for c_name, t_name in pairs:
        c_grad, t_grad = compiled[c_name].grad, mine[t_name].grad
        assert (c_grad is None) == (t_grad is None) == (not compiled[c_name].requires_grad), c_name
        if c_grad is not None:
            torch.testing.assert_close(t_grad, c_grad, **EXACT, msg=f"gradient of {c_name}")


@pytest.mark.parametrize("stem", STEMS)
def test_train_mode_updates_the_same_buffers(stem: str) -> None:
    net, twin = build_pair(stem)
    inputs = example_inputs(net, 4, seed=3)
    labels = torch.tensor([1, 2, 3, 4])
    train_step(net, inputs, labels)
    train_step(twin, inputs, labels)
    for name in twin.FROZEN:
        assert not twin.get_submodule(name).training  # frozen backbones stay in eval mode
        assert not net.get_submodule(name).body.training
    theirs, mine = dict(net.named_buffers()), dict(twin.named_buffers())
    for c_name, t_name in buffer_pairs(net, twin):
        torch.testing.assert_close(mine[t_name], theirs[c_name], **EXACT, msg=c_name)


def buffer_pairs(net: GraphNet, twin: Twin) -> list[tuple[str, str]]:
    """(compiled buffer name, twin buffer name) by the twin's NODE_MAP."""
    pairs = []
    for node, (attr, sub) in twin.NODE_MAP.items():
        prefix = net.names[node] + (f".{sub}" if sub else "")
        pairs += [(f"{prefix}.{n}", f"{attr}.{n}") for n, _ in twin.source_module(net, node).named_buffers()]
    return pairs


@pytest.mark.parametrize("stem", STEMS)
def test_load_copies_every_parameter_and_buffer(stem: str) -> None:
    net, twin = build_pair(stem)
    fresh = TWINS[stem]()
    tensors = named_tensors(fresh)
    with torch.no_grad():
        for t in tensors.values():
            if t.is_floating_point():
                t.fill_(0.5)
    fresh.load_from_compiled(net)
    for name, tensor in named_tensors(twin).items():
        assert torch.equal(tensors[name], tensor), name
    assert len(buffer_pairs(net, twin)) == len(dict(net.named_buffers()))


def test_incomplete_mapping_is_refused() -> None:
    class Partial(MFASTwin):
        NODE_MAP: ClassVar = {k: v for k, v in MFASTwin.NODE_MAP.items() if k != "classifier"}

    net, _ = build_pair("mfas_best_avmnist")
    with pytest.raises(ValueError, match="classifier"):
        Partial().load_from_compiled(net)


def test_bmnas_reads_no_image() -> None:
    net, twin = build_pair("bmnas_sample")
    assert "image_net" not in net.graph and not hasattr(twin, "image_net")  # pruned / never written
    net.eval()
    twin.eval()
    image, audio = example_inputs(net, 3, seed=11)
    with torch.no_grad():
        expected = net(image, audio)
        torch.testing.assert_close(twin(torch.zeros_like(image), audio), expected, **EXACT)
        torch.testing.assert_close(net(torch.zeros_like(image), audio), expected, **EXACT)


class _NoResidual(BMNASTwin):
    """The twin without the cells' ``+ x`` (the pre-fix BM-NAS cell)."""

    def forward(self, image: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        aud = self.audio_net(audio)
        a4, a3, a1 = self.seq_a4(aud[4]), self.seq_a3(aud[3]), self.seq_a1(aud[1])
        s00 = self.cell0_attention(a4, a3)
        cell0 = self.cell0_norm(self.cell0_proj(torch.cat([s00, self.cell0_glu(s00, a4)], dim=1)))
        cell1 = self.cell1_norm(self.cell1_proj(torch.cat([self.cell1_concat_fc(a4, a1), a1 + a4], dim=1)))
        return self.classifier(torch.relu(self.fusion_norm(torch.cat([cell0, cell1], dim=1))).flatten(1))


@pytest.mark.parametrize("variant", [_NoResidual])
def test_a_twin_missing_a_reference_piece_differs(variant: type[BMNASTwin]) -> None:
    """The output comparison can fail: the BM-NAS cell without its residual is another function."""
    net, _ = build_pair("bmnas_sample")
    wrong = variant().load_from_compiled(net)
    net.eval()
    wrong.eval()
    inputs = example_inputs(net, 5, seed=3)
    with torch.no_grad():
        assert not torch.allclose(wrong(*inputs), net(*inputs), atol=1e-3)
