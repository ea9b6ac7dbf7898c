"""AV-digits baselines: does the dataset show the AV-MNIST profile?

Run: python benchmarks/avdigits_baselines.py [--epochs 10] [--seeds 1] [--variant full|mini]

Trains three small nets from scratch on CPU (or ``--device cuda``) and prints one table of
test accuracy (at the epoch with the best validation accuracy):

- image only: LeNet-5 on the PCA-degraded 28x28 digits;
- audio only: a LeNet-style net on the 112x112 log-mel spectrograms;
- late fusion: both nets' penultimate features concatenated, one linear classifier on
  top, trained end to end.

AV-MNIST's reference profile (55k training pairs): image only 74.5%, audio only 66.1%,
fusion 86-88%. Each modality alone should be clearly imperfect, fusion far better.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from genolang.runtime.avdigits import build_avdigits
from genolang.runtime.dataset import MultimodalDataset, Split


def _conv(cin: int, cout: int, k: int, padding: int = 0) -> list[nn.Module]:
    """conv -> batch norm -> ReLU -> 2x2 max pool."""
    return [nn.Conv2d(cin, cout, k, padding=padding), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]


class ImageNet(nn.Module):
    """LeNet-5 (with batch norm) on (1, 28, 28); 84 features."""

    features = 84

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *_conv(1, 6, 5, padding=2), *_conv(6, 16, 5), nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class AudioNet(nn.Module):
    """A LeNet-style net (with batch norm) on (1, 112, 112) spectrograms; 128 features."""

    features = 128

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *_conv(1, 8, 5), *_conv(8, 16, 5), *_conv(16, 32, 3), nn.Flatten(),
            nn.Dropout(0.3), nn.Linear(32 * 11 * 11, 128), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Classifier(nn.Module):
    """Feature nets by modality, their features concatenated, a linear head."""

    def __init__(self, nets: dict[str, nn.Module]) -> None:
        super().__init__()
        self.nets = nn.ModuleDict(nets)
        self.head = nn.Linear(sum(n.features for n in nets.values()), 10)

    def forward(self, xs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(torch.cat([net(xs[k]) for k, net in self.nets.items()], dim=1))


MODELS: dict[str, Callable[[], Classifier]] = {
    "image only": lambda: Classifier({"image": ImageNet()}),
    "audio only": lambda: Classifier({"audio": AudioNet()}),
    "late fusion": lambda: Classifier({"image": ImageNet(), "audio": AudioNet()}),
}


@torch.no_grad()
def accuracy(model: nn.Module, split: Split, device: str) -> float:
    model.eval()
    correct = sum(int((model(xs).argmax(1) == y).sum()) for xs, y in split.batches(256, device=device))
    return correct / len(split)


def train(make: Callable[[], Classifier], ds: MultimodalDataset, *, epochs: int, seed: int,
          device: str) -> tuple[float, float]:
    """(test accuracy at the best validation epoch, that validation accuracy)."""
    torch.manual_seed(seed)
    model = make().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    best = (-1.0, 0.0)
    for epoch in range(epochs):
        model.train()
        for xs, y in ds["train"].batches(64, shuffle=True, seed=seed * 1000 + epoch, device=device):
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(xs), y).backward()
            opt.step()
        val = accuracy(model, ds["val"], device)
        if val > best[0]:
            best = (val, accuracy(model, ds["test"], device))
    return best[1], best[0]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=1, help="training seeds 0..N-1")
    ap.add_argument("--variant", default="full", choices=("full", "mini"))
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of: " + ", ".join(MODELS))
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    ds = build_avdigits(seed=args.data_seed, variant=args.variant, progress=True)
    print(f"{ds.name} seed {args.data_seed}: {ds.sizes()} (ready in {time.perf_counter() - start:.1f} s; "
          f"PCA {ds.meta['pca_components']} components = {ds.meta['pca_energy_kept']:.0%} energy, "
          f"SNR {ds.meta['snr_db']} dB)")
    print(f"{'model':<12} {'test acc (mean)':>15} {'min':>6} {'max':>6} {'val acc':>8} {'s/seed':>7}")
    for name in args.models.split(","):
        tests, vals, t0 = [], [], time.perf_counter()
        for seed in range(args.seeds):
            test, val = train(MODELS[name.strip()], ds, epochs=args.epochs, seed=seed, device=args.device)
            tests.append(test)
            vals.append(val)
        secs = (time.perf_counter() - t0) / args.seeds
        print(f"{name:<12} {statistics.mean(tests):>15.3f} {min(tests):>6.3f} {max(tests):>6.3f} "
              f"{statistics.mean(vals):>8.3f} {secs:>7.1f}", flush=True)


if __name__ == "__main__":
    main()
