"""Lowering to the Graph IR: golden graphs of every example, invariants, compile errors."""

from __future__ import annotations

import pytest
from conftest import GENOTYPE_FILES, GOLDEN, SPACE_FILES, check_golden
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import genotypes

import genolang
from genolang.compiler.errors import CompileError
from genolang.compiler.graph import Graph
from genolang.compiler.lower import load_genotype, lower

EXAMPLES = GENOTYPE_FILES + SPACE_FILES


def check_invariants(graph: Graph) -> None:
    """Topological order, unique names, shapes consistent with each combine rule, heads last."""
    seen: dict[str, tuple[int, ...]] = {}
    for n in graph.nodes:
        assert n.name not in seen, n.name
        assert all(i in seen for i in n.inputs), (n.name, n.inputs)
        shapes = [seen[i] for i in n.inputs]
        if n.kind == "concat":
            assert n.shape[0] == sum(s[0] for s in shapes) and all(s[1:] == n.shape[1:] for s in shapes)
        if n.kind == "sum":
            assert all(s == n.shape for s in shapes)
        if n.kind == "act":
            assert shapes == [n.shape]
        if n.kind == "op":
            assert n.attrs["c_in"] == shapes[0][0] and n.shape[0] == n.attrs["c_out"]
        seen[n.name] = n.shape
    assert graph.outputs and all(graph[o].kind == "head" for o in graph.outputs)
    assert all(graph[i].kind == "input" for i in graph.inputs)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_example_lowers_to_its_golden_graph(path):
    space, geno, how = load_genotype(str(path))
    graph = lower(space, geno)
    check_invariants(graph)
    text = f"# {how} of {space.name}: {graph.macs():,} MACs per sample\n{graph.pretty()}\n"
    check_golden(GOLDEN / "graphs" / f"{path.parent.name}_{path.stem}.txt", text)


def test_mfas_table1_graph_reads_the_papers_features():
    """MFAS Table 1 [(3,3,2),(5,2,1),(1,3,1),(1,1,2)]: 1-based (audio, image, act)."""
    space, geno, _ = load_genotype("examples/genotypes/mfas_best_avmnist.geno")
    g = lower(space, geno)
    expect = [(3, 3, "sigmoid"), (5, 2, "relu"), (1, 3, "relu"), (1, 1, "sigmoid")]
    for layer, (a, v, act) in enumerate(expect):
        concat = g[f"fusion[{layer}]/concat"]
        assert concat.inputs[:2] == (f"audio_net.tap[{a - 1}]", f"image_net.tap[{v - 1}]")
        assert concat.inputs[2:] == ((f"fusion[{layer - 1}]",) if layer else ())
        assert g[f"fusion[{layer}]"].attrs["act"] == act
    assert g["classifier"].inputs == ("fusion[3]",)
    # LeNet MACs: conv 5x5 1->3 at 112x112, then four 3x3 convs doubling the width at halved sizes
    assert g["audio_net"].macs == 3 * 112 * 112 * 25 + sum(
        3 * 2 ** i * (112 // 2 ** i) ** 2 * 3 * 2 ** (i - 1) * 9 for i in range(1, 5))


def test_darts_geometry_doubles_at_reductions_and_reduces_inputs():
    space, geno, _ = load_genotype("examples/genotypes/darts_v2.geno")
    g = lower(space, geno)
    widths = [g[f"net[{k}].in[1]"].shape for k in range(20)]
    assert widths[0] == (36, 32, 32) and widths[6] == (72, 32, 32) and widths[7] == (72, 16, 16)
    assert widths[13] == (144, 16, 16) and widths[19] == (144, 8, 8)
    assert g["net[7].in[0]"].kind == "reduce" and g["net[8].in[0]"].kind == "proj"
    assert g["net[19]/out"].shape == (576, 8, 8)


# RandomNet version 1's first fusion layer: two Bernoulli selections, both of which may be
# empty (the example spaces now make them one selection with min = 1).
EMPTY_FUSION_SPACE = """genolang 1
space s version 1 {
  input image { shape = [1, 8, 8] }
  input audio { shape = [1, 8, 8] }
  node fusion1 {
    op = fc
    hidden = 4
    combine = concat
    x: subset(image, p=0.5)
    y: subset(audio, p=0.5)
  }
  head h { in = @fusion1; classes = 2 }
}
"""


def test_a_node_that_may_be_left_without_inputs_is_refused_by_check_at_its_line():
    """Before issue 13 the space checked and the empty genotype failed to compile (E0400)."""
    with pytest.raises(genolang.SpaceError) as info:
        genolang.loads(EMPTY_FUSION_SPACE, "empty_fusion.geno")
    err = info.value
    line = next(i for i, t in enumerate(EMPTY_FUSION_SPACE.splitlines(), 1) if "node fusion1" in t)
    assert err.code == "E0294" and err.line == line and "may have no input" in str(err)
    assert "empty_fusion.geno:" in str(err)


def test_a_genotype_of_another_space_is_refused():
    mfas = genolang.load("examples/spaces/mfas_avmnist.geno").space()
    bmnas = genolang.load("examples/spaces/bmnas_avmnist.geno").space()
    with pytest.raises(CompileError, match="pinned to space"):
        lower(mfas, bmnas.sample(0))


@pytest.mark.parametrize("path", SPACE_FILES, ids=lambda p: p.stem)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=st.data())
def test_random_genotypes_lower(path, data):
    # every genotype of every example space is a network (RandomNet's fusion1 may not
    # select nothing; a node without inputs is tested above)
    space = genolang.load(path).space()
    check_invariants(lower(space, data.draw(genotypes(space))))
