"""Graphviz pictures of a Graph IR: :func:`to_dot` text and :func:`render` through ``dot``.

One box per node labelled ``name``, its op (``GNode.label()``) and its shape (batch omitted),
one cluster per top-level block of the space (inputs stay outside), inputs and outputs styled
apart, one edge per entry of a node's ``inputs`` (a node reading the same value twice gets two
edges). The text depends on the graph only, so it can be diffed and kept as a golden file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from genolang.compiler.errors import CompileError
from genolang.compiler.graph import GNode, Graph

#: output formats :func:`render` accepts (the path's suffix)
FORMATS: frozenset[str] = frozenset({"png", "svg", "pdf"})
RENDER_TIMEOUT_S = 60

_INPUT_STYLE = 'shape=box, style="rounded,filled", fillcolor="#dbeafe"'
_OUTPUT_STYLE = 'shape=box, style="rounded,filled,bold", fillcolor="#dcfce7", peripheries=2'
_NODE_STYLE = 'shape=box, style="rounded"'


class DotMissingError(CompileError):
    """Rendering needs the Graphviz ``dot`` program, which is not on the PATH."""


def to_dot(graph: Graph, *, rankdir: str = "TB") -> str:
    """Graphviz ``digraph`` text of ``graph``; deterministic for a given graph."""
    title = graph.genotype or "graph"
    lines = [f"digraph {_quote(title)} {{",
             f"  graph [rankdir={rankdir}, fontname=\"Helvetica\", label={_quote(_caption(graph))}, labelloc=t];",
             f"  node [{_NODE_STYLE}, fontname=\"Helvetica\", fontsize=10];",
             "  edge [fontname=\"Helvetica\", fontsize=9];"]
    for block, nodes in _by_block(graph):
        if block:
            lines.append(f"  subgraph {_quote('cluster_' + block)} {{")
            lines.append(f"    label={_quote(block)}; style=\"rounded,dashed\"; color=\"#94a3b8\";")
            lines += [f"    {_node(graph, n)}" for n in nodes]
            lines.append("  }")
        else:
            lines += [f"  {_node(graph, n)}" for n in nodes]
    lines += [f"  {_quote(src)} -> {_quote(n.name)};" for n in graph.nodes for src in n.inputs]
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(dot_text: str, path: str | os.PathLike[str]) -> Path:
    """Render ``dot_text`` to ``path`` (format from its suffix: .png, .svg, .pdf) with ``dot``.

    Raises :class:`DotMissingError` when Graphviz is not installed, :class:`CompileError`
    for an unknown suffix or a ``dot`` failure.
    """
    target = Path(path)
    fmt = target.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise CompileError(f"cannot render to '{target.name}': use a .dot file or one of "
                           f"{', '.join('.' + f for f in sorted(FORMATS))}")
    program = shutil.which("dot")
    if program is None:
        raise DotMissingError("the Graphviz 'dot' program is not installed (or not on PATH); "
                              "write a .dot file instead, or install graphviz")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run([program, f"-T{fmt}", "-o", str(target)], input=dot_text.encode("utf-8"),
                       capture_output=True, check=True, timeout=RENDER_TIMEOUT_S)
    except subprocess.CalledProcessError as exc:
        detail = exc.stderr.decode("utf-8", "replace").strip()
        raise CompileError(f"dot failed to render {target}: {detail}") from exc
    except subprocess.TimeoutExpired as exc:
        raise CompileError(f"dot took over {RENDER_TIMEOUT_S}s to render {target}") from exc
    return target


# ------------------------------------------------------------------ helpers
def _by_block(graph: Graph) -> list[tuple[str, list[GNode]]]:
    """Nodes grouped by block, blocks in order of first appearance; inputs and block-less nodes first."""
    groups: dict[str, list[GNode]] = {"": []}
    for node in graph.nodes:
        groups.setdefault("" if node.name in graph.inputs else node.block, []).append(node)
    return [(block, nodes) for block, nodes in groups.items() if nodes]


def _node(graph: Graph, node: GNode) -> str:
    label = "\\n".join(_escape(part) for part in (node.name, node.label(), _shape(node)))
    style = _INPUT_STYLE if node.name in graph.inputs else _OUTPUT_STYLE if node.name in graph.outputs else ""
    extra = f", {style}" if style else ""
    return f"{_quote(node.name)} [label=\"{label}\"{extra}];"


def _shape(node: GNode) -> str:
    return "[" + ", ".join(str(d) for d in node.shape) + "]"


def _caption(graph: Graph) -> str:
    parts = [p for p in (graph.genotype, f"of {graph.space}" if graph.space else "",
                         graph.digest.split(":")[-1][:12] if graph.digest else "") if p]
    return " ".join(parts)


def _escape(text: str) -> str:
    """Text for inside a double-quoted dot string: backslashes, quotes and newlines escaped."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _quote(text: str) -> str:
    return f"\"{_escape(text)}\""
