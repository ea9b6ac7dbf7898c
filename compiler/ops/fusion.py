"""The MFAS / RandomNet fusion layer ``fc`` on (N, D) vectors.

Source: MFAS reference code (jperezrua/mfas models/search/avmnist_searchable.py,
``Searchable_Audio_Image_Net``; seed_algorithms.md section 2.1): fusion layer l is
``z_l = cat(f_a[i], f_v[j], z_{l-1}) -> Linear(in, H) -> act -> Dropout``. The op is the
``Linear(in, H)`` (with bias, PyTorch's default as in the reference); the concatenation is the
node's ``combine = concat``, the activation its ``act``, and ``H`` its ``hidden`` field (the
op's ``c_out``). RandomNet's fusion layer (Eq. 1, ``act_d(W_d [x_d; y_d; f_{d-1}])``, section 6)
is the same op.
"""

from __future__ import annotations

from torch import nn

from genolang.compiler.ops.base import register_op


@register_op("fc")
def fc(*, c_in: int, c_out: int, stride: int = 1, affine: bool = True) -> nn.Module:
    """MFAS fusion layer: ``nn.Linear(c_in, hidden)`` on (N, D) (``stride``/``affine`` unused)."""
    return nn.Linear(c_in, c_out)
