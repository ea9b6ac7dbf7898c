"""`require` budgets are checked by the compiler (E0370); latency is left to the benchmarks."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import genolang
from genolang.compiler.compile import compile_genotype
from genolang.compiler.errors import CompileError

SPACE = """genolang 1
space tiny version 1 {{
  input x {{ shape = [16] }}
  node h {{ op = fc; hidden = 32; in = @x; act = relu }}
  head y {{ in = @h; classes = 4 }}
  require {metric} {cmp} {amount}
}}
"""
# params: Linear(16, 32) + Linear(32, 4) = 544 + 132 = 676; MACs 16*32 + 32*4 = 640, FLOPs 1280
PARAMS, FLOPS = 676, 1280


def compile_with(metric: str, cmp: str, amount: str):
    space = genolang.loads(SPACE.format(metric=metric, cmp=cmp, amount=amount), "tiny.geno").space()
    return compile_genotype(space, space.default())


@pytest.mark.parametrize("metric,amount", [("params", "676"), ("params", "1K"), ("flops", "1280"), ("flops", "2K")])
def test_budgets_met_compile(metric, amount):
    compiled = compile_with(metric, "<=", amount)
    assert (compiled.summary.params, compiled.summary.flops) == (PARAMS, FLOPS)


@pytest.mark.parametrize("metric,amount,shown", [("params", "675", "676"), ("flops", "1K", "1.28K")])
def test_a_broken_budget_is_E0370_at_the_require_line(metric, amount, shown):
    with pytest.raises(CompileError) as info:
        compile_with(metric, "<=", amount)
    err = info.value
    assert err.code == "E0370" and err.line == 6 and "tiny.geno:6" in str(err)
    assert f"has {shown} {metric}" in str(err) and "largest contributors: h" in str(err)


def test_latency_budgets_are_not_checked_statically(caplog):
    with caplog.at_level(logging.WARNING):
        compile_with("latency", "<=", "1ms")
    assert "not checked statically" in caplog.text


def run_cli(command: str, tmp_path, amount: str) -> tuple[int, Path]:
    """``genolang compile|export`` of the tiny space under ``require params <= amount``; (exit code, ONNX path)."""
    from genolang.cli import main

    path = tmp_path / "tiny.geno"
    path.write_text(SPACE.format(metric="params", cmp="<=", amount=amount))
    out = tmp_path / "tiny.onnx"
    return main([command, str(path)] + (["-o", str(out)] if command == "export" else [])), out


@pytest.mark.parametrize("command", ["compile", "export"])
def test_the_cli_refuses_a_broken_budget_as_the_api_does(command, tmp_path, capsys):
    code, out = run_cli(command, tmp_path, "675")
    assert code == 1
    err = capsys.readouterr().err
    assert "E0370" in err and "tiny.geno:6" in err and "has 676 params" in err
    assert not out.exists()


@pytest.mark.parametrize("command", ["compile", "export"])
def test_the_cli_accepts_a_budget_met(command, tmp_path, capsys):
    code, out = run_cli(command, tmp_path, "676")
    assert code == 0
    assert out.exists() == (command == "export")
