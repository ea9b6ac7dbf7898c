"""Extending genolang without forking: the core registry, typed op metadata, ``register_op``,
plugins through entry points (examples/plugins/genolang_example_ops), and errors that come from
the layer owning each registry.

Oracles: exact error classes and codes, the close name the error suggests, ``torch`` absent
from ``sys.modules`` after ``check`` (in a fresh interpreter), the plugin op's module against
its formula, onnxruntime parity of the exported network (checked by the exporter at batches 1,
3 and 64), and field rules against a table.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from plugin_install import install, uninstall, write_dist_info

import genolang
from genolang import catalog
from genolang.errors import GenolangError
from genolang.fields import Field
from genolang.opmeta import ACTIVATION_META, BACKBONE_META, OP_META, MetaError
from genolang.registry import Registry, RegistryError, UnknownNameError

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "examples" / "plugins" / "genolang_example_ops"
SE_NET = PLUGIN / "spaces" / "se_net.geno"
SEQUENCE = ROOT / "examples" / "spaces" / "sequence_attention.geno"
BUILTIN_OPS = sorted(catalog.OPS)


def _fresh_python(code: str, *paths: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*map(str, paths), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)


@pytest.fixture
def plugin(tmp_path):
    """The example plugin's entry points installed in this process (and removed afterwards)."""
    added = install(PLUGIN, tmp_path / "site")
    for reg in (OP_META, ACTIVATION_META):
        reg.reload_plugins()
    yield tmp_path / "site"
    from genolang.compiler import ACTIVATIONS, OPS

    for reg, name in ((OP_META, "squeeze_excite"), (OPS, "squeeze_excite"), (ACTIVATION_META, "swish"),
                      (ACTIVATIONS, "swish")):
        reg.remove(name)
    uninstall(added, "genolang_example_ops")
    for reg in (OP_META, ACTIVATION_META):
        reg.reload_plugins()


# ---------------------------------------------------------------- the core registry


def test_core_registry_refuses_duplicates_and_suggests_close_names():
    reg: Registry[int] = Registry("thing")
    reg.register("alpha")(lambda: 1)
    with pytest.raises(RegistryError, match="'alpha' is already registered") as dup:
        reg.add("alpha", 2)
    assert dup.value.code == "E0002"
    with pytest.raises(UnknownNameError, match="did you mean 'alpha'") as unknown:
        reg.get("alpah")
    assert unknown.value.code == "E0003" and unknown.value.suggestions == ("alpha",)


def _errors():
    from genolang.compiler import OPS
    from genolang.compiler import UnknownNameError as CompilerUnknown
    from genolang.runtime.dataset import DATASETS
    from genolang.runtime.errors import DataError, SearchError
    from genolang.searchers.base import load_builtins

    return [(OP_META, "sep_conv3x3", "sep_conv_3x3", UnknownNameError, "E0003"),
            (OPS, "sep_conv3x3", "sep_conv_3x3", CompilerUnknown, "E0402"),
            (load_builtins(), "randon", "random", SearchError, "E0701"),
            (DATASETS, "avdigit", "avdigits", DataError, "E0500")]


@pytest.mark.parametrize("case", range(4), ids=["core-op", "compiler-op", "searcher", "dataset"])
def test_unknown_names_raise_their_layers_error(case):
    import genolang.runtime.avdigits  # noqa: F401  (registers the built-in datasets)
    from genolang.compiler.errors import CompileError

    registry, wrong, right, cls, code = _errors()[case]
    with pytest.raises(cls) as err:
        registry.get(wrong)
    assert err.value.code == code and right in err.value.suggestions
    if case in (0, 2, 3):  # a searcher or dataset name is never the compiler's business
        assert not isinstance(err.value, CompileError)


def test_broken_plugin_is_named(tmp_path):
    site = tmp_path / "site"
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "broken-thing"\nversion = "1"\n'
        '[project.entry-points."genolang.test_things"]\nmissing = "no_such_module_for_genolang"\n'
        'answer = "thing_module:ANSWER"\n', encoding="utf-8")
    (project / "thing_module.py").write_text("ANSWER = 42\n", encoding="utf-8")
    added = install(project, site)
    try:
        reg: Registry[object] = Registry("thing", entry_points="genolang.test_things")
        with pytest.raises(RegistryError, match=r"plugin 'missing'.*failed to load") as err:
            reg.get("answer")
        assert err.value.code == "E0002"
        good: Registry[object] = Registry("thing", entry_points="genolang.test_things")
        good.add("missing", 0)  # taken already: the broken entry point is not loaded over it
        good.load_entry_point(next(ep for ep in __import__("importlib.metadata").metadata.entry_points(
            group="genolang.test_things") if ep.name == "answer"))
        assert good.get("answer") == 42 and good.origin("answer") == "thing_module:ANSWER"
    finally:
        uninstall(added, "thing_module")


def test_dist_info_carries_the_pyproject_entry_points(tmp_path):
    info = write_dist_info(PLUGIN, tmp_path)
    text = (info / "entry_points.txt").read_text(encoding="utf-8")
    assert "[genolang.ops]\nsqueeze_excite = genolang_example_ops.meta" in text
    assert "[genolang.activations]\nswish = genolang_example_ops.meta" in text


# ---------------------------------------------------------------- typed fields


@pytest.mark.parametrize("field, value, why", [
    (Field("k", "int", 3, lo=1, hi=7, odd=True), 5, None),
    (Field("k", "int", 3, lo=1, hi=7, odd=True), 4, "odd"),
    (Field("k", "int", 3, lo=1, hi=7, odd=True), 9, "in [1, 7]"),
    (Field("k", "int", 3, lo=1), 1.5, "expected an int"),
    (Field("k", "int", 3, lo=1), True, "expected an int"),
    (Field("p", "float", 0.5, lo=0.0, hi=1.0), 1, None),
    (Field("p", "float", 0.5, lo=0.0, hi=1.0), 2.0, "in [0, 1]"),
    (Field("p", "float", 0.5, lo=0.0, hi=1.0), "x", "expected a number"),
    (Field("a", "str", "none", choices=("none", "tanh")), "tan", "one of 'none', 'tanh'"),
    (Field("n", "int", None, lo=1, optional=True), None, None),
    (Field("b", "bool", False), 0, "true or false"),
])
def test_field_rules(field, value, why):
    got = field.problem(value)
    assert (got is None) if why is None else (why in got)


def test_metadata_bind_refuses_with_the_core_error():
    meta = OP_META.get("conv1d")
    assert meta.bind({"kernel": 5}) == {"kernel": 5, "dilation": 1}
    with pytest.raises(MetaError, match="did you mean 'kernel'") as err:
        meta.bind({"kernle": 5})
    assert err.value.code == "E0004"
    with pytest.raises(MetaError, match="parameter 'kernel': expected an odd int"):
        meta.bind({"kernel": 4})


# ---------------------------------------------------------------- metadata and compiler agree


def test_language_reference_tables_are_rendered_from_the_metadata():
    from genolang.opdocs import PAGE, rendered_page

    text = PAGE.read_text(encoding="utf-8")
    assert text == rendered_page(text), (
        "docs/language.md op tables are stale: run python -c \"import genolang.opdocs as d; d.write_language_md()\"")


def test_builtin_metadata_names_are_the_catalog():
    assert set(OP_META.names()) == set(catalog.OPS)
    assert set(ACTIVATION_META.names()) == set(catalog.ACTIVATIONS)
    assert {n: m.taps for n, m in BACKBONE_META.items()} == catalog.BACKBONES


@pytest.mark.parametrize("name", BUILTIN_OPS)
def test_every_op_is_built_on_its_metadata(name):
    from genolang.compiler import OPS

    spec, meta = OPS.get(name), OP_META.get(name)
    assert spec.meta is meta
    assert (spec.kind, spec.arity, spec.params) == (meta.kind, meta.arity, meta.params)
    assert set(meta.node_fields()) >= {f.name for f in meta.fields}


def test_check_imports_no_torch():
    """``check`` of a space using the new ops reads only the torch-free metadata."""
    code = ("import sys\nfrom genolang.cli import main\n"
            f"assert main(['check', {str(SEQUENCE)!r}]) == 0\n"
            "assert 'torch' not in sys.modules, 'check imported torch'\n")
    out = _fresh_python(code)
    assert out.returncode == 0, out.stderr


# ---------------------------------------------------------------- register_op extends check

SPACE = """genolang 1
space twice version 1 {
  input x { shape = [4, 6, 6] }
  node n { op = times_k; k = 3; a = @x }
  head h { in = @n; classes = 2 }
}
"""


class _TimesK(torch.nn.Module):
    def __init__(self, k: int):
        super().__init__()
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.k


def test_register_op_extends_check_and_compile():
    from genolang.compiler import OPS, register_op
    from genolang.compiler.compile import compile_genotype

    with pytest.raises(GenolangError) as before:
        genolang.loads(SPACE)
    assert before.value.first.code == "E0236"
    register_op("times_k", kind="map", shape=lambda s, **_: s[0], keeps_width=True,
                fields=(Field("k", "int", 2, lo=1),))(lambda *, c_in, c_out, stride, affine, k: _TimesK(k))
    try:
        space = genolang.loads(SPACE).space()
        compiled = compile_genotype(space, space.default())
        node = compiled.graph["n"]
        assert node.attrs["params"] == {"k": 3}
        x = torch.randn(2, 4, 6, 6)
        assert torch.equal(OPS.get("times_k").build(c_in=4, c_out=4, k=3)(x), 3 * x)
        with pytest.raises(GenolangError, match="field 'k' = 0: expected an int in \\[1, inf\\]"):
            bad = genolang.loads(SPACE.replace("k = 3", "k = 0")).space()
            compile_genotype(bad, bad.default())
    finally:
        OPS.remove("times_k")
        OP_META.remove("times_k")


def test_register_op_refuses_a_builtin_name():
    from genolang.compiler import RegistryError as CompilerRegistryError
    from genolang.compiler import register_op

    with pytest.raises(CompilerRegistryError, match="'layer_norm' is already registered"):
        register_op("layer_norm", kind="any", shape=lambda s, **_: s[0])(lambda **_: None)
    with pytest.raises(CompilerRegistryError, match="'unheard_of' has no metadata"):
        register_op("unheard_of")(lambda **_: None)


# ---------------------------------------------------------------- the example plugin


def test_plugin_space_is_refused_without_the_plugin():
    with pytest.raises(GenolangError) as err:
        genolang.load(SE_NET)
    assert {d.code for d in err.value.diagnostics} == {"E0236"}


def test_plugin_check_without_torch(tmp_path):
    site = tmp_path / "site"
    write_dist_info(PLUGIN, site)
    code = ("import sys\nfrom genolang.cli import main\n"
            f"assert main(['check', {str(SE_NET)!r}]) == 0\n"
            "from genolang.opmeta import OP_META, ACTIVATION_META\n"
            "f = OP_META.get('squeeze_excite').fields[0]\n"
            "assert (f.name, f.type, f.lo, f.hi) == ('reduction', 'int', 1, 64)\n"
            "assert ACTIVATION_META.get('swish').fields[0].name == 'beta'\n"
            "assert 'torch' not in sys.modules, 'check imported torch'\n")
    out = _fresh_python(code, site, PLUGIN)
    assert out.returncode == 0, out.stderr


def test_plugin_compiles_and_exports(plugin, tmp_path):
    from genolang.compiler.compile import compile_genotype
    from genolang.compiler.export import export_compiled

    space = genolang.load(SE_NET).space()
    assert space.size() == 4
    genotype = space.validate({"body.se.reduction": 2, "body.se.act": "swish"})
    compiled = compile_genotype(space, genotype)
    se = next(m for m in compiled.net.modules() if type(m).__name__ == "SqueezeExcite")
    assert (se.fc1.in_features, se.fc1.out_features) == (8, 4)  # C=8 filters, C / reduction
    x = torch.randn(3, 8, 16, 16)
    with torch.no_grad():
        w = torch.sigmoid(se.fc2(torch.relu(se.fc1(x.mean(dim=(2, 3))))))
        assert torch.allclose(se(x), x * w[:, :, None, None])
    report = export_compiled(compiled.graph, compiled.net.eval(), tmp_path / "se.onnx")
    assert set(report.batches) == {1, 3, 64} and max(report.max_abs_diff.values()) < 1e-4
    assert "Sigmoid" in report.op_types  # swish and the excitation gate


# ---------------------------------------------------------------- backbones, searchers, datasets as plugins

BACKBONE_SPACE = """genolang 1
space bb version 1 {
  input x { shape = [2, 8, 8] }
  backbone net { model = tiny_taps; in = @x }
  node f { op = fc; hidden = 4; a = @net.tap[1] }
  head h { in = @f; classes = 2 }
}
"""


class _TinyTaps(torch.nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = torch.nn.Conv2d(c, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        y = self.conv(x)
        return [y, torch.nn.functional.max_pool2d(y, 2)]


def test_backbone_from_metadata_alone():
    """A backbone known only by its metadata and builder: check accepts it, the compiler builds it."""
    from genolang.compiler.backbones import BACKBONES
    from genolang.compiler.compile import compile_genotype
    from genolang.opmeta import backbone_meta

    backbone_meta("tiny_taps", taps=2, builder=lambda *, in_shape, weights=None: _TinyTaps(in_shape[0]))
    try:
        space = genolang.loads(BACKBONE_SPACE).space()
        compiled = compile_genotype(space, space.default())
        assert compiled.graph["net.tap[1]"].shape == (3, 4, 4)  # conv to 3 channels, then 2x2 pooling
        assert tuple(compiled.net.eval()(torch.randn(2, 2, 8, 8)).shape) == (2, 2)
    finally:
        BACKBONES.remove("tiny_taps")
        BACKBONE_META.remove("tiny_taps")


SEARCHER_MODULE = '''
from genolang.searchers.base import Searcher, register_searcher

@register_searcher("always_default")
class AlwaysDefault(Searcher):
    """Asks for the space's default genotype, always."""

    def ask(self, history, *, attempt=0):
        return self.space.default()
'''

DATASET_MODULE = '''
from genolang.runtime.dataset import DATASETS

@DATASETS.register("plugged_data", description="a dataset a plugin registers")
def build(*, seed=0, cache_dir=None, progress=False):
    raise NotImplementedError
'''


def test_searcher_and_dataset_plugins(tmp_path):
    from genolang.runtime.dataset import DATASETS
    from genolang.searchers.base import SEARCHERS, load_builtins, make_searcher

    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "more-plugins"\nversion = "1"\n'
        '[project.entry-points."genolang.searchers"]\nalways_default = "plugged_searcher"\n'
        '[project.entry-points."genolang.datasets"]\nplugged_data = "plugged_dataset"\n', encoding="utf-8")
    (project / "plugged_searcher.py").write_text(SEARCHER_MODULE, encoding="utf-8")
    (project / "plugged_dataset.py").write_text(DATASET_MODULE, encoding="utf-8")
    load_builtins()
    added = install(project, tmp_path / "site")
    SEARCHERS.reload_plugins()
    DATASETS.reload_plugins()
    try:
        space = genolang.loads(SPACE.replace("op = times_k; k = 3", "op = conv3x3")).space()
        searcher = make_searcher("always_default", space, seed=1)
        assert searcher.ask([]) == space.default()
        assert DATASETS.get("plugged_data").description == "a dataset a plugin registers"
        assert DATASETS.origin("plugged_data") == "plugged_dataset"
    finally:
        SEARCHERS.remove("always_default")
        DATASETS.remove("plugged_data")
        uninstall(added, "plugged_searcher")
        uninstall([], "plugged_dataset")
        SEARCHERS.reload_plugins()
        DATASETS.reload_plugins()
