"""Fuzzing: mutated example files (characters and whole tokens deleted, inserted, replaced)
either load or raise a GenolangError, and every error renders. Never another exception.

The examples are globbed when the tests are collected, so new examples are fuzzed too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import genolang

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FILES = sorted(EXAMPLES.glob("spaces/*.geno")) + sorted(EXAMPLES.glob("genotypes/*.geno"))
TEXTS = {path: path.read_text(encoding="utf-8") for path in FILES}

TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?[A-Za-z]*'
                   r"|[A-Za-z_]\w*|\.\.|[<>=!]=|\S")
WORDS = ["space", "genotype", "node", "group", "cell", "stack", "head", "input", "backbone", "when", "forbid",
         "require", "let", "enum", "int", "float", "choice", "pick", "one", "subset", "choose", "bernoulli", "bool",
         "true", "false", "version", "of", "import", "meta", "fingerprint", "log", "step", "before", "prev", "tap",
         "not", "and", "or", "in", "params", "op", "act", "in", "out", "cells", "taps", "shape", "model", "x", "n",
         "C", "L"]
PUNCT = ("@", "..", "...", "*", "[", "]", "{", "}", "(", ")", ",", ";", ":", "=", "==", "<=", "-", "+", "[*]",
         ".before", ".tap[*]", "[0]", "[99]", "\n", "#", '"', "'")
LITERALS = ("0", "-1", "1", "3", "1.5", "1e999", "1" * 30, "5M", "5m", "p=0.5", "min=1", "step=3", '"x"',
            '"a\\qb"', '"sha256:00"', "@x", "@prev", "@n[0]", "[a]", "{a: 1}", "[@x, @x]", "[]", "{}",
            "conv3x3(@x)", "c * 2", "[[1]]", "true")
CHARS = "{}[]()=:,.@*-+\"#\n ;<>!_0123456789azAZ\\'\t\x00é"
POOL = WORDS + list(PUNCT) + list(LITERALS)

SETTINGS = settings(max_examples=150, deadline=None, derandomize=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

def _check(path: Path, text: str) -> None:
    """The property: load or a GenolangError that renders; nothing else."""
    try:
        doc = genolang.loads(text, path.name, base=path.parent)
    except genolang.GenolangError as exc:
        assert exc.render() and exc.code.startswith("E")
        assert all(d.to_json()["line"] >= 1 for d in exc.diagnostics)
        return
    for space in doc.spaces.values():
        assert space.fingerprint.startswith("sha256:")
    for g in doc.genotypes.values():
        assert g.digest.startswith("sha256:")


def _char_edit(data, text: str) -> str:
    at = data.draw(st.integers(0, len(text)), label="at")
    kind = data.draw(st.sampled_from(("delete", "insert", "replace")), label="char edit")
    if kind == "delete":
        return text[:at] + text[at + data.draw(st.integers(1, 12), label="n"):]
    chars = data.draw(st.text(alphabet=CHARS, min_size=1, max_size=4), label="chars")
    return text[:at] + chars + text[at + (len(chars) if kind == "replace" else 0):]


def _token_edit(data, text: str) -> str:
    spans = [m.span() for m in TOKEN.finditer(text)]
    if not spans:
        return text
    start, end = data.draw(st.sampled_from(spans), label="token")
    kind = data.draw(st.sampled_from(("delete", "duplicate", "replace", "insert", "copy")), label="token edit")
    if kind == "delete":
        return text[:start] + text[end:]
    if kind == "duplicate":
        return text[:end] + " " + text[start:end] + text[end:]
    if kind == "copy":  # replace with another token of the same file
        s2, e2 = data.draw(st.sampled_from(spans), label="other")
        return text[:start] + text[s2:e2] + text[end:]
    word = data.draw(st.sampled_from(POOL), label="word")
    return text[:start] + f" {word} " + text[end if kind == "replace" else start:]


VALUE = re.compile(r'(?<=[=:]\s)(?:@[\w.\[\]]+|"[^"\n]*"|[\w.]+(?:\[\d+\])*)')
ODD_VALUES = LITERALS + ("int(1..3)", "choice(a, b)", "one(x)", "bool", "-1.5", "[1, [2]]", "{a: {b: @x}}")


def _value_edit(data, text: str) -> str:
    """A field, decision or genotype value replaced by a value of another shape."""
    spans = [m.span() for m in VALUE.finditer(text)]
    if not spans:
        return text
    start, end = data.draw(st.sampled_from(spans), label="value")
    return text[:start] + data.draw(st.sampled_from(ODD_VALUES), label="odd value") + text[end:]


def _line_edit(data, text: str) -> str:
    lines = text.split("\n")
    i = data.draw(st.integers(0, len(lines) - 1), label="line")
    j = data.draw(st.integers(0, len(lines) - 1), label="other line")
    kind = data.draw(st.sampled_from(("delete", "duplicate", "swap", "truncate")), label="line edit")
    if kind == "delete":
        del lines[i]
    elif kind == "duplicate":
        lines.insert(j, lines[i])
    elif kind == "swap":
        lines[i], lines[j] = lines[j], lines[i]
    else:
        return "\n".join(lines[:i])
    return "\n".join(lines)


def _fuzz(data, edit) -> None:
    path = data.draw(st.sampled_from(FILES), label="file")
    text = TEXTS[path]
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        text = edit(data, text)
    _check(path, text)


@SETTINGS
@given(st.data())
def test_character_mutations(data):
    _fuzz(data, _char_edit)


@SETTINGS
@given(st.data())
def test_token_mutations(data):
    _fuzz(data, _token_edit)


@SETTINGS
@given(st.data())
def test_line_mutations(data):
    _fuzz(data, _line_edit)


@SETTINGS
@given(st.data())
def test_value_substitutions(data):
    _fuzz(data, _value_edit)


@SETTINGS
@given(st.data())
def test_mixed_mutations(data):
    edits = (_char_edit, _token_edit, _line_edit, _value_edit)
    _fuzz(data, lambda d, text: d.draw(st.sampled_from(edits), label="edit kind")(d, text))


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_token_deleted_in_turn(path: Path):
    """Deterministic sweep: each example with each of its tokens (up to 150) removed."""
    text = TEXTS[path]
    spans = [m.span() for m in TOKEN.finditer(text) if not m.group().startswith("#")]
    step = max(1, len(spans) // 150)
    for start, end in spans[::step]:
        _check(path, text[:start] + text[end:])


KWARG_VALUE = re.compile(r"\b(?:p|min|step)\s*=\s*([^,)\s]+)")


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_keyword_argument_given_an_odd_value(path: Path):
    """Deterministic sweep: each `p=`, `min=`, `step=` value replaced by names of other kinds,
    negatives, fractions and out-of-range numbers (a name of a space once crashed `min=`)."""
    text = TEXTS[path]
    for m in KWARG_VALUE.finditer(text):
        for odd in ("space", "x", "-1", "0.5", "1.5", "0", "1e999", "true", '"a"'):
            _check(path, text[:m.start(1)] + odd + text[m.end(1):])


# ------------------------------------------------------------------ mutated spaces that load also build
#: example spaces small enough to compile and export a genotype in a second or two
BUILDABLE = [EXAMPLES / "spaces" / n for n in ("zoph_le_macro.geno", "mfas_avmnist.geno", "randomnet_avmnist.geno",
                                               "bmnas_avmnist.geno") if (EXAMPLES / "spaces" / n).exists()]


def _build(space: genolang.Space, seed: int, tmp: Path) -> None:
    """The invariant of issue 13 on one sampled genotype: compile, forward, ONNX export with parity."""
    import torch

    from genolang.compiler import compile_genotype
    from genolang.compiler.export import export_compiled

    compiled = compile_genotype(space, space.sample(seed), budgets=False)  # budgets: E0370, a genotype's own
    torch.manual_seed(0)
    feeds = [torch.randn(2, *compiled.graph.input_shapes()[n]) for n in compiled.graph.inputs]
    with torch.no_grad():
        compiled.net(*feeds)
    export_compiled(compiled.graph, compiled.net, tmp / "net.onnx", check_batches=(1, 2), atol=1e-4)


@pytest.mark.slow
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                  HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_spaces_that_load_compile_run_and_export(tmp_path, data):
    path = data.draw(st.sampled_from(BUILDABLE), label="file")
    edit = data.draw(st.sampled_from((_value_edit, _line_edit)), label="edit")
    text = edit(data, TEXTS[path])
    try:
        doc = genolang.loads(text, path.name, base=path.parent)
        space = doc.space()
    except genolang.GenolangError:
        return  # refused by check: allowed
    if not any(e.kind == "head" for e in space.entities.values()):
        return  # a space without a head describes no network (docs/language.md)
    _build(space, data.draw(st.integers(0, 3), label="seed"), tmp_path)  # no compile error of any code
