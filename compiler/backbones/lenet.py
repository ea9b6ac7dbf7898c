"""The AV-MNIST LeNets of MFAS: ``lenet_image`` (GP_LeNet, 3 taps), ``lenet_audio`` (GP_LeNet_Deeper, 5 taps).

Source: MFAS reference code (jperezrua/mfas models/central/avmnist.py, copied verbatim in
BM-NAS; seed_algorithms.md section 2.2), with ``channels`` c (reference default 3, the MFAS
fork's AV-MNIST setting):

- block i: Conv2d (5x5 pad 2 for the first, 3x3 pad 1 after; no bias) -> BN -> ReLU, then
  max_pool2d(2); widths c, 2c, 4c (, 8c, 16c); Kaiming-uniform conv weights.
- taps = ``GlobalPooling2D`` (the mean over H x W) of each block's activation BEFORE its pool
  (gp1..gp3 of the image net) ...
- ... EXCEPT the audio net's gp1, which the reference takes AFTER the first max-pool
  (``gp1 = self.gp1(out)``); gp2..gp5 are before pooling. We keep that quirk, so that
  checkpoints and reported numbers of the reference stay comparable.

The reference's classifier (Linear(4c or 16c, 10) on the last tap) is not part of the
backbone: the network's head replaces it; ``classifier.*`` keys in a checkpoint are skipped
(the attribute names conv1, bn1, ... match the reference, so its state dicts load). The last
block's max-pool, whose output the reference never uses, is not computed.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from genolang.compiler.backbones.base import BACKBONES, Shape, load_weights
from genolang.compiler.errors import ShapeError

SOURCE = "MFAS models/central/avmnist.py (seed_algorithms.md section 2.2)"


class GPLeNet(nn.Module):
    """MFAS ``GP_LeNet`` (blocks=3, "LeNet-3") and ``GP_LeNet_Deeper`` (blocks=5, "LeNet-5") minus the classifier."""

    returns_tap_list = True  # forward gives the list of taps: the compiled forward calls it directly

    def __init__(self, in_channels: int, c: int = 3, *, blocks: int = 3, gp1_after_pool: bool = False):
        super().__init__()
        self.blocks = blocks
        self.gp1_after_pool = gp1_after_pool
        c_prev = in_channels
        for i in range(blocks):
            k = 5 if i == 0 else 3
            setattr(self, f"conv{i + 1}", nn.Conv2d(c_prev, c * 2 ** i, kernel_size=k, padding=k // 2, bias=False))
            setattr(self, f"bn{i + 1}", nn.BatchNorm2d(c * 2 ** i))
            c_prev = c * 2 ** i
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        for i in range(1, self.blocks + 1):
            act = F.relu(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x)))
            x = F.max_pool2d(act, 2) if i < self.blocks else act
            taps.append((x if i == 1 and self.gp1_after_pool else act).mean(dim=(2, 3)))
        return taps


def lenet_tap_shapes(in_shape: Shape, c: int, blocks: int) -> list[Shape]:
    """Closed form: tap i is a vector of c * 2**i; refuses inputs too small for the blocks."""
    if len(in_shape) != 3:
        raise ShapeError(f"the LeNets take (C, H, W) inputs, got {list(in_shape)}")
    need = 2 ** (blocks - 1)
    if min(in_shape[1:]) < need:
        raise ShapeError(f"a {blocks}-block LeNet needs H, W >= {need}, got {list(in_shape)}")
    return [(c * 2 ** i,) for i in range(blocks)]


def _build(in_shape: Shape, weights: Any, c: int, blocks: int) -> nn.Module:
    lenet_tap_shapes(in_shape, c, blocks)
    net = GPLeNet(in_shape[0], c, blocks=blocks, gp1_after_pool=blocks == 5)
    if weights is not None:
        load_weights(net, weights, ignore=("classifier.",))
    return net


@BACKBONES.register("lenet_image", taps=3, params={"c": 3}, source=SOURCE,
                    tap_shapes=lambda *, in_shape, c: lenet_tap_shapes(in_shape, c, 3))
def lenet_image(*, in_shape: Shape, weights: Any = None, c: int = 3) -> nn.Module:
    """MFAS GP_LeNet (LeNet-3): 3 conv blocks -> taps gp1, gp2, gp3 of widths c, 2c, 4c."""
    return _build(in_shape, weights, c, 3)


@BACKBONES.register("lenet_audio", taps=5, params={"c": 3}, source=SOURCE,
                    tap_shapes=lambda *, in_shape, c: lenet_tap_shapes(in_shape, c, 5))
def lenet_audio(*, in_shape: Shape, weights: Any = None, c: int = 3) -> nn.Module:
    """MFAS GP_LeNet_Deeper (LeNet-5): 5 conv blocks -> taps gp1 (after pool 1), gp2..gp5; widths c..16c."""
    return _build(in_shape, weights, c, 5)
