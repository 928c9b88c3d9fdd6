"""Shared pieces of the real-corpus importers (Kaldi, KeSpeech, AISHELL-1, Common Voice).

An importer reads its corpus's text files into :class:`Source` records (one per
utterance: audio file, optional segment, transcript, speaker, metadata), then
:func:`build_utterances` reads every audio header (``soundfile`` via
:func:`asr.audio.audio_info`) to fill in sample rates and durations, collecting
every problem with its utterance id, and :func:`write_splits` writes one manifest
per split. Nothing is written unless the whole corpus checks out.

Metadata values are normalised here, once, for every corpus:

* gender: ``female`` / ``male`` (from ``f``/``m``, ``Female``, ``female_feminine``,
  ``女``/``男`` ...); other self-descriptions are kept lower-cased; "unknown" or
  "do not wish to say" become ``None``.
* age band: decades, see :data:`AGE_BANDS`; an age in years maps onto them
  (:func:`age_band`), Common Voice's decade labels map one to one, any other
  label (already a band) is kept as it is.
* dialect, home dialect and reading style: lower-case snake names (``Lan-Yin`` ->
  ``lan_yin``, ``Mandarin`` -> ``mandarin``).
* list-valued fields (``accents``): the value split at ``|``, each item stripped,
  empty items and repeats dropped, order kept; no item left -> ``None``.
* phase: an integer (``2``, ``phase2`` -> ``2``).

Audio paths are written relative to the manifest's directory (:func:`audio_field`).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from collections import defaultdict
from typing import Any, Callable, Mapping, Sequence

from asr.audio import audio_info
from asr.errors import AsrError
from asr.io import progress
from asr.manifest.records import Utterance, write_manifest
from asr.text import normalize

#: The split of a corpus whose files name none.
DEFAULT_SPLIT = "train"

log = logging.getLogger(__name__)

Seconds = float

#: Age bands (years) every corpus is mapped onto; a band is named ``"<lo>-<hi>"``.
AGE_BANDS = ("0-19", "20-29", "30-39", "40-49", "50-59", "60+")
#: A segment may end this far past the end of its audio file (Kaldi rounding).
SEGMENT_TOLERANCE: Seconds = 0.05

_FEMALE = {"f", "female", "female_feminine", "woman", "w", "女", "女性"}
_MALE = {"m", "male", "male_masculine", "man", "男", "男性"}
_UNKNOWN = {"", "unknown", "none", "n/a", "na", "-", "do_not_wish_to_say", "other_not_say"}


@dataclass(frozen=True)
class Source:
    """One utterance as a corpus's text files describe it, before its audio is read.

    ``audio`` is an absolute path; ``start`` and ``end`` are seconds within it
    (``end=None``: to the end of the file). ``fields`` holds first-class manifest
    metadata (:data:`asr.manifest.records.METADATA_FIELDS`), ``extra`` everything else.
    ``where`` names the line it came from, for error messages.
    """

    id: str
    audio: Path
    text: str
    speaker: str
    start: Seconds = 0.0
    end: Seconds | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    where: str = ""


class Problems:
    """Every problem found in a corpus, each naming its file, line or utterance.

    :meth:`raise_if_any` raises one :class:`AsrError`: the problem itself when there
    is one, else the first and a count, after logging each of them.
    """

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self, what: str = "nothing was written") -> None:
        if not self.items:
            return
        if len(self.items) == 1:
            raise AsrError(f"{self.items[0]} ({what})")
        for item in self.items:
            log.error("%s", item)
        raise AsrError(f"{self.items[0]}; and {len(self.items) - 1} more problem(s), listed above ({what})")


def add_common_arguments(parser: argparse.ArgumentParser, corpus: str, corpus_help: str) -> None:
    """``--corpus-dir``, ``--output-dir`` (default ``data_manifests/<corpus>``) and ``--jobs``."""
    parser.add_argument("--corpus-dir", required=True, help=corpus_help)
    parser.add_argument(
        "--output-dir",
        default=f"data_manifests/{corpus}",
        help=f"where the manifests go, one <split>.jsonl each (default: data_manifests/{corpus})",
    )
    parser.add_argument("--jobs", type=int, default=4, help="threads reading audio headers (default: 4)")


def existing_dir(path: str | Path, what: str) -> Path:
    """``path`` as a :class:`Path`, or an :class:`AsrError` saying what was expected there."""
    path = Path(path)
    if not path.is_dir():
        raise AsrError(f"{path}: no such directory (expected {what})")
    return path


def existing_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise AsrError(f"{path}: no such file (expected {what})")
    return path


def read_lines(path: Path) -> list[tuple[int, str]]:
    """Non-blank lines of a UTF-8 text file as ``(line_number, line)``, newline stripped."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            return [(n, line.rstrip("\r\n")) for n, line in enumerate(f, 1) if line.strip()]
    except UnicodeDecodeError as e:
        raise AsrError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}); expected a UTF-8 text file") from None


def read_table(path: Path, expected: str = "<key> <value>") -> dict[str, tuple[str, int]]:
    """A Kaldi-style table: ``key value...`` per line -> ``{key: (value, line_number)}``.

    The value is the rest of the line, whitespace-stripped. A line with a key and no
    value, or a key seen twice, is an :class:`AsrError` naming the file and line.
    """
    table: dict[str, tuple[str, int]] = {}
    for lineno, line in read_lines(path):
        parts = line.strip().split(maxsplit=1)
        if len(parts) < 2:
            raise AsrError(f"{path}:{lineno}: malformed line {line.strip()!r}: expected '{expected}'")
        key, value = parts[0], parts[1].strip()
        if key in table:
            raise AsrError(f"{path}:{lineno}: duplicate key {key!r} (first on line {table[key][1]})")
        table[key] = (value, lineno)
    return table


def normalize_gender(value: str | None) -> str | None:
    """``female`` / ``male`` / another self-description lower-cased / ``None`` if unknown."""
    if value is None:
        return None
    v = value.strip().lower()
    if v in _FEMALE:
        return "female"
    if v in _MALE:
        return "male"
    if v in _UNKNOWN:
        return None
    return snake(v)


def age_band(years: int) -> str:
    """The :data:`AGE_BANDS` band holding an age in years: ``age_band(34) == "30-39"``."""
    if years < 20:
        return AGE_BANDS[0]
    if years >= 60:
        return AGE_BANDS[-1]
    lo = years // 10 * 10
    return f"{lo}-{lo + 9}"


def normalize_age(value: str | None) -> str | None:
    """An age in years (``"34"``) becomes its band; a label (``"20-29"``) is kept; blank -> ``None``."""
    if value is None or value.strip().lower() in _UNKNOWN:
        return None
    v = value.strip()
    if re.fullmatch(r"\d{1,3}", v):
        return age_band(int(v))
    return v


def snake(value: str) -> str:
    """Lower-case snake name: ``"Lan-Yin"`` -> ``"lan_yin"``, ``"Ji Lu"`` -> ``"ji_lu"``."""
    return re.sub(r"[\W_]+", "_", value.strip().lower()).strip("_")


def normalize_dialect(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    return snake(value)


def normalize_phase(value: str | None) -> int | None:
    """A recording phase as an integer: ``"2"`` or ``"phase2"`` -> ``2``; blank -> ``None``.

    Anything else is a :class:`ValueError` (the caller names the file and line).
    """
    if value is None or value.strip().lower() in _UNKNOWN:
        return None
    match = re.fullmatch(r"(?:phase)?\s*(\d+)", value.strip().lower())
    if match is None:
        raise ValueError(f"phase {value!r} is not a phase number (expected e.g. '1' or 'phase1')")
    return int(match.group(1))


def split_values(value: str | None, separator: str = "|") -> list[str] | None:
    """A multi-valued cell as a list: ``"a|b| a"`` -> ``["a", "b"]``; blank -> ``None``."""
    if value is None:
        return None
    items: list[str] = []
    for item in value.split(separator):
        item = item.strip()
        if item and item not in items:
            items.append(item)
    return items or None


def audio_field(audio: Path, output_dir: Path) -> str:
    """The manifest's ``audio`` value: ``audio``'s path relative to ``output_dir``, the
    manifest's directory (``../`` steps included), so that the corpus and its manifests
    can be moved together.

    Both directories are resolved first (symbolic links followed; the audio file's own
    name is not), because the operating system resolves a ``..`` after a link to the
    link's target. Only where no relative path exists (another drive on Windows) is the
    path absolute.
    """
    audio = Path(audio)
    real_audio = Path(os.path.realpath(audio.absolute().parent)) / audio.name
    try:
        return Path(os.path.relpath(real_audio, os.path.realpath(output_dir))).as_posix()
    except ValueError:
        return str(audio.absolute())


def build_utterances(sources: list[Source], output_dir: str | Path, jobs: int = 4) -> list[Utterance]:
    """Read every audio header once and make the manifest records, sorted by id.

    Every problem (duplicate id, missing or unreadable audio, a segment outside its
    audio, an empty transcript) is collected and raised together by
    :meth:`Problems.raise_if_any`.
    """
    problems = Problems()
    seen: dict[str, str] = {}
    for src in sources:
        if src.id in seen:
            problems.add(f"{src.where}: duplicate utterance id {src.id!r} (first at {seen[src.id]})")
        else:
            seen[src.id] = src.where
        if not normalize(src.text):
            problems.add(f"{src.where}: utterance {src.id}: empty transcript (expected text after normalisation)")

    paths = sorted({src.audio for src in sources})
    info: dict[Path, tuple[int, int] | str] = {}

    def probe(path: Path) -> tuple[int, int] | str:
        try:
            return audio_info(path)
        except AsrError as e:
            return str(e)

    with ThreadPoolExecutor(max(1, jobs)) as pool:
        results = pool.map(probe, paths)
        with progress(len(paths), "audio headers", "file", enabled=len(paths) >= 1000) as bar:
            for path, result in zip(paths, results):
                info[path] = result
                bar.update(1)

    output_dir = Path(output_dir)
    utterances = []
    for src in sources:
        header = info[src.audio]
        if isinstance(header, str):
            problems.add(f"{src.where}: utterance {src.id}: {header}")
            continue
        rate, frames = header
        length = frames / rate
        end = length if src.end is None else src.end
        if src.start >= length or end > length + SEGMENT_TOLERANCE or end <= src.start:
            problems.add(
                f"{src.where}: utterance {src.id}: segment {src.start:.3f}-{end:.3f} s is outside "
                f"{src.audio} ({length:.3f} s)"
            )
            continue
        utterances.append(
            Utterance(
                id=src.id,
                audio=audio_field(src.audio, output_dir),
                duration=round(min(end, length) - src.start, 4),
                sample_rate=rate,
                text=src.text,
                speaker=src.speaker,
                start=round(src.start, 4),
                extra=dict(src.extra),
                **src.fields,
            )
        )
    problems.raise_if_any()
    return sorted(utterances, key=lambda u: u.id)


def write_splits(output_dir: str | Path, splits: dict[str, list[Utterance]], corpus: str) -> dict[str, Path]:
    """Write ``<output_dir>/<split>.jsonl`` for each split; log one summary line each."""
    output_dir = Path(output_dir)
    written = {}
    for split, utterances in splits.items():
        path = output_dir / f"{split}.jsonl"
        n = write_manifest(path, utterances)
        hours = sum(u.duration for u in utterances) / 3600
        speakers = len({u.speaker for u in utterances})
        log.info("%s %s: %d utterances, %d speakers, %.2f h -> %s", corpus, split, n, speakers, hours, path)
        written[split] = path
    return written


def resolve_audio(value: str, corpus_dir: Path, audio_root: str | Path | None = None) -> Path:
    """An audio path as absolute: as it is, else under ``audio_root``, else the current directory
    if it is there (lhotse's convention), else ``corpus_dir`` if it is there (else the current directory)."""
    path = Path(value)
    if path.is_absolute():
        return path
    if audio_root is not None:
        return (Path(audio_root) / path).absolute()
    for base in (Path.cwd(), corpus_dir):
        if (base / path).exists():
            return (base / path).absolute()
    return (Path.cwd() / path).absolute()


def select_splits(available: list[str], splits: list[str] | None, where: str) -> list[str]:
    """The requested splits, each checked to exist (all of ``available`` when none are requested)."""
    missing = [s for s in splits or () if s not in available]
    if missing:
        raise AsrError(f"{where}: no split {missing[0]!r} (found: {', '.join(available)})")
    return available if splits is None else list(splits)


def single_split_name(splits: list[str] | None, where: str) -> str:
    """The name of the one split of a corpus without splits: the one requested, else :data:`DEFAULT_SPLIT`."""
    if splits is not None and len(splits) != 1:
        raise AsrError(f"{where}: has no splits; --split names the one split to import it as, got {','.join(splits)}")
    return splits[0] if splits else DEFAULT_SPLIT


def recording_ids(utts: Sequence, audio: Mapping[str, Path], clean: Callable[[str], str] = str) -> dict[Path, str]:
    """A unique recording id per audio file, for exports that name recordings (Kaldi, lhotse).

    ``utts`` have ``id`` and ``extra`` (utterances or sources); ``audio`` maps their ids to
    absolute paths. A file's id is the ``extra["segment"]`` its utterances share, else its one
    utterance's id, else the file's stem, passed through ``clean``; files are taken in path
    order, and an id already taken gets ``-2``, ``-3`` ...
    """
    by_path: dict[Path, list] = defaultdict(list)
    for u in utts:
        by_path[audio[u.id]].append(u)
    ids: dict[Path, str] = {}
    taken: set[str] = set()
    for path in sorted(by_path):
        group = by_path[path]
        named = {str(u.extra["segment"]) for u in group if u.extra.get("segment")}
        rec = clean(named.pop() if len(named) == 1 else (group[0].id if len(group) == 1 else path.stem))
        base, n = rec, 1
        while rec in taken:
            n += 1
            rec = f"{base}-{n}"
        taken.add(rec)
        ids[path] = rec
    return ids


def print_written(written: Mapping[str, Path]) -> None:
    """``split: path`` of each manifest an importer wrote, one a line (what ``asr prepare`` prints)."""
    for split, path in written.items():
        print(f"{split}: {path}")
