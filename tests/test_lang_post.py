"""A group's or cell's post-processing: `post = [project, residual, layernorm, relu]`.

Oracles: the exact compiled graph (kinds, inputs, shapes) of a small space; a reference
computation with the compiled net's own weights (conv-BN-ReLU, + x, LayerNorm, ReLU written
out in torch); the BM-NAS example's supernet wiring (the reference's ``FusionNode(s, s)``:
the residual adds the mixed input); check-time refusals. The BM-NAS sample's hand-written
twin (benchmarks/twins.py, tests/test_compiler_twins.py) checks the same steps end to end.
"""

from __future__ import annotations

import pytest
import torch
from conftest import EXAMPLES

import genolang
from genolang.compiler.compile import compile_genotype
from genolang.compiler.supernet import build_supernet

SMALL = """genolang 1
space s version 1 {
  input x { shape = [6] }
  group g {
    in = @x
    channels = 4
    length = 3
    node a { u = @in; op = sum; v = @in }
    node b { u = @a; op = sum; v = @in }
    out = concat_all
    post = [project, residual, layernorm, relu]
  }
  head h { in = @g; classes = 2 }
}
"""


def small():
    s = genolang.loads(SMALL).space()
    return s, compile_genotype(s, s.default())


def test_post_steps_compile_to_the_exact_graph():
    _, c = small()
    got = [(n.name, n.kind, n.inputs, n.shape) for n in c.graph.nodes if n.name.startswith("g/")]
    assert got == [
        ("g/out", "concat", ("g.a", "g.b"), (8, 3)),
        ("g/post_project", "proj", ("g/out",), (4, 3)),
        ("g/post_residual", "sum", ("g/post_project", "x/to_seq"), (4, 3)),
        ("g/post_layernorm", "layernorm", ("g/post_residual",), (4, 3)),
        ("g/post_relu", "act", ("g/post_layernorm",), (4, 3)),
        ("g/post_relu/flatten", "flatten", ("g/post_relu",), (12,)),
    ]


def test_post_steps_compute_the_reference_function():
    _, c = small()
    net = c.net.eval()
    x = torch.randn(5, 6)
    seen: dict[str, torch.Tensor] = {}
    hooks = [net.module_of(name).register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, o))
             for name in ("x/to_seq", "g/post_project", "g/post_layernorm")]
    net(x)
    for h in hooks:
        h.remove()
    xs = seen["x/to_seq"]
    a = xs + xs
    b = a + xs
    proj = net.module_of("g/post_project")  # Conv1d(8, 4, 1)-BN-ReLU (eval: running statistics)
    projected = proj[2](proj[1](proj[0](torch.cat([a, b], dim=1))))
    assert torch.allclose(projected, seen["g/post_project"], atol=1e-6)
    ln = net.module_of("g/post_layernorm")
    assert list(ln.normalized_shape) == [4, 3]
    expected = torch.nn.functional.layer_norm(projected + xs, [4, 3], ln.weight, ln.bias, ln.eps)
    assert torch.allclose(expected, seen["g/post_layernorm"], atol=1e-6)


def test_the_bmnas_space_states_the_reference_cell_and_its_supernet_uses_it():
    space = genolang.load(EXAMPLES / "spaces" / "bmnas_avmnist.geno").space()
    ents = space.ir.entities
    assert ents["fusion.cell[0]"].fields["post"] == ["project", "residual", "layernorm"]
    assert ents["fusion"].fields["post"] == ["layernorm", "relu"]
    net = build_supernet(space)
    nodes = {n.name: n for n in net.graph.nodes}
    for c in range(2):
        assert nodes[f"fusion.cell[{c}]/post_project"].shape == (64, 8)  # 2C -> C
        # search: the residual adds the Cell's mixed input s (the reference's FusionNode(s, s))
        assert nodes[f"fusion.cell[{c}]/post_residual"].inputs == (f"fusion.cell[{c}]/post_project",
                                                                   f"fusion.cell[{c}].in/mixed")
    assert nodes["fusion/post_layernorm"].shape == (128, 8)
    assert nodes["classifier"].inputs == ("fusion/post_relu/flatten",)


@pytest.mark.parametrize("body, code, fragment", [
    ("  group g { in = @x; node n { op = fc; hidden = 4 }; post = [project] }\n", "E0287", "`channels`"),
    ("  group g { channels = 4; node n { in = @x; op = fc; hidden = 4 }; post = [residual] }\n", "E0287",
     "has no `in`"),
    ("  group g { in = @x; node n { op = fc; hidden = 4 }; post = [layernrom] }\n", "E0242", "post"),
])
def test_post_refused_at_check_time(body, code, fragment):
    with pytest.raises(genolang.GenolangError) as info:
        genolang.loads(f"genolang 1\nspace s version 1 {{\n  input x {{ shape = [4] }}\n{body}}}\n")
    first = info.value.diagnostics[0]
    assert first.code == code and fragment in first.message
    if code == "E0242":
        assert any("'layernorm'" in h for h in first.help)
