"""BM-NAS step (node) ops: binary, (x, y) -> out, all on (N, C, L) with C in and C out.

Source: BM-NAS reference code (Somedaywilldo/BM-NAS models/search/darts/node_operations.py,
``STEP_STEP_OPS``; seed_algorithms.md section 1.2):

- ``sum``: ``x + y``.
- ``attention`` (``ScaledDotAttn(C, L)``): q = xᵀ (N, L, C), k = y (N, C, L), v = yᵀ;
  A = softmax(q·k / sqrt(C), -1); out = (A·v)ᵀ (N, C, L) -> Dropout -> LayerNorm([C, L]).
  No learned projections; x is the query, y the key and value. Written with explicit 3-D
  ``matmul``/``softmax`` (no 4-D attention, no ``nn.MultiheadAttention``) so it exports to ONNX.
- ``linear_glu``: cat([x, y], 1) -> Conv1d(2C, 2C, 1) -> BatchNorm1d(2C) -> GLU over channels
  -> Dropout.
- ``concat_fc``: cat -> Conv1d(2C, C, 1) -> BatchNorm1d(C) -> ReLU -> Dropout.
- ``zero``: the paper's fifth primitive (seed paper; absent from the reference code's
  searchable set, section 1.1): ``x * 0``, as DARTS's Zero.

Parameters shared by all five (so a supernet hands one set to every candidate): ``length``
(L; ``attention`` needs it for its LayerNorm) and ``dropout`` (the reference's ``drpt``;
default 0.1, the MM-IMDB setting and the value the reference hard-codes for attention's
dropout; a different ``dropout`` here also reaches attention).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from genolang.compiler.errors import OpParamError
from genolang.compiler.ops.base import register_op


class Zero(nn.Module):
    """BM-NAS paper's Zero step: ``x * 0`` (y is ignored)."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


class Sum(nn.Module):
    """BM-NAS ``Sum``: ``x + y``."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + y


class ScaledDotAttn(nn.Module):
    """BM-NAS ``ScaledDotAttn(C, L)``: parameter-free scaled dot-product attention + LayerNorm([C, L])."""

    def __init__(self, c: int, length: int, dropout: float = 0.1):
        super().__init__()
        self.scale = 1.0 / math.sqrt(c)
        self.dropout = nn.Dropout(dropout)
        self.ln = nn.LayerNorm([c, length])

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        q = x.transpose(1, 2)                                            # (N, L, C)
        scores = torch.matmul(q, y) * self.scale                         # (N, L, L)
        out = torch.matmul(torch.softmax(scores, dim=-1), y.transpose(1, 2))  # (N, L, C)
        res: torch.Tensor = self.ln(self.dropout(out.transpose(1, 2)))   # (N, C, L)
        return res


class LinearGLU(nn.Module):
    """BM-NAS ``LinearGLU(C)``: cat, Conv1d(2C, 2C, 1), BatchNorm1d(2C), GLU(dim=1), Dropout."""

    def __init__(self, c: int, dropout: float, *, affine: bool = True):
        super().__init__()
        self.conv = nn.Conv1d(2 * c, 2 * c, 1, 1)
        self.bn = nn.BatchNorm1d(2 * c, affine=affine)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = self.bn(self.conv(torch.cat([x, y], dim=1)))
        res: torch.Tensor = self.dropout(F.glu(out, dim=1))
        return res


class ConcatFC(nn.Module):
    """BM-NAS ``ConcatFC(C)``: cat, Conv1d(2C, C, 1), BatchNorm1d(C), ReLU, Dropout."""

    def __init__(self, c: int, dropout: float, *, affine: bool = True):
        super().__init__()
        self.conv = nn.Conv1d(2 * c, c, 1, 1)
        self.bn = nn.BatchNorm1d(c, affine=affine)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = self.bn(self.conv(torch.cat([x, y], dim=1)))
        res: torch.Tensor = self.dropout(F.relu(out))
        return res


@register_op("zero")
def zero(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True, length: int | None = None,
         dropout: float = 0.1) -> nn.Module:
    """BM-NAS paper Zero step primitive (not in the reference code's searchable set)."""
    return Zero()


@register_op("sum")
def sum_(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True, length: int | None = None,
         dropout: float = 0.1) -> nn.Module:
    """BM-NAS ``Sum``."""
    return Sum()


@register_op("attention")
def attention(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True, length: int,
              dropout: float = 0.1) -> nn.Module:
    """BM-NAS ``ScaledDotAttn(C, L)``; query x, key and value y."""
    if not isinstance(length, int) or length < 1:
        raise OpParamError(f"op 'attention' needs the sequence length L (a positive int), got {length!r}")
    return ScaledDotAttn(c_in, length, dropout)


@register_op("linear_glu")
def linear_glu(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True, length: int | None = None,
               dropout: float = 0.1) -> nn.Module:
    """BM-NAS ``LinearGLU``."""
    return LinearGLU(c_in, dropout, affine=affine)


@register_op("concat_fc")
def concat_fc(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True, length: int | None = None,
              dropout: float = 0.1) -> nn.Module:
    """BM-NAS ``ConcatFC``."""
    return ConcatFC(c_in, dropout, affine=affine)
