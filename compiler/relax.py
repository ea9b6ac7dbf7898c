"""The continuous relaxation behind one-shot search: mixed ops, mixed inputs, arch parameters.

Building blocks of the supernet, independent of how a space is lowered to the Graph IR:

- :class:`MixedOp`: every candidate op of one decision on the same input(s), summed with
  the softmax weights (DARTS cnn/model_search.py ``MixedOp``; BM-NAS ``FusionMixedOp`` /
  ``NodeMixedOp``, seed_algorithms.md sections 1.2, 1.4 and 3).
- :class:`MixedInput`: the weighted sum over candidate inputs of one edge decision (the
  relaxed ``one``/``pick`` choice of an input; DARTS/BM-NAS sum every incoming edge).
- :class:`ArchParams`: the architecture logits (DARTS alpha, BM-NAS alpha/beta/gamma),
  one tensor per decision path, kept apart from the network weights. Init ``1e-3 * randn``
  (sections 1.5 and 3) from a generator seeded in the constructor; weights = softmax over
  the last dim.
- :func:`split_parameters`: the (network weights, arch params) split that searchers turn
  into two optimizers (DARTS/BM-NAS: SGD or Adam on the weights, ``Adam(arch, lr=3e-4,
  betas=(0.5, 0.999), weight_decay=1e-3)`` on the architecture).
- :func:`one_hot_`: logits whose softmax is exactly one-hot, so a supernet can be checked
  against the network derived from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from genolang.compiler.errors import OpParamError, ShapeError, UnknownNameError
from genolang.compiler.ops import OPS, OpSpec
from genolang.compiler.registry import close_names

#: the logit :func:`one_hot_` gives the candidates not chosen: ``exp(-1e4)`` is exactly 0
#: in float16, bfloat16, float32 and float64, and the value stays finite for optimizers.
ONE_HOT_LOW = -1.0e4

#: the standard deviation of the initial logits (DARTS and BM-NAS: ``1e-3 * randn``)
INIT_SCALE = 1.0e-3


def _is_pool(spec: OpSpec) -> bool:
    """Map-kind pooling ops get DARTS's trailing ``BatchNorm2d(C, affine=False)``."""
    return spec.kind == "map" and "pool" in spec.name


def _op_params(specs: Sequence[OpSpec], params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The subset of ``params`` each op declares; a parameter no op takes is refused."""
    unused = set(params) - {k for s in specs for k in s.params}
    if unused:
        raise OpParamError(f"mixed op over {[s.name for s in specs]}: no candidate takes "
                           f"parameter(s) {sorted(unused)}")
    return [{k: v for k, v in params.items() if k in s.params} for s in specs]


def _check_weights(weights: torch.Tensor, n: int, what: str) -> None:
    if weights.dim() != 1 or weights.shape[0] != n:
        raise ShapeError(f"{what} needs a weight vector of shape ({n},), got {list(weights.shape)}")


class MixedOp(nn.Module):
    """All candidate ops of one decision, mixed: ``forward(*xs, weights) = sum_k w_k op_k(*xs)``.

    As DARTS's ``MixedOp(C, stride)``: every op is built with ``affine=False`` (the default
    here) and map-kind pooling ops are followed by ``BatchNorm2d(c_out, affine=False)``
    (always non-affine, as DARTS hard-codes it). ``none`` / ``zero`` candidates are built
    like any other op. The candidates must share their kind and arity; binary ops (BM-NAS
    step ops) take ``forward(x, y, weights=w)``. ``params`` go to the ops that declare them.

    Every candidate is computed, even those of weight 0, so autograd always sees every
    branch (one forward, one graph, whatever the weights).
    """

    def __init__(self, ops: Sequence[str], *, c_in: int, c_out: int, stride: int = 1, affine: bool = False,
                 **params: Any):
        super().__init__()
        names = tuple(ops)
        if not names or len(set(names)) != len(names):
            raise OpParamError(f"a mixed op needs distinct candidate ops, got {list(names)}")
        specs = [OPS.get(n) for n in names]
        if len({(s.kind, s.arity) for s in specs}) != 1:
            raise OpParamError("mixed op candidates must share kind and arity, got "
                               + ", ".join(f"{s.name} ({s.kind}, arity {s.arity})" for s in specs))
        self.names: tuple[str, ...] = names
        self.kind: str = specs[0].kind
        self.arity: int = specs[0].arity
        self.ops = nn.ModuleList(self._build(s, p, c_in=c_in, c_out=c_out, stride=stride, affine=affine)
                                 for s, p in zip(specs, _op_params(specs, params)))

    @staticmethod
    def _build(spec: OpSpec, params: dict[str, Any], *, c_in: int, c_out: int, stride: int,
               affine: bool) -> nn.Module:
        op = spec.build(c_in=c_in, c_out=c_out, stride=stride, affine=affine, **params)
        if _is_pool(spec):
            return nn.Sequential(op, nn.BatchNorm2d(c_out, affine=False))
        return op

    def forward(self, *xs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """``sum_k weights[k] * op_k(*xs)`` over every candidate (``weights``: shape (n_ops,))."""
        if len(xs) != self.arity:
            raise ShapeError(f"mixed op over {list(self.names)} takes {self.arity} input(s), got {len(xs)}")
        _check_weights(weights, len(self.ops), f"mixed op over {list(self.names)}")
        out: torch.Tensor = weights[0] * self.ops[0](*xs)
        for w, op in zip(weights[1:], self.ops[1:]):
            out = out + w * op(*xs)
        return out

    def index(self, name: str) -> int:
        """The position of candidate ``name`` (its row in the weights)."""
        try:
            return self.names.index(name)
        except ValueError:
            raise UnknownNameError(f"mixed op has no candidate {name!r} (candidates: {list(self.names)})",
                                   close_names(name, list(self.names))) from None

    def extra_repr(self) -> str:
        return f"candidates={list(self.names)}"


class MixedInput(nn.Module):
    """The relaxed choice of an input: ``forward(xs, weights) = sum_j weights[j] * xs[j]``.

    Parameter-free; the candidates must have one shape (DARTS and BM-NAS sum the mixed edges
    of every earlier state).
    """

    def forward(self, xs: Sequence[torch.Tensor], weights: torch.Tensor) -> torch.Tensor:
        """The weighted sum of the candidate tensors ``xs`` (``weights``: shape (len(xs),))."""
        if not xs:
            raise ShapeError("a mixed input needs at least one candidate")
        _check_weights(weights, len(xs), "mixed input")
        out = weights[0] * xs[0]
        for w, x in zip(weights[1:], xs[1:]):
            out = out + w * x
        return out


def sanitize(path: str) -> str:
    """A parameter name for a decision path: every character but ``[0-9A-Za-z_]`` becomes ``_``."""
    return re.sub(r"[^0-9A-Za-z_]", "_", path)


def _shape(shape: int | Sequence[int]) -> tuple[int, ...]:
    dims = (int(shape),) if isinstance(shape, int) else tuple(int(d) for d in shape)
    if len(dims) not in (1, 2) or min(dims) < 1:
        raise ShapeError(f"arch logits take shape (n_candidates,) or (n_edges, n_ops), got {list(dims)}")
    return dims


class ArchParams(nn.Module):
    """The architecture parameters of a supernet, one logit tensor per decision path.

    ``ArchParams({"normal.n[0].x": (2, 8), "fusion.cell[0].in": 6}, seed=2)``; more with
    :meth:`add`. Each tensor is drawn as ``1e-3 * randn`` from a ``torch.Generator`` seeded
    here, in the order the paths are added (same seed and order, same logits). Paths are
    stored under :func:`sanitize`-d keys (a suffix ``_2``, ``_3``... separates two paths that
    sanitise alike); :meth:`key` tells which.

    ``parameters()`` of this module are exactly the arch params. Keep them apart from the
    network weights with :func:`split_parameters` and give each group its own optimizer.
    """

    def __init__(self, shapes: Mapping[str, int | Sequence[int]] | None = None, *, seed: int = 0,
                 scale: float = INIT_SCALE, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.seed, self.scale, self.dtype = int(seed), float(scale), dtype
        self.alphas = nn.ParameterDict()
        self._keys: dict[str, str] = {}
        self._generator = torch.Generator().manual_seed(self.seed)
        for path, shape in (shapes or {}).items():
            self.add(path, shape)

    def add(self, path: str, shape: int | Sequence[int]) -> nn.Parameter:
        """New logits for ``path`` of ``shape`` ((n,) or (n_edges, n_ops)); a path is added once."""
        if not isinstance(path, str) or not path:
            raise ValueError(f"an arch parameter needs a non-empty decision path, got {path!r}")
        if path in self._keys:
            raise ValueError(f"arch parameter {path!r} already exists")
        dims = _shape(shape)
        key, n = sanitize(path), 1
        while key in self.alphas:
            n += 1
            key = f"{sanitize(path)}_{n}"
        values = torch.randn(dims, generator=self._generator, dtype=self.dtype) * self.scale
        self.alphas[key] = nn.Parameter(values)
        self._keys[path] = key
        param: nn.Parameter = self.alphas[key]
        return param

    def key(self, path: str) -> str:
        """The parameter name ``path`` is stored under (in ``alphas`` and the state dict)."""
        try:
            return self._keys[path]
        except KeyError:
            raise UnknownNameError(f"no arch parameter {path!r}", close_names(path, list(self._keys))) from None

    def logits(self, path: str) -> nn.Parameter:
        """The logit tensor of ``path``."""
        param: nn.Parameter = self.alphas[self.key(path)]
        return param

    def weights(self, path: str) -> torch.Tensor:
        """``softmax(logits(path), dim=-1)`` (differentiable)."""
        return torch.softmax(self.logits(path), dim=-1)

    def paths(self) -> tuple[str, ...]:
        """The decision paths, in the order they were added."""
        return tuple(self._keys)

    def snapshot(self) -> dict[str, torch.Tensor]:
        """Detached softmax weights of every path (for logging and derivation)."""
        with torch.no_grad():
            return {p: self.weights(p).detach().clone() for p in self._keys}

    def __contains__(self, path: object) -> bool:
        return path in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def extra_repr(self) -> str:
        return f"seed={self.seed}, paths={len(self._keys)}"


def split_parameters(model: nn.Module, arch: ArchParams | Iterable[torch.Tensor], *,
                     trainable_only: bool = False) -> tuple[list[nn.Parameter], list[torch.Tensor]]:
    """``(weight_params, arch_params)``: the model's parameters minus the arch ones (by identity).

    ``model`` may or may not hold ``arch`` as a submodule. With ``trainable_only`` the weights
    leave out parameters with ``requires_grad=False`` (frozen backbones). Searchers build two
    optimizers from the result, e.g. ``SGD(weights, 0.025, momentum=0.9, weight_decay=3e-4)``
    and ``Adam(arch, 3e-4, betas=(0.5, 0.999), weight_decay=1e-3)`` (DARTS).
    """
    arch_params: list[torch.Tensor] = list(arch.parameters()) if isinstance(arch, nn.Module) else list(arch)
    arch_ids = {id(p) for p in arch_params}
    weights = [p for p in model.parameters()
               if id(p) not in arch_ids and (p.requires_grad or not trainable_only)]
    return weights, arch_params


def one_hot_(arch: ArchParams, path: str, index: int | Sequence[int]) -> None:
    """Set the logits of ``path`` so that their softmax is exactly one-hot at ``index``.

    1-D logits take an int; 2-D logits take one index per row, or an int for every row.
    The chosen logit becomes 0, the others :data:`ONE_HOT_LOW` (softmax gives exactly 1
    and 0). In place, without autograd.
    """
    logits = arch.logits(path)
    n_rows, n = (1, logits.shape[0]) if logits.dim() == 1 else tuple(logits.shape)
    picks = [index] * n_rows if isinstance(index, int) else [int(i) for i in index]
    if len(picks) != n_rows or (logits.dim() == 1 and not isinstance(index, int)):
        raise ShapeError(f"one_hot_ on {path!r} of shape {list(logits.shape)} got index {index!r}")
    for i in picks:
        if not 0 <= i < n:
            raise IndexError(f"one_hot_ on {path!r}: index {i} out of range 0..{n - 1}")
    with torch.no_grad():
        rows = logits.view(n_rows, n)
        rows.fill_(ONE_HOT_LOW)
        rows[torch.arange(rows.shape[0]), torch.tensor(picks)] = 0.0
