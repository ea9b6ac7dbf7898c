"""Shape and multiply-accumulate arithmetic of the built-in ops (pure Python, torch-free).

Shape rules take ``(in_shapes, *, c_out, stride, **params)`` with shapes that omit the batch
and return the output shape; MAC rules take the same and return multiply-accumulates per
sample of the convolutions, linears and matmuls (BN, pools and element-wise ops count 0).
Channel-keeping ops asked for ``c_out != c_in`` get the ENAS micro calibration (ReLU-1x1
conv-BN), counted by :func:`calibration_macs`.
"""

from __future__ import annotations

import math
from typing import Any

from genolang.opmeta import MacsFn, MetaError, MetaShapeError, Shape, ShapeFn


def divisor_at_most(n: int, k: int) -> int:
    """The largest divisor of ``n`` not above ``k`` (1 at least): how many heads or groups fit ``n``."""
    return next(d for d in range(max(1, min(n, k)), 0, -1) if n % d == 0)


def conv_len(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Output length of a convolution or pooling window (PyTorch floor rule)."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def window_shape(kh: int, kw: int, *, dil: int = 1) -> ShapeFn:
    """Shape rule of a ``kh x kw`` window with 'same' padding ``d*(k-1)//2`` at the stride; ``c_out`` channels."""

    def shape(in_shapes: tuple[Shape, ...], *, c_out: int, stride: int, **params: Any) -> Shape:
        h, w = in_shapes[0][1:]
        ph, pw = dil * (kh - 1) // 2, dil * (kw - 1) // 2
        return (c_out, conv_len(h, kh, stride, ph, dil), conv_len(w, kw, stride, pw, dil))

    return shape


def reduce_shape(in_shapes: tuple[Shape, ...], *, c_out: int, stride: int, **params: Any) -> Shape:
    """Shape of identity-like ops: H and W divided by the stride, rounded up."""
    h, w = in_shapes[0][1:]
    return (c_out, math.ceil(h / stride), math.ceil(w / stride))


def same_shape(in_shapes: tuple[Shape, ...], **_: Any) -> Shape:
    """Shape of width-keeping ops of any kind: the input's."""
    return in_shapes[0]


def conv_macs(c_in: int, c_out: int, kh: int, kw: int, h_out: int, w_out: int, groups: int = 1) -> int:
    """MACs of one 2-D convolution producing a ``c_out x h_out x w_out`` map."""
    return c_out * h_out * w_out * (c_in // groups) * kh * kw


def calibration_macs(c_in: int, c_out: int, h_out: int, w_out: int) -> int:
    """MACs of the 1x1 calibration a channel-keeping op gets when ``c_out != c_in``."""
    return 0 if c_in == c_out else conv_macs(c_in, c_out, 1, 1, h_out, w_out)


def factorized_reduce_macs(c_in: int, c_out: int, h: int, w: int) -> int:
    """MACs of DARTS's FactorizedReduce on an ``h x w`` input."""
    return conv_macs(c_in, c_out, 1, 1, math.ceil(h / 2), math.ceil(w / 2))


def identity_like_shape(in_shapes: tuple[Shape, ...], *, c_out: int, stride: int, **_: Any) -> Shape:
    """Shape of identity (stride 1, calibrated) or FactorizedReduce (stride 2); other strides refused."""
    if stride > 2:
        raise MetaError(f"identity-like ops support stride 1 or 2, got {stride}")
    return reduce_shape(in_shapes, c_out=c_out, stride=stride)


def identity_like_macs(in_shapes: tuple[Shape, ...], *, c_out: int, stride: int, **_: Any) -> int:
    """MACs of identity-like ops."""
    c_in, h, w = in_shapes[0]
    if stride == 1:
        return calibration_macs(c_in, c_out, h, w)
    return factorized_reduce_macs(c_in, c_out, h, w)


def out_hw(in_shapes: tuple[Shape, ...], k: int, stride: int, dil: int = 1) -> tuple[int, int]:
    """(H, W) after a k x k 'same' window with dilation ``dil`` at ``stride``."""
    _, h, w = in_shapes[0]
    p = dil * (k - 1) // 2
    return conv_len(h, k, stride, p, dil), conv_len(w, k, stride, p, dil)


# ---------------------------------------------------------------- ENAS branches


def enas_branch_macs(k: int, *, separable: bool) -> MacsFn:
    """ENAS conv branch: 1x1 conv, then a (separable) k x k conv."""

    def macs(in_shapes: tuple[Shape, ...], *, c_out: int, stride: int, **_: Any) -> int:
        c_in, h, w = in_shapes[0]
        ho, wo = out_hw(in_shapes, k, stride)
        first = conv_macs(c_in, c_out, 1, 1, h, w)
        if separable:
            return first + conv_macs(c_out, c_out, k, k, ho, wo, groups=c_out) + conv_macs(c_out, c_out, 1, 1, ho, wo)
        return first + conv_macs(c_out, c_out, k, k, ho, wo)

    return macs


def enas_pool_macs(in_shapes: tuple[Shape, ...], *, c_out: int, stride: int, **_: Any) -> int:
    """ENAS pool branch: its 1x1 conv."""
    c_in, h, w = in_shapes[0]
    return conv_macs(c_in, c_out, 1, 1, h, w)


# ---------------------------------------------------------------- DARTS / NASNet


def sep_macs(k: int) -> MacsFn:
    """DARTS SepConv: two depthwise k x k + pointwise pairs."""

    def macs(in_shapes: tuple[Shape, ...], *, c_out: int, stride: int, **_: Any) -> int:
        c = in_shapes[0][0]
        h, w = out_hw(in_shapes, k, stride)
        first = conv_macs(c, c, k, k, h, w, groups=c) + conv_macs(c, c, 1, 1, h, w)
        return first + conv_macs(c, c, k, k, h, w, groups=c) + conv_macs(c, c_out, 1, 1, h, w)

    return macs


def dil_macs(k: int) -> MacsFn:
    """DARTS DilConv: a depthwise k x k (dilation 2) and a pointwise conv."""

    def macs(in_shapes: tuple[Shape, ...], *, c_out: int, stride: int, **_: Any) -> int:
        c = in_shapes[0][0]
        h, w = out_hw(in_shapes, k, stride, dil=2)
        return conv_macs(c, c, k, k, h, w, groups=c) + conv_macs(c, c_out, 1, 1, h, w)

    return macs


def full_conv_macs(k: int, dil: int = 1) -> MacsFn:
    """One full k x k convolution."""

    def macs(in_shapes: tuple[Shape, ...], *, c_out: int, stride: int, **_: Any) -> int:
        h, w = out_hw(in_shapes, k, stride, dil)
        return conv_macs(in_shapes[0][0], c_out, k, k, h, w)

    return macs


def factorized_macs(k: int) -> MacsFn:
    """NASNet 1 x k then k x 1 convolution."""

    def macs(in_shapes: tuple[Shape, ...], *, c_out: int, stride: int, **_: Any) -> int:
        c, h = in_shapes[0][:2]
        h_out, w_out = out_hw(in_shapes, k, stride)
        return conv_macs(c, c, 1, k, h, w_out) + conv_macs(c, c_out, k, 1, h_out, w_out)

    return macs


def pool_macs(k: int) -> MacsFn:
    """A pool: only its calibration when the width changes."""

    def macs(in_shapes: tuple[Shape, ...], *, c_out: int, stride: int, **_: Any) -> int:
        return calibration_macs(in_shapes[0][0], c_out, *out_hw(in_shapes, k, stride))

    return macs


# ---------------------------------------------------------------- Zoph & Le conv


def kernel_size(*, kernel_h: int, kernel_w: int, kernel: int | None, **_: Any) -> tuple[int, int]:
    """(FH, FW) of ``conv``, ``kernel`` overriding both; even or non-positive sizes are refused."""
    kh, kw = (kernel, kernel) if kernel is not None else (kernel_h, kernel_w)
    for side, k in (("kernel_h", kh), ("kernel_w", kw)):
        if not isinstance(k, int) or k < 1 or k % 2 == 0:
            raise MetaError(f"op 'conv': {side} must be a positive odd integer ('same' padding), got {k!r}")
    return kh, kw


def macro_conv_shape(in_shapes: tuple[Shape, ...], *, c_out: int, stride: int, **params: Any) -> Shape:
    """``conv``: 'same' padding with the searched kernel."""
    h, w = in_shapes[0][1:]
    kh, kw = kernel_size(**params)
    return (c_out, conv_len(h, kh, stride, kh // 2), conv_len(w, kw, stride, kw // 2))


def macro_conv_macs(in_shapes: tuple[Shape, ...], *, c_out: int, stride: int, **params: Any) -> int:
    """``conv``: one FH x FW convolution."""
    kh, kw = kernel_size(**params)
    _, ho, wo = macro_conv_shape(in_shapes, c_out=c_out, stride=stride, **params)
    return conv_macs(in_shapes[0][0], c_out, kh, kw, ho, wo)


# ---------------------------------------------------------------- vectors and BM-NAS steps


def vector_shape(in_shapes: tuple[Shape, ...], *, c_out: int, **_: Any) -> Shape:
    """A vector of ``c_out`` features."""
    return (c_out,)


def linear_macs(in_shapes: tuple[Shape, ...], *, c_out: int, **_: Any) -> int:
    """``Linear(D, c_out)``."""
    return in_shapes[0][0] * c_out


def step_shape(in_shapes: tuple[Shape, ...], *, c_out: int, length: int | None = None, **_: Any) -> Shape:
    """BM-NAS step ops keep (C, L); a ``length`` they were built for must match."""
    if length is not None and length != in_shapes[0][1]:
        raise MetaShapeError(f"step op built for L={length} got inputs of length {in_shapes[0][1]}")
    return in_shapes[0]


def step_attention_macs(in_shapes: tuple[Shape, ...], **_: Any) -> int:
    """BM-NAS ScaledDotAttn: two (L x C) @ (C x L)-sized matmuls."""
    c, length = in_shapes[0]
    return 2 * c * length * length
