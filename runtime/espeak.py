"""eSpeak NG speech synthesis through ctypes, from the ``espeakng-loader`` wheel.

The wheel ships the eSpeak NG shared library and its voice data, so no system package is
needed. :func:`synthesize` turns a text into int16 samples at eSpeak's native rate
(22,050 Hz) with the library in ``AUDIO_OUTPUT_SYNCHRONOUS`` mode and a synth callback that
collects the samples.

Determinism: the wave generator keeps state between utterances in static variables (pitch
flutter phase, cycle counter, gain control), so two identical requests in one process
differ after the first few hundred samples, and some voice variants (breathy, whisper) draw
from libc's ``rand()`` and eSpeak's own generator. Every call therefore runs on a freshly
loaded copy of the library (``dlopen`` + ``espeak_Initialize`` + ``dlclose``: ~3 ms) and
seeds both generators first (libc ``srand`` and ``espeak_ng_SetRandSeed``): the same
request gives the same samples, whatever was synthesized before. Calls are serialized by a
lock (libc's generator is process-global).
"""

from __future__ import annotations

import _ctypes
import ctypes
import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genolang.runtime.errors import DataError

__all__ = ["ACCENTS", "VARIANTS", "Voice", "espeak_version", "synthesize"]

#: English accents of the eSpeak NG data (voice identifiers, case-insensitive)
ACCENTS: tuple[str, ...] = ("en-us", "en", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
                            "en-gb-x-rp", "en-029", "en-us-nyc")

#: voice variants (``voices/!v``) of espeakng-loader 0.2.4 that synthesize English; "" is the
#: accent's own voice. "Mr serious" is left out (a space in the name).
VARIANTS: tuple[str, ...] = (
    "", "Alex", "Alicia", "Andrea", "Andy", "Annie", "AnxiousAndy", "Demonic", "Denis", "Diogo", "Gene",
    "Gene2", "Henrique", "Hugo", "Jacky", "Lee", "Marco", "Mario", "Michael", "Mike", "Nguyen", "Reed",
    "RicishayMax", "RicishayMax2", "RicishayMax3", "Storm", "Tweaky", "UniRobot", "adam", "anika",
    "anikaRobot", "announcer", "antonio", "aunty", "belinda", "benjamin", "boris", "caleb", "croak",
    "david", "ed", "edward", "edward2", "f1", "f2", "f3", "f4", "f5", "fast", "grandma", "grandpa",
    "gustave", "ian", "iven", "iven2", "iven3", "iven4", "john", "kaukovalta", "klatt", "klatt2",
    "klatt3", "klatt4", "klatt5", "klatt6", "linda", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8",
    "marcelo", "max", "michel", "miguel", "mike2", "norbert", "pablo", "paul", "pedro", "quincy", "rob",
    "robert", "robosoft", "robosoft2", "robosoft3", "robosoft4", "robosoft5", "robosoft6", "robosoft7",
    "robosoft8", "sandro", "shelby", "steph", "steph2", "steph3", "travis", "victor", "whisper",
    "whisperf", "zac",
)

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAMS = {"rate": 1, "pitch": 3, "range": 4, "wordgap": 7}
_ERRORS = {-1: "internal error", 1: "buffer full", 2: "not found"}
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Voice:
    """A speaker: accent + variant and the prosody settings (eSpeak's units)."""

    accent: str = "en-us"
    variant: str = ""
    rate: int = 175      # words per minute, 80..450
    pitch: int = 50      # 0..99
    range_: int = 50     # pitch range, 0..99
    wordgap: int = 0     # extra pause between words, units of 10 ms

    @property
    def name(self) -> str:
        """The name eSpeak looks up: ``accent+variant`` (or the accent alone)."""
        return f"{self.accent}+{self.variant}" if self.variant else self.accent


def _paths() -> tuple[str, str]:
    try:
        import espeakng_loader
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise DataError("eSpeak NG is missing: pip install espeakng-loader") from exc
    lib, data = str(espeakng_loader.get_library_path()), str(espeakng_loader.get_data_path())
    if not Path(lib).is_file() or not Path(data).is_dir():
        raise DataError(f"espeakng-loader is incomplete (library {lib}, data {data})")
    return lib, data


def _declare(lib: ctypes.CDLL) -> None:
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                 ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    lib.espeak_Info.argtypes = [ctypes.c_void_p]
    lib.espeak_Info.restype = ctypes.c_char_p
    if hasattr(lib, "espeak_ng_SetRandSeed"):
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = None


class _Collector:
    """The synth callback: appends each chunk of samples."""

    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []
        self.callback = _CALLBACK(self._collect)

    def _collect(self, wav: ctypes.Array, n: int, _events: int) -> int:
        if wav and n > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    def samples(self) -> np.ndarray:
        return np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.int16)


@contextmanager
def _engine(collector: _Collector) -> Iterator[tuple[ctypes.CDLL, int]]:
    """A freshly loaded, initialised library (unloaded again on exit) and its sample rate."""
    lib_path, data_path = _paths()
    lib = ctypes.CDLL(lib_path, mode=ctypes.RTLD_LOCAL)
    handle = lib._handle
    try:
        _declare(lib)
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), _INITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise DataError(f"eSpeak NG failed to initialise (data {data_path})")
        lib.espeak_SetSynthCallback(collector.callback)
        try:
            yield lib, rate
        finally:
            lib.espeak_Terminate()
    finally:
        del lib
        _ctypes.dlclose(handle)


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None)


def _check(status: int, what: str) -> None:
    if status != 0:
        raise DataError(f"eSpeak NG: {what}: {_ERRORS.get(status, f'error {status}')}")


def _configure(lib: ctypes.CDLL, voice: Voice, seed: int) -> None:
    _check(lib.espeak_SetVoiceByName(voice.name.encode()), f"voice {voice.name!r}")
    values = {"rate": voice.rate, "pitch": voice.pitch, "range": voice.range_, "wordgap": voice.wordgap}
    for key, value in values.items():
        _check(lib.espeak_SetParameter(_PARAMS[key], int(value), 0), f"{key}={value}")
    _libc().srand(ctypes.c_uint(seed & 0xFFFFFFFF))
    if hasattr(lib, "espeak_ng_SetRandSeed"):
        lib.espeak_ng_SetRandSeed(seed & 0x7FFFFFFF)


def synthesize_voice(text: str, voice: Voice, *, seed: int = 0) -> tuple[np.ndarray, int]:
    """``text`` spoken by ``voice``: (int16 samples, sample rate); deterministic per ``seed``."""
    if not text.strip():
        raise DataError("eSpeak NG: nothing to say (empty text)")
    data = text.encode("utf-8") + b"\0"
    collector = _Collector()
    with _LOCK, _engine(collector) as (lib, rate):
        _configure(lib, voice, seed)
        _check(lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None), "synth")
    samples = collector.samples()
    if samples.size == 0:
        raise DataError(f"eSpeak NG produced no audio for {text!r} with voice {voice.name!r}")
    return samples, rate


def synthesize(text: str, *, voice: str = "en-us", rate: int = 175, pitch: int = 50, range_: int = 50,
               wordgap: int = 0, seed: int = 0) -> tuple[np.ndarray, int]:
    """``text`` as int16 samples and their rate; ``voice`` is ``accent[+variant]`` ("en-us+m3")."""
    accent, _, variant = voice.partition("+")
    return synthesize_voice(text, Voice(accent, variant, rate, pitch, range_, wordgap), seed=seed)


def espeak_version() -> str:
    """The eSpeak NG library version ("1.52.0")."""
    with _LOCK, _engine(_Collector()) as (lib, _rate):
        return (lib.espeak_Info(None) or b"?").decode()
