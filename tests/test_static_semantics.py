"""Static semantics: what `check` refuses so that every genotype it accepts compiles (issue 13).

Each case is a space a new user could write from docs/language.md that `check` used to
accept although its genotypes could not compile (or compiled to something else than
written); each must now be refused at the culprit's line with a catalogued code, or
compile. The property tests over generated spaces are in test_space_props.py.
"""

from __future__ import annotations

import pytest

import genolang

H = "genolang 1\n"


def refused(text: str, name: str = "s.geno") -> genolang.GenolangError:
    with pytest.raises(genolang.GenolangError) as info:
        genolang.loads(text, name)
    return info.value


# ------------------------------------------------------------------ import paths
@pytest.mark.parametrize("path,why", [
    ("a\x00b.geno", "a path cannot hold a NUL character"),
    ("a" * 5000 + ".geno", "the path is longer than 4096 bytes"),
    ("x/" * 2100 + ".geno", "the path is longer than"),
    ("a" * 300 + ".geno", "not a usable path (File name too long)"),  # one name over the OS's limit
    ("\udcff.geno", "the path is not valid UTF-8"),
])
def test_an_unusable_import_path_is_E0213_at_the_import(path, why):
    err = refused(f'{H}import "{path}"\nspace s version 1 {{ x: bool }}\n')
    assert err.code == "E0213" and (err.line, err.column) == (2, 1)
    assert why in err.first.message and len(err.first.message) < 300
    err.first.message.encode("utf-8")  # printable: no surrogate or NUL reaches the terminal
    assert "\x00" not in err.first.message


@pytest.mark.parametrize("path", ["a\x00b.geno", "a" * 5000 + ".geno", "\udcff.geno"])
def test_an_unusable_path_given_to_load_is_a_usage_error(path):
    """The API's own `load` (issue 13: a NUL byte raised ValueError from it)."""
    with pytest.raises(genolang.GenolangError) as info:
        genolang.load(path)
    message = info.value.first.message
    assert info.value.code == "E0001" and len(message) < 700 and "\x00" not in message
    message.encode("utf-8")


# ------------------------------------------------------------------ spaces that compile now
def space(body: str) -> genolang.Space:
    return genolang.loads(f"{H}space s version 1 {{\n{body}\n}}\n", "s.geno").space()


def compile_all(sp: genolang.Space, samples: int = 4):
    """Every sampled genotype (and the default) compiles and runs; returns the compiled ones."""
    import torch

    from genolang.compiler import compile_genotype

    out = []
    for geno in [sp.default()] + [sp.sample(seed) for seed in range(samples)]:
        compiled = compile_genotype(sp, geno)
        torch.manual_seed(0)
        feeds = [torch.randn(2, *compiled.graph.input_shapes()[n]) for n in compiled.graph.inputs]
        with torch.no_grad():
            y = compiled.net(*feeds)
        assert torch.isfinite(y if isinstance(y, torch.Tensor) else y[0]).all()
        out.append(compiled)
    return out


GROUP_MEMBER = """  input x { shape = [3, 8, 8] }
  group g { in = @x
    node a { op = conv3x3 }
    node b { op: choice(conv3x3, sep3x3); inp = @a }
  }
  head h { in = @g.a; classes = 3 }"""


def test_a_group_member_read_from_outside_the_group_compiles():
    sp = space(GROUP_MEMBER)
    for compiled in compile_all(sp):
        pooled = compiled.graph[compiled.graph["h"].inputs[0]]
        assert pooled.inputs == ("g.a",)  # the head reads g.a (pooled), not g's output g.b


def test_decisions_on_head_fields_compile_to_the_chosen_values():
    sp = space("""  input x { shape = [3, 8, 8] }
  node a { op = conv3x3; in = @x }
  head h { in: one(a, x); classes: choice(3, 4); hidden: choice(16, 32); dropout: choice(0.0, 0.5) }""")
    assert sp.size() == 16
    for compiled in compile_all(sp, samples=6):
        values, attrs = compiled.genotype.values, compiled.graph["h"].attrs
        assert (attrs["classes"], attrs["hidden"], attrs["dropout"]) == (
            values["h.classes"], values["h.hidden"], values["h.dropout"])
        assert compiled.graph["h"].shape == (values["h.classes"],)


def test_a_decided_cell_stride_doubles_the_stack_width():
    sp = space("""  input x { shape = [3, 16, 16] }
  cell c { in = @prev; stride: choice(1, 2)
    node n[2] { op: choice(conv3x3, sep3x3); x = @prev } }
  stack st { in = @x; channels = 4; cells = [c * 2] }
  head h { in = @st; classes = 10 }""")
    for compiled in compile_all(sp, samples=3):
        stride = compiled.genotype.values["c.stride"]
        side = 16 // stride ** 2
        assert compiled.graph[compiled.graph["h"].inputs[0]].shape[-3:] in (
            (4 * stride ** 2, side, side), (4 * stride ** 2,))


def test_a_searched_depth_with_a_searched_head_width_compiles():
    sp = space("""  input x { shape = [3, 8, 8] }
  depth: int(1..3)
  group body { in = @x; channels = 8
    node b[depth] { op: choice(conv3x3, sep3x3); act = relu; x = @prev; skip: subset(b.before) } }
  head h { in = @body; classes = 10; hidden: choice(16, 32) }""")
    compile_all(sp)


def test_a_torchvision_backbone_with_named_taps_compiles():
    sp = space("""  input x { shape = [3, 32, 32] }
  backbone net { model = torchvision; in = @x; name = "resnet18"; taps = ["layer1", "layer2"] }
  node f { op = fc; hidden = 8; in: one(net.tap[*]) }
  head h { in = @f; classes = 3 }""")
    shapes = {str(c.graph["net"].attrs["tap_shapes"]) for c in compile_all(sp, samples=2)}
    assert shapes == {"[[64, 8, 8], [128, 4, 4]]"}  # resnet18's layer1 and layer2 on 32x32


# ------------------------------------------------------------------ spaces refused by check
@pytest.mark.parametrize("body,code,line,fragment", [
    ("  input x { shape = [3, 8, 8] }\n  head h { in = @x; classes = 3; dropout = 2.0 }", "E0242", 4,
     "invalid head dropout"),
    ("  input x { shape = [3, 8, 8] }\n  node a { op = conv; filters = 1.5; in = @x }", "E0242", 4,
     "invalid node filters: expected a positive integer"),
    ("  input x { shape = [3, 8, 8] }\n  node a { op = conv; kernel = 4; in = @x }", "E0242", 4,
     "an odd positive integer"),
    ("  input x { shape = [4] }\n  node a { op = fc; hidden = 0; in = @x }", "E0242", 4, "positive integer"),
    ("  input x { shape = [4] }\n  head h { in = @x; classes = 2; hidden: choice(16, 0) }", "E0290", 4,
     "holds 0"),
    ("  input x { shape = [4] }\n  head h { in = @x; classes = 2; dropout: float(0.0..1.0) }", "E0290", 4,
     "holds 1.0"),
    ("  input x { shape = [4] }\n  head h { in = @x; classes: float(2.0..4.0) }", "E0290", 4, "gives reals"),
    ("  input x { shape = [3, 8, 8] }\n  node a { op = conv; kernel: int(1..5); in = @x }", "E0290", 4, "holds 2"),
    ("  input x { shape = [3, 8, 8] }\n  node a { op = conv; kernel: int(1..99999, step=2); in = @x }",
     "E0290", 4, "holds 99999"),
    ("  input x { shape = [3, 8, 8] }\n  cell c { stride: choice(1, 3); node n { op = conv3x3 } }", "E0290", 4,
     "1 or 2"),
    ("  input x { shape: choice(1, 2) }", "E0291", 3, "an input's `shape` cannot be searched"),
    ("  input x { shape = [1, 28, 28] }\n  backbone b { model: choice(lenet_image, lenet5); in = @x }", "E0291", 4,
     "a backbone's `model` cannot be searched"),
    ("  input x { shape = [1, 28, 28] }\n  backbone b { model = lenet_image; in = @x; taps: int(1..3) }", "E0291",
     4, "`taps` cannot be searched"),
    ("  w: choice(8, 16)\n  input x { shape = [3, w, w] }", "E0292", 4,
     "'w' is a searched decision; a decision's value can be a whole field's value"),
    ("  input x { shape = [3, 8, 8] }\n  backbone b { model = torchvision; in = @x; name = \"resnet18\"; taps = 2 }",
     "E0242", 4, "tapped by graph node names"),
    ("  input x { shape = [3, 8, 8] }\n  backbone b { model = torchvision; in = @x; taps = [\"layer1\"] }",
     "E0242", 4, "needs `name`"),
    ("  input x { shape = [1, 28, 28] }\n  backbone b { model = lenet_image; in = @x; taps = [\"a\"] }", "E0242",
     4, "has 3 taps"),
    ("  input x { shape = [1, 28, 28] }\n  backbone b { model = lenet_image; in = @x; name = \"resnet18\" }",
     "E0242", 4, "`name` is a field of `model = torchvision` backbones only"),
    # found by the fuzz test (a mutated bmnas_avmnist.geno): a reference field holding a number
    ("  input x { shape = [3, 8, 8] }\n  node a { op = conv3x3; in = @x }\n  head h { in = 0; classes = 2 }",
     "E0242", 5, "invalid head in: expected one reference"),
    ("  input x { shape = [3, 8, 8] }\n  group g { in = 3; node a { op = conv3x3 } }\n"
     "  head h { in = @g; classes = 2 }", "E0242", 4, "invalid group in"),
    ("  input x { shape = [3, 8, 8] }\n  head h { in: choice(1, 2); classes = 2 }", "E0290", 4,
     "`in` of a head must be one reference"),
])
def test_a_field_of_the_wrong_type_or_range_is_refused_at_its_line(body, code, line, fragment):
    err = refused(f"{H}space s version 1 {{\n{body}\n}}\n")
    assert (err.code, err.line) == (code, line), err.render()
    assert fragment in err.render()


# ------------------------------------------------------------------ structure (genolang.structure)
@pytest.mark.parametrize("body,code,line,fragment", [
    ("  input x { shape = [4] }\n  node b { op = fc; in: subset(x) }\n  head h { in = @b; classes = 2 }",
     "E0294", 4, "node 'b' may have no input"),
    ("  input x { shape = [3, 8, 8] }\n  node n[3] { op = conv3x3; x = @prev }\n  head h { in = @n; classes = 2 }",
     "E0294", 4, "node 'n[0]' may have no input"),
    ("  input x { shape = [3, 8, 8] }\n  group g { node a { op = conv3x3 } }\n  head h { in = @g; classes = 2 }",
     "E0294", 4, "its container has no `in`"),
    ("  input x { shape = [3, 8, 8] }\n  group g { in: subset(x)\n node a { op = conv3x3 } }\n"
     "  head h { in = @g; classes = 2 }", "E0294", 5, "node 'g.a' may have no input"),
    ("  input x { shape = [4] }\n  n: int(0..2)\n  node a[n] { op = fc; in = @x }\n"
     "  node b { op = fc; in: one(a[*]) }\n  head h { in = @b; classes = 2 }", "E0294", 6,
     "'b.in' must choose 1 reference(s)"),
    ("  input x { shape = [4] }\n  n: int(1..2)\n  node a[n] { op = fc; in = @x }\n"
     "  node b { op = fc; in: pick(2, a[*]) }\n  head h { in = @b; classes = 2 }", "E0294", 6,
     "must choose 2 reference(s)"),
    ("  input x { shape = [4] }\n  deep: bool\n  when deep { node b { op = fc; in = @x } }\n"
     "  head h { in = @b; classes = 2 }", "E0293", 6, "built only when deep == True"),
    ("  input x { shape = [4] }\n  n: int(0..2)\n  node a[n] { op = fc; in = @x }\n"
     "  head h { in = @a; classes = 2 }", "E0293", 6, "reads @a, which is built only when n > 0"),
    ("  input v { shape = [12] }\n  node a { op: choice(conv3x3, sep3x3); in = @v }\n"
     "  head h { in = @a; classes = 2 }", "E0295", 4, "op 'conv3x3' of 'a' consumes maps"),
    ("  input x { shape = [3, 8, 8] }\n  node f { op = fc; hidden = 4; in = @x }\n"
     "  node c { op = sep3x3; in: one(x, f) }\n  head h { in = @c; classes = 2 }", "E0295", 5,
     "may read @f, which is a vector"),
    ("  input x { shape = [3, 8, 8] }\n  node a { op: choice(conv3x3, conv); kernel = 3; in = @x }\n"
     "  head h { in = @a; classes = 2 }", "E0296", 4, "op 'conv3x3' of 'a' takes no field 'kernel'"),
    ("  input x { shape = [4] }\n  node a { op = fc; hidden = 4; stride = 2; in = @x }\n"
     "  head h { in = @a; classes = 2 }", "E0296", 4, "op 'fc' of 'a' takes no field 'stride'"),
    ("  input x { shape = [3, 8, 8] }\n  node a { op = dropout; p: choice(0.5, 1.5); in = @x }\n"
     "  head h { in = @a; classes = 2 }", "E0296", 4, "field 'p' = 1.5"),
])
def test_a_structure_some_genotype_cannot_build_is_refused(body, code, line, fragment):
    err = refused(f"{H}space s version 1 {{\n{body}\n}}\n")
    assert (err.code, err.line) == (code, line), err.render()
    assert fragment in err.render()
    assert len(err.diagnostics) == 1  # one error per declaration, not per instance


@pytest.mark.parametrize("body", [
    # the reader is under the target's condition, or a later instance of the same count
    "  input x { shape = [4] }\n  deep: bool\n  when deep { node b { op = fc; in = @x }\n"
    "    node c { op = fc; in = @b } }\n  head h { in = @x; classes = 2 }",
    "  input x { shape = [4] }\n  n: int(0..3)\n  node a[n] { op = fc; in = @x }\n"
    "  node b[n] { op = fc; in: one(a[*]) }\n  head h { in = @x; classes = 2 }",
    "  input x { shape = [3, 8, 8] }\n  node n[3] { op = conv3x3; x = @x; s: subset(n.before) }\n"
    "  head h { in = @x; classes = 2 }",
    "  input x { shape = [3, 8, 8] }\n  group g { in = @x\n  node n[3] { op = conv3x3; x = @prev } }\n"
    "  head h { in = @g; classes = 2 }",
    "  input x { shape = [4] }\n  node b { op = fc; in: subset(x, min=1) }\n  head h { in = @b; classes = 2 }",
])
def test_a_structure_every_genotype_builds_is_accepted_and_compiles(body):
    sp = space(body)
    compile_all(sp, samples=3)
