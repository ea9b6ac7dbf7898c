"""The methods of the seeds' comparison (benchmarks/seeds_avdigits.py), one function each.

Every method takes a :class:`Bench` (dataset, budgets, work folder, device) and a seed and
returns a :class:`Row`: test accuracy of the final trained architecture (selected on val),
search wall time, architectures evaluated, parameters. The pretrained unimodal nets of a
seed (the image-only and audio-only rows) are the frozen backbones of the fusion searches
of that seed (MFAS, late fusion, rl, evolution, BM-NAS and its self-supervised variant),
loaded through a generated copy of each space file whose backbones carry ``weights``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genolang.compiler.compile import compile_genotype
from genolang.document import load
from genolang.genotype import Genotype
from genolang.runtime.bilevel import BilevelConfig, run_bilevel
from genolang.runtime.dataset import MultimodalDataset
from genolang.runtime.ssl import SslConfig, run_ssl_search, ssl_finetune
from genolang.runtime.train import TrainConfig, train
from genolang.searchers.study import run_search
from genolang.space import Space

ROOT = Path(__file__).resolve().parent.parent
SPACES = {"image": ROOT / "examples/spaces/mfas_image_only.geno",
          "audio": ROOT / "examples/spaces/mfas_audio_only.geno",
          "late": ROOT / "benchmarks/spaces/late_fusion_avdigits.geno",
          "randomnet": ROOT / "examples/spaces/randomnet_avdigits.geno",
          "mfas": ROOT / "examples/spaces/mfas_avmnist.geno",
          "bmnas": ROOT / "examples/spaces/bmnas_avmnist.geno"}
BACKBONE_OF = {"image_net": "image", "audio_net": "audio"}  # backbone name -> pretrained unimodal row


@dataclass(frozen=True)
class Budget:
    """What every method may spend (equal architecture budget for the discrete searchers)."""

    epochs: int          # training epochs of each final architecture (and of the unimodal nets)
    trials: int          # architectures trained per discrete search (random, mfas, rl, evolution)
    steps: int | None    # training steps per trial (None: 10% of train, RandomNet's protocol)
    search_epochs: int   # supernet epochs of bmnas / ssl-bmnas (and ssl-bmnas' contrastive pretraining)
    lr: float            # Adam's learning rate of every training run (trials, final nets, supernet weights)


@dataclass(frozen=True)
class Row:
    """One method on one seed."""

    method: str
    seed: int
    test_accuracy: float
    search_seconds: float
    archs: int
    params: int
    seconds: float


@dataclass
class Bench:
    """The shared state of one benchmark run."""

    data: MultimodalDataset
    budget: Budget
    work: Path
    device: str

    def seed_dir(self, seed: int, name: str) -> Path:
        return self.work / f"seed{seed}" / name

    def pretrained(self, seed: int, modality: str) -> Path:
        return self.seed_dir(seed, modality) / "model.pt"

    def space(self, key: str, seed: int) -> Space:
        """The space of ``key``; fusion spaces get this seed's pretrained backbones."""
        text = SPACES[key].read_text(encoding="utf-8")
        if key in ("image", "audio", "randomnet"):
            return load(SPACES[key]).space()
        for backbone, modality in BACKBONE_OF.items():
            weights = self.pretrained(seed, modality)
            if not weights.is_file():
                raise FileNotFoundError(f"{key} needs the {modality}-only net of seed {seed} trained first")
            text, n = re.subn(rf"(backbone {backbone} \{{[^}}]*frozen = true)", rf'\1; weights = "{weights}"', text)
            if n != 1:
                raise ValueError(f"{SPACES[key].name}: backbone {backbone} is not declared `frozen = true`")
        path = self.seed_dir(seed, "spaces") / SPACES[key].name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return load(path).space()

    def final(self, space: Space, genotype: Genotype, seed: int, out: Path | None = None) -> tuple[float, int]:
        """Train ``genotype`` from seeded initial weights; its test accuracy (best on val) and parameters."""
        torch.manual_seed(seed)
        compiled = compile_genotype(space, genotype)
        config = TrainConfig(epochs=self.budget.epochs, lr=self.budget.lr, seed=seed)
        result = train(compiled.net, self.data, config, input_names=compiled.net.input_names, device=self.device,
                       out_dir=out)
        return float(result.test.accuracy), int(compiled.summary.params)


def _timed(fn: Callable[[], tuple[float, float, int, int]], method: str, seed: int) -> Row:
    start = time.perf_counter()
    acc, search_seconds, archs, params = fn()
    return Row(method, seed, acc, search_seconds, archs, params, time.perf_counter() - start)


def unimodal(modality: str) -> Callable[[Bench, int], Row]:
    """Image-only or audio-only LeNet (MFAS's unimodal nets); its weights become the seed's backbone."""
    def run(bench: Bench, seed: int) -> Row:
        def go() -> tuple[float, float, int, int]:
            space = bench.space(modality, seed)
            acc, params = bench.final(space, space.default(), seed, out=bench.seed_dir(seed, modality))
            return acc, 0.0, 1, params
        return _timed(go, f"{modality} only", seed)
    return run


def late_fusion(bench: Bench, seed: int) -> Row:
    """Hand-designed late fusion on the seed's frozen unimodal nets."""
    def go() -> tuple[float, float, int, int]:
        space = bench.space("late", seed)
        acc, params = bench.final(space, space.default(), seed)
        return acc, 0.0, 1, params
    return _timed(go, "late fusion", seed)


def discrete(searcher: str, key: str, label: str | None = None) -> Callable[[Bench, int], Row]:
    """A search of ``trials`` architectures with ``searcher`` on space ``key``, then the best trained."""
    def run(bench: Bench, seed: int) -> Row:
        def go() -> tuple[float, float, int, int]:
            space = bench.space(key, seed)
            result = run_search(space, bench.data, searcher=searcher, budget=bench.budget.trials,
                                out_dir=bench.seed_dir(seed, label or searcher), steps=bench.budget.steps,
                                seed=seed, device=bench.device,
                                train_config=TrainConfig(lr=bench.budget.lr, seed=seed))
            if result.best is None:
                raise RuntimeError(f"{searcher}: every trial failed")
            acc, params = bench.final(space, result.best, seed)
            return acc, result.seconds, result.done + result.failed, params
        return _timed(go, label or searcher, seed)
    return run


def bmnas(bench: Bench, seed: int) -> Row:
    """BM-NAS: the supernet searched for ``search_epochs``, the derived best-on-val genotype trained."""
    def go() -> tuple[float, float, int, int]:
        space = bench.space("bmnas", seed)
        config = BilevelConfig(w_lr=bench.budget.lr)
        result = run_bilevel(space, bench.data, out_dir=bench.seed_dir(seed, "bmnas"),
                             epochs=bench.budget.search_epochs, config=config, seed=seed, device=bench.device)
        acc, params = bench.final(space, result.best, seed)
        return acc, result.seconds, result.done, params
    return _timed(go, "bmnas", seed)


_SSL_SEARCHES: dict[int, tuple[Space, Any]] = {}


def ssl_bmnas(fraction: float) -> Callable[[Bench, int], Row]:
    """Self-supervised BM-NAS with labelled fraction ``fraction`` (the label-free search is run once per seed
    on all of train, then contrastive pretraining and the classifier on the fraction)."""
    def run(bench: Bench, seed: int) -> Row:
        def go() -> tuple[float, float, int, int]:
            space, result = _ssl_search(bench, seed)
            ssl = SslConfig(labelled_fraction=fraction, pretrain_epochs=bench.budget.search_epochs,
                            finetune_epochs=bench.budget.epochs, lr=bench.budget.lr)
            tuned = ssl_finetune(space, result.best, bench.data, ssl=ssl, seed=seed, device=bench.device)
            params = int(compile_genotype(space, result.best).summary.params)
            return float(tuned.test_accuracy), result.seconds, result.done, params
        return _timed(go, f"ssl-bmnas r={fraction:g}", seed)
    return run


def _ssl_search(bench: Bench, seed: int) -> tuple[Space, Any]:
    if seed not in _SSL_SEARCHES:
        space = bench.space("bmnas", seed)
        result = run_ssl_search(space, bench.data, out_dir=bench.seed_dir(seed, "ssl-bmnas"),
                                epochs=bench.budget.search_epochs, config=BilevelConfig(w_lr=bench.budget.lr),
                                ssl=SslConfig(lr=bench.budget.lr), seed=seed, device=bench.device)
        _SSL_SEARCHES[seed] = (space, result)
    return _SSL_SEARCHES[seed]


METHODS: dict[str, Callable[[Bench, int], Row]] = {
    "image only": unimodal("image"),
    "audio only": unimodal("audio"),
    "late fusion": late_fusion,
    "random": discrete("random", "randomnet"),
    "mfas": discrete("mfas", "mfas"),
    "rl": discrete("rl", "mfas"),
    "evolution": discrete("evolution", "mfas"),
    "bmnas": bmnas,
    "ssl-bmnas r=0.1": ssl_bmnas(0.1),
    "ssl-bmnas r=1": ssl_bmnas(1.0),
}
