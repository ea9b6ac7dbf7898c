"""Derivation rules: from relaxed architecture weights to discrete choices (pure functions).

Each rule takes softmax weights (a torch tensor or nested lists of floats) and returns
indices (and op names), reproducing the reference code's tie-breaking exactly:

- :func:`argmax_op`: the first maximum (DARTS's ``k_best`` loop uses a strict ``>``).
- :func:`darts_top_k` / :func:`darts_parse`: DARTS ``genotype()._parse`` (quark0/darts
  cnn/model_search.py; seed_algorithms.md section 3), also BM-NAS's inner-step rule
  (``FusionNode.node_genotype``, section 1.7): per node, the ``k`` incoming edges with the
  largest max non-``none`` weight (Python's stable ``sorted`` on ``-max``: ties keep the lower
  edge first), each with its best non-``none`` op.
- :func:`bmnas_pair_rule` / :func:`bmnas_derive_cells` / :func:`bmnas_parse`: BM-NAS
  ``FusionNetwork.genotype`` "sample strategy v3" (section 1.7): per cell, the unordered
  input pair (j < k), not both already selected, maximising the product of the two inputs'
  max non-``none`` weights; the first maximum in (j, k) lexicographic order wins.
- :func:`top_k_inputs`: plain ``one``/``pick``/``choose`` input decisions.

Excluded op names that are not among ``op_names`` are ignored, so the default
``exclude=("none",)`` also suits op sets without ``none`` (BM-NAS step ops).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Literal

import torch

Weights = torch.Tensor | Sequence[float] | Sequence[Sequence[float]]


def _floats(row: object, what: str) -> list[float]:
    """``row`` (of unchecked rank) as Python floats; a clear error when it is not a flat row."""
    if not isinstance(row, Iterable):
        raise ValueError(f"{what}: weights of the wrong rank (got {row!r})")
    try:
        values = [float(v) for v in row]
    except TypeError:
        raise ValueError(f"{what}: weights of the wrong rank (got {row!r})") from None
    if any(math.isnan(v) for v in values):
        raise ValueError(f"{what}: weights contain NaN")
    return values


def _rows(weights: Weights, what: str) -> list[list[float]]:
    """``weights`` as a list of rows of Python floats (exact for float32/float64 tensors)."""
    data = weights.detach().cpu().tolist() if isinstance(weights, torch.Tensor) else weights
    rows = [_floats(r, what) for r in data]
    if not rows or len({len(r) for r in rows}) != 1 or not rows[0]:
        raise ValueError(f"{what}: expected a non-empty (rows, columns) matrix of weights")
    return rows


def _vector(weights: Weights, what: str) -> list[float]:
    data = weights.detach().cpu().tolist() if isinstance(weights, torch.Tensor) else weights
    values = _floats(data, what)
    if not values:
        raise ValueError(f"{what}: expected a non-empty weight vector")
    return values


def _allowed(op_names: Sequence[str], exclude: Iterable[str], n_ops: int, what: str) -> list[int]:
    """Indices of the ops the rule may choose (``op_names`` minus ``exclude``)."""
    names = list(op_names)
    if len(names) != n_ops or len(set(names)) != n_ops:
        raise ValueError(f"{what}: op_names must be {n_ops} distinct names (one per column), got {names}")
    allowed = [i for i, n in enumerate(names) if n not in set(exclude)]
    if not allowed:
        raise ValueError(f"{what}: every op is excluded ({names})")
    return allowed


def _best(row: Sequence[float], allowed: Sequence[int]) -> int:
    """The first allowed column of maximal weight (strict ``>``, as DARTS's ``k_best`` loop)."""
    best = allowed[0]
    for i in allowed[1:]:
        if row[i] > row[best]:
            best = i
    return best


def _strength(row: Sequence[float], allowed: Sequence[int]) -> float:
    """An edge's strength: its largest allowed op weight."""
    return max(row[i] for i in allowed)


def argmax_op(weights: Weights, op_names: Sequence[str], exclude: Iterable[str] = ()) -> str:
    """The op of largest weight in a 1-D vector, skipping ``exclude``; first maximum on ties.

    BM-NAS's inner step op (argmax of gamma_i over all ops) and DARTS's per-edge op choice.
    """
    row = _vector(weights, "argmax_op")
    return list(op_names)[_best(row, _allowed(op_names, exclude, len(row), "argmax_op"))]


def darts_top_k(weights: Weights, *, op_names: Sequence[str], k: int = 2,
                exclude: Iterable[str] = ("none",)) -> list[tuple[int, str]]:
    """DARTS ``_parse`` for ONE node: ``[(edge_index, op_name), ...]``, strongest edge first.

    ``weights`` is (n_edges, n_ops), one row per incoming edge. The ``k`` edges with the
    largest max non-excluded weight are kept (all of them if there are fewer than ``k``);
    ties keep the lower edge index first. Each edge gets its best non-excluded op.
    """
    if k < 1:
        raise ValueError(f"darts_top_k: k must be >= 1, got {k}")
    rows = _rows(weights, "darts_top_k")
    allowed = _allowed(op_names, exclude, len(rows[0]), "darts_top_k")
    edges = sorted(range(len(rows)), key=lambda j: -_strength(rows[j], allowed))[:k]
    names = list(op_names)
    return [(j, names[_best(rows[j], allowed)]) for j in edges]


def darts_parse(weights: Weights, *, op_names: Sequence[str], steps: int = 4, k: int = 2,
                exclude: Iterable[str] = ("none",)) -> list[tuple[str, int]]:
    """A whole DARTS cell, as ``genotype()``: the flat ``[(op_name, input_index), ...]`` list.

    ``weights`` has ``sum(2 + i for i < steps)`` rows (14 for 4 steps): node i reads rows
    ``start .. start + 2 + i`` (inputs c_{k-2}, c_{k-1}, node 0 .. node i-1).
    """
    rows = _rows(weights, "darts_parse")
    expected = sum(2 + i for i in range(steps))
    if len(rows) != expected:
        raise ValueError(f"darts_parse: {steps} steps need {expected} edge rows, got {len(rows)}")
    gene: list[tuple[str, int]] = []
    start = 0
    for i in range(steps):
        node = darts_top_k(rows[start:start + 2 + i], op_names=op_names, k=k, exclude=exclude)
        gene.extend((op, j) for j, op in node)
        start += 2 + i
    return gene


def bmnas_pair_rule(weights: Weights, *, op_names: Sequence[str], selected: Iterable[int] = (),
                    exclude: Iterable[str] = ("none",)) -> tuple[int, int]:
    """BM-NAS "sample strategy v3" for one cell: the input pair ``(j, k)``, ``j < k``.

    ``weights`` is (n_inputs, n_ops): every row is a candidate input. Pairs with both ends in
    ``selected`` are skipped; the score is ``max W[j][op] * max W[k][op]`` over non-excluded
    ops; the first maximal pair in (j, k) lexicographic order wins. ``selected`` is not
    modified. Raises ValueError when no pair is left.
    """
    rows = _rows(weights, "bmnas_pair_rule")
    allowed = _allowed(op_names, exclude, len(rows[0]), "bmnas_pair_rule")
    taken = set(selected)
    strength = [_strength(r, allowed) for r in rows]
    best: tuple[int, int] | None = None
    best_score = -math.inf
    for j in range(len(rows)):
        for k in range(j + 1, len(rows)):
            if j in taken and k in taken:
                continue
            score = strength[j] * strength[k]
            if best is None or score > best_score:
                best, best_score = (j, k), score
    if best is None:
        raise ValueError(f"bmnas_pair_rule: no pair of the {len(rows)} inputs left "
                         f"(already selected: {sorted(taken)})")
    return best


def bmnas_derive_cells(alpha_per_cell: Sequence[Weights], *, n_backbone: int, op_names: Sequence[str],
                       restrict_to_backbone: bool = True,
                       exclude: Iterable[str] = ("none",)) -> list[tuple[int, int]]:
    """:func:`bmnas_pair_rule` cell by cell, with one ``selected`` set shared by the cells.

    ``alpha_per_cell[i]`` holds cell i's rows (``n_backbone + i`` of them: the backbone
    features, then the earlier cells). The reference considers only the backbone rows
    ``0 .. n_backbone - 1`` (``restrict_to_backbone=True``); ``False`` considers every row.
    Returns one ``(j, k)`` pair per cell, indices into ``[features..., cell_0, ...]``.
    """
    selected: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for i, weights in enumerate(alpha_per_cell):
        rows = _rows(weights, "bmnas_derive_cells")
        if len(rows) < n_backbone:
            raise ValueError(f"bmnas_derive_cells: cell {i} has {len(rows)} rows, fewer than the "
                             f"{n_backbone} backbone features")
        candidates = rows[:n_backbone] if restrict_to_backbone else rows
        pair = bmnas_pair_rule(candidates, op_names=op_names, selected=selected, exclude=exclude)
        selected.update(pair)
        pairs.append(pair)
    return pairs


def bmnas_parse(weights: Weights, *, n_backbone: int, steps: int, op_names: Sequence[str],
                restrict_to_backbone: bool = True,
                exclude: Iterable[str] = ("none",)) -> list[tuple[str, int]]:
    """BM-NAS ``FusionNetwork.genotype`` edges from the whole alpha matrix: ``[(op, index), ...]``.

    ``weights`` stacks the cells' rows (``n_backbone + i`` for cell i); two entries per cell,
    each with its chosen input's best non-excluded op.
    """
    rows = _rows(weights, "bmnas_parse")
    sizes = [n_backbone + i for i in range(steps)]
    if len(rows) != sum(sizes):
        raise ValueError(f"bmnas_parse: {steps} cells over {n_backbone} inputs need {sum(sizes)} rows, "
                         f"got {len(rows)}")
    cells = [rows[sum(sizes[:i]):sum(sizes[:i + 1])] for i in range(steps)]
    pairs = bmnas_derive_cells(cells, n_backbone=n_backbone, op_names=op_names,
                               restrict_to_backbone=restrict_to_backbone, exclude=exclude)
    return [(argmax_op(cell[j], op_names, exclude), j) for cell, pair in zip(cells, pairs) for j in pair]


def top_k_inputs(weights: Weights, k: int, *, order: Literal["strength", "index"] = "strength") -> list[int]:
    """The ``k`` candidates of largest weight in a 1-D vector (ties: lower index first).

    ``order="strength"`` lists them strongest first (``one`` and ``pick`` decisions);
    ``order="index"`` returns them sorted by index (``choose``, an unordered subset).
    """
    values = _vector(weights, "top_k_inputs")
    if not 1 <= k <= len(values):
        raise ValueError(f"top_k_inputs: k must be in 1..{len(values)}, got {k}")
    if order not in ("strength", "index"):
        raise ValueError(f"top_k_inputs: order must be 'strength' or 'index', got {order!r}")
    chosen = sorted(range(len(values)), key=lambda j: -values[j])[:k]
    return sorted(chosen) if order == "index" else chosen
