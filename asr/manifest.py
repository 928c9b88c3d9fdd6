"""Typed utterance manifests: one JSON object per line (``.jsonl`` or ``.jsonl.gz``).

A manifest lives at ``data_manifests/<corpus>/<split>.jsonl[.gz]``; each line is an
:class:`Utterance`. Audio paths are relative to the manifest's directory (absolute
paths are kept as they are). Demographic and acoustic metadata travel in the
manifest as first-class fields, so the audit can group on any of them without side
files; corpus-specific extras go into ``extra``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from asr.errors import AsrError
from asr.io import atomic_write, open_text

Seconds = float
Hertz = int
Decibels = float

#: Metadata fields an audit can group by, in report order.
METADATA_FIELDS = ("dialect", "accent", "gender", "age_band", "region", "condition", "snr_db")
REQUIRED_FIELDS = ("id", "audio", "duration", "sample_rate", "text", "speaker")


@dataclass(frozen=True)
class Utterance:
    """One supervised segment of one recording.

    ``start`` and ``duration`` are seconds within the audio file; ``audio`` is a path
    relative to the manifest's directory. ``snr_db`` is the signal-to-noise ratio of
    added noise in dB (``None`` for clean or unknown). ``char_times``, where known (the
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
    accent: str | None = None
    gender: str | None = None
    age_band: str | None = None
    region: str | None = None
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


def parse_utterance(line: str, where: str) -> Utterance:
    """Parse one manifest line; ``where`` (``path:line``) prefixes every error."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise AsrError(f"{where}: malformed manifest line ({e.msg}); expected one JSON object per line") from None
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


def _check_types(utt: Utterance) -> None:
    for name in ("id", "audio", "text", "speaker"):
        if not isinstance(getattr(utt, name), str):
            raise ValueError(f"field {name!r} must be a string")
    for name in ("duration", "start"):
        value = getattr(utt, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"field {name!r} must be a non-negative number of seconds, got {value!r}")
    if isinstance(utt.sample_rate, bool) or not isinstance(utt.sample_rate, int) or utt.sample_rate <= 0:
        raise ValueError(f"field 'sample_rate' must be a positive integer in Hz, got {utt.sample_rate!r}")
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
