"""PyTorch modules of the plugin's entries (imported when a network is built, never by ``check``).

An op builder takes ``c_in``, ``c_out``, ``stride``, ``affine`` and the op's fields as keyword
arguments and returns an ``nn.Module`` whose ``forward`` takes the op's inputs (``arity`` of
them, batch first). Written with ops the ONNX exporter knows (mean, linear, sigmoid, mul).
"""

from __future__ import annotations

import torch
from torch import nn


class SqueezeExcite(nn.Module):
    """x * sigmoid(W2 relu(W1 mean_hw(x))) (Hu et al. 2018)."""

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean(dim=(2, 3))))))
        return x * w[:, :, None, None]


def squeeze_excite(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True, reduction: int = 4) -> nn.Module:
    """The ``squeeze_excite`` op (keeps the width: c_out == c_in)."""
    return SqueezeExcite(c_in, reduction)


class Swish(nn.Module):
    """x * sigmoid(beta * x)."""

    def __init__(self, beta: float):
        super().__init__()
        self.beta = beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.beta * x)


def swish(*, beta: float = 1.0) -> nn.Module:
    """The ``swish`` activation."""
    return Swish(beta)
