"""eSpeak NG through ctypes, from the ``espeakng-loader`` wheel (no system package).

The library is driven in ``AUDIO_OUTPUT_SYNCHRONOUS`` mode with a synth callback
that collects 16-bit samples in memory, at eSpeak's native 22,050 Hz, and the
events that come with them (``espeak_EVENT`` in ``speak_lib.h``): where each word
and each phoneme starts, as a sample index into that output
(:meth:`ESpeak.synthesize_with_events`). Phoneme events are switched on at
initialisation (``espeakINITIALIZE_PHONEME_EVENTS``); they only add event records
and leave the samples unchanged. eSpeak NG
keeps global state (the current voice and parameters, and waveform state such as
the pitch-flutter phase, the echo buffer and ``rand()`` for breath noise) that
carries over from one utterance to the next, and it is not thread-safe. So each
process has one :class:`ESpeak` (:func:`engine`), and byte-identical output needs
the same sequence of utterances in a fresh process: see
:mod:`asr.corpus.synthetic.render`.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asr.errors import AsrError

Hertz = int

# speak_lib.h constants
AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_DONT_EXIT = 0x8000
CHARS_UTF8 = 1
INITIALIZE_PHONEME_EVENTS = 0x0001
POS_CHARACTER = 1
EE_OK = 0
PARAM_RATE, PARAM_VOLUME, PARAM_PITCH, PARAM_RANGE, PARAM_WORDGAP = 1, 2, 3, 4, 7
# espeak_EVENT_TYPE
EVENT_LIST_TERMINATED, EVENT_WORD, EVENT_SENTENCE, EVENT_END, EVENT_PHONEME = 0, 1, 2, 5, 7


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """``espeak_EVENT`` of ``speak_lib.h`` (API revision 12)."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # characters from the start of the text, counted from 1
        ("length", ctypes.c_int),  # word length in characters (WORD events)
        ("audio_position", ctypes.c_int),  # milliseconds into the output
        ("sample", ctypes.c_int),  # sample index into the output
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),  # number (WORD, SENTENCE), name (MARK, PLAY), string (PHONEME)
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(frozen=True)
class SynthEvent:
    """One eSpeak event of an utterance.

    ``kind`` is an ``EVENT_*`` constant; ``text_position`` the character offset in the
    input text, counted from 1 (a WORD event's first character); ``sample`` the index
    into the output samples at :attr:`ESpeak.sample_rate` where the word or phoneme
    starts (the END event's is the end of the output); ``phoneme`` the eSpeak phoneme
    mnemonic of a PHONEME event (``"_"``-prefixed ones are pauses), else ``None``.
    """

    kind: int
    text_position: int
    sample: int
    phoneme: str | None = None


@dataclass(frozen=True)
class Synthesis:
    """An utterance as eSpeak spoke it: int16 ``samples`` ``(num_samples,)`` and its ``events`` in order."""

    samples: np.ndarray
    events: tuple[SynthEvent, ...]


@dataclass(frozen=True)
class VoiceSettings:
    """Everything that makes one synthetic speaker's voice.

    ``voice`` is an eSpeak voice name, optionally with a ``+variant`` (``"yue+f2"``);
    ``rate`` is words per minute (eSpeak default 175); ``pitch`` and ``pitch_range``
    are eSpeak's 0-100 scales (default 50) relative to the voice's own pitch;
    ``word_gap`` is extra pause between words in units of 10 ms.
    """

    voice: str
    rate: int = 175
    pitch: int = 50
    pitch_range: int = 50
    word_gap: int = 0
    volume: int = 100


def library_paths() -> tuple[str, str]:
    """``(libespeak-ng.so, espeak-ng-data)`` from the espeakng-loader wheel."""
    try:
        import espeakng_loader
    except ImportError as e:
        raise AsrError("eSpeak NG is missing: install the 'espeakng-loader' package (pip install espeakng-loader)") from e
    return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()


def variant_names() -> list[str]:
    """Voice variants shipped in the wheel's ``espeak-ng-data/voices/!v``."""
    return sorted(p.name for p in (Path(library_paths()[1]) / "voices" / "!v").iterdir() if p.is_file())


class ESpeak:
    """The process's eSpeak NG engine. Use :func:`engine`, not this constructor."""

    def __init__(self) -> None:
        lib_path, data_path = library_paths()
        try:
            lib = ctypes.CDLL(lib_path)
        except OSError as e:
            raise AsrError(f"{lib_path}: cannot load eSpeak NG ({e})") from e
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        options = INITIALIZE_DONT_EXIT | INITIALIZE_PHONEME_EVENTS
        rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), options)
        if rate <= 0:
            raise AsrError(f"{data_path}: eSpeak NG failed to initialise (error {rate})")
        self.lib = lib
        self.sample_rate: Hertz = rate
        self._chunks: list[np.ndarray] = []
        self._events: list[SynthEvent] = []
        self._callback = _CALLBACK(self._collect)  # keep a reference: ctypes does not
        lib.espeak_SetSynthCallback(self._callback)
        self._voice: str | None = None

    def _collect(self, wav, num_samples: int, events) -> int:
        i = 0
        while events and events[i].type != EVENT_LIST_TERMINATED:
            event = events[i]
            if event.type in (EVENT_WORD, EVENT_END, EVENT_PHONEME):
                phoneme = event.id.string.decode("utf-8", "replace") if event.type == EVENT_PHONEME else None
                self._events.append(SynthEvent(event.type, event.text_position, event.sample, phoneme))
            i += 1
        if num_samples > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        return 0

    def set_voice(self, voice: str) -> None:
        if voice != self._voice:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != EE_OK:
                raise AsrError(f"eSpeak NG has no voice {voice!r} (expected e.g. 'cmn-latn-pinyin', 'yue', 'yue+f2')")
            self._voice = voice

    def synthesize(self, text: str, settings: VoiceSettings) -> np.ndarray:
        """Speak ``text``; returns int16 samples ``(num_samples,)`` at :attr:`sample_rate`."""
        return self.synthesize_with_events(text, settings).samples

    def synthesize_with_events(self, text: str, settings: VoiceSettings) -> Synthesis:
        """Speak ``text``; returns its samples and its word, phoneme and end events."""
        self.set_voice(settings.voice)
        for param, value in (
            (PARAM_RATE, settings.rate), (PARAM_VOLUME, settings.volume), (PARAM_PITCH, settings.pitch),
            (PARAM_RANGE, settings.pitch_range), (PARAM_WORDGAP, settings.word_gap),
        ):
            self.lib.espeak_SetParameter(param, value, 0)
        data = text.encode("utf-8") + b"\0"
        self._chunks, self._events = [], []
        status = self.lib.espeak_Synth(data, len(data), 0, POS_CHARACTER, 0, CHARS_UTF8, None, None)
        self.lib.espeak_Synchronize()
        if status != EE_OK:
            raise AsrError(f"eSpeak NG failed on {text!r} with voice {settings.voice!r} (error {status})")
        if not self._chunks:
            raise AsrError(f"eSpeak NG produced no audio for {text!r} with voice {settings.voice!r}")
        return Synthesis(np.concatenate(self._chunks), tuple(self._events))

    def phonemes(self, text: str, voice: str) -> str:
        """eSpeak's phoneme transcription (IPA) of ``text``; a ``(en)`` in it marks spelled-out input."""
        self.set_voice(voice)
        buffer = ctypes.c_char_p(text.encode("utf-8"))
        pointer = ctypes.pointer(buffer)
        parts = []
        while pointer.contents.value:
            parts.append(self.lib.espeak_TextToPhonemes(pointer, CHARS_UTF8, 2).decode("utf-8"))
        return " ".join(parts)


_ENGINE: tuple[int, ESpeak] | None = None


def engine() -> ESpeak:
    """This process's engine, created on first use."""
    global _ENGINE
    if _ENGINE is None or _ENGINE[0] != os.getpid():
        _ENGINE = (os.getpid(), ESpeak())
    return _ENGINE[1]


def seed_random(seed: int) -> None:
    """Seed eSpeak's own generator (breath noise) and C ``rand()``, so noise repeats from run to run."""
    lib = engine().lib
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_ng_SetRandSeed(seed & 0x7FFFFFFF)
    ctypes.CDLL(None).srand(ctypes.c_uint(seed & 0xFFFFFFFF))
