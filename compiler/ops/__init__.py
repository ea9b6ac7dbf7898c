"""Op registry and the op families (ENAS/RandomNet, DARTS/NASNet, Zoph & Le, MFAS, BM-NAS,
sequences/attention/embeddings, normalisation/dropout).

Look an op up with ``OPS.get(name)`` (an :class:`OpSpec`); importing this package registers
every family.
"""

from __future__ import annotations

from genolang.compiler.ops import bmnas, darts, enas, fusion, macro, norm, sequence  # noqa: F401  (registration)
from genolang.compiler.ops.base import OPS, RANKS, OpSpec, Shape, register_op

__all__ = ["OPS", "RANKS", "OpSpec", "Shape", "register_op"]
