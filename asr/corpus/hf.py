"""Hugging Face datasets on local disk: a ``save_to_disk`` directory or an audiofolder; no hub access.

Layouts read::

    <corpus_dir>/dataset_dict.json, <split>/...      a DatasetDict saved with save_to_disk
    <corpus_dir>/state.json, data-*.arrow            one Dataset saved with save_to_disk
    <corpus_dir>/[<split>/]metadata.csv              an audiofolder: metadata.csv, .jsonl or .parquet
    <corpus_dir>/[<split>/]<file_name>               beside (or below) the audio files

Splits: a DatasetDict's own; in an audiofolder, the first directory on a row's
audio path below ``corpus_dir`` that ``datasets`` takes for a split
(:data:`SPLIT_DIRECTORY`: ``train``, ``dev``, ``validation``, ``test_2``...), the
manifest named after it (``dev/`` -> ``dev.jsonl``); as ``datasets`` does, rows
outside such directories, where there are some, are skipped. A single Dataset, or
an audiofolder without them, is one split named by ``--split`` (default ``train``),
which otherwise selects splits.

Columns (each option names one; else the defaults are tried in order):

* text: ``--text-column`` (default: ``text``, ``sentence``, ``transcription``, ``transcript``);
* speaker: ``--speaker-column`` (default: ``speaker``, ``speaker_id``, ``client_id``). A
  dataset with none is refused, unless ``--speaker-from id`` makes each utterance
  its own speaker (with a warning: the speaker bootstrap then treats utterances as
  independent, and its intervals come out too narrow where speakers recur);
* id: ``--id-column`` (default: the stem of the audio file's name; in a saved
  dataset without file names, ``<split>-<row number from 0>``);
* audio: ``--audio-column`` (default: ``audio`` in a saved dataset; ``file_name`` in
  an audiofolder, a path relative to the metadata file);
* ``--column FIELD=COLUMN`` fills a first-class manifest field from a column;
  every other column fills the field of its own name (or alias: ``age`` ->
  ``age_band`` ...) or else goes into ``extra``, as :func:`asr.corpus.lhotse.split_metadata`
  says; a ``ClassLabel`` gives its label names; empty cells, NaN and binary
  columns are left out.

Audio in a saved dataset: an ``Audio`` column holds each file's bytes (``save_to_disk``
embeds them) and its original name. Embedded audio (bytes, or decoded
``{"array", "sampling_rate"}``) is decoded with soundfile and written as 16-bit PCM
WAV, channels kept, atomically, to ``<output_dir>/audio/<split>/<id>.wav`` (an id
with characters other than letters, digits, ``.``, ``_``, ``-`` gets them replaced and
a hash of the id appended); the manifest points there. A column of plain paths
(absolute, else relative to the current directory, then to ``corpus_dir``) is used
as it is. Ids, speakers and transcripts are checked before any audio is written,
the manifests written last. The audiofolder is read here (csv, json, pyarrow),
not by ``datasets.load_dataset("audiofolder")``, which re-encodes every file with
torchcodec (FFmpeg) into a cache where asr reads the files in place. Saved
datasets need ``datasets`` (``pip install 'zh-dialect-asr[interop]'``), imported
with ``HF_DATASETS_OFFLINE=1`` and ``HF_HUB_OFFLINE=1``.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import decimal
import hashlib
import io
import json
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterator, Mapping

import numpy as np

from asr.corpus.common import (Problems, Source, add_common_arguments, build_utterances, existing_dir, print_written,
                               resolve_audio, select_splits, single_split_name, write_splits)
from asr.corpus.fields import split_metadata
from asr.corpus.lhotse import INSTALL_HINT
from asr.errors import AsrError
from asr.io import atomic_write
from asr.manifest.records import METADATA_FIELDS
from asr.text import normalize

NAME = "hf"
HELP = "import a local Hugging Face dataset (save_to_disk directory, or audiofolder with metadata.csv/jsonl)"
TEXT_COLUMNS = ("text", "sentence", "transcription", "transcript")
SPEAKER_COLUMNS = ("speaker", "speaker_id", "client_id")
METADATA_FILES = ("metadata.csv", "metadata.jsonl", "metadata.parquet")
#: A directory that names a split, as ``datasets``' default split patterns read directory names.
SPLIT_DIRECTORY = re.compile(r"(train|training|validation|valid|dev|val|test|testing|eval|evaluation)([-._ 0-9].*)?")
_SAFE_NAME = re.compile(r"[^\w.-]")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ColumnOptions:
    """The columns a user named (``None``: try the defaults); ``columns`` maps fields to columns."""

    text_column: str | None
    id_column: str | None
    speaker_column: str | None
    speaker_from: str
    audio_column: str | None
    columns: Mapping[str, str]


@dataclass(frozen=True)
class ColumnMap:
    """The columns of one dataset: ``speaker=None``: each utterance is its own speaker; ``id=None``: default ids."""

    text: str
    speaker: str | None
    id: str | None
    audio: str
    fields: Mapping[str, str]

    def consumed(self) -> set[str]:
        return {c for c in (self.text, self.speaker, self.id, self.audio, *self.fields.values()) if c}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, NAME, "a save_to_disk directory or an audiofolder (metadata.csv/jsonl + audio)")
    parser.add_argument("--text-column", default=None, help=f"transcript column (default: {', '.join(TEXT_COLUMNS)})")
    parser.add_argument("--id-column", default=None, help="utterance id column (default: the audio file's stem)")
    parser.add_argument("--speaker-column", default=None,
                        help=f"speaker column (default: {', '.join(SPEAKER_COLUMNS)})")
    parser.add_argument("--speaker-from", choices=("column", "id"), default="column",
                        help="id: each utterance is its own speaker, for datasets without speakers (default: column)")
    parser.add_argument("--audio-column", default=None,
                        help="audio column (default: audio; file_name in an audiofolder)")
    parser.add_argument("--column", dest="columns", action="append", default=[], metavar="FIELD=COLUMN",
                        help=f"fill a manifest field from a column (repeatable); fields: {', '.join(METADATA_FIELDS)}")
    parser.add_argument("--split", default=None,
                        help="comma-separated splits to import (default: all); a dataset without splits is "
                             "imported as this one split (default: train)")


def run(args: argparse.Namespace) -> int:
    written = prepare_hf(
        args.corpus_dir, args.output_dir, text_column=args.text_column, id_column=args.id_column,
        speaker_column=args.speaker_column, speaker_from=args.speaker_from, audio_column=args.audio_column,
        columns=parse_column_options(args.columns), splits=args.split.split(",") if args.split else None,
        jobs=args.jobs,
    )
    print_written(written)
    return 0


def parse_column_options(options: list[str]) -> dict[str, str]:
    """``["dialect=accent_label"]`` -> ``{"dialect": "accent_label"}``, fields checked."""
    out = {}
    for option in options:
        name, _, column = (part.strip() for part in option.partition("="))
        if not name or not column:
            raise AsrError(f"--column {option!r}: expected FIELD=COLUMN")
        if name not in METADATA_FIELDS:
            raise AsrError(f"--column {option!r}: unknown field {name!r} (expected one of "
                           f"{', '.join(METADATA_FIELDS)})")
        out[name] = column
    return out


def prepare_hf(
    corpus_dir: str | Path,
    output_dir: str | Path,
    text_column: str | None = None,
    id_column: str | None = None,
    speaker_column: str | None = None,
    speaker_from: str = "column",
    audio_column: str | None = None,
    columns: Mapping[str, str] | None = None,
    splits: list[str] | None = None,
    jobs: int = 4,
) -> dict[str, Path]:
    """One manifest per split of a local dataset (see the module docstring); returns ``{split: path}``."""
    corpus_dir = existing_dir(corpus_dir, "a save_to_disk directory or an audiofolder")
    if speaker_from not in ("column", "id"):
        raise AsrError(f"--speaker-from {speaker_from!r}: expected 'column' or 'id'")
    if speaker_from == "id":
        log.warning("hf: each utterance is its own speaker (--speaker-from id): the speaker bootstrap treats "
                    "utterances as independent, so its intervals are too narrow where speakers recur")
    options = ColumnOptions(text_column, id_column, speaker_column, speaker_from, audio_column,
                            MappingProxyType(dict(columns or {})))
    output_dir = Path(output_dir)
    if (corpus_dir / "dataset_dict.json").is_file() or (corpus_dir / "state.json").is_file():
        read = read_saved_dataset(corpus_dir, output_dir, splits, options)
    elif metadata_files(corpus_dir):
        read = read_audiofolder(corpus_dir, splits, options)
    else:
        raise AsrError(f"{corpus_dir}: neither a saved dataset (dataset_dict.json or state.json, from save_to_disk) "
                       f"nor an audiofolder ({' or '.join(METADATA_FILES)} beside audio files)")
    out = {split: build_utterances(sources, output_dir, jobs) for split, sources in read.items()}
    return write_splits(output_dir, out, NAME)


def resolve_columns(options: ColumnOptions, names: list[str], where: str, default_audio: str) -> ColumnMap:
    """The :class:`ColumnMap` of a dataset with columns ``names``; a column named and absent is an error."""
    listed = ", ".join(names)

    def pick(given: str | None, defaults: tuple[str, ...], option: str) -> str | None:
        if given is not None and given not in names:
            raise AsrError(f"{where}: no column {given!r} ({option}; columns: {listed})")
        return given if given is not None else next((c for c in defaults if c in names), None)

    def missing(what: str, defaults: tuple[str, ...], option: str, alternative: str = "") -> AsrError:
        return AsrError(f"{where}: no {what} column (tried {', '.join(defaults)}; columns: {listed}); "
                        f"name it with {option}{alternative}")

    text = pick(options.text_column, TEXT_COLUMNS, "--text-column")
    if text is None:
        raise missing("transcript", TEXT_COLUMNS, "--text-column")
    audio = pick(options.audio_column, (default_audio,), "--audio-column")
    if audio is None:
        raise missing("audio", (default_audio,), "--audio-column")
    speaker = None
    if options.speaker_from == "column":
        speaker = pick(options.speaker_column, SPEAKER_COLUMNS, "--speaker-column")
        if speaker is None:
            raise missing("speaker", SPEAKER_COLUMNS, "--speaker-column",
                          ", or pass --speaker-from id to make each utterance its own speaker")
    for field_name, column in options.columns.items():
        if column not in names:
            raise AsrError(f"{where}: no column {column!r} (--column {field_name}={column}; columns: {listed})")
    return ColumnMap(text=text, speaker=speaker, id=pick(options.id_column, (), "--id-column"), audio=audio,
                     fields=options.columns)


def row_id(values: Mapping[str, Any], cmap: ColumnMap, default_id: str) -> str:
    """The utterance id: the id column's cell, else ``default_id``."""
    if cmap.id is not None and values.get(cmap.id) is not None:
        return str(values[cmap.id]).strip()
    return default_id


def row_source(values: Mapping[str, Any], where: str, utt_id: str, audio: Path, cmap: ColumnMap) -> Source:
    """One row (its cells but the audio) as a :class:`Source`: mapped columns, then the rest as metadata."""
    speaker = utt_id if cmap.speaker is None else _cell_text(values.get(cmap.speaker))
    preset = {name: json_value(values.get(column)) for name, column in cmap.fields.items()}
    consumed = cmap.consumed()
    rest = {column: json_value(value) for column, value in values.items() if column not in consumed}
    rest = {column: value for column, value in rest.items() if value is not None and value != ""}
    fields, extra = split_metadata(rest, where, preset=preset)
    return Source(id=utt_id, audio=audio, text=_cell_text(values.get(cmap.text)), speaker=speaker,
                  fields=fields, extra=extra, where=where)


def check_sources(sources: list[Source]) -> None:
    """Refuse duplicate ids, empty speakers and empty transcripts, every one named, before anything is written."""
    problems = Problems()
    seen: dict[str, str] = {}
    for src in sources:
        if src.id in seen:
            problems.add(f"{src.where}: duplicate utterance id {src.id!r} (first at {seen[src.id]})"
                         " (name a unique id column with --id-column)")
        seen.setdefault(src.id, src.where)
        if not src.speaker:
            problems.add(f"{src.where}: utterance {src.id}: empty speaker")
        if not normalize(src.text):
            problems.add(f"{src.where}: utterance {src.id}: empty transcript (expected text after normalisation)")
    problems.raise_if_any()


def json_value(value: Any) -> Any:
    """A cell as a JSON value: NaN -> ``None``, dates as ISO text, decimals as floats, binary -> ``None``."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return None
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return float(value) if isinstance(value, decimal.Decimal) else str(value)


def _cell_text(value: Any) -> str:
    return "" if value is None else str(value).strip()


# ----------------------------------------------------------------------------- audiofolder


def metadata_files(corpus_dir: Path) -> list[Path]:
    """The audiofolder's metadata files, anywhere below ``corpus_dir``, sorted."""
    return sorted(p for name in METADATA_FILES for p in corpus_dir.rglob(name) if p.is_file())


def read_audiofolder(corpus_dir: Path, splits: list[str] | None, options: ColumnOptions) -> dict[str, list[Source]]:
    """``{split: sources}`` of an audiofolder; its audio files are used where they are."""
    by_split: dict[str | None, list[Source]] = {}
    for meta in metadata_files(corpus_dir):
        records = read_metadata(meta)
        if not records:
            continue
        names = list(dict.fromkeys(k for _, values in records for k in values))
        cmap = resolve_columns(options, names, str(meta), default_audio="file_name")
        for where, values in records:
            file_name = _cell_text(values.get(cmap.audio))
            if not file_name:
                raise AsrError(f"{where}: empty {cmap.audio!r} (expected the audio file's path, relative to "
                               f"{meta.name})")
            audio = (meta.parent / file_name).absolute()
            cells = {k: v for k, v in values.items() if k != cmap.audio}
            source = row_source(cells, where, row_id(cells, cmap, Path(file_name).stem), audio, cmap)
            by_split.setdefault(_split_of(audio, corpus_dir), []).append(source)
    if not by_split:
        raise AsrError(f"{corpus_dir}: its metadata files have no rows")
    named = sorted(s for s in by_split if s is not None)
    if not named:
        by_split = {single_split_name(splits, str(corpus_dir)): by_split[None]}
    elif None in by_split:
        log.warning("hf: %d rows of %s are outside its split directories (%s) and skipped", len(by_split[None]),
                    corpus_dir, ", ".join(named))
        del by_split[None]
    chosen = select_splits(sorted(by_split), splits if named else None, str(corpus_dir))
    for split in chosen:
        check_sources(by_split[split])
    return {split: by_split[split] for split in chosen}


def _split_of(audio: Path, corpus_dir: Path) -> str | None:
    """The first directory on ``audio``'s path below ``corpus_dir`` that names a split, if any."""
    try:
        parts = audio.relative_to(corpus_dir.absolute()).parts[:-1]
    except ValueError:
        return None
    return next((p for p in parts if SPLIT_DIRECTORY.fullmatch(p.lower())), None)


def read_metadata(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """``[(where, {column: value})]`` of a ``metadata.csv`` (empty cells -> ``None``), ``.jsonl`` or ``.parquet``."""
    try:
        if path.suffix == ".csv":
            with open(path, encoding="utf-8-sig", newline="") as f:
                reader = csv.DictReader(f)
                return [(f"{path}:{reader.line_num}", {k: (v if v != "" else None) for k, v in row.items()})
                        for row in reader]
        if path.suffix == ".jsonl":
            return list(_jsonl_rows(path))
        import pyarrow.parquet as pq  # pyarrow comes with pandas' parquet support; only parquet needs it

        return [(f"{path} row {i}", row) for i, row in enumerate(pq.read_table(path).to_pylist(), 1)]
    except UnicodeDecodeError as e:
        raise AsrError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except (OSError, ValueError) as e:
        raise AsrError(f"{path}: unreadable metadata file ({e})") from e


def _jsonl_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise AsrError(f"{path}:{lineno}: malformed line ({e.msg}); expected one JSON object per line") \
                    from None
            if not isinstance(row, dict):
                raise AsrError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            yield f"{path}:{lineno}", row


# ----------------------------------------------------------------------------- save_to_disk


def import_datasets():
    """The ``datasets`` module, offline, or an :class:`AsrError` saying how to install it. It is optional
    (the ``interop`` extra) and slow to import, so only reading a saved dataset imports it."""
    os.environ["HF_DATASETS_OFFLINE"] = "1"  # read when datasets is first imported: no hub, whatever it tries
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        import datasets
    except ImportError:
        raise AsrError(f"datasets is not installed (needed to read a saved Hugging Face dataset): {INSTALL_HINT}") \
            from None
    return datasets


def read_saved_dataset(corpus_dir: Path, output_dir: Path, splits: list[str] | None,
                       options: ColumnOptions) -> dict[str, list[Source]]:
    """``{split: sources}`` of a ``save_to_disk`` directory, embedded audio written out as WAV files."""
    datasets = import_datasets()
    try:
        loaded = datasets.load_from_disk(str(corpus_dir))
    except Exception as e:  # FileNotFoundError, ValueError...; IndexError for a dataset saved with no rows
        raise AsrError(f"{corpus_dir}: datasets.load_from_disk cannot read it ({type(e).__name__}: {e}); "
                       f"expected a dataset saved with save_to_disk") from e
    if isinstance(loaded, datasets.DatasetDict):
        parts = {s: loaded[s] for s in select_splits(list(loaded), splits, str(corpus_dir))}
    else:
        parts = {single_split_name(splits, str(corpus_dir)): loaded}
    out = {}
    for split, ds in parts.items():
        where = f"{corpus_dir} [{split}]"
        cmap = resolve_columns(options, list(ds.column_names), where, default_audio="audio")
        table = ds.with_format("arrow")[:]  # memory-mapped: the audio bytes are read one row at a time below
        audio = table.column(cmap.audio)
        kind = _audio_kind(ds.features[cmap.audio], where, cmap.audio)
        paths, embedded = _audio_index(audio, kind)
        cells = _decoded_cells(table.drop_columns([cmap.audio]).to_pylist(), ds.features)
        sources = []
        for i, values in enumerate(cells):
            utt_id = row_id(values, cmap, Path(paths[i]).stem if paths[i] else f"{split}-{i:06d}")
            if embedded[i]:
                path = (output_dir / "audio" / split / wav_name(utt_id)).absolute()
            elif paths[i]:
                path = resolve_audio(paths[i], corpus_dir)
            else:
                raise AsrError(f"{where} row {i}: utterance {utt_id}: no audio (neither bytes nor a path)")
            sources.append(row_source(values, f"{where} row {i}", utt_id, path, cmap))
        check_sources(sources)
        write_embedded_audio(sources, audio, kind, embedded)
        out[split] = sources
    return out


def _audio_index(audio, kind: str) -> tuple[list[str | None], list[bool]]:
    """Each row's audio file name and whether its audio is embedded, without reading the embedded bytes."""
    import pyarrow.compute as pc  # pyarrow comes with datasets

    if kind == "path":
        return audio.to_pylist(), [False] * len(audio)
    if kind == "array":
        return [None] * len(audio), [True] * len(audio)
    lengths = pc.binary_length(pc.struct_field(audio, "bytes")).to_pylist()
    return pc.struct_field(audio, "path").to_pylist(), [bool(n) for n in lengths]


def _audio_kind(feature: Any, where: str, column: str) -> str:
    """``"audio"`` (an Audio feature: bytes and path), ``"path"`` (strings) or ``"array"`` (decoded samples)."""
    name = type(feature).__name__
    if name == "Audio":
        return "audio"
    if name == "Value" and getattr(feature, "dtype", None) in ("string", "large_string"):
        return "path"
    if isinstance(feature, dict) and "array" in feature and "sampling_rate" in feature:
        return "array"
    raise AsrError(f"{where}: column {column!r} is {feature} (expected an Audio column, audio file paths, or "
                   f"{{'array', 'sampling_rate'}})")


def _decoded_cells(rows: list[dict[str, Any]], features: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows with ``ClassLabel`` integers replaced by their label names."""
    labels = {name: f for name, f in features.items() if type(f).__name__ == "ClassLabel"}
    for row in rows if labels else ():
        for name, feature in labels.items():
            if row.get(name) is not None:
                row[name] = feature.int2str(row[name]) if row[name] >= 0 else None  # -1: no label
    return rows


def wav_name(utt_id: str) -> str:
    """A file name for an utterance's WAV: the id, or where it has unsafe characters, a cleaned id and a hash."""
    safe = _SAFE_NAME.sub("_", utt_id).lstrip(".") or "_"
    if safe != utt_id:
        safe = f"{safe}-{hashlib.sha1(utt_id.encode('utf-8')).hexdigest()[:8]}"
    return f"{safe}.wav"


def write_embedded_audio(sources: list[Source], audio, kind: str, embedded: list[bool]) -> None:
    """Decode each embedded row's audio and write it as 16-bit WAV at its source's path, atomically.

    Every row that does not decode is reported (one :class:`AsrError` at the end).
    """
    import soundfile as sf

    problems = Problems()
    for i, src in enumerate(sources):
        if not embedded[i]:
            continue
        try:
            samples, rate = decode_audio(audio[i].as_py(), kind)
        except (ValueError, RuntimeError, sf.LibsndfileError) as e:
            problems.add(f"{src.where}: utterance {src.id}: embedded audio does not decode ({e})")
            continue
        with atomic_write(src.audio, "wb") as f:
            sf.write(f, samples, rate, format="WAV", subtype="PCM_16")
    problems.raise_if_any("its manifest was not written")


def decode_audio(value: dict[str, Any], kind: str) -> tuple[np.ndarray, int]:
    """Embedded audio as ``(samples, rate)``: float32 of shape ``(num_samples, channels)``, rate in Hz."""
    import soundfile as sf

    if kind == "audio":
        samples, rate = sf.read(io.BytesIO(value["bytes"]), dtype="float32", always_2d=True)
        return samples, int(rate)
    samples = np.asarray(value["array"], dtype=np.float32)
    if samples.ndim == 1:
        samples = samples[:, None]
    elif samples.ndim == 2 and samples.shape[0] < samples.shape[1]:
        samples = samples.T  # (channels, samples), as datasets decodes multi-channel audio
    if samples.ndim != 2 or not value.get("sampling_rate"):
        raise ValueError(f"expected a 1-D or 2-D array and a sampling_rate, got shape {samples.shape}")
    return samples, int(value["sampling_rate"])
