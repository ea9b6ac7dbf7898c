"""The example spaces and genotypes: they load, their sizes match the papers' counting, and
their genotypes validate and round-trip through the text form."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

import genolang

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SPACES = EXAMPLES / "spaces"
GENOTYPES = EXAMPLES / "genotypes"


def load_space(name: str) -> genolang.Space:
    return genolang.load(SPACES / f"{name}.geno").space()


# ---------------------------------------------------------------- exact sizes
def mfas_size() -> int:
    # 1 to 4 fusion layers; each layer picks one of 5 audio taps, one of 3 image taps and
    # one of 2 activations: sum over l = 1..4 of (5 * 3 * 2)^l.
    return sum((5 * 3 * 2) ** layers for layers in range(1, 5))


def mfas_avdigits_size() -> int:
    # the same structure on lenet5 and spectro_cnn: 4 audio taps, 4 image taps, 2 activations
    return sum((4 * 4 * 2) ** layers for layers in range(1, 5))


def randomnet_size() -> int:
    # One cell per modality, L = 5 layers: each layer has 6 ops x 4 activations and a skip
    # bit per earlier layer, so 6^L * 4^L * 2^(L(L-1)/2) cells (the paper's ~8 x 10^9);
    # stacking the decided cell adds no decision. Two modalities: squared.
    layers = 5
    cell = 6 ** layers * 4 ** layers * 2 ** (layers * (layers - 1) // 2)
    # Fusion layer d = 1..3: 4 activations, and a skip bit to each image and each audio
    # cell of depth <= d (2d bits; 2 * (1 + 2 + 3) = 12 connections in all), except that
    # fusion1, which has no previous fusion layer to read, may not select nothing.
    fusion = math.prod(4 * (2 ** (2 * d) - (d == 1)) for d in range(1, 4))
    return cell ** 2 * fusion


def bmnas_size() -> int:
    # Upper level: Cell c takes an unordered pair of distinct inputs among the 3 + 5 LeNet
    # taps and the c earlier Cells: C(8, 2) * C(9, 2).
    cells = math.comb(8, 2) * math.comb(9, 2)
    # Lower level, per Cell: Step s takes an ordered pair of distinct inputs among the 2
    # Cell inputs and the s earlier Steps, and one of 5 ops: P(2, 2) * 5 * P(3, 2) * 5.
    steps = math.prod(math.perm(2 + s, 2) * 5 for s in range(2))
    return cells * steps ** 2


def darts_size() -> int:
    # Per cell type, node i = 0..3 keeps an unordered pair of distinct inputs among the 2
    # cell inputs and the i earlier nodes, and one of 7 ops on each of the two edges:
    # prod of C(2 + i, 2) * 7^2 = 180 * 7^8 (the paper's ~10^9). Normal and reduce: squared.
    cell = math.prod(math.comb(2 + i, 2) * 7 ** 2 for i in range(4))
    return cell ** 2


def zoph_le_size() -> int:
    # L = 6 layers; layer i picks FH in 4, FW in 4, N in 4, and a skip bit per earlier layer.
    return math.prod(4 * 4 * 4 * 2 ** i for i in range(6))


def nasnet_size() -> int:
    # Per cell type, block b = 0..4 picks two hidden states, independently, among the 2
    # cell inputs and the b earlier blocks, an op in 13 for each, and a combine in 2:
    # prod of ((2 + b) * 13)^2 * 2. Normal and reduce: squared.
    cell = math.prod(((2 + b) * 13) ** 2 * 2 for b in range(5))
    return cell ** 2


def sequence_attention_size() -> int:
    # two conv1d layers with kernel in 3 and filters in 2 each, text attention heads in 3,
    # text norm in {layer_norm, batch_norm}, image attention heads in 2
    return (3 * 2) ** 2 * 3 * 2 * 2


SIZES = {
    "mfas_avmnist": (mfas_size, 837_930),
    "mfas_avdigits": (mfas_avdigits_size, 1_082_400),
    "randomnet_avmnist": (randomnet_size, 13_071_141_489_701_703_760_478_208),
    # the same search space at a CPU width (the stem and widths are fixed, not searched)
    "randomnet_avdigits": (randomnet_size, 13_071_141_489_701_703_760_478_208),
    "bmnas_avmnist": (bmnas_size, 90_720_000),
    "darts_cifar": (darts_size, 1_076_746_950_455_072_400),
    "zoph_le_macro": (zoph_le_size, 2_251_799_813_685_248),
    # the unimodal nets MFAS pre-trains: no decision, one genotype
    "mfas_image_only": (lambda: 1, 1),
    "mfas_audio_only": (lambda: 1, 1),
    # one width decision used by three fields (3 values) and a multiplier (3): 3 * 3
    "shared_widths": (lambda: 3 * 3, 9),
    # width (2) * the block's op (2) * a searched depth per stage: n1, n2 in 1..3, n3 in 0..2
    "resnet_stages": (lambda: 2 * 2 * 3 * 3 * 3, 108),
    "nasnet_cell": (nasnet_size, 5_229_943_396_058_757_337_940_161_399_357_440_000),
    "sequence_attention": (sequence_attention_size, 432),
}


def test_every_example_space_is_tested():
    assert {p.stem for p in SPACES.glob("*.geno")} == set(SIZES)


@pytest.mark.parametrize("name", sorted(SIZES))
def test_space_loads_and_has_the_papers_size(name):
    formula, written = SIZES[name]
    space = load_space(name)
    assert space.name == name
    assert formula() == written
    assert space.size() == formula()


@pytest.mark.parametrize("name", sorted(SIZES))
def test_readme_states_the_exact_size(name):
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith(f"| `{name}.geno`"))
    assert f"{SIZES[name][1]:,}" in row


@pytest.mark.parametrize("name", sorted(SIZES))
def test_samples_and_defaults_are_valid(name):
    space = load_space(name)
    for seed in range(5):
        g = space.sample(seed)
        assert space.validate(g.values) == g
        assert space.sample(seed) == g
    assert space.validate(space.default().values) == space.default()


# ---------------------------------------------------------------- every genotype compiles
# A space whose genotypes do not all compile makes searchers spend trials on failures. The
# default and samples 0..49 of every example space must compile; the two spaces whose
# networks are slow to build (a 20-cell DARTS stack, NASNet cells at CIFAR width: ~0.25 s and
# ~0.12 s per build, most of it weight initialisation) check fewer seeds to keep this fast.
COMPILE_SEEDS = {"darts_cifar": 10, "nasnet_cell": 20}


@pytest.mark.parametrize("path", sorted(SPACES.glob("*.geno")), ids=lambda p: p.stem)
def test_default_and_samples_compile(path):
    from genolang.compiler.compile import compile_genotype

    space = genolang.load(path).space()
    seeds = range(COMPILE_SEEDS.get(path.stem, 50))
    failures = []
    for seed, genotype in [("default", space.default()), *((s, space.sample(s)) for s in seeds)]:
        try:
            compile_genotype(space, genotype)
        except Exception as exc:  # every failure is reported, none skipped
            failures.append(f"{seed}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    assert not failures, f"{len(failures)} genotypes of {path.stem} do not compile:\n" + "\n".join(failures)


def test_the_first_fusion_layer_of_randomnet_never_reads_nothing():
    # fusion1 has no previous fusion layer: its one selection over the first image and
    # audio cells excludes the empty set (3 of the 4 Bernoulli outcomes), so every sample
    # compiles, and samples keep the paper's Bernoulli(0.5) draws where these are valid.
    for name in ("randomnet_avmnist", "randomnet_avdigits"):
        space = load_space(name)
        assert space.default().values["fusion1.xy"] == ["@image_stack[0]"]
        seen = {tuple(space.sample(seed).values["fusion1.xy"]) for seed in range(200)}
        assert seen == {("@image_stack[0]",), ("@audio_stack[0]",), ("@image_stack[0]", "@audio_stack[0]")}
        with pytest.raises(genolang.GenolangError) as info:
            space.validate({**space.default().values, "fusion1.xy": []})
        assert [d.code for d in info.value.diagnostics] == ["E0365"]


# ---------------------------------------------------------------- genotypes
GENOTYPE_FILES = sorted(p.name for p in GENOTYPES.glob("*.geno"))


def test_the_expected_genotype_files_exist():
    assert {"darts_v2.geno", "randomnet_sample.geno", "bmnas_sample.geno",
            "mfas_best_avmnist.geno"} <= set(GENOTYPE_FILES)


def imports_of(path: Path) -> tuple[str, ...]:
    return tuple(re.findall(r'^import "([^"]+)"', path.read_text(encoding="utf-8"), re.M))


@pytest.mark.parametrize("filename", GENOTYPE_FILES)
def test_genotype_validates_and_round_trips(filename):
    path = GENOTYPES / filename
    doc = genolang.load(path)
    g = doc.genotype()
    space = doc.space(g.space)
    assert g.fingerprint == space.fingerprint
    assert space.validate(g.values, name=g.name, meta=g.meta) == g
    imports = imports_of(path)
    assert imports and all(not Path(i).is_absolute() for i in imports)
    text = g.to_text(imports=imports)
    again = genolang.loads(text, filename, base=GENOTYPES).genotype()
    assert again == g
    assert again.digest == g.digest
    assert again.meta == g.meta
    assert again.to_text(imports=imports) == text


def _code_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("key, space_name",
                         [("randomnet", "randomnet_avmnist"), ("bmnas", "bmnas_avmnist")])
def test_sample_files_are_the_documented_seed(key, space_name):
    path = GENOTYPES / f"{key}_sample.geno"
    text = path.read_text(encoding="utf-8")
    seed = int(re.search(r"Space\.sample\(seed=(\d+)\)", text).group(1))
    g = genolang.load(path).genotype()
    expected = load_space(space_name).sample(seed, name=g.name)
    assert g == expected
    assert _code_lines(text) == _code_lines(expected.to_text(imports=imports_of(path)))


# ---------------------------------------------------------------- DARTS_V2
# quark0/darts cnn/genotypes.py: (op, input index) pairs, two per node; input index 0 is
# c_{k-2}, 1 is c_{k-1}, 2.. the cell's nodes. Both concats are [2, 3, 4, 5].
DARTS_V2 = {
    "normal": [("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
               ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    "reduce": [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
               ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
}


def darts_values(cell: str, pairs: list[tuple[str, int]]) -> dict[str, list[dict]]:
    """The published pairs as genolang values: absolute refs, edges in candidate order."""
    states = [f"@{cell}.in[0]", f"@{cell}.in[1]"] + [f"@{cell}.n[{i}]" for i in range(4)]
    values = {}
    for node in range(4):
        edges = [{"op": op, "ref": states[index]} for op, index in pairs[2 * node: 2 * node + 2]]
        values[f"{cell}.n[{node}].x"] = sorted(edges, key=lambda e: states.index(e["ref"]))
    return values


def test_darts_v2_is_the_published_cell():
    g = genolang.load(GENOTYPES / "darts_v2.geno").genotype()
    expected = {**darts_values("normal", DARTS_V2["normal"]),
                **darts_values("reduce", DARTS_V2["reduce"])}
    assert g.values == expected
    # validating the published order (not sorted) gives the same canonical genotype
    space = load_space("darts_cifar")
    def ref(cell: str, i: int) -> str:
        return f"@{cell}.in[{i}]" if i < 2 else f"@{cell}.n[{i - 2}]"

    raw = {f"{cell}.n[{node}].x": [{"op": op, "ref": ref(cell, i)}
                                   for op, i in pairs[2 * node: 2 * node + 2]]
           for cell, pairs in DARTS_V2.items() for node in range(4)}
    assert space.validate(raw, name=g.name).digest == g.digest


def test_darts_evaluation_network_layout():
    space = load_space("darts_cifar")
    items = [e for p, e in space.entities.items() if e.kind == "item" and p.startswith("net[")]
    assert len(items) == 20
    reductions = [i for i, e in enumerate(items) if e.fields["cell"] == "reduce"]
    assert reductions == [20 // 3, 2 * 20 // 3]
    assert space.entities["reduce"].fields["stride"] == 2
    assert space.entities["normal"].fields["out"] == "concat_all"


# ---------------------------------------------------------------- hand-written genotypes
def codes(text: str) -> list[str]:
    with pytest.raises(genolang.GenolangError) as info:
        genolang.loads(text, "hand.geno", base=GENOTYPES)
    return [d.code for d in info.value.diagnostics]


BMNAS_HAND = '''genolang 1
import "../spaces/bmnas_avmnist.geno"
genotype hand of bmnas_avmnist version 2 {
  fusion.cell = [
    { in: [@image_net.tap[2], @audio_net.tap[4]],
      step: [{ x: [@cell.in[1], @cell.in[0]], op: attention }, { x: [@step[0], @in[0]], op: sum }] },
    { in: CELL1_IN,
      step: [{ x: [@in[1], @in[0]], op: concat_fc }, { x: [@in[0], @step[0]], op: linear_glu }] },
  ]
}
'''


def test_bmnas_hand_written_relative_refs():
    # `@cell.in[1]` names the current cell's slot, as `cell.in` does in the space
    g = genolang.loads(BMNAS_HAND.replace("CELL1_IN", "[@audio_net.tap[1], @fusion.cell[0]]"),
                       "hand.geno", base=GENOTYPES).genotype()
    assert g.values["fusion.cell[0].step[0].x"] == ["@fusion.cell[0].in[1]", "@fusion.cell[0].in[0]"]
    assert g.values["fusion.cell[0].step[1].x"] == ["@fusion.cell[0].step[0]", "@fusion.cell[0].in[0]"]
    assert g.values["fusion.cell[1].in"] == ["@audio_net.tap[1]", "@fusion.cell[0]"]


def test_unordered_choice_with_referenced_slots_must_be_in_canonical_order():
    # sorting [@fusion.cell[0], @audio_net.tap[1]] would silently swap what @in[0] means
    assert codes(BMNAS_HAND.replace("CELL1_IN", "[@fusion.cell[0], @audio_net.tap[1]]")) == ["E0368"]


def test_darts_edges_may_be_written_in_any_order():
    # nothing refers to the slots of a DARTS node's edges: the order is free
    space = load_space("darts_cifar")
    g = genolang.load(GENOTYPES / "darts_v2.geno").genotype()
    values = {**g.values, "normal.n[3].x": list(reversed(g.values["normal.n[3].x"]))}
    assert space.validate(values, name=g.name).digest == g.digest


ZOPH_LE = '''genolang 1
import "../spaces/zoph_le_macro.geno"
genotype hand of zoph_le_macro version 1 {
  net.layer = [
    { kernel_h: 3, kernel_w: 3, filters: 36, inputs: [] },
    { kernel_h: 3, kernel_w: 5, filters: 36, inputs: [@layer[0]] },
    { kernel_h: 5, kernel_w: 3, filters: 48, inputs: [@layer[1], @layer[0]] },
    { kernel_h: 1, kernel_w: 7, filters: 64, inputs: [] },
    { kernel_h: 7, kernel_w: 1, filters: 24, inputs: [@layer[2]] },
    { kernel_h: 3, kernel_w: 3, filters: 36, inputs: [@layer[3], @layer[4]] EXTRA },
  ]
}
'''


def test_zoph_le_hand_written():
    g = genolang.loads(ZOPH_LE.replace("EXTRA", ""), "hand.geno", base=GENOTYPES).genotype()
    assert g.values["net.layer[2].inputs"] == ["@net.layer[0]", "@net.layer[1]"]  # candidate order
    assert g.values["net.layer[0].inputs"] == []


def test_unknown_field_of_an_existing_instance_is_not_out_of_range():
    assert codes(ZOPH_LE.replace("EXTRA", ", stride: 2")) == ["E0321"]
    assert codes(ZOPH_LE.replace("EXTRA", "}, { kernel_h: 3")) == ["E0320"]
