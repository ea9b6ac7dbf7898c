"""`genolang compile`, `export` and `draw`: exit codes, --json, weights, the dot fallback."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT

import genolang
from genolang.cli import main

BEST = str(ROOT / "examples" / "genotypes" / "mfas_best_avmnist.geno")
MFAS = str(ROOT / "examples" / "spaces" / "mfas_avmnist.geno")
BAD = "genolang 1\nspace s version 1 {\n  a: int(1..3)\n  b: choise(x, y)\n}\n"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def best_graph():
    from genolang.compiler.lower import lower

    doc = genolang.load(BEST)
    geno = doc.genotype()
    return lower(doc.space(geno.space), geno)


def test_compile_json(capsys):
    code, out, _ = run(capsys, "compile", BEST, "--json")
    data = json.loads(out)
    geno = genolang.load(BEST).genotype()
    assert code == 0 and data["genotype"] == geno.name and data["digest"] == geno.digest
    assert data["origin"] == "genotype" and data["summary"]


def test_compile_a_space_says_which_genotype(capsys):
    code, out, _ = run(capsys, "compile", MFAS)
    assert code == 0 and "sample(seed=0) genotype of mfas_avmnist" in out and "total" in out


def test_compile_errors(capsys, tmp_path):
    assert run(capsys, "compile", BEST, "--genotype", "nope")[0] == 2
    assert run(capsys, "compile", str(tmp_path / "missing.geno"))[0] == 2
    bad = tmp_path / "bad.geno"
    bad.write_text(BAD)
    code, _, err = run(capsys, "compile", str(bad))
    assert code == 1 and "'choice'" in err and "Traceback" not in err
    code, out, _ = run(capsys, "compile", str(bad), "--json")
    assert code == 1 and json.loads(out)["ok"] is False


def test_draw_stdout_and_files(capsys, tmp_path):
    code, out, _ = run(capsys, "draw", BEST)
    assert code == 0 and out.startswith("digraph")
    assert all(f'"{n.name}" [label=' in out for n in best_graph().nodes)
    code, _, _ = run(capsys, "draw", BEST, "-o", str(tmp_path / "g.dot"))
    assert code == 0 and (tmp_path / "g.dot").read_text(encoding="utf-8") == out


def test_draw_without_graphviz_writes_dot_and_warns(capsys, tmp_path, monkeypatch):
    from genolang.compiler import draw

    monkeypatch.setattr(draw.shutil, "which", lambda name: None)
    code, out, err = run(capsys, "draw", BEST, "-o", str(tmp_path / "g.png"), "--json")
    assert code == 0 and "warning" in err and "dot" in err
    assert json.loads(out)["path"] == str(tmp_path / "g.dot") and (tmp_path / "g.dot").exists()
    assert not (tmp_path / "g.png").exists()


def test_export_with_weights(capsys, tmp_path):
    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch

    from genolang.compiler.module import build_module

    graph = best_graph()
    torch.manual_seed(3)
    net = build_module(graph)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.1)  # weights unlike a fresh network's
    torch.save(net.state_dict(), tmp_path / "w.pt")
    path = tmp_path / "m.onnx"
    code, out, _ = run(capsys, "export", BEST, "-o", str(path), "--weights", str(tmp_path / "w.pt"), "--json")
    data = json.loads(out)
    assert code == 0 and data["path"] == str(path) and data["batches"] == [1, 3, 64]
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props["genolang.digest"] == genolang.load(BEST).genotype().digest == data["digest"]
    assert props["genolang.genotype"] == graph.text and props["genolang.version"] == genolang.__version__
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {n: rng.standard_normal((2, *graph[n].shape), dtype=np.float32) for n in graph.inputs}
    with torch.no_grad():
        expected = net.eval()(*(torch.from_numpy(x) for x in feeds.values()))
    np.testing.assert_allclose(session.run(None, feeds)[0], expected.numpy(), rtol=1e-3, atol=1e-5)


def test_export_errors(capsys, tmp_path):
    import torch

    torch.save({"nope": torch.zeros(1)}, tmp_path / "bad.pt")
    path = tmp_path / "m.onnx"
    code, _, err = run(capsys, "export", BEST, "-o", str(path), "--weights", str(tmp_path / "bad.pt"))
    assert code == 1 and "do not fit" in err and not path.exists()
    assert run(capsys, "export", BEST, "-o", str(path), "--weights", str(tmp_path / "none.pt"))[0] == 2
    with pytest.raises(SystemExit) as exc:
        main(["export", BEST])
    assert exc.value.code == 2
