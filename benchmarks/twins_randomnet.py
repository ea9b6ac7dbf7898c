"""Hand-written PyTorch twin of the RandomNet AV-digits sample genotype (the runtime benchmark's reference).

:class:`RandomNetTwin` is examples/genotypes/randomnet_avdigits_sample.geno
(``Space.sample(seed=0)`` of examples/spaces/randomnet_avdigits.geno) written by hand, as a
user would: one class per searched cell with its five layers as named attributes and an
explicit ``forward``, one instance per stack item (its own weights), and the fusion layers
and head wired in :meth:`RandomNetTwin.forward`. Nothing reads a graph. Only leaf modules are
shared with the compiler (the ENAS ops :class:`ConvBranch` / :class:`PoolBranch` and the
stack-input projection :class:`ReLUConvBN`), so twin and compiled net run the same kernels
and any difference in speed is the compiler's wiring.

The genotype, 16 channels on 28 x 28 maps everywhere:

- image cell: sep5x5 sigmoid, conv3x3 identity, sep5x5 sigmoid, sep5x5 identity, and
  sep3x3 tanh of (layer 3 + layer 2);
- audio cell (after the fixed stem: 5x5 conv of stride 4 + BN, ReLU): avgpool3x3 tanh,
  sep3x3 relu, avgpool3x3 identity of (layer 1 + layer 0 + layer 1: ``x = @prev`` is layer 1
  and the skips are layers 0 and 1, so layer 1 is summed twice, left to right), sep5x5
  identity, sep5x5 sigmoid of (layer 3 + layer 1);
- every stack item starts with a ReLU-1x1 conv-BN projection of its input;
- fusion1 = sigmoid(fc(gap(image cell 0))); fusion2 = fc(fusion1) (identity act);
  fusion3 = tanh(fc(cat(gap(image 0), gap(image 1), gap(audio 0), gap(audio 2), fusion2)));
  head = Linear(100, 10).

No fusion layer reads the third image cell, so the compiler prunes it; the twin never has it.
Nothing is frozen. ``twin.load_from_compiled(net)`` copies every tensor by ``NODE_MAP``.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from benchmarks.twins import GENOTYPES, NodeMap, Twin
from genolang.compiler.lower import compile_file
from genolang.compiler.module import GraphNet, build_module
from genolang.compiler.ops.base import ReLUConvBN
from genolang.compiler.ops.enas import ConvBranch, PoolBranch

STEM = "randomnet_avdigits_sample"
WIDTH = 16
HIDDEN = 100
#: the op of each layer of the two cells, as the compiled graph names them (``layer[j]/<op>``)
IMAGE_OPS = ("sep5x5", "conv3x3", "sep5x5", "sep5x5", "sep3x3")
AUDIO_OPS = ("avgpool3x3", "sep3x3", "avgpool3x3", "sep5x5", "sep5x5")


def sep(k: int, c: int = WIDTH) -> ConvBranch:
    """ENAS separable k x k conv branch, c -> c, stride 1."""
    return ConvBranch(c, c, k, 1, separable=True)


def conv(k: int, c: int = WIDTH) -> ConvBranch:
    """ENAS k x k conv branch, c -> c, stride 1."""
    return ConvBranch(c, c, k, 1, separable=False)


def avgpool(c: int = WIDTH) -> PoolBranch:
    """ENAS 3x3 average-pool branch, c -> c, stride 1."""
    return PoolBranch(c, c, 1, avg=True)


class ImageCell(nn.Module):
    """One copy of the genotype's image cell, with its stack-input projection."""

    def __init__(self, c_in: int, c: int = WIDTH):
        super().__init__()
        self.pre = ReLUConvBN(c_in, c, 1)
        self.layer0 = sep(5, c)   # act sigmoid
        self.layer1 = conv(3, c)  # act identity
        self.layer2 = sep(5, c)   # act sigmoid
        self.layer3 = sep(5, c)   # act identity
        self.layer4 = sep(3, c)   # act tanh, skip from layer 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pre(x)
        h0 = torch.sigmoid(self.layer0(x))
        h1 = self.layer1(h0)
        h2 = torch.sigmoid(self.layer2(h1))
        h3 = self.layer3(h2)
        return torch.tanh(self.layer4(h3 + h2))


class AudioCell(nn.Module):
    """One copy of the genotype's audio cell, with its stack-input projection."""

    def __init__(self, c_in: int, c: int = WIDTH):
        super().__init__()
        self.pre = ReLUConvBN(c_in, c, 1)
        self.layer0 = avgpool(c)  # act tanh
        self.layer1 = sep(3, c)   # act relu
        self.layer2 = avgpool(c)  # act identity, skips from layers 0 and 1
        self.layer3 = sep(5, c)   # act identity
        self.layer4 = sep(5, c)   # act sigmoid, skip from layer 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pre(x)
        h0 = torch.tanh(self.layer0(x))
        h1 = torch.relu(self.layer1(h0))
        h2 = self.layer2(h1 + h0 + h1)
        h3 = self.layer3(h2)
        return torch.sigmoid(self.layer4(h3 + h1))


def cell_map(stack: str, attr: str, copies: int, ops: tuple[str, ...]) -> NodeMap:
    """NODE_MAP entries of ``copies`` stack items: ``<stack>[i].in`` -> ``<attr>i.pre``, layers alike."""
    entries: NodeMap = {}
    for i in range(copies):
        entries[f"{stack}[{i}].in"] = (f"{attr}{i}.pre", "")
        for j, op in enumerate(ops):
            entries[f"{stack}[{i}].layer[{j}]/{op}"] = (f"{attr}{i}.layer{j}", "")
    return entries


class RandomNetTwin(Twin):
    """The RandomNet AV-digits sample genotype (seed 0), written by hand."""

    FROZEN: ClassVar[tuple[str, ...]] = ()
    NODE_MAP: ClassVar[NodeMap] = {
        "audio_stem/conv": ("audio_stem", ""),
        **cell_map("image_stack", "image_cell", 2, IMAGE_OPS),
        **cell_map("audio_stack", "audio_cell", 3, AUDIO_OPS),
        "fusion1/fc": ("fusion1", ""), "fusion2/fc": ("fusion2", ""), "fusion3/fc": ("fusion3", ""),
        "classifier": ("classifier", "0"),
    }

    def __init__(self, c: int = WIDTH, hidden: int = HIDDEN, classes: int = 10):
        super().__init__()
        self.audio_stem = nn.Sequential(nn.Conv2d(1, c, 5, stride=4, padding=2, bias=False),
                                        nn.BatchNorm2d(c))  # 112 -> 28, then ReLU
        self.image_cell0 = ImageCell(1, c)
        self.image_cell1 = ImageCell(c, c)
        self.audio_cell0 = AudioCell(c, c)
        self.audio_cell1 = AudioCell(c, c)
        self.audio_cell2 = AudioCell(c, c)
        self.fusion1 = nn.Linear(c, hidden)                   # gap(image 0)
        self.fusion2 = nn.Linear(hidden, hidden)              # fusion1 only
        self.fusion3 = nn.Linear(4 * c + hidden, hidden)      # image 0, image 1, audio 0, audio 2, fusion2
        self.classifier = nn.Linear(hidden, classes)

    def forward(self, image: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        i0 = self.image_cell0(image)
        i1 = self.image_cell1(i0)
        a0 = self.audio_cell0(torch.relu(self.audio_stem(audio)))
        a1 = self.audio_cell1(a0)
        a2 = self.audio_cell2(a1)
        g_i0 = i0.mean((2, 3))
        z1 = torch.sigmoid(self.fusion1(g_i0))
        z2 = self.fusion2(z1)
        pooled = [g_i0, i1.mean((2, 3)), a0.mean((2, 3)), a2.mean((2, 3)), z2]
        z3 = torch.tanh(self.fusion3(torch.cat(pooled, dim=1)))
        return self.classifier(z3)


def build_pair(*, seed: int = 0) -> tuple[GraphNet, RandomNetTwin]:
    """(compiled net, twin loaded from it) for examples/genotypes/randomnet_avdigits_sample.geno."""
    torch.manual_seed(seed)
    _, _, graph = compile_file(str(GENOTYPES / f"{STEM}.geno"))
    net = build_module(graph)
    return net, RandomNetTwin().load_from_compiled(net)
