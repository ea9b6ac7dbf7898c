"""The torch side of the ``resample`` adapter: nearest-neighbour resizing by fixed gathers.

:meth:`~genolang.compiler.builder.GraphBuilder.align_spatial` and ``align_length`` resize a
map (C, H, W) or a seq (C, L) whose size no halving reaches (30x30 against 32x32, 8x4
against 4x8, a stride of 3) to the size of the smallest value it meets. Position ``i`` of
an output of ``n_out`` reads input position ``floor(i * n_in / n_out)``, PyTorch's
``interpolate(mode="nearest")`` rule, written as ``index_select`` over constant index
buffers so that the ONNX graph is a plain Gather (exact parity, any batch).
"""

from __future__ import annotations

import torch
from torch import nn


def nearest_index(n_in: int, n_out: int) -> torch.Tensor:
    """Input positions read by the ``n_out`` output positions (nearest, floor rule)."""
    return torch.tensor([i * n_in // n_out for i in range(n_out)], dtype=torch.long)


class Resample(nn.Module):
    """(N, C, *sizes_in) -> (N, C, *sizes_out), each trailing dimension resized by a fixed gather."""

    def __init__(self, sizes_in: tuple[int, ...], sizes_out: tuple[int, ...]):
        super().__init__()
        self.dims = tuple(2 + i for i, (a, b) in enumerate(zip(sizes_in, sizes_out, strict=True)) if a != b)
        for dim in self.dims:
            self.register_buffer(f"index{dim}", nearest_index(sizes_in[dim - 2], sizes_out[dim - 2]),
                                 persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for dim in self.dims:
            x = x.index_select(dim, getattr(self, f"index{dim}"))
        return x
