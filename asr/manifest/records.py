"""Typed utterance manifests: one JSON object per line (``.jsonl`` or ``.jsonl.gz``).

A manifest lives at ``data_manifests/<corpus>/<split>.jsonl[.gz]``; each line is an
:class:`Utterance`. Audio paths are relative to the manifest's directory, so a corpus
and its manifests can be moved together (the importers write them so; an absolute
path, as older manifests have, is read as it is). Demographic and acoustic metadata
travel in the manifest as first-class fields, so the audit can group on any of them
without side files; corpus-specific extras go into ``extra``.

Metadata fields (:data:`METADATA_FIELDS`), one meaning each, and who fills them
(KeS = KeSpeech, CV = Common Voice, AIS = AISHELL-1, Syn = ``asr prepare synthetic``,
Kaldi = ``utt2<field>``/``spk2<field>`` files of the same name)::

    field          meaning                                              filled by
    dialect        variety spoken in this utterance (snake case)        KeS utt2subdialect, CV locale,
                                                                        AIS (mandarin), Syn, Kaldi
    home_dialect   the speaker's home variety, whatever they read       KeS city2subdialect of spk2city
    reading_style  ``mandarin`` (read in standard Mandarin) or          KeS phase1.utt2style, else
                   ``dialect`` (read in the speaker's own variety)      from dialect
    accent         the corpus's accent label, one string, verbatim      CV (whole answer), Kaldi
    accents        list: each accent separately (list-valued field)     CV accents split at "|"
    gender         ``female`` / ``male`` / other self-description       KeS, CV, AIS, Syn, Kaldi
    age_band       decades ``0-19`` ... ``60+``                          KeS, CV, Syn, Kaldi
    city           the speaker's city, verbatim                         KeS spk2city, Kaldi
    region         a region of the world (``mainland_china``, ...)      CV (from locale), Kaldi
    locale         the corpus's language tag, verbatim                  CV (zh-CN, zh-HK, zh-TW)
    phase          recording phase, an integer                          KeS (1 or 2)
    condition      recording environment or acoustic condition         KeS phase2.utt2env, Syn, Kaldi
    snr_db         SNR of added noise in dB (a number)                  Syn, Kaldi

A list-valued field (:data:`LIST_FIELDS`) holds a JSON list of strings, or is left
out when empty. Its groups are not exclusive: an utterance belongs to the group of
each of its values (a speaker who answered two accents counts in both accent
groups), and an utterance with no value is in the missing group.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import orjson

from asr.errors import AsrError
from asr.io import atomic_write, open_text

Seconds = float
Hertz = int
Decibels = float

#: Metadata fields an audit can group by, in report order.
METADATA_FIELDS = ("dialect", "home_dialect", "reading_style", "accent", "accents", "gender", "age_band", "city",
                   "region", "locale", "phase", "condition", "snr_db")
#: Metadata fields whose value is a list of strings (an utterance is in each value's group).
LIST_FIELDS = ("accents",)
REQUIRED_FIELDS = ("id", "audio", "duration", "sample_rate", "text", "speaker")


@dataclass(frozen=True)
class Utterance:
    """One supervised segment of one recording.

    ``start`` and ``duration`` are seconds within the audio file; ``audio`` is a path
    relative to the manifest's directory. The metadata fields are described in the
    module docstring; ``snr_db`` is the signal-to-noise ratio of added noise in dB
    (``None`` for clean or unknown), ``accents`` a list of strings. ``char_times``, where known (the
    synthetic corpus records eSpeak's), is one ``(start, end)`` per character of ``text``,
    in seconds from the utterance's start: ground truth for timestamps, kept out of
    :meth:`metadata`.
    """

    id: str
    audio: str
    duration: Seconds
    sample_rate: Hertz
    text: str
    speaker: str
    start: Seconds = 0.0
    dialect: str | None = None
    home_dialect: str | None = None
    reading_style: str | None = None
    accent: str | None = None
    accents: list[str] | None = None
    gender: str | None = None
    age_band: str | None = None
    city: str | None = None
    region: str | None = None
    locale: str | None = None
    phase: int | None = None
    condition: str | None = None
    snr_db: Decibels | None = None
    char_times: tuple[tuple[Seconds, Seconds], ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; ``None`` fields and an empty ``extra`` are left out."""
        row = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {k: v for k, v in row.items() if v is not None and v != {}}

    def metadata(self) -> dict[str, Any]:
        """Speaker, duration, the first-class metadata fields and the extras, flat."""
        meta = {"speaker": self.speaker, "duration": self.duration}
        meta.update({k: getattr(self, k) for k in METADATA_FIELDS if getattr(self, k) is not None})
        meta.update(self.extra)
        return meta


_FIELDS = {f.name for f in dataclasses.fields(Utterance)}


def parse_utterance(line: str | bytes, where: str) -> Utterance:
    """Parse one manifest line (text, or UTF-8 bytes); ``where`` (``path:line``) prefixes every error."""
    row = _load_json(line, where)
    if not isinstance(row, dict):
        raise AsrError(f"{where}: expected a JSON object, got {type(row).__name__}")
    utt_id = row.get("id", "?")
    missing = [k for k in REQUIRED_FIELDS if k not in row]
    if missing:
        raise AsrError(f"{where}: utterance {utt_id}: missing field(s) {', '.join(missing)}")
    unknown = sorted(set(row) - _FIELDS)
    if unknown:
        raise AsrError(f"{where}: utterance {utt_id}: unknown field {unknown[0]!r} (put corpus-specific fields in 'extra')")
    if isinstance(row.get("char_times"), list):
        row["char_times"] = tuple(tuple(pair) if isinstance(pair, list) else pair for pair in row["char_times"])
    try:
        utt = Utterance(**row)
        _check_types(utt)
    except (TypeError, ValueError) as e:
        raise AsrError(f"{where}: utterance {utt_id}: {e}") from None
    return utt


def _load_json(line: str | bytes, where: str) -> Any:
    """One JSON value: orjson's fast parse, or where it refuses (``NaN``, huge integers, bad bytes) the
    standard library's, so a ``NaN`` duration reaches the field checks and an error says what is wrong."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        pass
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise AsrError(f"{where}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    try:
        return json.loads(line)
    except json.JSONDecodeError as e:
        raise AsrError(f"{where}: malformed manifest line ({e.msg}); expected one JSON object per line") from None


def _check_types(utt: Utterance) -> None:
    for name in ("id", "audio", "text", "speaker"):
        if not isinstance(getattr(utt, name), str):
            raise ValueError(f"field {name!r} must be a string")
    for name in ("duration", "start"):
        value = getattr(utt, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"field {name!r} must be a finite, non-negative number of seconds, got {value!r}")
    if isinstance(utt.sample_rate, bool) or not isinstance(utt.sample_rate, int) or utt.sample_rate <= 0:
        raise ValueError(f"field 'sample_rate' must be a positive integer in Hz, got {utt.sample_rate!r}")
    for name in LIST_FIELDS:
        value = getattr(utt, name)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise ValueError(f"field {name!r} must be a list of strings, got {value!r}")
    if utt.phase is not None and (isinstance(utt.phase, bool) or not isinstance(utt.phase, int)):
        raise ValueError(f"field 'phase' must be an integer, got {utt.phase!r}")
    if not isinstance(utt.extra, dict):
        raise ValueError("field 'extra' must be a JSON object")
    if utt.char_times is not None:
        _check_char_times(utt)


def _check_char_times(utt: Utterance) -> None:
    times = utt.char_times
    if not isinstance(times, tuple) or len(times) != len(utt.text):
        got = len(times) if isinstance(times, tuple) else type(times).__name__
        expected = f"one [start, end] per character of the text ({len(utt.text)})"
        raise ValueError(f"field 'char_times' must hold {expected}, got {got}")
    for i, pair in enumerate(times):
        numbers = isinstance(pair, tuple) and len(pair) == 2 and all(type(t) in (int, float) for t in pair)
        if not numbers or not 0 <= pair[0] <= pair[1] <= utt.duration + 1e-3:
            expected = "[start, end] seconds, 0 <= start <= end <= duration"
            raise ValueError(f"field 'char_times'[{i}] must be {expected}; got {pair!r}")


class Manifest:
    """A manifest file, iterated lazily: ``for utt in Manifest(path)``.

    >>> m = Manifest("data_manifests/synthetic/test.jsonl")   # doctest: +SKIP
    >>> m.audio_path(next(iter(m)))                            # doctest: +SKIP
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise AsrError(f"{self.path}: manifest not found")
        self.root = self.path.parent

    def __iter__(self) -> Iterator[Utterance]:
        with open_text(self.path) as f:
            for lineno, line in enumerate(f, 1):
                if line.strip():
                    yield parse_utterance(line, f"{self.path}:{lineno}")

    def audio_path(self, utt: Utterance) -> Path:
        """Absolute path of an utterance's audio file."""
        path = Path(utt.audio)
        return path if path.is_absolute() else self.root / path

    def to_dataframe(self):
        """All utterances as a pandas DataFrame: one row each, metadata and extras as columns."""
        import pandas as pd

        rows = []
        for utt in self:
            row = utt.to_json()
            row.pop("extra", None)
            row.update(utt.extra)
            rows.append(row)
        return pd.DataFrame(rows)


def read_manifest(path: str | Path) -> list[Utterance]:
    """All utterances of a manifest, in file order."""
    return list(Manifest(path))


def load_dataframe(path: str | Path):
    """One call from a manifest to a pandas DataFrame."""
    return Manifest(path).to_dataframe()


def write_manifest(path: str | Path, utterances: Iterable[Utterance]) -> int:
    """Write utterances atomically, one JSON object per line; returns the count.

    Duplicate ids are refused before anything is written.
    """
    utterances = list(utterances)
    seen: set[str] = set()
    for utt in utterances:
        if utt.id in seen:
            raise AsrError(f"{path}: duplicate utterance id {utt.id!r}")
        seen.add(utt.id)
    with atomic_write(path) as f:
        for utt in utterances:
            f.write(json.dumps(utt.to_json(), ensure_ascii=False))
            f.write("\n")
    return len(utterances)


def find_manifests(directory: str | Path) -> list[Path]:
    """The manifests in a corpus directory (``*.jsonl``, ``*.jsonl.gz``), sorted."""
    directory = Path(directory)
    return sorted([*directory.glob("*.jsonl"), *directory.glob("*.jsonl.gz")])
