"""The fair seeds' comparison on AV-digits (``python benchmarks/seeds_avdigits.py --fair``).

Protocol (what a reviewer of a NAS paper asks of a comparison; README "Seeds' comparison"):

- **Same converged backbones for every method.** Per AV-digits data seed (0 and 1), the two
  backbones of examples/spaces/mfas_avdigits.geno (LeNet-5 on the images, spectro_cnn on the
  spectrograms) are pre-trained once (``pretrain_epochs``, best on val; runtime/pretrain.py,
  cached), frozen, and every tap of every sample is computed once (eval mode: what the
  frozen-prefix cache computes). Every fusion method reads these same tap tensors, through
  benchmarks/spaces/fair_mfas_taps.geno (MFAS's space: the main job's) and
  fair_bmnas_taps.geno (BM-NAS's reference cells over the same taps).
- **Equal trial budget.** Every trial searcher (mfas, rl, evolution, and random search on
  the MFAS space and on the BM-NAS space) gets ``trials`` trials of ``steps`` steps (S = 200,
  the ranking benchmark's choice, tau 0.845 / 0.871), no weight sharing (MFAS's reference
  default). 77 trials take MFAS through its first round to its last progressive step (32
  one-layer architectures, then 3 steps of K = 15 up to 4 layers): its surrogate is used.
- **BM-NAS as the reference**: weight lr 1e-3 (eta_max), arch Adam 3e-4, first order,
  ``search_epochs`` = 30 (the reference's) at batch ``bmnas_batch``. The architecture gets at
  least the reference's number of steps: its epoch alternation (an architect step per val
  batch) gives 15 steps per epoch on AV-digits' 500 val pairs (450 in all, against about
  1,800 on NTU's dev split), so ``alternation = "batch"`` (DARTS's: an architect step per
  weight step, 3,270 in all); ``--full`` keeps the epoch alternation. Reported at the end: the
  normalised entropy (H / log k, mean over rows; 1 = uniform) of alpha (cell inputs), beta
  (step inputs) and gamma (step ops), and how many final epochs derived the same genotype
  (``stable``: the derived architecture stopped moving when it is large).
- **Low labels (r = ``fraction``)**: backbones pre-trained on the labelled fraction only (as
  many steps as the full pre-training), then ssl-bmnas searching and pre-training on the
  unlabelled 1 - r, fine-tuned on the r labelled; beside it supervised BM-NAS searched and
  trained on the same r labelled samples and the same backbones.
- **The same final training** for every derived network and the baselines: ``final_epochs``
  epochs of Adam (TrainConfig's defaults), best on val, its test accuracy; the r-runs train as
  many steps on their fraction (``final_epochs / r`` epochs).
- Seeds 0-4 (search and training) on data seeds 0 and 1: 10 runs per method. The table
  (benchmarks/fair_stats.py) gives mean +- std, search seconds, trainable parameters (the
  frozen backbones, the same for all, excluded), and each method's paired difference to late
  fusion with an exact sign test; a PNG plots every run.

Deviations from the references, with reasons, are listed in docs/seeds.md.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from benchmarks.fair_stats import FairRow
from genolang.compiler.compile import compile_genotype
from genolang.compiler.lower import lower
from genolang.document import load
from genolang.genotype import Genotype
from genolang.runtime.bilevel import CHECKPOINT_FILE, BilevelConfig, run_bilevel
from genolang.runtime.dataset import MultimodalDataset, Split
from genolang.runtime.pretrain import Pretrained, apply_pretrained, pretrain_backbones
from genolang.runtime.search import SearchResult
from genolang.runtime.ssl import SslConfig, run_ssl_search, split_labelled, ssl_finetune
from genolang.runtime.train import TrainConfig, train
from genolang.searchers.study import run_search
from genolang.space import Space

ROOT = Path(__file__).resolve().parent.parent
BACKBONES = ROOT / "examples/spaces/mfas_avdigits.geno"
SPACES = {"mfas": ROOT / "benchmarks/spaces/fair_mfas_taps.geno",
          "bmnas": ROOT / "benchmarks/spaces/fair_bmnas_taps.geno"}
TAPS = {"image_net": ("image", "image_tap"), "audio_net": ("audio", "audio_tap")}
log = logging.getLogger("seeds_fair")


@dataclass(frozen=True)
class FairBudget:
    """What every method may spend (see the module doc)."""

    trials: int = 77
    steps: int = 200
    pretrain_epochs: int = 10
    search_epochs: int = 30
    bmnas_batch: int = 32
    final_epochs: int = 10
    fraction: float = 0.1
    arch_lr: float = 3e-4  # BM-NAS' architecture Adam (the reference's)
    alternation: Literal["batch", "epoch"] = "batch"  # an architect step per weight step (module doc)


#: the papers' budgets (for a GPU): MFAS's E_search x L rounds (32 + 11 x 15 = 197 trials),
#: BM-NAS' batch 96, the fork's 50 unimodal epochs and MultiBench-like 50 final epochs
FULL = FairBudget(trials=197, steps=200, pretrain_epochs=50, search_epochs=30, bmnas_batch=96, final_epochs=50,
                  alternation="epoch")


@dataclass
class Arm:
    """The tap data of one backbone training (full labels, or the labelled fraction) of one data seed."""

    data_seed: int
    taps: MultimodalDataset          # every split's taps (train: all of it)
    labelled: MultimodalDataset      # train cut to the labelled fraction (== taps for the full arm)
    pretrained: dict[str, Pretrained]
    fraction: float = 1.0


@dataclass
class FairBench:
    """The shared state of one fair run."""

    budget: FairBudget
    work: Path
    device: str = "cpu"
    cache_dir: Path | None = None

    def space(self, key: str) -> Space:
        return load(SPACES[key]).space()

    def final(self, key: str, genotype: Genotype, data: MultimodalDataset, seed: int, fraction: float = 1.0
              ) -> tuple[float, int]:
        """The same final training for every net: test accuracy (best on val), trainable parameters."""
        torch.manual_seed(seed)
        net = compile_genotype(self.space(key), genotype).net
        epochs = max(1, round(self.budget.final_epochs / fraction))
        result = train(net, data, TrainConfig(epochs=epochs, seed=seed), input_names=net.input_names,
                       device=self.device)
        return float(result.test.accuracy), sum(p.numel() for p in net.parameters() if p.requires_grad)


# ------------------------------------------------------------------ backbones and taps
def make_arm(bench: FairBench, data: MultimodalDataset, data_seed: int, fraction: float = 1.0) -> Arm:
    """Backbones pre-trained on (the labelled ``fraction`` of) ``data``; every split's taps."""
    labelled_raw = split_labelled(data, fraction, seed=data_seed)[0] if fraction < 1 else data
    graph = lower(load(BACKBONES).space(), load(BACKBONES).space().default())
    epochs = max(1, round(bench.budget.pretrain_epochs / fraction))
    pretrained = pretrain_backbones(graph, labelled_raw, seed=data_seed, cache_dir=bench.cache_dir,
                                    device=bench.device, epochs=epochs)
    taps = tap_dataset(data, pretrained)
    labelled = split_labelled(taps, fraction, seed=data_seed)[0] if fraction < 1 else taps
    return Arm(data_seed, taps, labelled, pretrained, fraction)


@torch.no_grad()
def tap_dataset(data: MultimodalDataset, pretrained: dict[str, Pretrained], batch: int = 256) -> MultimodalDataset:
    """Every tap of both frozen backbones (eval mode) for every sample of every split."""
    space = load(BACKBONES).space()
    net = compile_genotype(space, space.default()).net
    apply_pretrained(net, pretrained)
    net.eval()
    splits = {}
    for name, split in data.splits.items():
        parts: dict[str, list[torch.Tensor]] = {}
        for xs, _ in split.batches(batch):  # float32 batches, in order (uint8 scaled as in training)
            for backbone, (modality, prefix) in TAPS.items():
                module = net.module_of(backbone)
                assert module is not None, backbone
                for t, tap in enumerate(module(xs[modality])):
                    parts.setdefault(f"{prefix}{t}", []).append(tap.float())
        splits[name] = Split({k: torch.cat(v) for k, v in parts.items()}, split.labels)
    return MultimodalDataset(f"{data.name}/taps", splits, data.num_classes, data.task)


# ------------------------------------------------------------------ methods
Method = Callable[[FairBench, Arm, int], FairRow]


def late_fusion(bench: FairBench, arm: Arm, seed: int) -> FairRow:
    """MFAS Table 1's late fusion: one fc layer (100, ReLU) over both last taps, then the classifier."""
    start = time.perf_counter()
    genotype = bench.space("mfas").validate({"layers": 1, "fusion[0].a": "@audio_tap3", "fusion[0].b": "@image_tap3",
                                             "fusion[0].act": "relu"})
    acc, params = bench.final("mfas", genotype, arm.taps, seed)
    return FairRow("late fusion", arm.data_seed, seed, acc, 0.0, params, time.perf_counter() - start)


def unimodal(modality: str) -> Method:
    """The pre-trained unimodal network (backbone + linear classifier) of the arm: its test accuracy."""
    backbone = f"{modality}_net"

    def run(bench: FairBench, arm: Arm, seed: int) -> FairRow:
        done = arm.pretrained[backbone]
        return FairRow(f"{modality} only", arm.data_seed, seed, float(done.test_accuracy or 0.0), 0.0, done.params,
                       done.seconds)
    return run


def trial_search(searcher: str, key: str, label: str) -> Method:
    """``trials`` trials of ``steps`` steps with ``searcher`` on space ``key``; the best trained."""
    def run(bench: FairBench, arm: Arm, seed: int) -> FairRow:
        start = time.perf_counter()
        out = bench.work / f"d{arm.data_seed}s{seed}" / label
        result = run_search(bench.space(key), arm.taps, searcher=searcher, budget=bench.budget.trials,
                            steps=bench.budget.steps, seed=seed, out_dir=out,
                            device=bench.device, share_weights=False, features=False,
                            train_config=TrainConfig(seed=seed))
        if result.best is None:
            raise RuntimeError(f"{label}: every trial failed")
        acc, params = bench.final(key, result.best, arm.taps, seed)
        return FairRow(label, arm.data_seed, seed, acc, result.seconds, params, time.perf_counter() - start,
                       {"trials": result.done + result.failed})
    return run


def bmnas(label: str = "bmnas") -> Method:
    """BM-NAS at the reference's settings on the arm's labelled data; the derived genotype trained."""
    def run(bench: FairBench, arm: Arm, seed: int) -> FairRow:
        start, out = time.perf_counter(), bench.work / f"d{arm.data_seed}s{seed}" / label
        config = bilevel_config(bench.budget)
        result = run_bilevel(bench.space("bmnas"), arm.labelled, out_dir=out, epochs=bench.budget.search_epochs,
                             config=config, seed=seed, device=bench.device)
        assert result.best is not None, "a bilevel search derives a genotype every epoch"
        acc, params = bench.final("bmnas", result.best, arm.labelled, seed, arm.fraction)
        return FairRow(label, arm.data_seed, seed, acc, result.seconds, params, time.perf_counter() - start,
                       settling(bench.space("bmnas"), result))
    return run


def ssl_bmnas(bench: FairBench, arm: Arm, seed: int) -> FairRow:
    """Self-supervised BM-NAS: search and contrastive pre-training on the unlabelled 1 - r, fine-tuning on r."""
    start, out = time.perf_counter(), bench.work / f"d{arm.data_seed}s{seed}" / "ssl-bmnas"
    ssl = SslConfig(labelled_fraction=arm.fraction, split_seed=arm.data_seed, batch_size=64,
                    pretrain_epochs=bench.budget.final_epochs,
                    finetune_epochs=max(1, round(bench.budget.final_epochs / arm.fraction)))
    space = bench.space("bmnas")
    result = run_ssl_search(space, arm.taps, out_dir=out, epochs=bench.budget.search_epochs,
                            config=bilevel_config(bench.budget), ssl=ssl, seed=seed,
                            device=bench.device)
    assert result.best is not None, "a bilevel search derives a genotype every epoch"
    tuned = ssl_finetune(space, result.best, arm.taps, ssl=ssl, seed=seed, device=bench.device)
    params = sum(p.numel() for p in compile_genotype(space, result.best).net.parameters() if p.requires_grad)
    return FairRow(f"ssl-bmnas r={arm.fraction:g}", arm.data_seed, seed, float(tuned.test_accuracy or 0.0),
                   result.seconds, params, time.perf_counter() - start,
                   {**settling(space, result), "labelled": tuned.labelled, "unlabelled": tuned.unlabelled})


def bilevel_config(budget: FairBudget) -> BilevelConfig:
    """BM-NAS's search settings under ``budget`` (the reference's, but batch and alternation)."""
    return BilevelConfig(batch_size=budget.bmnas_batch, arch_lr=budget.arch_lr, alternation=budget.alternation)


def settling(space: Space, result: SearchResult) -> dict[str, Any]:
    """How settled a bilevel search ended: the final entropies and ``stable`` epochs."""
    digests = [t.digest for t in sorted(result.trials, key=lambda t: t.idx)]
    return {"entropy": arch_entropy(space, result.out_dir / CHECKPOINT_FILE), "stable": stable_epochs(digests)}


def stable_epochs(digests: list[str]) -> int:
    """How many final epochs derived the last epoch's genotype (``digests`` in epoch order)."""
    n = 0
    for digest in reversed(digests):
        if digest != digests[-1]:
            break
        n += 1
    return n


def arch_entropy(space: Space, checkpoint: Path) -> dict[str, float]:
    """Normalised entropy (H / log k, mean over rows) of alpha, beta and gamma in a supernet checkpoint."""
    from genolang.compiler.supernet import build_supernet

    net = build_supernet(space)
    net.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True)["supernet"])
    ids = {id(p) for p in net.arch_parameters()}
    groups: dict[str, list[float]] = {"alpha": [], "beta": [], "gamma": []}
    for name, p in net.named_parameters():
        if id(p) in ids:
            kind = "alpha" if name.endswith("__in") else "gamma" if name.endswith("__op") else "beta"
            groups[kind].extend(normalised_entropy(p.detach()))
    return {k: round(sum(v) / len(v), 6) for k, v in groups.items() if v}


def normalised_entropy(logits: torch.Tensor) -> list[float]:
    """H(softmax(row)) / log(k) for each row of ``logits`` (a 1-D tensor is one row)."""
    rows = logits.reshape(-1, logits.shape[-1])
    p = torch.softmax(rows.double(), dim=-1)
    h = -(p * p.clamp_min(1e-300).log()).sum(-1)
    return [float(v) / math.log(rows.shape[-1]) for v in h]


#: method name -> (function, arm: "full" or "low")
METHODS: dict[str, tuple[Method, str]] = {
    "image only": (unimodal("image"), "full"),
    "audio only": (unimodal("audio"), "full"),
    "late fusion": (late_fusion, "full"),
    "random (mfas space)": (trial_search("random", "mfas", "random (mfas space)"), "full"),
    "mfas": (trial_search("mfas", "mfas", "mfas"), "full"),
    "rl": (trial_search("rl", "mfas", "rl"), "full"),
    "evolution": (trial_search("evolution", "mfas", "evolution"), "full"),
    "random (bmnas space)": (trial_search("random", "bmnas", "random (bmnas space)"), "full"),
    "bmnas": (bmnas(), "full"),
    "bmnas r=0.1": (bmnas("bmnas r=0.1"), "low"),
    "ssl-bmnas r=0.1": (ssl_bmnas, "low"),
}


def run_fair(bench: FairBench, datasets: dict[int, MultimodalDataset], seeds: list[int], methods: list[str],
             report: Callable[[FairRow], Any] | None = None, jobs: int = 1) -> list[FairRow]:
    """Every method on every (data seed, seed); backbones trained once per data seed and arm.

    With ``jobs`` > 1 the (data seed, seed) units run in that many processes of one torch
    thread each (the backbones are trained first, in this process); rows come back in
    (data seed, seed, method) order either way.
    """
    units = []
    for data_seed, data in datasets.items():
        arms = {"full": make_arm(bench, data, data_seed)}
        if any(METHODS[m][1] == "low" for m in methods):
            arms["low"] = make_arm(bench, data, data_seed, bench.budget.fraction)
        units += [(arms, seed) for seed in seeds]
    if jobs <= 1:
        return [row for arms, seed in units for row in run_unit(bench, arms, seed, methods, report)]
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=torch.set_num_threads,
                             initargs=(1,)) as pool:
        futures = [pool.submit(run_unit, bench, arms, seed, methods) for arms, seed in units]
        rows = []
        for future in futures:
            for row in future.result():
                rows.append(row)
                if report is not None:
                    report(row)
    return rows


def run_unit(bench: FairBench, arms: dict[str, Arm], seed: int, methods: list[str],
             report: Callable[[FairRow], Any] | None = None) -> list[FairRow]:
    """Every method on one (data seed, seed): the arms' data, this seed."""
    rows = []
    for name in methods:
        fn, arm = METHODS[name]
        row = fn(bench, arms[arm], seed)
        rows.append(row)
        if report is not None:
            report(row)
    return rows
