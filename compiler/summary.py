"""Per-block parameter and MAC counts of a built :class:`~genolang.compiler.module.GraphNet`.

A row per block (the top-level element of the space a node belongs to, ``GNode.block``), in
the order the blocks first appear in the graph: trainable and frozen parameters, and the
multiply-accumulates per sample summed from ``GNode.macs`` (FLOPs = 2 x MACs). Parameters
are attributed through the module attribute that holds them (``net.names`` inverted) to
its node, then to the node's block; a parameter shared by several modules counts once
(where it first appears). Buffers (BN running statistics) are not parameters.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from genolang.compiler.graph import Shape
from genolang.compiler.module import GraphNet

#: the label of nodes that belong to no block
NO_BLOCK = "(none)"


@dataclass(frozen=True)
class BlockRow:
    """One block: its parameters (trainable, frozen) and MACs per sample."""

    block: str
    nodes: int
    trainable: int
    frozen: int
    macs: int

    @property
    def params(self) -> int:
        return self.trainable + self.frozen

    @property
    def flops(self) -> int:
        return 2 * self.macs


@dataclass(frozen=True)
class Summary:
    """What :func:`summarize` reports: rows per block and the totals."""

    rows: tuple[BlockRow, ...]
    inputs: dict[str, Shape] = field(default_factory=dict)
    outputs: dict[str, Shape] = field(default_factory=dict)
    space: str = ""
    genotype: str = ""

    @property
    def trainable(self) -> int:
        return sum(r.trainable for r in self.rows)

    @property
    def frozen(self) -> int:
        return sum(r.frozen for r in self.rows)

    @property
    def params(self) -> int:
        return self.trainable + self.frozen

    @property
    def macs(self) -> int:
        """Multiply-accumulates per sample."""
        return sum(r.macs for r in self.rows)

    @property
    def flops(self) -> int:
        """FLOPs per sample: 2 x MACs."""
        return 2 * self.macs

    def row(self, block: str) -> BlockRow:
        """The row of ``block`` (KeyError if absent)."""
        for r in self.rows:
            if r.block == block:
                return r
        raise KeyError(block)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: rows (with params and flops), totals and the input/output shapes."""
        rows = [{**asdict(r), "params": r.params, "flops": r.flops} for r in self.rows]
        return {"space": self.space, "genotype": self.genotype, "rows": rows,
                "totals": {"trainable": self.trainable, "frozen": self.frozen, "params": self.params,
                           "macs": self.macs, "flops": self.flops},
                "inputs": {k: list(v) for k, v in self.inputs.items()},
                "outputs": {k: list(v) for k, v in self.outputs.items()}}

    def dumps(self) -> str:
        """:meth:`to_json` as stable, indented JSON text."""
        return json.dumps(self.to_json(), indent=1, sort_keys=True)

    def table(self) -> str:
        """A plain aligned text table: a line per block, a total line, then the outputs."""
        header = ("block", "nodes", "trainable", "frozen", "MACs", "FLOPs")
        body = [(r.block, r.nodes, r.trainable, r.frozen, r.macs, r.flops) for r in self.rows]
        total = ("total", sum(r.nodes for r in self.rows), self.trainable, self.frozen, self.macs, self.flops)
        cells = [header] + [_format(row) for row in body + [total]]
        widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
        lines = [_line(row, widths) for row in cells]
        rule = "-" * len(lines[0])
        lines = [lines[0], rule, *lines[1:-1], rule, lines[-1]]
        lines += [f"output {name}: {list(shape)}" for name, shape in self.outputs.items()]
        return "\n".join(lines)


def _format(row: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(f"{v:,}" if isinstance(v, int) else str(v) for v in row)


def _line(row: tuple[str, ...], widths: list[int]) -> str:
    first = row[0].ljust(widths[0])
    rest = (cell.rjust(w) for cell, w in zip(row[1:], widths[1:]))
    return "  ".join([first, *rest]).rstrip()


def _block_params(net: GraphNet) -> dict[str, tuple[int, int]]:
    """block -> (trainable, frozen) parameter counts; each parameter counted once."""
    node_of = {attr: name for name, attr in net.names.items()}
    counts: dict[str, list[int]] = {}
    for key, param in net.named_parameters(remove_duplicate=True):
        attr = key.split(".", 1)[0]
        if attr not in node_of:
            raise KeyError(f"parameter {key!r} belongs to no node of the graph")
        block = net.graph[node_of[attr]].block or NO_BLOCK
        slot = counts.setdefault(block, [0, 0])
        slot[0 if param.requires_grad else 1] += param.numel()
    return {block: (c[0], c[1]) for block, c in counts.items()}


def summarize(net: GraphNet) -> Summary:
    """The :class:`Summary` of ``net``: per-block parameters and MACs, totals, input/output shapes."""
    params = _block_params(net)
    order: dict[str, list[int]] = {}
    for node in net.graph.nodes:
        slot = order.setdefault(node.block or NO_BLOCK, [0, 0])
        slot[0] += 1
        slot[1] += node.macs
    rows = tuple(BlockRow(block=block, nodes=n, trainable=params.get(block, (0, 0))[0],
                          frozen=params.get(block, (0, 0))[1], macs=macs)
                 for block, (n, macs) in order.items())
    graph = net.graph
    return Summary(rows=rows, inputs=graph.input_shapes(), outputs=graph.output_shapes(), space=graph.space,
                   genotype=graph.genotype)
