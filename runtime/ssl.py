"""Self-supervised BM-NAS (Suzuki & Ono, arXiv 2512.24793; seed_algorithms.md section 7).

Three stages, each a function here:

1. :func:`run_ssl_search`: the bilevel search of :mod:`genolang.runtime.bilevel` with the
   supervised loss replaced, for the weights AND the architecture, by SimCLR's NT-Xent
   (:func:`nt_xent`) between two augmented views of each sample, embedded by the supernet's
   features (the input of its classifier head, caught by a forward hook: :class:`FeatureTap`)
   and a projection head (:class:`ProjectionHead`, 2-layer MLP to 128). An epoch's score is
   label-free: the contrastive top-1 accuracy on ``val`` (:func:`contrastive_accuracy`: how
   often a view's nearest other view is its positive), stored as the ledger's ``val_accuracy``.
2. :func:`ssl_finetune`, first half: contrastive pretraining of the derived network.
3. :func:`ssl_finetune`, second half: the classifier trained (``finetune="full"``) or only
   the head (``"linear"``) on a stratified labelled fraction ``r`` of ``train``
   (:func:`labelled_subset`); the result holds the test accuracy.

As the paper's Table 2, stages 1 and 2 use the other ``1 - r`` of ``train`` without labels
(all of it when ``r = 1``); ``val`` drives the architecture steps and model selection.

Augmentations (:class:`Augment`; the paper's are not published, these are ours), chosen per
modality by the rank of one sample: rank 3 ``(C, H, W)`` maps are images -- torchvision v2
``RandomResizedCrop`` to the same size (scale ``crop_scale``) then a small ``RandomAffine``
(rotation, translation), drawn per sample, no flips (digits are not mirror-symmetric) --
unless the modality is a spectrogram, which gets torchaudio ``FrequencyMasking`` (axis H)
and ``TimeMasking`` (axis W), independent per sample. A modality is a spectrogram when named
in ``spectrogram_modalities``, or by default when its name contains "audio" or
"spectrogram". Every other rank (vectors, sequences) gets Gaussian noise then feature
dropout (features zeroed with probability ``feature_drop``, not rescaled).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from torch.nn import functional as F

from genolang.compiler.module import GraphNet
from genolang.genotype import Genotype
from genolang.runtime.bilevel import BilevelConfig, run_bilevel
from genolang.runtime.data import load_dataset
from genolang.runtime.dataset import MultimodalDataset, Split
from genolang.runtime.ledger import SCORE_KEY
from genolang.runtime.search import SearchResult
from genolang.space import Space

__all__ = ["Augment", "ContrastiveObjective", "FeatureTap", "FinetuneResult", "ProjectionHead", "SslConfig",
           "contrastive_accuracy", "labelled_subset", "nt_xent", "run_ssl_search", "split_labelled", "ssl_finetune"]

log = logging.getLogger(__name__)


class SslConfig(BaseModel):
    """Options of the self-supervised search and fine-tuning (see the module doc)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    temperature: float = Field(0.5, gt=0)         # SimCLR's CIFAR value
    projection_dim: int = Field(128, ge=1)
    labelled_fraction: float = Field(1.0, gt=0, le=1)
    spectrogram_modalities: tuple[str, ...] | None = None
    crop_scale: tuple[float, float] = (0.6, 1.0)
    rotation: float = Field(10.0, ge=0)           # degrees
    translate: float = Field(0.1, ge=0, lt=1)
    mask_fraction: float = Field(0.15, ge=0, le=1)  # widest frequency / time mask, of the axis
    noise_std: float = Field(0.1, ge=0)
    feature_drop: float = Field(0.1, ge=0, lt=1)
    pretrain_epochs: int = Field(10, ge=0)
    finetune_epochs: int = Field(10, ge=1)
    finetune: Literal["full", "linear"] = "full"
    batch_size: int = Field(96, ge=2)
    lr: float = Field(1e-3, gt=0)
    split_seed: int | None = None                 # seed of the labelled/unlabelled cut (None: the run's seed)


# ------------------------------------------------------------------ the loss
def nt_xent(z1: torch.Tensor, z2: torch.Tensor, *, temperature: float = 0.5) -> torch.Tensor:
    """SimCLR's NT-Xent: ``z1[k]``, ``z2[k]`` are the positive pair, the 2N-2 other views negatives.

    ``l(i, j) = -log(exp(sim(i, j) / t) / sum_{k != i} exp(sim(i, k) / t))`` with cosine
    ``sim``, averaged over the 2N anchors.
    """
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    sim = (z @ z.T) / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    return F.cross_entropy(sim, _positives(n, z.device))


def contrastive_accuracy(z1: torch.Tensor, z2: torch.Tensor) -> float:
    """The fraction of the 2N views whose most similar other view is their positive."""
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    sim = (z @ z.T).fill_diagonal_(float("-inf"))
    return float((sim.argmax(1) == _positives(z1.shape[0], z.device)).float().mean())


def _positives(n: int, device: torch.device) -> torch.Tensor:
    idx = torch.arange(n, device=device)
    return torch.cat([idx + n, idx])


# ------------------------------------------------------------------ augmentations
class Augment:
    """Random views of a batch, per modality (see the module doc); ``seed`` makes them reproducible."""

    def __init__(self, shapes: Mapping[str, tuple[int, ...]], config: SslConfig):
        self.kinds = {name: _kind(name, shape, config) for name, shape in shapes.items()}
        self.config = config
        self.image: dict[str, nn.Module] = {}
        for name, kind in self.kinds.items():
            if kind == "image":
                self.image[name] = self._image(shapes[name])
            elif kind == "spectrogram":
                self.image[name] = self._spectrogram(shapes[name])

    def _image(self, shape: tuple[int, ...]) -> nn.Module:
        from torchvision.transforms import v2

        c = self.config
        return v2.Compose([v2.RandomResizedCrop(tuple(shape[1:]), scale=c.crop_scale, antialias=True),
                           v2.RandomAffine(degrees=c.rotation, translate=(c.translate, c.translate))])

    def _spectrogram(self, shape: tuple[int, ...]) -> nn.Module:
        from torchaudio import transforms as T

        frac = self.config.mask_fraction
        return nn.Sequential(T.FrequencyMasking(max(1, int(frac * shape[1])), iid_masks=True),
                             T.TimeMasking(max(1, int(frac * shape[2])), iid_masks=True))

    def __call__(self, xs: Mapping[str, torch.Tensor], *, seed: int | None = None) -> dict[str, torch.Tensor]:
        """One random view of every modality of a batch (same shapes and dtypes)."""
        if seed is None:
            return {name: self.view(name, x) for name, x in xs.items()}
        cuda = sorted({x.device.index or 0 for x in xs.values() if x.device.type == "cuda"})
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(seed)
            return {name: self.view(name, x) for name, x in xs.items()}

    def view(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """A view of the batch ``x`` of modality ``name``, drawn from torch's global RNG."""
        kind = self.kinds.get(name, "vector")
        if kind == "image":
            return torch.stack([self.image[name](sample) for sample in x])
        if kind == "spectrogram":
            return self.image[name](x)
        c = self.config
        noisy = x + c.noise_std * torch.randn_like(x)
        return noisy * (torch.rand_like(x) >= c.feature_drop).to(x.dtype)


def _kind(name: str, shape: tuple[int, ...], config: SslConfig) -> str:
    if len(shape) != 3:
        return "vector"
    named = config.spectrogram_modalities
    spectrogram = name in named if named is not None else any(k in name.lower() for k in ("audio", "spectrogram"))
    return "spectrogram" if spectrogram else "image"


# ------------------------------------------------------------------ features and the objective
class FeatureTap:
    """The input of a network's (first) classifier head, caught by a forward hook during one call."""

    def __init__(self, net: nn.Module):
        graph_net = getattr(net, "net", net)  # a Supernet wraps its GraphNet
        assert isinstance(graph_net, GraphNet), "a feature tap reads a GraphNet or a Supernet"
        head = graph_net.graph[graph_net.graph.outputs[0]]
        module = graph_net.module_of(head.name)
        assert module is not None, "a head node has a module"
        self.module: nn.Module = module
        self.features = int(head.attrs.get("c_in") or math.prod(graph_net.graph[head.inputs[0]].shape))
        self.inputs = tuple(graph_net.graph.inputs)

    def __call__(self, net: nn.Module, xs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        caught: list[torch.Tensor] = []
        handle = self.module.register_forward_hook(lambda module, args, out: caught.append(args[0]))
        try:
            net(*(xs[n] for n in self.inputs))
        finally:
            handle.remove()
        return caught[0].flatten(1)


class ProjectionHead(nn.Sequential):
    """SimCLR's g: Linear(F, F) -> ReLU -> Linear(F, out)."""

    def __init__(self, features: int, out: int = 128):
        super().__init__(nn.Linear(features, features), nn.ReLU(), nn.Linear(features, out))


class ContrastiveObjective(nn.Module):
    """NT-Xent between two views, for :func:`~genolang.runtime.bilevel.run_bilevel` (``objective=``)."""

    def __init__(self, net: nn.Module, data: MultimodalDataset, *, config: SslConfig, seed: int = 0):
        super().__init__()
        self.tap = FeatureTap(net)
        self.head = ProjectionHead(self.tap.features, config.projection_dim)
        self.augment = Augment(data.input_shapes(), config)
        self.temperature, self.seed = config.temperature, int(seed)

    def embed(self, net: nn.Module, xs: Mapping[str, torch.Tensor], *,
              seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(z1, z2): both views through the network in one batch of 2N (BN sees both), then g."""
        seed = int(torch.randint(2**62, ())) if seed is None else seed
        first, second = self.augment(xs, seed=seed), self.augment(xs, seed=seed + 1)
        z = self.head(self.tap(net, {k: torch.cat([first[k], second[k]]) for k in xs}))
        return z.chunk(2)

    def loss(self, net: nn.Module, xs: Mapping[str, torch.Tensor], y: torch.Tensor | None = None) -> torch.Tensor:
        return nt_xent(*self.embed(net, xs), temperature=self.temperature)

    def score(self, net: nn.Module, split: Split, *, batch_size: int) -> dict[str, Any]:
        """Mean NT-Xent and contrastive accuracy on ``split``, eval mode, fixed views."""
        modes = net.training, self.training
        net.eval(), self.eval()
        total, loss, hits = 0, 0.0, 0.0
        try:
            with torch.no_grad():
                for i, (xs, y) in enumerate(split.batches(batch_size, device=_device(net))):
                    if len(y) < 2:
                        continue
                    z1, z2 = self.embed(net, xs, seed=self.seed * 7919 + 2 * i)
                    n = len(z1)
                    total, loss = total + n, loss + n * float(nt_xent(z1, z2, temperature=self.temperature))
                    hits += n * contrastive_accuracy(z1, z2)
        finally:
            net.train(modes[0]), self.train(modes[1])
        n = max(total, 1)
        return {SCORE_KEY: hits / n, "val_loss": loss / n, "val_metric": "contrastive_top1"}


def _device(net: nn.Module) -> torch.device:
    return next(iter(net.parameters())).device


# ------------------------------------------------------------------ labelled subsets
def labelled_subset(labels: torch.Tensor, fraction: float, *, seed: int = 0) -> torch.Tensor:
    """Sorted indices of a seeded, stratified ``fraction`` of the samples.

    ``floor(fraction * N + 0.5)`` samples (at least 1); each class gets ``floor(fraction * n_c)``
    plus one for the classes of largest remainder until the total is reached. Multi-hot
    labels (multi-label tasks) are not stratified: a seeded random subset.
    """
    n = int(labels.shape[0])
    target = max(1, min(n, math.floor(fraction * n + 0.5)))
    gen = torch.Generator().manual_seed(seed)
    if labels.dim() != 1:
        return torch.randperm(n, generator=gen)[:target].sort().values
    members = [(labels == c).nonzero().flatten() for c in labels.unique(sorted=True)]
    quotas = [fraction * len(m) for m in members]
    counts = [math.floor(q) for q in quotas]
    order = sorted(range(len(members)), key=lambda i: (counts[i] - quotas[i], i))
    for i in order[:target - sum(counts)]:
        counts[i] += 1
    picked = [m[torch.randperm(len(m), generator=gen)[:k]] for m, k in zip(members, counts)]
    return torch.cat(picked).sort().values


def split_labelled(data: MultimodalDataset, fraction: float, *, seed: int = 0) -> tuple[MultimodalDataset,
                                                                                         MultimodalDataset]:
    """(labelled, unlabelled): ``train`` cut into the labelled fraction and the rest (all of it when r = 1)."""
    train = data["train"]
    idx = labelled_subset(train.labels, fraction, seed=seed)
    rest = torch.ones(len(train), dtype=torch.bool)
    rest[idx] = False
    other = train.take(rest.nonzero().flatten()) if bool(rest.any()) else train
    return _with_train(data, train.take(idx), "labelled"), _with_train(data, other, "unlabelled")


def _with_train(data: MultimodalDataset, train: Split, part: str) -> MultimodalDataset:
    splits = {**data.splits, "train": train}
    return MultimodalDataset(data.name, splits, data.num_classes, data.task, {**data.meta, "ssl_part": part})


# ------------------------------------------------------------------ the three stages
#: SslConfig fields of stages 2-3 only: not pinned in the search's ledger (a resume may change them)
_LATER = {"pretrain_epochs", "finetune_epochs", "finetune", "lr", "batch_size"}

def run_ssl_search(space: Space, data: MultimodalDataset | str, *, out_dir: str | Path, epochs: int,
                   config: BilevelConfig | None = None, ssl: SslConfig | None = None, seed: int = 0,
                   resume: bool = False, progress: bool = False, device: str | torch.device | None = None,
                   space_file: str | Path | None = None) -> SearchResult:
    """Stage 1: the bilevel search with NT-Xent for both levels, on the unlabelled part of ``train``."""
    ssl = ssl or SslConfig()
    dataset = data if isinstance(data, MultimodalDataset) else load_dataset(str(data), seed=seed)
    _, unlabelled = split_labelled(dataset, ssl.labelled_fraction, seed=_split_seed(ssl, seed))
    return run_bilevel(space, unlabelled, out_dir=out_dir, epochs=epochs, config=config, seed=seed, resume=resume,
                       progress=progress, device=device, objective=partial(ContrastiveObjective, config=ssl, seed=seed),
                       searcher="ssl-bmnas", space_file=space_file,
                       meta={"ssl": ssl.model_dump(mode="json", exclude=_LATER)})


def _split_seed(ssl: SslConfig, seed: int) -> int:
    """The seed of the labelled cut: ``ssl.split_seed``, else the run's (search and fine-tuning use the same cut)."""
    return seed if ssl.split_seed is None else ssl.split_seed


@dataclass
class FinetuneResult:
    """Stages 2-3: the sample counts, the pretraining losses per epoch, the supervised result."""

    test_accuracy: float | None
    val_accuracy: float
    labelled: int
    unlabelled: int
    pretrain_losses: list[float] = field(default_factory=list)
    train: Any = None  # the TrainResult of the supervised stage

    def to_json(self) -> dict[str, Any]:
        return {"test_accuracy": self.test_accuracy, "val_accuracy": self.val_accuracy, "labelled": self.labelled,
                "unlabelled": self.unlabelled, "pretrain_losses": self.pretrain_losses,
                "train": self.train.to_json() if self.train is not None else None}


def ssl_finetune(space: Space, genotype: Genotype, data: MultimodalDataset, *, ssl: SslConfig | None = None,
                 seed: int = 0, device: str | torch.device | None = None, progress: bool = False) -> FinetuneResult:
    """Stages 2 and 3 on the derived ``genotype``: contrastive pretraining, then supervised training."""
    from genolang.compiler.compile import compile_genotype
    from genolang.runtime.train import TrainConfig, resolve_device, train

    ssl, dev = ssl or SslConfig(), resolve_device(device)
    labelled, unlabelled = split_labelled(data, ssl.labelled_fraction, seed=_split_seed(ssl, seed))
    torch.manual_seed(seed)
    net = compile_genotype(space, genotype, device=dev).net
    losses = contrastive_pretrain(net, unlabelled, ssl=ssl, seed=seed, progress=progress)
    if ssl.finetune == "linear":
        head = FeatureTap(net).module
        for p in net.parameters():
            p.requires_grad_(False)
        for p in head.parameters():
            p.requires_grad_(True)
    config = TrainConfig(epochs=ssl.finetune_epochs, batch_size=ssl.batch_size, lr=ssl.lr, seed=seed)
    result = train(net, labelled, config, input_names=net.input_names, device=dev, progress=progress)
    test = result.test.accuracy if result.test is not None else None
    log.info("ssl fine-tune on %d labelled samples: val %.4f, test %s", len(labelled["train"]),
             result.best_val.accuracy, "-" if test is None else f"{test:.4f}")
    return FinetuneResult(test, result.best_val.accuracy, len(labelled["train"]), len(unlabelled["train"]), losses,
                          result)


def contrastive_pretrain(net: nn.Module, data: MultimodalDataset, *, ssl: SslConfig, seed: int = 0,
                         progress: bool = False) -> list[float]:
    """Stage 2: ``ssl.pretrain_epochs`` of NT-Xent on ``data["train"]`` (Adam, cosine); mean loss per epoch."""
    from genolang.runtime.evaluation import progress_bar

    objective = ContrastiveObjective(net, data, config=ssl, seed=seed).to(_device(net))
    params = [p for p in net.parameters() if p.requires_grad] + list(objective.parameters())
    optimizer = torch.optim.Adam(params, lr=ssl.lr)
    total = ssl.pretrain_epochs * max(1, len(data["train"]) // ssl.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(1, total))
    net.train()
    with progress_bar(enabled=progress) as bar:
        task = bar.add_task("contrastive pretraining", total=total)
        step = partial(_pretrain_step, net, objective, optimizer, schedule, advance=lambda: bar.advance(task))
        return [_pretrain_epoch(data["train"], step, ssl=ssl, seed=seed, epoch=e) for e in range(ssl.pretrain_epochs)]


def _pretrain_epoch(split: Split, step: Any, *, ssl: SslConfig, seed: int, epoch: int) -> float:
    """One shuffled pass (whole batches when there are enough samples); the mean loss."""
    torch.manual_seed(seed * 1_000_003 + epoch)
    batches = split.batches(ssl.batch_size, shuffle=True, seed=seed + epoch, device=_device(step.args[0]),
                            drop_last=len(split) >= ssl.batch_size)
    losses = [step(xs) for xs, _ in batches]
    return sum(losses) / max(len(losses), 1)


def _pretrain_step(net: nn.Module, objective: ContrastiveObjective, optimizer: torch.optim.Optimizer,
                   schedule: Any, xs: Mapping[str, torch.Tensor], *, advance: Any) -> float:
    optimizer.zero_grad(set_to_none=True)
    loss = objective.loss(net, xs)
    loss.backward()
    optimizer.step()
    schedule.step()
    advance()
    return float(loss.detach())
