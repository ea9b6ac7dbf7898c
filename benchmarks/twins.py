"""Hand-written PyTorch twins of two compiled example genotypes (the compiler's reference point).

Each twin is the network a user would write by hand for the same architecture: an explicit
``__init__`` with named layers and an explicit ``forward``; no graph is read at any time. Only
leaf modules are shared with the compiler (the LeNet body :class:`GPLeNet`, the BM-NAS step
ops and :class:`ToSeq`), so a twin and its compiled :class:`GraphNet` compute the same function
with the same kernels, and any difference in speed is the compiler's wiring.

- :class:`MFASTwin`: examples/genotypes/mfas_best_avmnist.geno, MFAS Table 1's best AV-MNIST
  fusion: frozen LeNet-3 (image) and LeNet-5 (audio); four fusion layers
  ``act(Linear(cat(audio tap, image tap, previous), 100))`` with sigmoid, relu, relu, sigmoid;
  head ``Linear(100, 10)``.
- :class:`BMNASTwin`: examples/genotypes/bmnas_sample.geno (``Space.sample(seed=0)`` of the
  BM-NAS space): audio taps 1, 3, 4 reshaped to (64, 8) sequences; cell 0 = attention and
  linear_glu, cell 1 = concat_fc and sum; each cell's steps concatenated, projected to C,
  plus its first input, LayerNorm; cells concatenated, LayerNorm, ReLU, flattened, head. This
  genotype reads no image tap, so the compiler prunes the image LeNet; the twin has none
  either and ignores its ``image`` argument.

``twin.load_from_compiled(net)`` copies every parameter and buffer of the compiled net by the
class's explicit ``NODE_MAP`` (graph node -> twin attribute), after which both give identical
outputs. :func:`build_pair` compiles a genotype and returns the matching twin, loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from genolang.compiler.backbones.lenet import GPLeNet
from genolang.compiler.lower import compile_file
from genolang.compiler.module import GraphNet, ToSeq, build_module
from genolang.compiler.ops.bmnas import ConcatFC, LinearGLU, ScaledDotAttn

ROOT = Path(__file__).resolve().parents[1]
GENOTYPES = ROOT / "examples" / "genotypes"

#: graph node name -> (twin attribute, submodule path inside the compiled node's module, "" = itself)
NodeMap = dict[str, tuple[str, str]]


def named_tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and buffers (persistent or not) of ``module`` by their dotted names."""
    return {**dict(module.named_parameters()), **dict(module.named_buffers())}


def copy_tensors(source: nn.Module, target: nn.Module) -> list[torch.Tensor]:
    """Copy every parameter and buffer of ``source`` into the same-named one of ``target``.

    The two must hold the same names and shapes; returns the source tensors copied.
    """
    src, dst = named_tensors(source), named_tensors(target)
    if src.keys() != dst.keys():
        raise ValueError(f"{type(source).__name__} and {type(target).__name__} hold different tensors: "
                         f"{sorted(src.keys() ^ dst.keys())}")
    with torch.no_grad():
        for name, tensor in src.items():
            if tensor.shape != dst[name].shape:
                raise ValueError(f"{name}: shape {list(tensor.shape)} vs {list(dst[name].shape)}")
            dst[name].copy_(tensor)
    return list(src.values())


class Twin(nn.Module):
    """Shared plumbing of the twins: frozen backbones and weight loading by ``NODE_MAP``."""

    NODE_MAP: ClassVar[NodeMap] = {}
    FROZEN: ClassVar[tuple[str, ...]] = ("image_net", "audio_net")

    def freeze_backbones(self) -> None:
        """No gradients for the backbones, and BN on their running statistics."""
        for name in self.FROZEN:
            getattr(self, name).requires_grad_(False).eval()

    def train(self, mode: bool = True) -> Twin:
        """Like :meth:`nn.Module.train`, but the frozen backbones stay in eval mode."""
        super().train(mode)
        for name in self.FROZEN:
            getattr(self, name).eval()
        return self

    def source_module(self, net: GraphNet, node: str) -> nn.Module:
        """The compiled module whose tensors fill the twin attribute mapped from ``node``."""
        module = net.module_of(node)
        if module is None:
            raise ValueError(f"node {node!r} has no module in the compiled net")
        sub = self.NODE_MAP[node][1]
        return module.get_submodule(sub) if sub else module

    def load_from_compiled(self, net: GraphNet) -> Twin:
        """Copy all parameters and buffers of ``net`` into this twin; every one must be mapped."""
        copied: list[torch.Tensor] = []
        for node, (attr, _) in self.NODE_MAP.items():
            copied += copy_tensors(self.source_module(net, node), self.get_submodule(attr))
        missed = [name for name, t in named_tensors(net).items() if not any(t is c for c in copied)]
        if missed:
            raise ValueError(f"NODE_MAP of {type(self).__name__} does not cover {missed}")
        return self

    def parameter_pairs(self, net: GraphNet) -> list[tuple[str, str]]:
        """(compiled parameter name, twin parameter name) for every parameter of ``net``."""
        pairs = []
        for node, (attr, sub) in self.NODE_MAP.items():
            prefix = net.names[node] + (f".{sub}" if sub else "")
            for name, _ in self.source_module(net, node).named_parameters():
                pairs.append((f"{prefix}.{name}", f"{attr}.{name}"))
        return pairs


class MFASTwin(Twin):
    """MFAS Table 1 best AV-MNIST fusion, written by hand."""

    NODE_MAP: ClassVar[NodeMap] = {
        "image_net": ("image_net", "body"), "audio_net": ("audio_net", "body"),
        "fusion[0]/fc": ("fc1", ""), "fusion[1]/fc": ("fc2", ""), "fusion[2]/fc": ("fc3", ""),
        "fusion[3]/fc": ("fc4", ""), "classifier": ("classifier", "0"),
    }

    def __init__(self, c: int = 3, hidden: int = 100, classes: int = 10):
        super().__init__()
        self.image_net = GPLeNet(1, c, blocks=3)                       # taps c, 2c, 4c
        self.audio_net = GPLeNet(1, c, blocks=5, gp1_after_pool=True)  # taps c, 2c, 4c, 8c, 16c
        self.fc1 = nn.Linear(4 * c + 4 * c, hidden)            # audio tap 2, image tap 2
        self.fc2 = nn.Linear(16 * c + 2 * c + hidden, hidden)  # audio tap 4, image tap 1, z1
        self.fc3 = nn.Linear(c + 4 * c + hidden, hidden)       # audio tap 0, image tap 2, z2
        self.fc4 = nn.Linear(c + c + hidden, hidden)           # audio tap 0, image tap 0, z3
        self.classifier = nn.Linear(hidden, classes)
        self.freeze_backbones()

    def forward(self, image: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        img = self.image_net(image)
        aud = self.audio_net(audio)
        z = torch.sigmoid(self.fc1(torch.cat([aud[2], img[2]], dim=1)))
        z = torch.relu(self.fc2(torch.cat([aud[4], img[1], z], dim=1)))
        z = torch.relu(self.fc3(torch.cat([aud[0], img[2], z], dim=1)))
        z = torch.sigmoid(self.fc4(torch.cat([aud[0], img[0], z], dim=1)))
        return self.classifier(z)


class BMNASTwin(Twin):
    """The BM-NAS sample genotype (seed 0), written by hand; the image input is unused.

    Cell and pre-classifier post-processing from the reference description (BM-NAS
    ``FusionNode`` / ``Found_FusionCell``, design notes "seed_algorithms" 1.4): a Cell's
    concatenated Steps (2C wide) are projected back to C by ``Conv1d(2C, C, 1)``-BN-ReLU,
    its first input x is added (``out + x``), then ``LayerNorm([C, L])``; the Cells'
    concatenation gets ``LayerNorm([2C, L])`` and ReLU before the flattening classifier.
    The 1x1 convolution has no bias (the BN right after it makes a bias redundant).
    """

    FROZEN: ClassVar[tuple[str, ...]] = ("audio_net",)
    NODE_MAP: ClassVar[NodeMap] = {
        "audio_net": ("audio_net", "body"),
        "audio_net.tap[1]/to_seq": ("seq_a1", ""), "audio_net.tap[3]/to_seq": ("seq_a3", ""),
        "audio_net.tap[4]/to_seq": ("seq_a4", ""),
        "fusion.cell[0].step[0]": ("cell0_attention", ""), "fusion.cell[0].step[1]": ("cell0_glu", ""),
        "fusion.cell[0]/post_project": ("cell0_proj", ""), "fusion.cell[0]/post_layernorm": ("cell0_norm", ""),
        "fusion.cell[1].step[0]": ("cell1_concat_fc", ""),
        "fusion.cell[1]/post_project": ("cell1_proj", ""), "fusion.cell[1]/post_layernorm": ("cell1_norm", ""),
        "fusion/post_layernorm": ("fusion_norm", ""), "classifier": ("classifier", "0"),
    }

    def __init__(self, c: int = 3, channels: int = 64, length: int = 8, dropout: float = 0.1,
                 classes: int = 10):
        super().__init__()
        self.audio_net = GPLeNet(1, c, blocks=5, gp1_after_pool=True)
        self.seq_a1 = ToSeq(2 * c, channels, length)   # audio tap 1 (6 wide) -> (64, 8)
        self.seq_a3 = ToSeq(8 * c, channels, length)   # audio tap 3 (24 wide)
        self.seq_a4 = ToSeq(16 * c, channels, length)  # audio tap 4 (48 wide)
        self.cell0_attention = ScaledDotAttn(channels, length, dropout)
        self.cell0_glu = LinearGLU(channels, dropout)
        self.cell0_proj = _conv_bn_relu(2 * channels, channels)
        self.cell0_norm = nn.LayerNorm([channels, length])
        self.cell1_concat_fc = ConcatFC(channels, dropout)
        self.cell1_proj = _conv_bn_relu(2 * channels, channels)
        self.cell1_norm = nn.LayerNorm([channels, length])
        self.fusion_norm = nn.LayerNorm([2 * channels, length])
        self.classifier = nn.Linear(2 * channels * length, classes)
        self.freeze_backbones()

    def forward(self, image: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        aud = self.audio_net(audio)  # no image tap is used
        a4, a3 = self.seq_a4(aud[4]), self.seq_a3(aud[3])
        s00 = self.cell0_attention(a4, a3)  # query a4; key and value a3
        s01 = self.cell0_glu(s00, a4)
        cell0 = self.cell0_norm(self.cell0_proj(torch.cat([s00, s01], dim=1)) + a3)  # x = its first input, a3
        a1 = self.seq_a1(aud[1])
        s10 = self.cell1_concat_fc(a4, a1)
        s11 = a1 + a4
        cell1 = self.cell1_norm(self.cell1_proj(torch.cat([s10, s11], dim=1)) + a1)  # x = a1
        fused = torch.relu(self.fusion_norm(torch.cat([cell0, cell1], dim=1)))
        return self.classifier(fused.flatten(1))


def _conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(c_in, c_out, 1, bias=False), nn.BatchNorm1d(c_out), nn.ReLU())


#: example genotype file stem -> its twin class
TWINS: dict[str, type[Twin]] = {"mfas_best_avmnist": MFASTwin, "bmnas_sample": BMNASTwin}


def build_pair(stem: str, *, seed: int = 0) -> tuple[GraphNet, Twin]:
    """(compiled net, twin loaded from it) for ``examples/genotypes/<stem>.geno``."""
    torch.manual_seed(seed)
    _, _, graph = compile_file(str(GENOTYPES / f"{stem}.geno"))
    net = build_module(graph)
    twin = TWINS[stem]().load_from_compiled(net)
    return net, twin


def example_inputs(net: GraphNet, batch: int, *, seed: int = 0,
                   device: str | torch.device = "cpu") -> tuple[torch.Tensor, ...]:
    """Seeded random inputs for ``net`` (graph input order) at ``batch``."""
    gen = torch.Generator().manual_seed(seed)
    shapes = net.graph.input_shapes()
    return tuple(torch.randn(batch, *shapes[name], generator=gen).to(device) for name in net.graph.inputs)
