"""Metadata of the built-in ops, activations and backbones (torch-free; builders in genolang.compiler).

Importing this module registers every built-in entry in :data:`~genolang.opmeta.OP_META`,
:data:`~genolang.opmeta.ACTIVATION_META` and :data:`~genolang.opmeta.BACKBONE_META`; the
registries import it themselves the first time they are asked for a name. The compiler's op
families (genolang.compiler.ops) attach a builder to each op. Sources of each family are in
their compiler modules; the ops added for sequences, attention, embeddings, normalisation
and dropout are documented in docs/language.md ("Ops").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from genolang import shapes as S
from genolang.fields import Field
from genolang.opmeta import MetaShapeError, Shape, activation_meta, backbone_meta, no_macs, op_meta
from genolang.registry import REQUIRED

ENAS = "ENAS general_child.py _conv_branch/_pool_branch (seed_algorithms.md section 4.2)"
DARTS = "DARTS cnn/operations.py (seed_algorithms.md section 3)"
NASNET = "NASNet (Zoph et al. 2018, Section 3) in DARTS's ReLU-conv-BN form"
BMNAS = "BM-NAS node_operations.py STEP_STEP_OPS (seed_algorithms.md section 1.2)"

#: one line per built-in op for the reference table (docs/language.md)
DOCS: dict[str, str] = {
    **{f"conv{k}x{k}": f"ENAS branch: 1x1 conv-BN-ReLU, {k}x{k} conv, BN" for k in (3, 5)},
    **{f"sep{k}x{k}": f"ENAS branch: 1x1 conv-BN-ReLU, separable {k}x{k} conv, BN" for k in (3, 5)},
    "maxpool3x3": "ENAS branch: 1x1 conv-BN-ReLU, 3x3 max pool",
    "avgpool3x3": "ENAS branch: 1x1 conv-BN-ReLU, 3x3 average pool",
    "identity": "x (ReLU-1x1 conv-BN if the width changes; factorized reduction at stride 2)",
    "none": "DARTS zero: x * 0, subsampled by the stride",
    "skip_connect": "DARTS identity; FactorizedReduce at stride 2",
    **{f"sep_conv_{k}x{k}": f"DARTS SepConv: twice ReLU, depthwise {k}x{k}, 1x1, BN" for k in (3, 5, 7)},
    **{f"dil_conv_{k}x{k}": f"DARTS DilConv: ReLU, depthwise {k}x{k} with dilation 2, 1x1, BN" for k in (3, 5)},
    **{f"max_pool_{k}x{k}": f"{k}x{k} max pool, 'same' padding (1x1 calibration if the width changes)"
       for k in (3, 5, 7)},
    "avg_pool_3x3": "3x3 average pool, 'same' padding (1x1 calibration if the width changes)",
    **{f"conv1x{k}_{k}x1": f"NASNet: ReLU, 1x{k} then {k}x1 conv, BN" for k in (3, 7)},
    "conv1x1": "NASNet: ReLU, 1x1 conv, BN",
    "dilated_conv3x3": "NASNet: ReLU, 3x3 conv with dilation 2, BN",
    "conv": "Zoph & Le: conv FH x FW to `filters`, 'same' padding, BN",
    "fc": "MFAS fusion layer: Linear(D, hidden)",
    "zero": "BM-NAS step: x * 0",
    "sum": "BM-NAS step: x + y",
    "attention": "BM-NAS step: softmax(xᵀy / sqrt(C)) yᵀ (query x), dropout, LayerNorm([C, L])",
    "linear_glu": "BM-NAS step: cat(x, y), 1x1 Conv1d, BN, GLU, dropout",
    "concat_fc": "BM-NAS step: cat(x, y), 1x1 Conv1d to C, BN, ReLU, dropout",
}


def _op(name: str, kind: str, shape: Any, **meta: Any) -> Any:
    return op_meta(name, kind, shape, doc=meta.pop("doc", DOCS.get(name, "")), **meta)


# ---------------------------------------------------------------- ENAS / RandomNet (maps)

for _name, _k, _sep in (("conv3x3", 3, False), ("conv5x5", 5, False), ("sep3x3", 3, True), ("sep5x5", 5, True)):
    _op(_name, "map", S.window_shape(_k, _k), macs=S.enas_branch_macs(_k, separable=_sep), source=ENAS)
for _name in ("maxpool3x3", "avgpool3x3"):
    _op(_name, "map", S.window_shape(3, 3), macs=S.enas_pool_macs, source=ENAS)
_op("identity", "map", S.identity_like_shape, macs=S.identity_like_macs, max_stride=2,
        source="ENAS micro_child.py _enas_cell identity (seed_algorithms.md section 4.1)")

# ---------------------------------------------------------------- DARTS / NASNet (maps)

_op("none", "map", S.reduce_shape, macs=no_macs, source=DARTS)
_op("skip_connect", "map", S.identity_like_shape, macs=S.identity_like_macs, max_stride=2, source=DARTS)
for _k in (3, 5, 7):
    _op(f"sep_conv_{_k}x{_k}", "map", S.window_shape(_k, _k), macs=S.sep_macs(_k), source=DARTS)
for _k in (3, 5):
    _op(f"dil_conv_{_k}x{_k}", "map", S.window_shape(_k, _k, dil=2), macs=S.dil_macs(_k), source=DARTS)
for _name, _k, _src in (("max_pool_3x3", 3, DARTS), ("avg_pool_3x3", 3, DARTS), ("max_pool_5x5", 5, NASNET),
                        ("max_pool_7x7", 7, NASNET)):
    _op(_name, "map", S.window_shape(_k, _k), macs=S.pool_macs(_k), source=_src)
for _k in (3, 7):
    _op(f"conv1x{_k}_{_k}x1", "map", S.window_shape(_k, _k), macs=S.factorized_macs(_k), source=NASNET)
_op("conv1x1", "map", S.window_shape(1, 1), macs=S.full_conv_macs(1), source=NASNET)
_op("dilated_conv3x3", "map", S.window_shape(3, 3, dil=2), macs=S.full_conv_macs(3, 2), source=NASNET)

# ---------------------------------------------------------------- Zoph & Le, MFAS

KERNEL: dict[str, Any] = {"lo": 1, "hi": 31, "odd": True}
_op("conv", "map", S.macro_conv_shape, macs=S.macro_conv_macs,
        fields=(Field("kernel_h", "int", 3, **KERNEL, doc="filter height FH"),
                Field("kernel_w", "int", 3, **KERNEL, doc="filter width FW"),
                Field("kernel", "int", None, **KERNEL, optional=True, doc="sets FH and FW at once")),
        source="Zoph & Le 2017 conv2D(FH, FW, N) - BN (seed_algorithms.md section 5)")
_op("fc", "vector", S.vector_shape, macs=S.linear_macs,
        source="MFAS Searchable_Audio_Image_Net fusion layer Linear(in, H) (seed_algorithms.md section 2.1)")

# ---------------------------------------------------------------- BM-NAS step ops (seq, binary)

LENGTH = Field("length", "int", None, lo=1, optional=True, doc="sequence length L (set by the enclosing group)")
DROPOUT = Field("dropout", "float", 0.1, lo=0.0, hi=1.0, doc="dropout probability")
for _name, _macs in (("zero", no_macs), ("sum", no_macs), ("linear_glu", lambda s, **_: 4 * s[0][0] ** 2 * s[0][1]),
                     ("concat_fc", lambda s, **_: 2 * s[0][0] ** 2 * s[0][1])):
    _op(_name, "seq", S.step_shape, macs=_macs, arity=2, fields=(LENGTH, DROPOUT), keeps_width=True,
            source=BMNAS)
_op("attention", "seq", S.step_shape, macs=S.step_attention_macs, arity=2, keeps_width=True,
        fields=(Field("length", "int", REQUIRED, lo=1, doc="sequence length L"), DROPOUT), source=BMNAS)


# ---------------------------------------------------------------- sequences, attention, embeddings


def _conv1d_shape(in_shapes: tuple[Shape, ...], *, c_out: int, stride: int, kernel: int, dilation: int,
                  **_: Any) -> Shape:
    length = in_shapes[0][1]
    out = S.conv_len(length, kernel, stride, dilation * (kernel - 1) // 2, dilation)
    return (c_out, out)


def _conv1d_macs(in_shapes: tuple[Shape, ...], *, c_out: int, stride: int, kernel: int, **p: Any) -> int:
    _, length = _conv1d_shape(in_shapes, c_out=c_out, stride=stride, kernel=kernel, **p)
    return c_out * length * in_shapes[0][0] * kernel


_op("conv1d", "seq", _conv1d_shape, macs=_conv1d_macs, strided=True, width_param="filters",
        fields=(Field("kernel", "int", 3, **KERNEL, doc="kernel size K"),
                Field("dilation", "int", 1, lo=1, hi=16, doc="dilation")),
        source="1-D convolution over (C, L): Conv1d(C, filters, K, stride, 'same' padding, no bias) - BN",
        doc="Conv1d over sequences, 'same' padding; the stride divides L (rounding up).")


def tokens_of(shape: Shape, tokens: int) -> tuple[int, int]:
    """(T, E): the tokens and their width ``self_attention`` sees in an input of ``shape``.

    [C, L] -> L tokens of C; [C, H, W] -> H*W tokens of C; a vector [D] -> ``tokens`` tokens
    of D / tokens features (``tokens`` must divide D).
    """
    if len(shape) == 1:
        if shape[0] % tokens:
            raise MetaShapeError(f"op 'self_attention': tokens={tokens} does not divide the vector's {shape[0]} "
                                 "features")
        return tokens, shape[0] // tokens
    t = shape[1] * (shape[2] if len(shape) == 3 else 1)
    return t, shape[0]


def _attention_shape(in_shapes: tuple[Shape, ...], *, heads: int, tokens: int, **_: Any) -> Shape:
    if tokens != 1 and len(in_shapes[0]) != 1:
        raise MetaShapeError(f"op 'self_attention': tokens={tokens} applies to vector inputs only (the positions "
                             f"of a shape {list(in_shapes[0])} input are its tokens)")
    width = tokens_of(in_shapes[0], tokens)[1]
    if width % heads:
        raise MetaShapeError(f"op 'self_attention': heads={heads} does not divide the token width {width}")
    return in_shapes[0]


def _attention_fit(in_shapes: tuple[Shape, ...], params: dict[str, Any]) -> dict[str, Any]:
    """``tokens`` (vectors only) and ``heads`` lowered to the largest that divide the widths they split."""
    shape = in_shapes[0]
    tokens = S.divisor_at_most(shape[0], params["tokens"]) if len(shape) == 1 else 1
    heads = S.divisor_at_most(shape[0] // tokens, params["heads"])
    return {**params, "tokens": tokens, "heads": heads}


def _attention_macs(in_shapes: tuple[Shape, ...], *, tokens: int, **_: Any) -> int:
    t, e = tokens_of(in_shapes[0], tokens)
    return 4 * t * e * e + 2 * t * t * e


_op("self_attention", "any", _attention_shape, macs=_attention_macs, keeps_width=True, fit=_attention_fit,
        fields=(Field("heads", "int", 1, lo=1, hi=64, doc="attention heads, at most (the largest number not "
                                                               "above it that divides the token width)"),
                Field("tokens", "int", 1, lo=1, doc="tokens a vector input is split into, at most (the largest "
                                                       "number not above it that divides the vector's width; "
                                                       "positions are the tokens of maps and sequences)"),
                Field("dropout", "float", 0.0, lo=0.0, hi=1.0, doc="dropout on the attention weights")),
        source="multi-head self-attention (Vaswani et al. 2017): Q, K, V, output projections",
        doc="Multi-head self-attention over the positions of a map or sequence, or over `tokens` slices of a "
            "vector; output shape = input shape.")


def _embedding_shape(in_shapes: tuple[Shape, ...], *, c_out: int, **_: Any) -> Shape:
    return (c_out, in_shapes[0][0])


_op("embedding", "vector", _embedding_shape, macs=no_macs, width_param="dim", int_input=True,
        fields=(Field("vocab", "int", REQUIRED, lo=1, doc="number of token ids (ids are clamped to [0, vocab-1])"),),
        source="token embedding nn.Embedding(vocab, dim)",
        doc="Integer token ids [L] -> a sequence [dim, L] of their learned vectors.")

# ---------------------------------------------------------------- normalisation, dropout

EPS = Field("eps", "float", 1e-5, lo=1e-12, hi=1.0, doc="added to the variance")


def _group_shape(in_shapes: tuple[Shape, ...], *, groups: int, **_: Any) -> Shape:
    if in_shapes[0][0] % groups:
        raise MetaShapeError(f"op 'group_norm': groups={groups} does not divide the {in_shapes[0][0]} channels")
    return in_shapes[0]


def _group_fit(in_shapes: tuple[Shape, ...], params: dict[str, Any]) -> dict[str, Any]:
    """``groups`` lowered to the largest that divides the channels."""
    return {**params, "groups": S.divisor_at_most(in_shapes[0][0], params["groups"])}


_op("layer_norm", "any", S.same_shape, keeps_width=True, fields=(EPS,),
        source="LayerNorm (Ba et al. 2016) over the channels at each position",
        doc="LayerNorm over the channels (C of [C, L] or [C, H, W], D of a vector) at each position.")
_op("batch_norm", "any", S.same_shape, keeps_width=True,
        fields=(EPS, Field("momentum", "float", 0.1, lo=0.0, hi=1.0, doc="running-statistics momentum")),
        source="BatchNorm (Ioffe & Szegedy 2015): BatchNorm1d on vectors and sequences, BatchNorm2d on maps",
        doc="BatchNorm per channel: 1-D on vectors and sequences, 2-D on maps.")
_op("group_norm", "any", _group_shape, keeps_width=True, fit=_group_fit,
        fields=(Field("groups", "int", 1, lo=1, doc="channel groups, at most (the largest number not above "
                                                       "it that divides C)"), EPS),
        source="GroupNorm (Wu & He 2018)",
        doc="GroupNorm over channel groups; groups = 1 is LayerNorm over C and space.")
_op("dropout", "any", S.same_shape, keeps_width=True,
        fields=(Field("p", "float", 0.5, lo=0.0, hi=1.0, doc="drop probability (training only)"),),
        source="Dropout (Srivastava et al. 2014)", doc="Dropout in training, identity in eval and in ONNX.")

# ---------------------------------------------------------------- activations

for _name in ("relu", "sigmoid", "tanh", "identity"):
    activation_meta(_name)
activation_meta("leaky_relu", fields=(Field("negative_slope", "float", 0.01, lo=0.0, hi=1.0),))
activation_meta("gelu", fields=(Field("approximate", "str", "none", choices=("none", "tanh")),))

# ---------------------------------------------------------------- backbones

def lenet_accepts(blocks: int) -> Callable[[Shape], str | None]:
    """The GP-LeNets (compiler/backbones/lenet.py): (C, H, W) with H, W >= 2 ** (blocks - 1)."""

    def accepts(shape: Shape) -> str | None:
        if len(shape) != 3:
            return "the LeNets take (C, H, W) inputs"
        need = 2 ** (blocks - 1)
        return f"a {blocks}-block LeNet needs H, W >= {need}" if min(shape[1:]) < need else None

    return accepts


def small_cnn_accepts(convs: tuple[tuple[int, int], ...]) -> Callable[[Shape], str | None]:
    """The small CNNs (compiler/backbones/small_cnn.py): conv blocks of (kernel, padding), each pooled by 2."""

    def accepts(shape: Shape) -> str | None:
        if len(shape) != 3:
            return "a small CNN takes (C, H, W) inputs"
        h, w = shape[1:]
        for k, pad in convs:
            h, w = (h + 2 * pad - k + 1) // 2, (w + 2 * pad - k + 1) // 2
            if min(h, w) < 1:
                return "the input is too small for the conv blocks"
        return None

    return accepts


for _name, _taps, _accepts in (
        ("lenet_image", 3, lenet_accepts(3)), ("lenet_audio", 5, lenet_accepts(5)),
        ("lenet5", 4, small_cnn_accepts(((5, 2), (5, 0)))),
        ("spectro_cnn", 4, small_cnn_accepts(((5, 0), (5, 0), (3, 0)))),
        ("torchvision", None, None), ("custom", None, None)):
    backbone_meta(_name, taps=_taps, accepts=_accepts)
