"""The built-in names of the language, readable without torch.

The op, activation and backbone names listed here are the BUILT-IN ones; the names ``check``
accepts come from the metadata registries of :mod:`genolang.opmeta` (these built-ins, ops
added with ``register_op`` and those of installed plugins): :func:`known_ops`,
:func:`known_activations`, :func:`known_backbones`. Tests check that the built-in metadata,
the compiler's registries and these lists agree.
"""

from __future__ import annotations

OPS: frozenset[str] = frozenset({
    # ENAS / RandomNet cell ops
    "conv3x3", "conv5x5", "sep3x3", "sep5x5", "maxpool3x3", "avgpool3x3", "identity",
    # DARTS primitives
    "none", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
    "max_pool_3x3", "avg_pool_3x3",
    # Zoph & Le convolution with searched kernel and filters; MFAS/RandomNet fusion layer
    "conv", "fc",
    # BM-NAS binary step ops on (N, C, L)
    "zero", "sum", "attention", "linear_glu", "concat_fc",
    # NASNet (Zoph et al. 2018) ops not covered above; sep_conv_7x7 is applied twice as in DARTS
    "conv1x1", "conv1x3_3x1", "conv1x7_7x1", "dilated_conv3x3", "max_pool_5x5", "max_pool_7x7",
    "sep_conv_7x7",
    # sequences, attention, embeddings, normalisation, dropout (docs/language.md, "Ops")
    "conv1d", "self_attention", "embedding", "layer_norm", "batch_norm", "group_norm", "dropout",
})

ACTIVATIONS: frozenset[str] = frozenset({"relu", "tanh", "sigmoid", "identity", "leaky_relu", "gelu"})

#: how a node merges several inputs before its op
COMBINES: frozenset[str] = frozenset({"sum", "concat"})

#: what a group (cell) outputs
OUTPUTS: frozenset[str] = frozenset({"last", "concat_all", "sum_all", "concat_loose", "sum_loose"})

#: a group's or cell's post-processing steps (``post = [project, residual, layernorm]``), in order
POSTS: frozenset[str] = frozenset({"project", "residual", "layernorm", "relu"})

#: built-in backbones and their number of feature taps (None: the file must say ``taps``)
BACKBONES: dict[str, int | None] = {
    "lenet_image": 3,     # MFAS GP_LeNet, 3 conv blocks
    "lenet_audio": 5,     # MFAS GP_LeNet_Deeper, 5 conv blocks
    "lenet5": 4,          # LeNet-5 with batch norm (AV-digits image profile)
    "spectro_cnn": 4,     # 3-block spectrogram CNN (AV-digits audio profile)
    "torchvision": None,  # any torchvision model, tapped by node names
    "custom": None,       # a user's package.module:factory
}

TASKS: frozenset[str] = frozenset({"single_label", "multi_label"})
FRONTENDS: frozenset[str] = frozenset({"log_mel"})
DTYPES: frozenset[str] = frozenset({"float32", "float16", "int64"})

#: block kinds and the fields each accepts (None: open set, op parameters allowed)
BLOCK_FIELDS: dict[str, frozenset[str] | None] = {
    "group": frozenset({"in", "out", "channels", "length", "post"}),  # BM-NAS (N, C, L): channels C, length L
    "input": frozenset({"shape", "dtype", "frontend"}),
    "backbone": frozenset({"model", "in", "frozen", "taps", "weights", "factory", "name", "pretrain"}),
    "node": None,
    "cell": frozenset({"in", "out", "stride", "channels", "post"}),
    "stack": frozenset({"in", "cells", "channels"}),
    "head": frozenset({"in", "classes", "task", "hidden", "dropout"}),
}

#: budget metrics and their unit multipliers
METRICS: dict[str, dict[str, float]] = {
    "params": {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12},
    "flops": {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12},
    "latency": {"us": 1e-6, "ms": 1e-3, "s": 1.0},
}


def known_ops() -> frozenset[str]:
    """Every op name the language accepts now (built-in, registered at run time, plugins)."""
    from genolang.opmeta import OP_META

    return frozenset(OP_META.names())


def known_activations() -> frozenset[str]:
    """Every activation name the language accepts now."""
    from genolang.opmeta import ACTIVATION_META

    return frozenset(ACTIVATION_META.names())


def known_backbones() -> dict[str, int | None]:
    """Every backbone model the language accepts now, with its number of taps (None: say ``taps``)."""
    from genolang.opmeta import BACKBONE_META

    return {name: meta.taps for name, meta in BACKBONE_META.items()}


def field_catalog(kind: str, field: str) -> tuple[frozenset[str], str] | None:
    """Names a field's symbols must come from, e.g. node ``op`` -> the op catalog."""
    if kind == "node" and field in ("op", "act", "combine"):
        if field == "op":
            return known_ops(), "op"
        if field == "act":
            return known_activations(), "activation"
        return COMBINES, "combine rule"
    if kind in ("group", "cell") and field == "out":
        return OUTPUTS, "output rule"
    return None
