"""Input front-ends compiled into the model (and exported with it): ``log_mel``.

``log_mel`` turns a raw waveform (N, 1, T) or (N, T) into a log-mel spectrogram
(N, 1, n_mels, frames), a map the image-style backbones and cells consume. It computes
torchaudio's ``MelSpectrogram`` (hann window, ``center`` with reflect padding, power 2, HTK
mel filterbank from ``torchaudio.functional.melscale_fbanks``, no filterbank norm) followed by
``AmplitudeToDB`` (``log="db"``: 10·log10(max(x, 1e-10)), 20· for ``power=1``; optional
``top_db`` floor per example) or ``log(x + eps)`` (``log="log"``). Defaults are torchaudio's (16 kHz, n_fft 400, hop
n_fft // 2) except ``n_mels = 64`` (torchaudio's 128 bands on 201 bins leave empty filters).

Two implementations, numerically equal (tests check rtol 1e-4 against torchaudio):

- ``impl="conv"`` (default): the STFT as ONE ``conv1d`` with a fixed real DFT basis
  (cos and -sin rows times the window, stride = hop), |X|² = re² + im², a matmul with the
  mel filterbank. Only Pad, Conv, Mul, Add, MatMul, Log in the graph: exports with the
  dynamo and the TorchScript exporters and runs on any ONNX runtime / provider.
- ``impl="torchaudio"``: torchaudio's modules themselves. ``torch.stft`` exports with the
  dynamo exporter at opset 18 (as ONNX STFT/DFT), NOT with the TorchScript exporter
  ("STFT does not currently support complex types"), and not every runtime implements DFT.

Per-example ``top_db``: torchaudio takes the max over the whole batch when given a 3-D
(N, n_mels, frames) input; here the floor is always per example (its 4-D behaviour).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from genolang.compiler.errors import OpParamError, ShapeError
from genolang.compiler.registry import Registry, bind_params

Shape = tuple[int, ...]

LOG_MEL_PARAMS: dict[str, Any] = {
    "sample_rate": 16000, "n_fft": 400, "win_length": None, "hop_length": None, "f_min": 0.0,
    "f_max": None, "n_mels": 64, "center": True, "power": 2.0, "log": "db", "top_db": None,
    "eps": 1e-6, "impl": "conv",
}


@dataclass(frozen=True)
class FrontendSpec:
    """One registered front-end: ``build(in_shape=..., **params)`` and its output shape."""

    name: str
    factory: Callable[..., nn.Module]
    shape_fn: Callable[..., Shape]
    params: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""

    def bind(self, params: Mapping[str, Any], *, strict: bool = True) -> dict[str, Any]:
        """``params`` with defaults filled in; unknown keys raise (or are dropped if not strict)."""
        return bind_params(f"front-end {self.name!r}", self.params, params, strict=strict)

    def build(self, *, in_shape: Sequence[int], **params: Any) -> nn.Module:
        """A fresh module for inputs of ``in_shape`` (batch omitted)."""
        bound = self.bind(params)
        self.shape_fn(tuple(in_shape), **bound)
        return self.factory(in_shape=tuple(in_shape), **bound)

    def out_shape(self, in_shape: Sequence[int], **params: Any) -> Shape:
        """The output shape (batch omitted), without building."""
        return tuple(int(d) for d in self.shape_fn(tuple(int(d) for d in in_shape), **self.bind(params)))


def _wrap(name: str, factory: Callable[..., nn.Module], *, shape: Callable[..., Shape],
          params: Mapping[str, Any] | None = None, source: str = "") -> FrontendSpec:
    return FrontendSpec(name, factory, shape, dict(params or {}), source)


#: the front-end registry: ``FRONTENDS.get("log_mel")``
FRONTENDS: Registry[FrontendSpec] = Registry("front-end", wrap=_wrap)


def _hop(p: Mapping[str, Any]) -> int:
    return int(p["hop_length"] or (p["win_length"] or p["n_fft"]) // 2)


def log_mel_shape(in_shape: Shape, **p: Any) -> Shape:
    """(1, T) or (T,) -> (1, n_mels, frames); frames = 1 + T // hop (``center``) or 1 + (T - n_fft) // hop."""
    if len(in_shape) not in (1, 2) or (len(in_shape) == 2 and in_shape[0] != 1):
        raise ShapeError(f"log_mel takes a mono waveform of shape [1, T] or [T], got {list(in_shape)}")
    t, n_fft, hop = in_shape[-1], int(p["n_fft"]), _hop(p)
    win = p["win_length"] or n_fft
    if win > n_fft or hop < 1 or p["power"] not in (1.0, 2.0) or p["log"] not in ("db", "log") \
            or p["impl"] not in ("conv", "torchaudio"):
        raise OpParamError("log_mel: need win_length <= n_fft, hop_length >= 1, power 1 or 2, "
                           f"log 'db' or 'log', impl 'conv' or 'torchaudio'; got {dict(p)}")
    if (p["center"] and t <= n_fft // 2) or (not p["center"] and t < n_fft):
        raise ShapeError(f"log_mel: a waveform of {t} samples is too short for n_fft={n_fft}")
    frames = 1 + t // hop if p["center"] else 1 + (t - n_fft) // hop
    return (1, int(p["n_mels"]), frames)


def dft_basis(n_fft: int, win_length: int) -> torch.Tensor:
    """(2·(n_fft//2+1), 1, n_fft) conv1d kernels: window·cos and -window·sin (torch.stft's convention)."""
    window = torch.zeros(n_fft, dtype=torch.float64)
    left = (n_fft - win_length) // 2
    window[left:left + win_length] = torch.hann_window(win_length, periodic=True, dtype=torch.float64)
    n = torch.arange(n_fft, dtype=torch.float64)
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64).unsqueeze(1)
    angle = 2.0 * math.pi * ((k * n) % n_fft) / n_fft
    return torch.cat([torch.cos(angle) * window, -torch.sin(angle) * window]).unsqueeze(1).float()


class LogMel(nn.Module):
    """Waveform -> log-mel spectrogram (N, 1, n_mels, frames); see the module doc."""

    basis: torch.Tensor  # buffers registered by the "explicit" implementation
    fb: torch.Tensor

    def __init__(self, *, sample_rate: int, n_fft: int, win_length: int | None, hop_length: int | None,
                 f_min: float, f_max: float | None, n_mels: int, center: bool, power: float, log: str,
                 top_db: float | None, eps: float, impl: str):
        super().__init__()
        import torchaudio

        win = win_length or n_fft
        self.n_fft, self.hop, self.center, self.power = n_fft, int(hop_length or win // 2), center, power
        self.log, self.top_db, self.eps, self.impl = log, top_db, eps, impl
        if impl == "torchaudio":
            self.mel = torchaudio.transforms.MelSpectrogram(
                sample_rate=sample_rate, n_fft=n_fft, win_length=win, hop_length=self.hop, f_min=f_min,
                f_max=f_max, n_mels=n_mels, center=center, pad_mode="reflect", power=power)
        else:
            fb = torchaudio.functional.melscale_fbanks(n_fft // 2 + 1, f_min, f_max or sample_rate / 2.0, n_mels,
                                                       sample_rate, norm=None, mel_scale="htk")
            self.register_buffer("basis", dft_basis(n_fft, win), persistent=False)
            self.register_buffer("fb", fb.T.contiguous(), persistent=False)  # (n_mels, n_freqs)

    def spectrogram(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, T) -> mel power (or magnitude) spectrogram (N, n_mels, frames)."""
        if self.impl == "torchaudio":
            mel: torch.Tensor = self.mel(x[:, 0])
            return mel
        if self.center:
            x = F.pad(x, (self.n_fft // 2, self.n_fft // 2), mode="reflect")
        spec = F.conv1d(x, self.basis, stride=self.hop)                # (N, 2F, frames)
        n_freqs = self.n_fft // 2 + 1
        re, im = spec[:, :n_freqs], spec[:, n_freqs:]
        power = re * re + im * im
        if self.power == 1.0:
            power = torch.sqrt(power)
        return torch.matmul(self.fb, power)                            # (N, n_mels, frames)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(1)
        mel = self.spectrogram(x)
        if self.log == "log":
            return torch.log(mel + self.eps).unsqueeze(1)
        db = (10.0 if self.power == 2.0 else 20.0) * torch.log10(torch.clamp(mel, min=1e-10))
        if self.top_db is not None:
            db = torch.maximum(db, db.amax(dim=(1, 2), keepdim=True) - self.top_db)
        return db.unsqueeze(1)


@FRONTENDS.register("log_mel", shape=log_mel_shape, params=LOG_MEL_PARAMS,
                    source="torchaudio MelSpectrogram + AmplitudeToDB")
def log_mel(*, in_shape: Shape, **params: Any) -> nn.Module:
    """torchaudio MelSpectrogram + AmplitudeToDB (or log(x + eps)) as one exportable module."""
    return LogMel(**params)
