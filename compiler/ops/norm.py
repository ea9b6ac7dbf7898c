"""Normalisation and dropout as ops, on any kind of input: ``layer_norm``, ``batch_norm``,
``group_norm``, ``dropout``.

Metadata: :mod:`genolang.builtin_ops`. All keep the shape. The statistics:

- ``layer_norm``: over the channels at each position (C of (C, L) and (C, H, W), D of a
  vector), with a learned scale and shift per channel (Ba et al. 2016; ConvNeXt's
  channels-first LayerNorm on maps).
- ``batch_norm``: per channel over the batch and positions (Ioffe & Szegedy 2015):
  BatchNorm1d on (N, D) and (N, C, L), BatchNorm2d on (N, C, H, W), one module for all three.
- ``group_norm``: GroupNorm(groups, C) (Wu & He 2018) over channel groups and positions.
- ``dropout``: Dropout(p) in training; identity in eval and in the exported ONNX graph.

``affine=False`` (a supernet's MixedOp) drops the learned scale and shift, as DARTS's BN.
"""

from __future__ import annotations

import torch
from torch import nn

from genolang.compiler.errors import ShapeError
from genolang.compiler.ops.base import register_op


class ChannelLayerNorm(nn.Module):
    """LayerNorm over dim 1 (channels) of (N, C, *) inputs."""

    def __init__(self, channels: int, eps: float, affine: bool):
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=eps, elementwise_affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.norm(x.movedim(1, -1))
        return y.movedim(-1, 1)


class AnyBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm on (N, C), (N, C, L) or (N, C, H, W): PyTorch's BN, whatever the rank."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() not in (2, 3, 4):
            raise ShapeError(f"batch_norm takes (N, C), (N, C, L) or (N, C, H, W), got {input.dim()}-D")


class GroupNormAny(nn.GroupNorm):
    """GroupNorm accepting (N, C) vectors too (viewed as (N, C, 1))."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # torch.group_norm, not F.group_norm: the latter refuses one value per group at batch 1
        y = x.unsqueeze(-1) if x.dim() == 2 else x
        y = torch.group_norm(y, self.num_groups, self.weight, self.bias, self.eps)
        return y.squeeze(-1) if x.dim() == 2 else y


@register_op("layer_norm")
def layer_norm(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True, eps: float = 1e-5) -> nn.Module:
    """LayerNorm over the channels at each position."""
    return ChannelLayerNorm(c_in, eps, affine)


@register_op("batch_norm")
def batch_norm(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True, eps: float = 1e-5,
               momentum: float = 0.1) -> nn.Module:
    """BatchNorm per channel (1-D on vectors and sequences, 2-D on maps)."""
    return AnyBatchNorm(c_in, eps=eps, momentum=momentum, affine=affine)


@register_op("group_norm")
def group_norm(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True, groups: int = 1,
               eps: float = 1e-5) -> nn.Module:
    """GroupNorm(groups, C)."""
    return GroupNormAny(groups, c_in, eps=eps, affine=affine)


@register_op("dropout")
def dropout(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True, p: float = 0.5) -> nn.Module:
    """Dropout(p): training only."""
    return nn.Dropout(p)
