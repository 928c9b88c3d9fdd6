"""Another recognizer's hypotheses, joined with a manifest into a results file the audit reads.

The people who most need a per-dialect audit already run a recognizer (Whisper, a wav2vec2 CTC
fine-tune, Paraformer or SenseVoice through FunASR, a cloud API). :func:`score_hypotheses` takes
their hypotheses in whatever shape they come and a manifest with speaker and dialect labels, and
writes ``results-<stem>.jsonl`` (one :class:`asr.results.ResultRow` per manifest utterance) and its
``.meta.json``, exactly as ``asr decode`` does for an ``asr`` model.

Hypothesis formats (:data:`HYP_FORMATS`; detected from the path unless given):

``kaldi``         ``<id> <text>`` lines (Kaldi's ``text``);
``trn``           ``<text> (<id>)`` lines (NIST sclite);
``jsonl``         one JSON object per line with ``id`` (or ``key`` as FunASR writes, ``utt_id``,
                  ``utt``, ``audio``, ``path``) and ``text`` (or ``hyp``, ``transcript``,
                  ``prediction``), optionally ``confidence``;
``csv``, ``tsv``  a header row; the id and text columns are found by the same names, or named
                  with ``id_column`` / ``text_column``;
``whisper-json``  a directory of ``<audio stem>.json`` files holding ``{"text": ...}`` (what
                  ``whisper`` and ``faster-whisper`` scripts write), one per audio file.

Hypotheses are joined with the manifest by utterance id, or by the audio file's stem
(``key="audio"``; automatic when the keys are audio stems or paths rather than ids, and always
for ``whisper-json``). A manifest utterance without a hypothesis is scored as all deletions and
counted (``missing_hypotheses`` in the meta, a warning). A hypothesis that matches no utterance,
a duplicate id, an empty file or a file that is not UTF-8 is an :class:`~asr.errors.AsrError`
naming the file (``extra="ignore"`` drops unmatched hypotheses with a counted warning instead).

The manifest is read as lines (:func:`read_manifest_lines`): only what the join needs (id, audio,
start) is read in the calling process; each line is parsed into an ``Utterance``, with every
check of the manifest, where it is scored. From :data:`PARALLEL_MIN` utterances on that happens
in one process per core, which also serialise the rows (compact JSON, ``orjson``). 100,000
hypotheses took 1.4 s of CPU in the calling process and 7.9 s in the two workers, on a 2-core
machine that two training processes shared (``benchmarks/bench_audit.py --external``).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Iterable, Literal, NamedTuple, Sequence

import orjson

from asr.errors import AsrError
from asr.io import atomic_write, open_text, write_json
from asr.manifest.records import Manifest, Utterance, parse_utterance
from asr.results import RESULT_FIELDS, ResultRow
from asr.score import EditCounts, is_trn_line, read_transcripts, score_pair
from asr.text import DEFAULT, Normalization

log = logging.getLogger(__name__)

HYP_FORMATS = ("kaldi", "trn", "jsonl", "csv", "tsv", "whisper-json")
ID_NAMES = ("id", "key", "utt_id", "utt", "uttid", "utterance_id", "audio", "path", "file", "filename", "audio_path")
TEXT_NAMES = ("text", "hyp", "hypothesis", "transcript", "transcription", "prediction", "pred", "sentence")
CONFIDENCE_NAMES = ("confidence", "score", "conf")
KeyKind = Literal["auto", "id", "audio"]
#: From this many utterances on, scoring runs in one process per core.
PARALLEL_MIN = 20_000


@dataclass(frozen=True)
class Hypotheses:
    """What a hypothesis file says: ``texts[key]`` (and ``confidences[key]`` when it gives them)."""

    source: Path
    format: str
    texts: dict[str, str]
    confidences: dict[str, float] = field(default_factory=dict)
    #: "audio" when the keys are audio file names (whisper-json), else "id" (may still be decided later).
    keys: str = "id"


# ----------------------------------------------------------------------------- reading


def detect_format(path: Path) -> str:
    """The format of ``path`` from its kind and suffix (``trn`` when its first line ends in ``(id)``)."""
    if path.is_dir():
        return "whisper-json"
    name = path.name.lower().removesuffix(".gz")
    for suffix, fmt in ((".jsonl", "jsonl"), (".json", "jsonl"), (".csv", "csv"), (".tsv", "tsv")):
        if name.endswith(suffix):
            return fmt
    first = next((line for line in _lines(path) if line.strip()), "")
    return "trn" if is_trn_line(first) else "kaldi"


def read_hypotheses(path: str | Path, fmt: str = "auto", id_column: str | None = None,
                    text_column: str | None = None) -> Hypotheses:
    """Read a hypothesis file or directory (see the module docstring for the formats)."""
    path = Path(path)
    if not path.exists():
        raise AsrError(f"{path}: hypothesis file not found")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt not in HYP_FORMATS:
        raise AsrError(f"--hyp-format {fmt!r}: expected one of auto, {', '.join(HYP_FORMATS)}")
    if fmt == "whisper-json":
        return _read_whisper_dir(path)
    if path.is_dir():
        raise AsrError(f"{path}: a directory; only --hyp-format whisper-json reads a directory of *.json files")
    if fmt in ("kaldi", "trn"):
        return Hypotheses(path, fmt, read_transcripts(path))
    if fmt == "jsonl":
        return _read_records(path, fmt, _json_records(path), id_column, text_column)
    return _read_records(path, fmt, _table_records(path, "," if fmt == "csv" else "\t"), id_column, text_column)


def _lines(path: Path) -> list[str]:
    try:
        with open_text(path) as f:
            return f.read().splitlines()
    except UnicodeDecodeError as e:
        raise AsrError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def _json_records(path: Path) -> Iterable[tuple[int, dict]]:
    lines = _lines(path)
    stripped = "\n".join(lines).strip()
    if stripped.startswith("["):  # one JSON array of objects
        try:
            rows = json.loads(stripped)
        except json.JSONDecodeError as e:
            raise AsrError(f"{path}: invalid JSON ({e.msg} at line {e.lineno})") from None
        yield from ((i, r) for i, r in enumerate(rows, 1))
        return
    for lineno, line in enumerate(lines, 1):
        if line.strip():
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as e:
                raise AsrError(f"{path}:{lineno}: malformed JSON line ({e.msg}); expected one object per line") from None


def _table_records(path: Path, delimiter: str) -> Iterable[tuple[int, dict]]:
    reader = csv.DictReader(io.StringIO("\n".join(_lines(path))), delimiter=delimiter)
    if not reader.fieldnames:
        raise AsrError(f"{path}: empty table (expected a header row naming the id and text columns)")
    for lineno, row in enumerate(reader, 2):
        yield lineno, row


def _read_records(path: Path, fmt: str, records: Iterable[tuple[int, dict]], id_column: str | None,
                  text_column: str | None) -> Hypotheses:
    texts: dict[str, str] = {}
    confidences: dict[str, float] = {}
    columns = None
    for lineno, row in records:
        if not isinstance(row, dict):
            raise AsrError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
        if columns is None:
            columns = (_column(path, row, id_column, ID_NAMES, "id", "--id-column"),
                       _column(path, row, text_column, TEXT_NAMES, "text", "--text-column"),
                       next((c for c in CONFIDENCE_NAMES if c in row), None))
        key, text = row.get(columns[0]), row.get(columns[1])
        if key is None or str(key).strip() == "":
            raise AsrError(f"{path}:{lineno}: no {columns[0]!r} (the utterance id or audio file)")
        key = str(key).strip()
        if key in texts:
            raise AsrError(f"{path}:{lineno}: duplicate utterance id {key!r}")
        texts[key] = "" if text is None else str(text).strip()
        if columns[2] is not None and isinstance(row.get(columns[2]), (int, float)):
            confidences[key] = float(row[columns[2]])
    if columns is None:
        raise AsrError(f"{path}: hypothesis file is empty")
    return Hypotheses(path, fmt, texts, confidences)


def _column(path: Path, row: dict, given: str | None, names: Sequence[str], what: str, option: str) -> str:
    if given is not None:
        if given not in row:
            raise AsrError(f"{path}: no column {given!r} ({option}); columns: {', '.join(map(str, row))}")
        return given
    found = next((n for n in names if n in row), None)
    if found is None:
        raise AsrError(f"{path}: no {what} column (expected one of {', '.join(names)}, or name it with {option}); "
                       f"columns: {', '.join(map(str, row))}")
    return found


def _read_whisper_dir(path: Path) -> Hypotheses:
    files = sorted(path.rglob("*.json"))
    if not files:
        raise AsrError(f"{path}: no *.json files (expected one Whisper-style {{\"text\": ...}} file per audio file)")
    texts: dict[str, str] = {}
    for file in files:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except UnicodeDecodeError as e:
            raise AsrError(f"{file}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        except json.JSONDecodeError as e:
            raise AsrError(f"{file}: invalid JSON ({e.msg} at line {e.lineno})") from None
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            raise AsrError(f"{file}: expected a JSON object with a \"text\" string (Whisper's output)")
        if file.stem in texts:
            raise AsrError(f"{file}: a second hypothesis for the audio stem {file.stem!r}")
        texts[file.stem] = data["text"].strip()
    return Hypotheses(path, "whisper-json", texts, keys="audio")


# ----------------------------------------------------------------------------- the manifest


class Entry(NamedTuple):
    """What joining needs of a manifest utterance: its id, audio path and start (s)."""

    id: str
    audio: str
    start: float


@dataclass(frozen=True)
class ManifestLines:
    """A manifest read for scoring: each nonblank line as UTF-8 bytes, its line number and its :class:`Entry`.

    The lines are parsed into :class:`~asr.manifest.records.Utterance` s (every check of
    :func:`~asr.manifest.records.parse_utterance`) only where they are scored, in the scoring
    processes: a million-line manifest is read once, in parallel.
    """

    path: Path
    lines: list[bytes]
    linenos: list[int]
    entries: list[Entry]


def read_manifest_lines(path: str | Path) -> ManifestLines:
    """Read ``path`` (``.jsonl`` or ``.jsonl.gz``); a malformed line is the error :func:`parse_utterance` gives."""
    man = Manifest(path)  # a missing file: the manifest's own error
    opener = gzip.open if man.path.suffix == ".gz" else open
    lines, linenos, entries = [], [], []
    with opener(man.path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            lines.append(line)
            linenos.append(lineno)
            entries.append(_entry(line, f"{man.path}:{lineno}"))
    return ManifestLines(man.path, lines, linenos, entries)


def _entry(line: bytes, where: str) -> Entry:
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError:
        row = None
    if type(row) is dict and type(row.get("id")) is str and type(row.get("audio")) is str:
        start = row.get("start", 0.0)
        return Entry(row["id"], row["audio"], start if isinstance(start, (int, float)) else 0.0)
    utt = parse_utterance(line, where)  # raises the manifest's own error for this line
    return Entry(utt.id, utt.audio, utt.start)


# ----------------------------------------------------------------------------- joining


@dataclass(frozen=True)
class Joined:
    """Manifest utterances with their hypothesis text (None: missing) and what did not match."""

    utterances: list[Entry]
    hyps: list[str | None]
    confidences: list[float | None]
    keyed_by: str
    missing: list[str]
    extra: list[str]


def audio_stem(name: str) -> str:
    """``a/b/x.wav`` -> ``x``, for POSIX or Windows paths."""
    stem = PureWindowsPath(name).name if "\\" in name else PurePosixPath(name).name
    return stem.rsplit(".", 1)[0] if "." in stem else stem


def join(utterances: Sequence[Entry | Utterance], hyps: Hypotheses, key: KeyKind = "auto") -> Joined:
    """Match each utterance (anything with ``id``, ``audio``, ``start``) with its hypothesis by id, or by
    audio stem (see the module docstring)."""
    if key == "auto":
        key = "audio" if hyps.keys == "audio" else _guess_key(utterances, hyps)
    if key == "audio":
        index: dict[str, Entry | Utterance] = {}
        for utt in utterances:
            stem = audio_stem(utt.audio) if utt.start == 0 else None
            if stem is None or stem in index:
                raise AsrError(f"utterance {utt.id}: matching hypotheses by audio file needs one utterance per "
                               f"audio file (its audio {utt.audio} is shared or segmented); match by id instead")
            index[stem] = utt
        lookup = {audio_stem(k): k for k in hyps.texts}
        keys = [lookup.get(audio_stem(utt.audio)) for utt in utterances]
        extra = sorted(k for s, k in lookup.items() if s not in index)
    else:
        keys = [utt.id for utt in utterances]
        ids = set(keys)
        extra = sorted(k for k in hyps.texts if k not in ids)
    get = hyps.texts.get
    texts = [get(k) if k is not None else None for k in keys]
    conf = hyps.confidences.get
    confidences = [conf(k) if k is not None else None for k in keys] if hyps.confidences else [None] * len(keys)
    missing = [u.id for u, text in zip(utterances, texts) if text is None]
    return Joined(list(utterances), texts, confidences, key, missing, extra)


def _guess_key(utterances: Sequence[Entry | Utterance], hyps: Hypotheses) -> str:
    ids = {u.id for u in utterances}
    by_id = sum(k in ids for k in hyps.texts)
    if by_id:
        return "id"
    stems = {audio_stem(u.audio) for u in utterances}
    by_audio = sum(audio_stem(k) in stems for k in hyps.texts)
    return "audio" if by_audio else "id"


# ----------------------------------------------------------------------------- scoring


def score_hypotheses(
    manifest: str | Path,
    hypotheses: str | Path,
    output: str | Path,
    fmt: str = "auto",
    key: KeyKind = "auto",
    normalization: Normalization = DEFAULT,
    system: str | None = None,
    extra: Literal["error", "ignore"] = "error",
    id_column: str | None = None,
    text_column: str | None = None,
    jobs: int | None = None,
) -> tuple[Path, dict]:
    """Score another recognizer's hypotheses against ``manifest``; write the results file and its meta.

    ``output`` is the results file to write (``results-<stem>.jsonl``; the meta goes beside it as
    ``results-<stem>.meta.json``). Returns its path and the meta dict. From :data:`PARALLEL_MIN`
    utterances on, the manifest lines are parsed, scored and written out in ``jobs`` processes
    (default: one per core).
    """
    started = time.perf_counter()
    man = read_manifest_lines(manifest)
    if not man.entries:
        raise AsrError(f"{man.path}: manifest has no utterances")
    _check_unique_ids(man.path, man.entries)
    hyps = read_hypotheses(hypotheses, fmt, id_column, text_column)
    if not hyps.texts:
        raise AsrError(f"{hyps.source}: no hypotheses")
    joined = join(man.entries, hyps, key)
    if joined.extra:
        message = (f"{hyps.source}: {len(joined.extra)} hypothesis(es) match no utterance of {man.path} "
                   f"(by {joined.keyed_by}), e.g. {joined.extra[0]!r}")
        if extra == "error":
            raise AsrError(message + "; check the manifest, or pass --extra-hyps ignore to leave them out")
        log.warning("%s; left out", message)
    if len(joined.missing) == len(man.entries):
        raise AsrError(f"{hyps.source}: no hypothesis matches an utterance of {man.path} by {joined.keyed_by} "
                       f"(first hypothesis key {next(iter(hyps.texts))!r}, first utterance {man.entries[0].id!r})")
    if joined.missing:
        log.warning("%d of %d utterance(s) have no hypothesis (e.g. %s); they are scored as all deletions",
                    len(joined.missing), len(man.entries), joined.missing[0])
    blobs, totals = score_lines(man, joined, normalization, jobs)
    output = Path(output)
    meta = {
        "system": system or hyps.source.stem,
        "engine": "external",
        "hypotheses": str(hyps.source),
        "hyp_format": hyps.format,
        "matched_by": joined.keyed_by,
        "manifest": str(man.path),
        "utterances": len(man.entries),
        "missing_hypotheses": len(joined.missing),
        "missing_examples": joined.missing[:10],
        "extra_hypotheses": len(joined.extra),
        "unit": "char",
        "normalization": normalization.describe(),
        **_totals(totals),
        "score_seconds": round(time.perf_counter() - started, 3),
    }
    write_json(meta_path(output), meta)  # the meta first: results never exist without their normalisation
    with atomic_write(output, "wb") as f:
        for blob in blobs:
            f.write(blob)
    return output, meta


def meta_path(results: Path) -> Path:
    """``results-x.jsonl`` -> ``results-x.meta.json``."""
    name = results.name.removesuffix(".gz").removesuffix(".jsonl")
    return results.with_name(name + ".meta.json")


def _check_unique_ids(path: Path, utterances: Sequence[Entry | Utterance]) -> None:
    seen: set[str] = set()
    for utt in utterances:
        if utt.id in seen:
            raise AsrError(f"{path}: duplicate utterance id {utt.id!r}")
        seen.add(utt.id)


def score_lines(man: ManifestLines, joined: Joined, normalization: Normalization = DEFAULT,
                jobs: int | None = None) -> tuple[list[bytes], tuple[int, int, int, int]]:
    """The results lines of the joined manifest, in manifest order (blocks of UTF-8 JSON lines), and the
    summed ``(sub, del, ins, ref_len)``; large sets are parsed and scored on every core."""
    n = len(man.lines)
    jobs = jobs or os.cpu_count() or 1
    chunks = []
    size = -(-n // (4 * jobs)) if jobs > 1 and n >= PARALLEL_MIN else n  # a few chunks per process: balanced
    for i in range(0, n, size):
        chunks.append((str(man.path), man.lines[i:i + size], man.linenos[i:i + size], joined.hyps[i:i + size],
                       joined.confidences[i:i + size], normalization))
    if len(chunks) > 1:
        with ProcessPoolExecutor(jobs) as pool:
            parts = list(pool.map(_score_chunk, chunks))
    else:
        parts = [_score_chunk(c) for c in chunks]
    totals = tuple(sum(p[1][k] for p in parts) for k in range(4))
    return [p[0] for p in parts], totals


def _score_chunk(chunk) -> tuple[bytes, tuple[int, int, int, int]]:
    """Parse, score and serialise one chunk of manifest lines: ``(JSON lines, (sub, del, ins, ref_len))``."""
    path, lines, linenos, hyps, confidences, normalization = chunk
    blocks, block = [], []
    sub = dele = ins = ref_len = 0
    for line, lineno, hyp, conf in zip(lines, linenos, hyps, confidences):
        utt = parse_utterance(line, f"{path}:{lineno}")
        counts = score_pair(utt.text, hyp or "", "char", normalization)
        metadata = {k: v for k, v in utt.metadata().items() if k not in RESULT_FIELDS}
        block.append(orjson.dumps(ResultRow(utt.id, utt.text, hyp or "", counts, "char", conf, metadata).to_json()))
        sub, dele, ins, ref_len = sub + counts.sub, dele + counts.dele, ins + counts.ins, ref_len + counts.ref_len
        if len(block) == 1000:  # joined now: orjson's many small results would keep ~8 kB of heap each
            blocks.append(b"\n".join(block) + b"\n")
            block.clear()
    blocks.append(b"\n".join(block) + b"\n" if block else b"")
    return b"".join(blocks), (sub, dele, ins, ref_len)


def _totals(totals: tuple[int, int, int, int]) -> dict:
    total = EditCounts(*totals)
    return {"cer": round(total.error_rate, 6) if total.ref_len else None, "sub": total.sub, "del": total.dele,
            "ins": total.ins, "ref_len": total.ref_len}
