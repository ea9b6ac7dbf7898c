"""Small CNNs that train to convergence in about a minute on a CPU: ``lenet5`` and ``spectro_cnn``.

They are the unimodal networks of the AV-digits profile (the README's baselines: image only
about 0.74, audio only about 0.64 after 10 epochs on 3,500 pairs), with feature taps for
fusion search. MFAS's own LeNets (:mod:`genolang.compiler.backbones.lenet`) are kept for the
reference spaces; on AV-digits' 3,500 training pairs their global-pooled taps of 3 to 48
channels reach only 0.35 (image) and 0.42 (audio) in 10 epochs, and the 5-block net on
112 x 112 spectrograms costs minutes per epoch on two cores.

- ``lenet5`` (LeCun et al. 1998, with batch norm): conv 5x5 (pad 2) -> 6, BN, ReLU, pool 2;
  conv 5x5 -> 16, BN, ReLU, pool 2; Linear(16*5*5 -> 120), ReLU; Linear(120 -> 84), ReLU.
  Taps: the global mean of each conv block's activation (6, 16), then the two hidden
  layers (120, 84). Input (C, 28, 28) (or any H, W >= 12).
- ``spectro_cnn``: three conv blocks (5x5 -> 8, 5x5 -> 16, 3x3 -> 32, no padding, each BN,
  ReLU, pool 2) on a (C, 112, 112) spectrogram, dropout 0.3, Linear(32*11*11 -> 128), ReLU.
  Taps: the global mean of each block's activation (8, 16, 32) and the hidden layer (128).

Both scale their widths by ``width`` (default 1).
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from genolang.compiler.backbones.base import BACKBONES, Shape, load_weights
from genolang.compiler.errors import ShapeError

SOURCE = "AV-digits profile nets (README baselines); LeNet-5 after LeCun et al. 1998"


def _block(c_in: int, c_out: int, k: int, padding: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, padding=padding), nn.BatchNorm2d(c_out), nn.ReLU())


class SmallCNN(nn.Module):
    """Conv blocks (each followed by a 2x2 max pool), then hidden linear layers; taps as the module doc says."""

    returns_tap_list = True

    def __init__(self, in_shape: Shape, convs: list[tuple[int, int, int]], hidden: list[int], dropout: float = 0.0):
        super().__init__()
        c, h, w = in_shape
        blocks = []
        for c_out, k, pad in convs:
            blocks.append(_block(c, c_out, k, pad))
            c, h, w = c_out, (h + 2 * pad - k + 1) // 2, (w + 2 * pad - k + 1) // 2
            if min(h, w) < 1:
                raise ShapeError(f"input {list(in_shape)} is too small for the conv blocks")
        self.blocks = nn.ModuleList(blocks)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        sizes = [c * h * w, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        for block in self.blocks:
            x = block(x)
            taps.append(x.mean(dim=(2, 3)))
            x = F.max_pool2d(x, 2)
        x = self.dropout(x.flatten(1))
        for layer in self.hidden:
            x = F.relu(layer(x))
            taps.append(x)
        return taps


def _lenet5_spec(width: int) -> tuple[list[tuple[int, int, int]], list[int]]:
    return [(6 * width, 5, 2), (16 * width, 5, 0)], [120 * width, 84 * width]


def _spectro_spec(width: int) -> tuple[list[tuple[int, int, int]], list[int]]:
    return [(8 * width, 5, 0), (16 * width, 5, 0), (32 * width, 3, 0)], [128 * width]


def _shapes(in_shape: Shape, spec: tuple[list[tuple[int, int, int]], list[int]]) -> list[Shape]:
    if len(in_shape) != 3:
        raise ShapeError(f"a small CNN takes (C, H, W) inputs, got {list(in_shape)}")
    h, w = in_shape[1:]
    for _, k, pad in spec[0]:
        h, w = (h + 2 * pad - k + 1) // 2, (w + 2 * pad - k + 1) // 2
        if min(h, w) < 1:
            raise ShapeError(f"input {list(in_shape)} is too small for the conv blocks")
    shapes: list[Shape] = [(c,) for c, _, _ in spec[0]]
    return shapes + [(n,) for n in spec[1]]


def _build(in_shape: Shape, weights: Any, spec: tuple[list[tuple[int, int, int]], list[int]],
           dropout: float) -> nn.Module:
    net = SmallCNN(in_shape, *spec, dropout=dropout)
    if weights is not None:
        load_weights(net, weights)
    return net


@BACKBONES.register("lenet5", taps=4, params={"width": 1}, source=SOURCE,
                    tap_shapes=lambda *, in_shape, width: _shapes(in_shape, _lenet5_spec(width)))
def lenet5(*, in_shape: Shape, weights: Any = None, width: int = 1) -> nn.Module:
    """LeNet-5 with batch norm: taps 6, 16 (pooled conv blocks), 120, 84 (hidden layers), times ``width``."""
    return _build(in_shape, weights, _lenet5_spec(width), 0.0)


@BACKBONES.register("spectro_cnn", taps=4, params={"width": 1}, source=SOURCE,
                    tap_shapes=lambda *, in_shape, width: _shapes(in_shape, _spectro_spec(width)))
def spectro_cnn(*, in_shape: Shape, weights: Any = None, width: int = 1) -> nn.Module:
    """Three conv blocks and a hidden layer for spectrograms: taps 8, 16, 32, 128, times ``width``."""
    return _build(in_shape, weights, _spectro_spec(width), 0.3)
