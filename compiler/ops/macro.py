"""Zoph & Le's macro convolution ``conv`` on (N, C, H, W) maps, with a searched kernel.

Source: Neural Architecture Search with Reinforcement Learning (Zoph & Le, ICLR 2017;
seed_algorithms.md section 5; examples/spaces/zoph_le_macro.geno). Each layer is
``conv2D(FH, FW, N) -> batch norm -> ReLU``; the controller picks the filter height
(``kernel_h``), width (``kernel_w``) and number (``filters``, the op's ``c_out``). The ReLU is
the node's ``act``. Padding keeps the size ('same'), so the kernels must be odd (the paper
searches {1, 3, 5, 7}); ``kernel`` sets both sides at once. No bias: BN follows.

With ``kernel_h = kernel_w = 3`` this is also exactly DARTS's stem (3x3 conv + BN, cnn/model.py).
"""

from __future__ import annotations

from torch import nn

from genolang.compiler.ops.base import compile_errors, register_op
from genolang.shapes import kernel_size

SOURCE = "Zoph & Le 2017 conv2D(FH, FW, N) - BN (seed_algorithms.md section 5)"


@register_op("conv")
def conv(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True, kernel_h: int = 3, kernel_w: int = 3,
         kernel: int | None = None) -> nn.Module:
    """Zoph & Le layer: Conv2d(c_in, filters, (FH, FW), stride, 'same' padding, no bias) -> BN."""
    with compile_errors():
        kh, kw = kernel_size(kernel_h=kernel_h, kernel_w=kernel_w, kernel=kernel)
    return nn.Sequential(nn.Conv2d(c_in, c_out, (kh, kw), stride=stride, padding=(kh // 2, kw // 2), bias=False),
                         nn.BatchNorm2d(c_out, affine=affine))
