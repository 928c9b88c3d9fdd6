"""Kaldi data directories: import (``asr prepare kaldi``) and export (``asr manifest export-kaldi``).

A data dir holds ``wav.scp`` (``<recording> <audio path>``), ``text``
(``<utterance> <transcript>``), ``utt2spk`` (``<utterance> <speaker>``) and
optionally ``segments`` (``<utterance> <recording> <start> <end>`` in seconds, end
``-1`` meaning the end of the file); without ``segments`` each recording is one
utterance. Only audio *files* are read: a piped command (``sox a.wav -t wav - |``)
or an archive offset (``feats.ark:123``) in ``wav.scp`` is refused; write the audio
out to files first. A relative path in ``wav.scp`` is resolved against
``audio_root`` if given, else the current directory (Kaldi's convention: the
recipe directory), else the data dir.

Every other ``utt2<attr>`` / ``spk2<attr>`` file becomes metadata of the
utterance (``spk2*`` through its speaker), except the bookkeeping files
``spk2utt``, ``utt2dur`` and ``utt2num_frames``. Attributes named in
:data:`FIELD_ATTRIBUTES` fill the manifest's first-class fields (values
normalised by :mod:`asr.corpus.common`): each field from the file of its own
name (``spk2city`` -> ``city``, ``spk2home_dialect`` -> ``home_dialect`` ...), and
``age`` (years become a band), ``subdialect`` and ``snr`` as aliases of
``age_band``, ``dialect`` and ``snr_db``; ``accents`` holds ``|``-separated values.
For one field the first name in that order wins, an ``utt2`` file before a
``spk2`` file of the same name; any other attribute, and a losing alias, goes
into ``extra`` under its name, as a string. Utterances cut from a recording by
``segments`` carry the recording id in ``extra["segment"]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

from asr.audio import audio_info
from asr.corpus.common import (
    Problems,
    Source,
    add_common_arguments,
    build_utterances,
    existing_dir,
    existing_file,
    normalize_age,
    normalize_dialect,
    normalize_gender,
    normalize_phase,
    print_written,
    read_lines,
    read_table,
    recording_ids,
    resolve_audio,
    split_values,
    write_splits,
)
from asr.corpus.fields import FIELD_ATTRIBUTES, LIST_SEPARATOR
from asr.errors import AsrError
from asr.manifest.records import LIST_FIELDS, METADATA_FIELDS, Manifest, Utterance

NAME = "kaldi"
HELP = "import a Kaldi data dir (wav.scp, text, utt2spk, [segments], utt2*/spk2*) or a directory of them"

log = logging.getLogger(__name__)

#: Attribute-file names that are bookkeeping, not metadata.
BOOKKEEPING = frozenset({"utt2spk", "spk2utt", "utt2dur", "utt2num_frames"})
#: Attribute name used on export for each first-class field.
EXPORT_NAMES = {name: ("age" if name == "age_band" else name) for name in METADATA_FIELDS}
_ATTRIBUTE_FILE = re.compile(r"^(utt|spk)2(\w+)$")
_ARCHIVE = re.compile(r"\.ark:\d+$")
_SEGMENT_KEY = "segment"


def _to_float(value: str) -> float:
    return float(value)


_NORMALIZERS: dict[str, Callable[[str], Any]] = {
    "gender": normalize_gender,
    "age_band": normalize_age,
    "dialect": normalize_dialect,
    "home_dialect": normalize_dialect,
    "reading_style": normalize_dialect,
    "accents": lambda value: split_values(value, LIST_SEPARATOR),
    "phase": normalize_phase,
    "snr_db": _to_float,
}


# ----------------------------------------------------------------------------- import


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, NAME, "a Kaldi data dir (holding wav.scp), or a directory of data dirs")
    parser.add_argument("--split", default=None,
                        help="manifest name for a single data dir (default: the data dir's name)")
    parser.add_argument("--audio-root", default=None,
                        help="directory that relative wav.scp paths are relative to (default: the current "
                             "directory, then the data dir)")


def run(args: argparse.Namespace) -> int:
    written = prepare_kaldi(args.corpus_dir, args.output_dir, split=args.split,
                            audio_root=args.audio_root, jobs=args.jobs)
    print_written(written)
    return 0


def prepare_kaldi(
    corpus_dir: str | Path,
    output_dir: str | Path,
    split: str | None = None,
    audio_root: str | Path | None = None,
    jobs: int = 4,
) -> dict[str, Path]:
    """Manifests from one Kaldi data dir (``<split>.jsonl``) or every data dir below ``corpus_dir``.

    ``corpus_dir`` is a data dir if it holds ``wav.scp``; its manifest is named
    ``split`` or else after the directory. Otherwise each immediate subdirectory
    holding ``wav.scp`` is a split named after it. Everything is read and checked
    before anything is written. Returns ``{split: manifest path}``.
    """
    corpus_dir = existing_dir(corpus_dir, "a Kaldi data dir with wav.scp, text and utt2spk")
    if (corpus_dir / "wav.scp").is_file():
        data_dirs = {split or corpus_dir.resolve().name: corpus_dir}
    else:
        if split is not None:
            raise AsrError(f"{corpus_dir}: --split names one data dir, but this has no wav.scp")
        data_dirs = {d.name: d for d in sorted(corpus_dir.iterdir()) if (d / "wav.scp").is_file()}
        if not data_dirs:
            raise AsrError(f"{corpus_dir}: no wav.scp here or in any subdirectory (expected a Kaldi data dir)")
    splits = {
        name: build_utterances(read_data_dir(d, audio_root=audio_root), output_dir, jobs)
        for name, d in data_dirs.items()
    }
    return write_splits(output_dir, splits, NAME)


def read_data_dir(
    data_dir: str | Path,
    audio_root: str | Path | None = None,
    extra_tables: dict[str, Path] | None = None,
) -> list[Source]:
    """The utterances a Kaldi data dir describes, before their audio is read.

    ``extra_tables`` adds attribute files from elsewhere (``{"spk2gender": path}``);
    a file of the same name in the data dir takes precedence. Raises
    :class:`AsrError` for a malformed line (naming file and line), a piped
    ``wav.scp`` entry, or utterances missing from ``text`` / ``utt2spk`` / ``wav.scp``.
    """
    data_dir = Path(data_dir)
    wav_scp = _read_wav_scp(existing_file(data_dir / "wav.scp", "a Kaldi wav.scp"), data_dir, audio_root)
    text = read_table(existing_file(data_dir / "text", "a Kaldi text file"), "<utterance> <transcript>")
    utt2spk = _read_utt2spk(existing_file(data_dir / "utt2spk", "a Kaldi utt2spk file"))
    segments = _read_segments(data_dir / "segments", wav_scp) if (data_dir / "segments").is_file() else None
    tables = dict(extra_tables or {})
    tables.update({p.name: p for p in sorted(data_dir.iterdir()) if p.is_file() and _ATTRIBUTE_FILE.match(p.name)})
    attributes = {name: read_table(path, "<id> <value>") for name, path in sorted(tables.items())
                  if name not in BOOKKEEPING}

    problems = Problems()
    if segments is None:
        spans = {utt: (audio, 0.0, None, f"{data_dir / 'wav.scp'}:{line}", None)
                 for utt, (audio, line) in wav_scp.items()}
    else:
        spans = segments
    _check_coverage(data_dir, spans, text, utt2spk, problems)
    problems.raise_if_any()

    sources = []
    for utt in sorted(spans):
        audio, start, end, where, recording = spans[utt]
        speaker = utt2spk[utt][0]
        fields, extra = _metadata(utt, speaker, attributes, tables)
        if recording is not None:
            extra[_SEGMENT_KEY] = recording
        sources.append(Source(id=utt, audio=audio, text=text[utt][0], speaker=speaker, start=start, end=end,
                              fields=fields, extra=extra, where=where))
    return sources


def _read_wav_scp(path: Path, data_dir: Path, audio_root: str | Path | None) -> dict[str, tuple[Path, int]]:
    table = read_table(path, "<recording> <audio file>")
    out = {}
    for rec, (value, lineno) in table.items():
        if value.endswith("|") or value.startswith("|"):
            raise AsrError(
                f"{path}:{lineno}: recording {rec}: piped command {value!r} is not supported "
                f"(expected an audio file path; write the command's output to a file and list that)"
            )
        if _ARCHIVE.search(value):
            raise AsrError(f"{path}:{lineno}: recording {rec}: archive offset {value!r} is not supported "
                           f"(expected an audio file path)")
        out[rec] = (resolve_audio(value, data_dir, audio_root), lineno)
    return out


def _read_utt2spk(path: Path) -> dict[str, tuple[str, int]]:
    table = read_table(path, "<utterance> <speaker>")
    for utt, (speaker, lineno) in table.items():
        if len(speaker.split()) != 1:
            raise AsrError(f"{path}:{lineno}: malformed line: expected '<utterance> <speaker>', "
                           f"got {len(speaker.split()) + 1} fields")
    return table


def _read_segments(path: Path, wav_scp: dict[str, tuple[Path, int]]) -> dict[str, tuple]:
    """``{utt: (audio, start, end or None, where, recording)}`` from a ``segments`` file."""
    out: dict[str, tuple] = {}
    expected = "expected '<utterance> <recording> <start> <end>' with times in seconds"
    for lineno, line in read_lines(path):
        parts = line.split()
        where = f"{path}:{lineno}"
        if len(parts) != 4:
            raise AsrError(f"{where}: malformed line {line.strip()!r}: {expected}")
        utt, rec, start_s, end_s = parts
        try:
            start, end = float(start_s), float(end_s)
        except ValueError:
            raise AsrError(f"{where}: malformed times {start_s!r} {end_s!r}: {expected}") from None
        if start < 0 or (end != -1 and end <= start):
            raise AsrError(f"{where}: utterance {utt}: segment {start_s}-{end_s} is empty or negative")
        if rec not in wav_scp:
            raise AsrError(f"{where}: utterance {utt}: recording {rec!r} is not in wav.scp")
        if utt in out:
            raise AsrError(f"{where}: duplicate utterance {utt!r} (first at {out[utt][3]})")
        out[utt] = (wav_scp[rec][0], start, None if end == -1 else end, where, rec)
    return out


def _check_coverage(data_dir: Path, spans: dict, text: dict, utt2spk: dict, problems: Problems) -> None:
    source = "segments" if (data_dir / "segments").is_file() else "wav.scp"
    for name, table in (("text", text), ("utt2spk", utt2spk)):
        for utt in sorted(set(spans) - set(table)):
            problems.add(f"{data_dir / source}: utterance {utt} has no line in {data_dir / name}")
        for utt in sorted(set(table) - set(spans)):
            problems.add(f"{data_dir / name}:{table[utt][1]}: utterance {utt} is not in {data_dir / source}")


def _metadata(utt: str, speaker: str, attributes: dict[str, dict], tables: dict[str, Path]) -> tuple[dict, dict]:
    """First-class fields and extras of one utterance from the ``utt2*`` / ``spk2*`` tables."""

    def lookup(attr: str) -> tuple[str, str] | None:
        for prefix, key in (("utt2", utt), ("spk2", speaker)):
            row = attributes.get(prefix + attr, {}).get(key)
            if row is not None:
                return row[0], f"{tables[prefix + attr]}:{row[1]}"
        return None

    fields: dict[str, Any] = {}
    claimed: set[str] = set()
    extra: dict[str, Any] = {}
    for field_name, names in FIELD_ATTRIBUTES.items():
        for attr in names:
            found = lookup(attr)
            if found is None:
                continue
            claimed.add(attr)
            value, where = found
            if field_name in fields:
                extra[attr] = value
                continue
            try:
                fields[field_name] = _NORMALIZERS.get(field_name, str.strip)(value)
            except ValueError as e:
                expected = str(e) if field_name == "phase" else f"{attr} {value!r} is not a number (expected e.g. '12.5')"
                raise AsrError(f"{where}: {expected}") from None
    for name in attributes:
        attr = _ATTRIBUTE_FILE.match(name).group(2)
        if attr not in claimed and attr not in extra:
            found = lookup(attr)
            if found is not None:
                extra[attr] = found[0]
    return {k: v for k, v in fields.items() if v is not None}, extra


# ----------------------------------------------------------------------------- export


def export_kaldi(manifest_path: str | Path, output_dir: str | Path) -> Path:
    """Write a manifest as a Kaldi data dir; returns ``output_dir``.

    Writes ``wav.scp`` (absolute paths), ``text``, ``utt2spk``, ``spk2utt``,
    ``segments`` when an utterance is only part of its audio file, and one
    ``spk2<attr>`` (each speaker has one value or none) or ``utt2<attr>`` file per
    metadata field and per scalar ``extra`` key (gender as Kaldi's ``f``/``m``;
    ``age_band`` as ``age``; a list field's values joined by ``|``). Lines are sorted by key, as Kaldi expects. The
    directory is built beside ``output_dir`` and moved into place complete; an
    existing ``output_dir`` is replaced only if it is empty or holds a ``wav.scp``.
    """
    manifest = Manifest(manifest_path)
    utts = list(manifest)
    if not utts:
        raise AsrError(f"{manifest.path}: manifest has no utterances")
    output_dir = Path(output_dir)
    if output_dir.exists() and not (output_dir.is_dir() and
                                    (not any(output_dir.iterdir()) or (output_dir / "wav.scp").is_file())):
        raise AsrError(f"{output_dir}: exists and is not a Kaldi data dir; refusing to replace it")
    files = _kaldi_files(manifest, utts)

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", suffix=".tmp", dir=output_dir.parent))
    try:
        for name, lines in files.items():
            with open(tmp / name, "w", encoding="utf-8", newline="\n") as f:
                f.writelines(f"{key} {value}\n" for key, value in sorted(lines.items()))
        if output_dir.exists():
            shutil.rmtree(output_dir)
        os.replace(tmp, output_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("exported %d utterances of %s to Kaldi data dir %s", len(utts), manifest.path, output_dir)
    return output_dir


def _kaldi_files(manifest: Manifest, utts: list[Utterance]) -> dict[str, dict[str, str]]:
    audio = {u.id: Path(os.path.abspath(manifest.audio_path(u))) for u in utts}
    for u in utts:
        for name, value in (("utterance id", u.id), ("speaker id", u.speaker)):
            if not value or any(c.isspace() for c in value):
                raise AsrError(f"{manifest.path}: utterance {u.id}: {name} {value!r} has whitespace "
                               f"(Kaldi ids are single tokens)")
    files: dict[str, dict[str, str]] = {
        "text": {u.id: " ".join(u.text.split()) for u in utts},
        "utt2spk": {u.id: u.speaker for u in utts},
    }
    spk2utt: dict[str, list[str]] = defaultdict(list)
    for u in sorted(utts, key=lambda u: u.id):
        spk2utt[u.speaker].append(u.id)
    files["spk2utt"] = {spk: " ".join(ids) for spk, ids in spk2utt.items()}

    if _needs_segments(utts, audio):
        recordings = recording_ids(utts, audio, clean=lambda rec: "_".join(rec.split()))  # Kaldi ids hold no space
        files["wav.scp"] = {rec: str(path) for path, rec in recordings.items()}
        files["segments"] = {u.id: f"{recordings[audio[u.id]]} {_num(u.start)} {_num(u.start + u.duration)}"
                             for u in utts}
    else:
        files["wav.scp"] = {u.id: str(audio[u.id]) for u in utts}

    for name, values in _attribute_values(utts).items():
        per_speaker: dict[str, set] = defaultdict(set)
        for u in utts:
            per_speaker[u.speaker].add(values.get(u.id))
        if all(len(v) == 1 for v in per_speaker.values()):
            files[f"spk2{name}"] = {spk: next(iter(v)) for spk, v in per_speaker.items() if v != {None}}
        else:
            files[f"utt2{name}"] = {utt: v for utt, v in values.items()}
    return files


def _needs_segments(utts: list[Utterance], audio: dict[str, Path]) -> bool:
    if len(set(audio.values())) < len(utts):
        return True
    if any(u.start > 0 or _SEGMENT_KEY in u.extra for u in utts):
        return True
    for u in utts:
        rate, frames = audio_info(audio[u.id])
        if abs(frames / rate - u.duration) > 0.01:
            return True
    return False


def _attribute_values(utts: list[Utterance]) -> dict[str, dict[str, str]]:
    """``{attribute name: {utt: value}}`` for every metadata field and scalar extra."""
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for u in utts:
        for field_name in METADATA_FIELDS:
            value = getattr(u, field_name)
            if value is None:
                continue
            if field_name == "gender":
                value = {"female": "f", "male": "m"}.get(value, value)
            if field_name in LIST_FIELDS:
                value = LIST_SEPARATOR.join(value)
            out[EXPORT_NAMES[field_name]][u.id] = " ".join(str(value).split())
        for key, value in u.extra.items():
            if key == _SEGMENT_KEY or not re.fullmatch(r"\w+", key) or isinstance(value, (dict, list)):
                continue
            if value is None or f"utt2{key}" in BOOKKEEPING or f"spk2{key}" in BOOKKEEPING:
                continue
            text = " ".join(str(value).split())
            if text:
                out[key][u.id] = text
    return dict(out)


def _num(seconds: float) -> str:
    return f"{seconds:.4f}".rstrip("0").rstrip(".") or "0"
