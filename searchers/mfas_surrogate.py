"""MFAS's recurrent surrogate (models/search/surrogate.py of the reference), used by :mod:`.mfas`.

:class:`SimpleRecurrentSurrogate` predicts an architecture's accuracy from its rows (raw
integer value ids as float features): Linear(n_feats, 100) -> Sigmoid -> LSTM(100, 100) ->
last output -> Linear(100, 1) -> Sigmoid. :class:`Surrogate` holds its training data (keyed
by sequence length then conf bytes; a conf seen twice keeps its max accuracy) and one Adam
optimizer kept across refits; a fit is ``epochs`` passes over one batch per length (MSE).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run with ``n`` torch CPU threads, restoring the previous count afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class SimpleRecurrentSurrogate(nn.Module):
    """MFAS's surrogate: per-row embedding, an LSTM over the rows, a sigmoid accuracy."""

    def __init__(self, n_feats: int = 3, *, hidden: int = 100, embedding: int = 100,
                 generator: torch.Generator | None = None):
        super().__init__()
        with torch.random.fork_rng(devices=[]):  # module construction draws from the global RNG
            self.embedding = nn.Sequential(nn.Linear(n_feats, embedding), nn.Sigmoid())
            self.lstm = nn.LSTM(embedding, hidden)
            self.hid2val = nn.Linear(hidden, 1)
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Linear weights U(-0.1, 0.1), biases 1.8; LSTM U(-1/sqrt(H), 1/sqrt(H)) (PyTorch's)."""
        bound = 1.0 / math.sqrt(self.lstm.hidden_size)
        with torch.no_grad():
            for p in self.lstm.parameters():
                p.uniform_(-bound, bound, generator=generator)
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    m.weight.uniform_(-0.1, 0.1, generator=generator)
                    m.bias.fill_(1.8)

    def forward(self, confs: torch.Tensor) -> torch.Tensor:
        """``(seq_len, batch, n_feats)`` -> predicted accuracies ``(batch, 1)``."""
        out, _ = self.lstm(self.embedding(confs))
        return torch.sigmoid(self.hid2val(out[-1]))


class Surrogate:
    """The surrogate model with its data (max accuracy per conf) and one persistent Adam."""

    def __init__(self, n_feats: int, *, lr: float = 1e-3, hidden: int = 100, embedding: int = 100,
                 generator: torch.Generator | None = None, threads: int = 1):
        self.threads = threads  # torch CPU threads while fitting/predicting (determinism, no oversubscription)
        self.model = SimpleRecurrentSurrogate(n_feats, hidden=hidden, embedding=embedding, generator=generator)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr, foreach=True)
        self.data: dict[int, dict[bytes, tuple[np.ndarray, float]]] = {}

    def add(self, conf: np.ndarray, acc: float) -> None:
        """Record a trained conf; a conf seen before keeps its max accuracy."""
        conf = np.ascontiguousarray(conf, dtype=np.int64)
        bucket = self.data.setdefault(len(conf), {})
        key = conf.tobytes()
        old = bucket.get(key)
        bucket[key] = (conf, acc if old is None else max(acc, old[1]))

    def batches(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """One (confs ``(seq, n, f)``, accs ``(n, 1)``) batch per sequence length."""
        out = []
        for bucket in self.data.values():
            confs = np.stack([c for c, _ in bucket.values()]).astype(np.float32).transpose(1, 0, 2)
            accs = np.array([[a] for _, a in bucket.values()], dtype=np.float32)
            out.append((torch.from_numpy(np.ascontiguousarray(confs)), torch.from_numpy(accs)))
        return out

    def fit(self, epochs: int) -> float:
        """``epochs`` passes over the length batches (MSE); the last batch's loss."""
        loss = torch.tensor(float("nan"))
        batches = self.batches()
        self.model.train(True)
        with torch_threads(self.threads):
            for _ in range(epochs):
                for confs, accs in batches:
                    self.optimizer.zero_grad()
                    loss = nn.functional.mse_loss(self.model(confs), accs)
                    loss.backward()
                    self.optimizer.step()
        self.model.train(False)
        return float(loss.detach())

    def mse(self) -> float:
        """The mean squared error over all recorded data."""
        with torch.no_grad(), torch_threads(self.threads):
            errs = [((self.model(c) - a) ** 2).sum().item() for c, a in self.batches()]
        return sum(errs) / max(1, sum(len(b) for b in self.data.values()))

    def predict(self, confs: Sequence[np.ndarray]) -> np.ndarray:
        """Predicted accuracies, in the order of ``confs`` (grouped by length internally)."""
        out = np.zeros(len(confs))
        by_len: dict[int, list[int]] = {}
        for i, conf in enumerate(confs):
            by_len.setdefault(len(conf), []).append(i)
        with torch.no_grad(), torch_threads(self.threads):
            for idx in by_len.values():
                x = np.stack([confs[i] for i in idx]).astype(np.float32).transpose(1, 0, 2)
                out[idx] = self.model(torch.from_numpy(np.ascontiguousarray(x)))[:, 0].numpy()
        return out
