"""Graphviz text of a Graph IR: every node and edge, clusters per block, escaping, rendering."""

from __future__ import annotations

import re
import shutil

import pytest

from genolang.compiler import draw
from genolang.compiler.draw import DotMissingError, render, to_dot
from genolang.compiler.errors import CompileError
from genolang.compiler.graph import GNode, Graph


def sample_graph() -> Graph:
    nodes = (GNode("image", "input", (), (1, 28, 28)),
             GNode("audio", "input", (), (1, 20, 20)),
             GNode("image_net", "backbone", ("image",), (), {"model": "lenet"}, block="image_net"),
             GNode("image_net.tap0", "tap", ("image_net",), (16, 14, 14), {"index": 0}, block="image_net"),
             GNode("a0", "op", ("audio",), (16, 20, 20), {"op": 'odd"op\\x'}, block="audio_net"),
             GNode("g0", "gap", ("image_net.tap0",), (16,), block="fusion"),
             GNode("g1", "gap", ("a0",), (16,), block="fusion"),
             GNode("s", "sum", ("g0", "g1", "g1"), (16,), block="fusion"),
             GNode("head", "head", ("s",), (10,), {"classes": 10}, block="head"))
    return Graph(nodes, ("image", "audio"), ("head",), space="mfas", genotype="best", digest="sha256:abcdef")


def test_every_node_and_edge_appears():
    graph = sample_graph()
    text = to_dot(graph)
    assert text.startswith('digraph "best" {') and text.endswith("}\n")
    for node in graph.nodes:
        assert re.search(rf'^\s*"{re.escape(node.name)}" \[label=', text, re.M), node.name
    edges = re.findall(r'^\s*"[^"]+" -> "[^"]+";$', text, re.M)
    assert len(edges) == sum(len(n.inputs) for n in graph.nodes)
    assert text.count('"g1" -> "s";') == 2, "a value read twice is drawn twice"


def test_labels_clusters_and_styles():
    text = to_dot(sample_graph())
    assert '"g0" [label="g0\\ngap\\n[16]"];' in text
    assert '"image_net" [label="image_net\\nlenet\\n[]"];' in text
    for block in ("image_net", "audio_net", "fusion", "head"):
        assert text.count(f'subgraph "cluster_{block}"') == 1
    image_line = next(line for line in text.splitlines() if line.strip().startswith('"image" ['))
    head_line = next(line for line in text.splitlines() if line.strip().startswith('"head" ['))
    assert "fillcolor" in image_line and "peripheries=2" in head_line
    assert text.index('"image" [') < text.index("subgraph"), "inputs sit outside the clusters"
    assert 'label="best of mfas abcdef"' in text


def test_quotes_and_backslashes_are_escaped():
    text = to_dot(sample_graph())
    assert 'odd\\"op\\\\x' in text
    for line in text.splitlines():  # every double quote is balanced once escapes are removed
        assert line.replace('\\\\', "").replace('\\"', "").count('"') % 2 == 0, line


def test_output_is_deterministic_and_rankdir():
    assert to_dot(sample_graph()) == to_dot(sample_graph())
    assert "rankdir=LR" in to_dot(sample_graph(), rankdir="LR")


def test_render_without_dot_raises(monkeypatch, tmp_path):
    monkeypatch.setattr(draw.shutil, "which", lambda name: None)
    with pytest.raises(DotMissingError, match="dot") as exc:
        render(to_dot(sample_graph()), tmp_path / "g.png")
    assert isinstance(exc.value, CompileError) and not (tmp_path / "g.png").exists()


def test_render_refuses_unknown_formats(tmp_path):
    with pytest.raises(CompileError, match=r"\.svg"):
        render("digraph g {}", tmp_path / "g.bmpx")


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz not installed")
def test_render_svg(tmp_path):
    path = render(to_dot(sample_graph()), tmp_path / "g.svg")
    assert path.read_text(encoding="utf-8").lstrip().startswith(("<?xml", "<svg"))
