"""Where each character of a synthetic utterance is spoken, from eSpeak NG's own events.

eSpeak reports, for every word of its input, the character offset of the word in the
input text and the output sample where it starts, and the same for every phoneme
(:class:`~asr.corpus.synthetic.espeak.SynthEvent`). :func:`character_spans` turns
those into one ``[start, end)`` span per character of the utterance's ``text``, in
samples of eSpeak's output:

* A character's reading is one pinyin syllable (``mandarin`` and the accented groups
  read ``" ".join(syllables)``, one syllable per character) or the character itself
  (``cantonese``); :func:`reading_offsets` finds where each reading starts in the
  eSpeak input, so a word event's text position names its first character.
* A word's span runs from its first sounding phoneme (pause phonemes, whose
  mnemonics start with ``_``, are skipped; a stop's silent closure is included) to
  the end of its last sounding phoneme, i.e. the start of whatever event follows it.
* eSpeak's ``yue`` dictionary reads some character sequences as one word (``一下``,
  ``温度``, ``百分之``: about 4% of words in the grammar). Such a word is cut into its
  syllables: every Chinese syllable has one vowel nucleus (:func:`is_nucleus`), and a
  syllable starts at the last consonant before its nucleus (the onset; a consonant
  before that is the previous syllable's coda). If the nuclei do not number the
  characters, the word's span is divided evenly instead.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from asr.corpus.synthetic.espeak import EVENT_END, EVENT_PHONEME, EVENT_WORD, SynthEvent
from asr.errors import AsrError

#: First letters of eSpeak vowel mnemonics (cmn and yue phoneme tables), after stress marks.
VOWEL_LETTERS = frozenset("aeiouyAEIOUY@&")
#: Syllabic consonants that carry a syllable on their own in yue (五 ``'ng``); yue's onset ng is ``N``.
SYLLABIC = frozenset({"ng"})
STRESS_MARKS = "',"


@dataclass(frozen=True)
class _Phoneme:
    name: str
    start: int
    end: int


@dataclass(frozen=True)
class _Word:
    first_char: int
    start: int
    phonemes: tuple[_Phoneme, ...]  # sounding ones only


def is_nucleus(phoneme: str) -> bool:
    """Whether an eSpeak phoneme mnemonic is a syllable nucleus (a vowel or a syllabic nasal)."""
    bare = phoneme.lstrip(STRESS_MARKS)
    return bool(bare) and (bare[0] in VOWEL_LETTERS or bare in SYLLABIC)


def reading_offsets(text: str, tts_input: str) -> list[int]:
    """0-based offset in ``tts_input`` where each character of ``text`` is read.

    ``tts_input`` is either ``text`` itself or one space-separated syllable per character.
    """
    if tts_input == text:
        return list(range(len(text)))
    syllables = tts_input.split(" ")
    if len(syllables) != len(text):
        raise AsrError(
            f"eSpeak input {tts_input!r} has {len(syllables)} syllables for the {len(text)} characters of {text!r} "
            "(expected the characters themselves or one syllable per character)"
        )
    offsets, position = [], 0
    for syllable in syllables:
        offsets.append(position)
        position += len(syllable) + 1
    return offsets


def character_spans(events: tuple[SynthEvent, ...], text: str, tts_input: str, num_samples: int) -> np.ndarray:
    """``[start, end)`` of each character of ``text`` in eSpeak output samples: int64 ``(len(text), 2)``.

    ``events`` are the synthesis events of ``tts_input`` (word, phoneme and end events, in
    order) and ``num_samples`` the length of its output. Spans are non-decreasing and
    within ``[0, num_samples]``; a character eSpeak gave no sound gets an empty span.
    """
    words = _words(events, reading_offsets(text, tts_input), num_samples)
    if not words:
        raise AsrError(f"eSpeak reported no word events for {tts_input!r}")
    spans = np.zeros((len(text), 2), dtype=np.int64)
    for i, word in enumerate(words):
        first = 0 if i == 0 else word.first_char
        last = words[i + 1].first_char if i + 1 < len(words) else len(text)
        spans[first:last] = _split_word(word, last - first)
    return np.clip(np.maximum.accumulate(spans.reshape(-1)), 0, num_samples).reshape(-1, 2)


def _words(events: tuple[SynthEvent, ...], offsets: list[int], num_samples: int) -> list[_Word]:
    """Word events with their sounding phonemes; words that start in one character are merged."""
    words: list[_Word] = []
    phonemes: list[_Phoneme] = []
    for k, event in enumerate(events):
        next_sample = events[k + 1].sample if k + 1 < len(events) else num_samples
        if event.kind == EVENT_WORD:
            char = max(0, bisect.bisect_right(offsets, event.text_position - 1) - 1)
            if words and char == words[-1].first_char:
                continue  # a second word inside one character's reading: keep filling the first
            if words:
                words[-1] = _Word(words[-1].first_char, words[-1].start, tuple(phonemes))
            words.append(_Word(char, event.sample, ()))
            phonemes = []
        elif event.kind == EVENT_PHONEME and words and not event.phoneme.startswith("_"):
            phonemes.append(_Phoneme(event.phoneme, event.sample, next_sample))
        elif event.kind == EVENT_END:
            break
    if words:
        words[-1] = _Word(words[-1].first_char, words[-1].start, tuple(phonemes))
    return words


def _split_word(word: _Word, num_chars: int) -> np.ndarray:
    """Spans ``(num_chars, 2)`` of the syllables of one word."""
    if not word.phonemes:
        return np.full((num_chars, 2), word.start, dtype=np.int64)
    start, end = word.phonemes[0].start, word.phonemes[-1].end
    if num_chars == 1:
        return np.array([[start, end]], dtype=np.int64)
    nuclei = [i for i, p in enumerate(word.phonemes) if is_nucleus(p.name)]
    if len(nuclei) == num_chars:
        bounds = [start]
        for previous, nucleus in zip(nuclei, nuclei[1:]):
            onset = nucleus - 1 if nucleus - 1 > previous else nucleus
            bounds.append(word.phonemes[onset].start)
        bounds.append(end)
    else:
        bounds = np.linspace(start, end, num_chars + 1).round().astype(np.int64).tolist()
    return np.array(list(zip(bounds[:-1], bounds[1:])), dtype=np.int64)
