"""Ops over sequences and token sets: ``conv1d``, ``self_attention`` and ``embedding``.

Metadata and shape rules: :mod:`genolang.builtin_ops`; the language reference (docs/language.md,
"Ops") states the reshapes:

- ``conv1d``: Conv1d(C, filters, K, stride, padding d*(K-1)//2, dilation d, no bias) -> BN on
  (C, L), as ``conv`` is on maps (Zoph & Le's conv-BN; the node's ``act`` adds the ReLU).
- ``self_attention``: multi-head self-attention (Vaswani et al. 2017, section 3.2.2) with Q, K,
  V and output projections (bias), softmax(QKᵀ/sqrt(E/h))V per head. The input's positions are
  the tokens: (C, L) -> L tokens of width C; (C, H, W) -> H*W tokens of width C; a vector
  (D) -> ``tokens`` tokens of width D/tokens. The output is reshaped back to the input's
  shape. Written with explicit reshapes, ``matmul`` and ``softmax`` (no
  ``nn.MultiheadAttention``) so it exports to ONNX; no residual (a node without ``op``
  summing the attention and its input adds one).
- ``embedding``: token ids (N, L) -> (N, dim, L): nn.Embedding(vocab, dim) on the ids, which
  are read from any numeric input truncated toward zero and clamped to [0, vocab-1] (an
  ONNX graph's inputs are float32; an id outside the vocabulary maps to the nearest end).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from genolang.compiler.ops.base import register_op


@register_op("conv1d")
def conv1d(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True, kernel: int = 3,
           dilation: int = 1) -> nn.Module:
    """Conv1d(C, filters, K, stride, 'same' padding, dilation, no bias) -> BatchNorm1d."""
    pad = dilation * (kernel - 1) // 2
    return nn.Sequential(nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=pad, dilation=dilation, bias=False),
                         nn.BatchNorm1d(c_out, affine=affine))


class TokenAttention(nn.Module):
    """softmax(QKᵀ / sqrt(E/h)) V per head over (N, T, E) tokens, then the output projection."""

    def __init__(self, embed: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(embed, 3 * embed)
        self.out = nn.Linear(embed, embed)
        self.dropout = nn.Dropout(dropout)
        self.scale = 1.0 / math.sqrt(embed // heads)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        n, length, embed = t.shape
        q, k, v = self.qkv(t).reshape(n, length, 3, self.heads, embed // self.heads).permute(2, 0, 3, 1, 4)
        attn = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * self.scale, dim=-1)   # (N, h, T, T)
        out = torch.matmul(self.dropout(attn), v)                                         # (N, h, T, E/h)
        y: torch.Tensor = self.out(out.transpose(1, 2).reshape(n, length, embed))
        return y


class SelfAttention(nn.Module):
    """:class:`TokenAttention` on the tokens of a map, a sequence or a vector; output shaped as the input."""

    def __init__(self, width: int, *, heads: int = 1, tokens: int = 1, dropout: float = 0.0):
        super().__init__()
        self.tokens = tokens
        self.attn = TokenAttention(width // tokens, heads, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:                                   # (N, D) -> (N, tokens, D / tokens)
            y: torch.Tensor = self.attn(x.reshape(x.shape[0], self.tokens, -1))
            return y.reshape(x.shape)
        t = x.flatten(2).transpose(1, 2)                   # (N, C, L | H, W) -> (N, T, C)
        y = self.attn(t)
        return y.transpose(1, 2).reshape(x.shape)


@register_op("self_attention")
def self_attention(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True, heads: int = 1,
                   tokens: int = 1, dropout: float = 0.0) -> nn.Module:
    """Multi-head self-attention (Vaswani et al. 2017) over positions, or over ``tokens`` slices of a vector."""
    return SelfAttention(c_in, heads=heads, tokens=tokens, dropout=dropout)


class TokenEmbedding(nn.Module):
    """nn.Embedding(vocab, dim) on ids read from (N, L) numbers; (N, dim, L) out."""

    def __init__(self, vocab: int, dim: int):
        super().__init__()
        self.vocab = vocab
        self.table = nn.Embedding(vocab, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ids = x.to(torch.int64).clamp(0, self.vocab - 1)
        y: torch.Tensor = self.table(ids)
        return y.transpose(1, 2)


@register_op("embedding")
def embedding(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True, vocab: int) -> nn.Module:
    """Token ids [L] -> their learned vectors [dim, L] (``dim`` is the node's width field)."""
    return TokenEmbedding(vocab, c_out)
