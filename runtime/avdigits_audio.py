"""The audio half of AV-digits: spoken digits by many eSpeak NG speakers, in noise.

Steps (recipe in shared/design/avdigits.md): a bank of digit words ("zero".."nine") per
split, each by a random speaker of that split (accent x voice variant, random rate, pitch
and range); every utterance resampled to 8 kHz and trimmed to its active part. A babble
bank per split: clips of 1 s summing random stretches of non-digit sentences said by the
split's speakers. A mixture places an utterance at a random offset of a 1 s window and adds
coloured noise (white..brown, slowly modulated) and babble at an SNR drawn from a range
(active-speech power); its log-mel spectrogram (80 dB dynamic range) is resized to 112x112
and stored as uint8.

The speech is synthetic: a structured, speech-like signal, not a substitute for recordings.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio

from genolang.runtime.espeak import ACCENTS, Voice, synthesize_voice

DIGIT_WORDS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

#: babble material: sentences without digit words (nor their obvious homophones)
SENTENCES: tuple[str, ...] = (
    "The old barn stood alone at the edge of the field.", "Please bring the blue jacket when you come back.",
    "A small boat drifted slowly across the quiet lake.", "She painted the kitchen a bright shade of yellow.",
    "The children laughed as the puppy chased its tail.", "Heavy rain kept the market closed all morning.",
    "He left his keys on the table by the door.", "The train was delayed by snow on the tracks.",
    "We walked along the beach and watched the sunset.", "Fresh bread smells lovely early in the day.",
    "The library stays open in the evening on weekdays.", "My neighbour grows tomatoes and peppers in the garden.",
    "The wind blew the papers off the desk.", "Turn left at the church and follow the river.",
    "The coffee was much stronger than usual.", "A loud noise woke the whole house at midnight.",
    "They built a bridge across the narrow valley.", "Our teacher read a story about a brave knight.",
    "The lamp flickered and then went dark.", "Could you pass the salt and the pepper, please?",
    "The cat slept in a patch of warm sunlight.", "Clouds gathered over the hills in the afternoon.",
    "He played the violin with real skill.", "The shop sells candles, soap and woollen socks.",
    "Winter mornings are cold and very still.", "The pilot announced a short delay.",
    "She wrote a long letter in green ink.", "The museum has a famous painting of a ship.",
    "Birds gathered on the wire above the street.", "The soup needs a little more salt.",
    "Please close the window, the room is cold.", "The farmer sold apples at the village fair.",
    "A gentle breeze moved the tall grass.", "The engine made a strange rattling sound.",
    "Let us meet near the fountain after lunch.", "The mountain path was steep and rocky.",
    "He smiled and waved from across the road.", "Thunder rolled in the distance all evening.",
    "The baker opened the shop at dawn.", "Her garden was full of roses and lilies.",
)

SAMPLE_RATE = 8000
WINDOW = SAMPLE_RATE            # 1 s
_FRAME = SAMPLE_RATE // 100     # 10 ms frames for trimming
_SILENCE_DB = 45.0              # frames this far below the loudest one are silence
_N_FFT, _WIN, _HOP, _N_MELS = 512, 256, 64, 64
SPEC_SIZE = 112
TOP_DB = 80.0

Progress = Callable[[Iterable, int, str], Iterable]


@dataclass(frozen=True)
class Bank:
    """Utterances of one split: float32 waves at 8 kHz (trimmed), labels, speaker names."""

    waves: list[np.ndarray]
    labels: np.ndarray
    speakers: list[str]


def random_voice(rng: np.random.Generator, variants: Sequence[str], *, sentence: bool = False) -> Voice:
    """A speaker of the split (accent x variant) with random prosody."""
    accent = ACCENTS[int(rng.integers(len(ACCENTS)))]
    variant = variants[int(rng.integers(len(variants)))]
    rate, pitch, range_ = int(rng.integers(130, 261)), int(rng.integers(15, 86)), int(rng.integers(10, 91))
    return Voice(accent, variant, rate, pitch, range_, int(rng.integers(0, 4)) if sentence else 0)


@functools.cache
def _resampler(rate: int) -> torchaudio.transforms.Resample:
    """A resampler ``rate`` -> 8 kHz (its sinc kernel computed once)."""
    return torchaudio.transforms.Resample(rate, SAMPLE_RATE)


def to_8k(waves: Sequence[np.ndarray], rate: int, chunk: int = 64) -> list[np.ndarray]:
    """int16 waves at ``rate`` -> float32 waves at 8 kHz (zero-padded batches, then cut)."""
    out: list[np.ndarray] = []
    for start in range(0, len(waves), chunk):
        part = waves[start:start + chunk]
        batch = np.zeros((len(part), max(len(w) for w in part)), np.float32)
        for i, w in enumerate(part):
            batch[i, :len(w)] = w.astype(np.float32) / 32768.0
        with torch.no_grad():
            res = _resampler(rate)(torch.from_numpy(batch)).numpy()
        out += [res[i, :-(-len(w) * SAMPLE_RATE // rate)].copy() for i, w in enumerate(part)]
    return out


def trim(wave: np.ndarray, max_len: int | None = WINDOW) -> np.ndarray:
    """The active part of ``wave`` (10 ms frames within 45 dB of the loudest), at most ``max_len``."""
    n = len(wave) // _FRAME
    energy = (wave[:n * _FRAME].astype(np.float64).reshape(n, _FRAME) ** 2).mean(axis=1)
    if n == 0 or energy.max() <= 0:
        return wave[:max_len]
    active = np.flatnonzero(energy > energy.max() * 10 ** (-_SILENCE_DB / 10))
    cut = wave[max(active[0] - 1, 0) * _FRAME:min(active[-1] + 2, n) * _FRAME]
    if max_len is not None and len(cut) > max_len:
        start = (len(cut) - max_len) // 2
        cut = cut[start:start + max_len]
    return cut


def synthesize_bank(texts: Sequence[str], labels: Sequence[int] | np.ndarray, variants: Sequence[str],
                    rng: np.random.Generator, track: Progress, *, sentence: bool = False,
                    label: str = "speech") -> Bank:
    """Each text said by a random speaker of ``variants``; resampled to 8 kHz, trimmed."""
    voices = [random_voice(rng, variants, sentence=sentence) for _ in texts]
    seeds = rng.integers(0, 2**31, size=len(texts))
    raw, rate = [], 0
    for text, voice, s in track(zip(texts, voices, seeds), len(texts), label):
        wave, rate = synthesize_voice(text, voice, seed=int(s))
        raw.append(wave)
    waves = [trim(w, None if sentence else WINDOW) for w in to_8k(raw, rate)]
    return Bank(waves, np.asarray(labels, np.int64), [v.name for v in voices])


def digit_bank(n: int, variants: Sequence[str], rng: np.random.Generator, track: Progress,
               label: str = "digits") -> Bank:
    """``n`` spoken digits, balanced over the labels, by speakers of ``variants``."""
    labels = np.arange(n) % 10
    return synthesize_bank([DIGIT_WORDS[y] for y in labels], labels, variants, rng, track, label=label)


def babble_clips(n_sentences: int, n_clips: int, variants: Sequence[str], rng: np.random.Generator,
                 track: Progress, label: str = "babble") -> np.ndarray:
    """(n_clips, WINDOW) unit-RMS babble: 3-5 random 1 s stretches of sentences summed."""
    texts = [SENTENCES[int(i)] for i in rng.integers(len(SENTENCES), size=n_sentences)]
    bank = synthesize_bank(texts, [-1] * n_sentences, variants, rng, track, sentence=True, label=label)
    clips = np.zeros((n_clips, WINDOW), np.float32)
    for clip in clips:
        for k in rng.choice(n_sentences, size=int(rng.integers(3, 6)), replace=False):
            clip += float(rng.uniform(0.5, 1.0)) * _unit(_stretch(bank.waves[int(k)], rng))
    return np.stack([_unit(c) for c in clips])


def _stretch(wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random WINDOW-long stretch of ``wave`` (looped when shorter)."""
    if len(wave) < WINDOW:
        wave = np.tile(wave, -(-WINDOW // max(len(wave), 1)))
    start = int(rng.integers(0, len(wave) - WINDOW + 1))
    return wave[start:start + WINDOW]


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / max(float(np.sqrt(np.mean(x.astype(np.float64) ** 2))), 1e-12)).astype(np.float32)


def coloured_noise(rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise with a 1/f^beta spectrum (beta in [0, 2]: white..brown), slowly modulated."""
    spectrum = np.fft.rfft(rng.standard_normal(WINDOW))
    freqs = np.fft.rfftfreq(WINDOW, 1 / SAMPLE_RATE)
    spectrum *= np.maximum(freqs, 20.0) ** (-float(rng.uniform(0.0, 2.0)) / 2)
    noise = np.fft.irfft(spectrum, WINDOW)
    t = np.arange(WINDOW) / SAMPLE_RATE
    depth, rate, phase = rng.uniform(0.0, 0.6), rng.uniform(0.5, 4.0), rng.uniform(0, 2 * np.pi)
    return _unit(noise * (1 + depth * np.sin(2 * np.pi * rate * t + phase)))


def mix(speech: np.ndarray, babble: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``speech`` at a random offset of a 1 s window plus noise at ``snr_db`` (active-speech power)."""
    out = np.zeros(WINDOW, np.float64)
    offset = int(rng.integers(0, WINDOW - len(speech) + 1))
    out[offset:offset + len(speech)] = speech
    share = float(rng.uniform(0.0, 1.0))
    noise = _unit(np.sqrt(share) * coloured_noise(rng) + np.sqrt(1 - share) * babble).astype(np.float64)
    power = float(np.mean(speech.astype(np.float64) ** 2))
    return (out + noise * np.sqrt(power / 10 ** (snr_db / 10))).astype(np.float32)


class Spectrogram:
    """Log-mel spectrograms of 1 s mixtures, resized to (1, 112, 112), 80 dB range, uint8."""

    def __init__(self) -> None:
        self.mel = torchaudio.transforms.MelSpectrogram(SAMPLE_RATE, n_fft=_N_FFT, win_length=_WIN,
                                                        hop_length=_HOP, n_mels=_N_MELS, f_min=20.0)

    @torch.no_grad()
    def __call__(self, waves: np.ndarray) -> torch.Tensor:
        """(N, WINDOW) float waves -> (N, 1, 112, 112) uint8 (0 = 80 dB below the loudest bin)."""
        db = 10 * torch.log10(self.mel(torch.from_numpy(waves)).clamp_min(1e-12))  # (N, mels, frames)
        top = db.amax(dim=(1, 2), keepdim=True)
        db = torch.maximum(db, top - TOP_DB).flip(1).unsqueeze(1)  # low frequencies at the bottom
        img = F.interpolate(db, size=(SPEC_SIZE, SPEC_SIZE), mode="bilinear", align_corners=False)
        return ((img - (top.unsqueeze(1) - TOP_DB)) * (255.0 / TOP_DB)).round_().clamp_(0, 255).to(torch.uint8)
