"""The command line: every subcommand, --json, exit codes, no traceback, no torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import GENOTYPE_FILES, ROOT, SPACE_FILES

import genolang
from genolang.cli import main

MFAS = str(ROOT / "examples" / "spaces" / "mfas_avmnist.geno")
BEST = str(ROOT / "examples" / "genotypes" / "mfas_best_avmnist.geno")
BAD = "genolang 1\nspace s version 1 {\n  a: int(1..3)\n  b: choise(x, y)\n}\n"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_check_all_examples(capsys):
    code, out, _ = run(capsys, "check", *map(str, SPACE_FILES + GENOTYPE_FILES))
    assert code == 0 and out.count("ok ") == len(SPACE_FILES + GENOTYPE_FILES)


def test_check_invalid_file_exit_1_with_caret(capsys, tmp_path):
    bad = tmp_path / "bad.geno"
    bad.write_text(BAD)
    code, _, err = run(capsys, "check", str(bad))
    assert code == 1
    assert f"{bad}:4:6" in err and "^^^^^^" in err and "'choice'" in err
    code, out, _ = run(capsys, "check", "--json", str(bad))
    report = json.loads(out)[0]
    assert code == 1 and report["ok"] is False
    assert (report["diagnostics"][0]["line"], report["diagnostics"][0]["column"]) == (4, 6)


def test_bad_usage_exit_2(capsys, tmp_path):
    assert run(capsys, "check", str(tmp_path / "missing.geno"))[0] == 2
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
    assert run(capsys, "sample", MFAS, "-n", "0")[0] == 2
    assert run(capsys, "size", MFAS, "--space", "nope")[0] == 2


def test_size(capsys):
    code, out, _ = run(capsys, "size", "--json", MFAS)
    assert code == 0 and json.loads(out) == {"mfas_avmnist": sum(30**layers for layers in range(1, 5))}


def test_sample_output_is_valid_and_reproducible(capsys, tmp_path):
    path = tmp_path / "deep" / "s.geno"
    code, _, _ = run(capsys, "sample", MFAS, "-n", "3", "--seed", "7", "-o", str(path))
    assert code == 0
    doc = genolang.load(path)  # its import points back to the space from the output's folder
    space = genolang.load(MFAS).space()
    assert [g.name for g in doc.genotypes.values()] == ["sample_7", "sample_8", "sample_9"]
    assert [g.digest for g in doc.genotypes.values()] == [space.sample(s).digest for s in (7, 8, 9)]
    _, first, _ = run(capsys, "sample", MFAS, "-n", "3", "--seed", "7")
    _, again, _ = run(capsys, "sample", MFAS, "-n", "3", "--seed", "7")
    assert first == again and "genotype sample_9 of mfas_avmnist" in first
    code, out, _ = run(capsys, "sample", "--json", MFAS, "--seed", "7")
    assert json.loads(out)[0]["digest"] == space.sample(7).digest


def test_hash_and_diff(capsys, tmp_path):
    code, out, _ = run(capsys, "hash", "--json", BEST)
    best = genolang.load(BEST).genotype()
    assert code == 0 and json.loads(out)[0]["digest"] == best.digest
    other = tmp_path / "other.geno"
    other.write_text(best.to_text(imports=(str(ROOT / "examples" / "spaces" / "mfas_avmnist.geno"),))
                     .replace("fusion[1].act = relu", "fusion[1].act = sigmoid"))
    code, out, _ = run(capsys, "diff", BEST, str(other))
    assert code == 0 and out.strip() == "~ fusion[1].act: relu -> sigmoid"
    code, out, _ = run(capsys, "diff", "--json", BEST, BEST)
    assert json.loads(out) == {"same_space": True, "identical": True, "changes": []}


def test_schema(capsys):
    code, out, _ = run(capsys, "schema", MFAS)
    assert code == 0 and json.loads(out) == genolang.load(MFAS).space().json_schema()


def test_fmt_check_and_write(capsys, tmp_path):
    messy = tmp_path / "messy.geno"
    messy.write_text("genolang 1\nspace s version 1 {   a: int(1..3) ;  b:bool }\n")
    code, out, _ = run(capsys, "fmt", "--check", str(messy))
    assert code == 1 and "would reformat" in out
    assert run(capsys, "fmt", "-w", str(messy))[0] == 0
    assert run(capsys, "fmt", "--check", str(messy))[0] == 0
    assert genolang.load(messy).space().size() == 6


def test_no_traceback_and_no_torch_in_a_fresh_process(tmp_path):
    bad = tmp_path / "bad.geno"
    bad.write_text(BAD + "\x00\x01 garbage {{{")
    code = ("import sys\nfrom genolang.cli import main\nrc = main(sys.argv[1:])\n"
            "assert 'torch' not in sys.modules, 'check imported torch'\nsys.exit(rc)")
    for args, expected in (([str(bad)], 1), ([MFAS, BEST], 0)):
        proc = subprocess.run([sys.executable, "-c", code, "check", *args], capture_output=True, text=True)
        assert proc.returncode == expected, proc.stderr
        assert "Traceback" not in proc.stderr


def test_python_dash_m(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "genolang", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == f"genolang {genolang.__version__}"
