"""lhotse manifests (RecordingSet + SupervisionSet, or CutSet) as asr manifests.

Layout read (what lhotse's recipes write, e.g. ``lhotse prepare aishell``)::

    <corpus_dir>/<corpus>_recordings_<split>.jsonl.gz      a RecordingSet
    <corpus_dir>/<corpus>_supervisions_<split>.jsonl.gz    its SupervisionSet
    <corpus_dir>/<corpus>_cuts_<split>.jsonl.gz            or a CutSet instead of the two

``.jsonl`` (uncompressed) is read too. Files of one ``<corpus>`` and ``<split>`` go
together; a split's files of several corpora (``cv-zh-CN_..._train``,
``cv-zh-HK_..._train``) merge into one manifest, ``<output_dir>/<split>.jsonl``.
Files without ``_<split>`` (``recordings.jsonl.gz``) are named by ``--split``
(default ``train``), or skipped beside files with one (``musan_cuts.jsonl.gz``
beside ``aishell_cuts_train.jsonl.gz`` in an icefall ``data/fbank``). Where both
the recordings and supervisions and a CutSet of one corpus and split are
present, the former are read. Other files are ignored.

One asr utterance per supervision: its ``id``, ``text`` and ``speaker``, and
``start`` and ``duration`` within its recording (a supervision in a cut is placed
at the cut's ``start`` plus its own offset; the cut's own ``custom`` is not read,
and a supervision that several cuts share, as after windowing, is a duplicate id).
A supervision without a speaker is refused: the audit's bootstrap resamples speakers.

Metadata:

* ``gender`` -> ``gender`` (normalised: ``F`` -> ``female`` ...);
* ``language`` -> ``locale``, verbatim: it is the corpus's language tag
  (``zh-CN``, ``Chinese``, ``yue``), not a dialect label, so ``dialect`` is set
  only by a ``custom["dialect"]``;
* each ``custom`` key named like a first-class manifest field (``dialect``,
  ``accent``, ``accents``, ``age_band``, ``city``, ``phase``, ``snr_db`` ...) or
  an alias of one (``age``, ``subdialect``, ``snr``; as in ``asr prepare kaldi``)
  fills that field, its value normalised as every importer does
  (:mod:`asr.corpus.common`; ages in years and Common Voice's decade labels
  become bands, ``accents`` is a list or a ``|``-separated string); every other
  key goes into ``extra`` with its JSON value as it is.

Audio: each recording's ``sources`` must be of type ``file`` (a relative path is
resolved against ``--audio-root``, else the current directory, lhotse's
convention, else ``corpus_dir``); ``url``, ``command``, ``memory`` and the other
types, and recordings with ``transforms`` (speed perturbation, resampling), are
refused naming the recording: asr reads audio files as they are.
Multi-channel: asr reads every channel of a file and averages them to mono, so a
supervision must cover all the channels of one file: all of a single-source
recording's channels, or exactly the channels of one of its sources (one file
per channel). A supervision on some channels of a multi-channel file (one side
of a telephone call) is refused; split the channels into files first.
An utterance gets its recording's id in ``extra["segment"]`` (as ``asr prepare
kaldi`` does) where that id is not the one ``asr manifest export-lhotse`` would
give the recording anyway (:func:`default_recording_id`: the utterance's id for
a file of one utterance, else the file's stem), and where it starts at 0 without
covering the whole recording, so that ``asr manifest validate`` knows it is a
segment (:func:`names_recording`). A ``custom["segment"]`` is kept as it is (a
``null`` one, written by the export, means: none).

The export (``asr manifest export-lhotse``, :mod:`asr.manifest.lhotse_export`)
writes these same files; importing them gives back the manifest it started from.
lhotse is an optional dependency: ``pip install 'zh-dialect-asr[interop]'``.
"""

from __future__ import annotations

import argparse
import logging
import re
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Iterator, NamedTuple

from asr.corpus.common import (
    DEFAULT_SPLIT,
    Source,
    add_common_arguments,
    build_utterances,
    existing_dir,
    print_written,
    resolve_audio,
    select_splits,
    single_split_name,
    write_splits,
)
from asr.corpus.fields import split_metadata
from asr.errors import AsrError
from asr.manifest.validate import DURATION_TOLERANCE

NAME = "lhotse"
HELP = "import lhotse manifests (<corpus>_recordings_<split> + _supervisions_<split>, or _cuts_<split>)"
INSTALL_HINT = "pip install 'zh-dialect-asr[interop]'"
#: ``custom`` key of an exported supervision whose manifest audio path was absolute.
ABSOLUTE_AUDIO_KEY = "asr_absolute_audio"
#: ``custom`` key holding the extras whose names would be read back as first-class fields.
EXTRA_KEY = "asr_extra"

_MANIFEST_FILE = re.compile(
    r"^(?:(?P<corpus>.+?)_)?(?P<kind>recordings|supervisions|cuts)(?:_(?P<split>.+?))?\.jsonl(?:\.gz)?$")

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, NAME, "a directory of lhotse manifests (*_recordings_*.jsonl.gz ...)")
    parser.add_argument("--split", default=None,
                        help="comma-separated splits to import (default: all); manifests without a split in "
                             f"their file names are imported as this one split (default: {DEFAULT_SPLIT})")
    parser.add_argument("--audio-root", default=None,
                        help="directory that relative audio source paths are relative to (default: the current "
                             "directory, then the corpus dir)")


def run(args: argparse.Namespace) -> int:
    splits = args.split.split(",") if args.split else None
    written = prepare_lhotse(args.corpus_dir, args.output_dir, splits=splits, audio_root=args.audio_root,
                             jobs=args.jobs)
    print_written(written)
    return 0


def import_lhotse():
    """The ``lhotse`` module, or an :class:`AsrError` saying how to install it.

    lhotse is optional (the ``interop`` extra) and slow to import, so only the
    functions that read or write its manifests import it.
    """
    try:
        import lhotse
    except ImportError:
        raise AsrError(f"lhotse is not installed (needed to read and write lhotse manifests): {INSTALL_HINT}") \
            from None
    return lhotse


def prepare_lhotse(
    corpus_dir: str | Path,
    output_dir: str | Path,
    splits: list[str] | None = None,
    audio_root: str | Path | None = None,
    jobs: int = 4,
) -> dict[str, Path]:
    """One manifest per split found in ``corpus_dir``; everything is checked before anything is written.

    ``splits``: the splits to import (default: all); for files without a split, the
    one name they are imported under. Returns ``{split: manifest path}``.
    """
    corpus_dir = existing_dir(corpus_dir, "a directory of lhotse manifests")
    import_lhotse()
    parts = find_manifests(corpus_dir, splits)
    out = {}
    for split, files in parts.items():
        items: list[Imported] = []
        for kinds in files:
            read = _read_cuts if "recordings" not in kinds else _read_recordings_and_supervisions
            items.extend(read(kinds, corpus_dir, audio_root))
        if not items:
            names = ", ".join(path.name for kinds in files for path in kinds.values())
            raise AsrError(f"{corpus_dir}: split {split}: no supervisions in {names}")
        utterances = build_utterances(name_recordings(items), output_dir, jobs)
        audio = {i.source.id: str(i.source.audio) for i in items if i.absolute}
        out[split] = [replace(u, audio=audio[u.id]) if u.id in audio else u for u in utterances]
    return write_splits(output_dir, out, NAME)


class Imported(NamedTuple):
    """One supervision read: its :class:`Source`, its lhotse recording's id, whether it covers that
    whole recording from 0, and whether its audio path is to stay absolute in the manifest."""

    source: Source
    recording: str
    whole: bool
    absolute: bool


def name_recordings(items: list[Imported]) -> list[Source]:
    """The sources, ``extra["segment"]`` set where :func:`names_recording` says (see the module docstring)."""
    per_file = Counter(item.source.audio for item in items)
    sources = []
    for item in items:
        src = item.source
        if "segment" in src.extra and src.extra["segment"] is None:
            src = replace(src, extra={k: v for k, v in src.extra.items() if k != "segment"})
        elif "segment" not in src.extra and names_recording(item.recording, src.id, src.audio, per_file[src.audio],
                                                            src.start == 0 and not item.whole):
            src = replace(src, extra={**src.extra, "segment": item.recording})
        sources.append(src)
    return sources


def names_recording(recording: str, utt_id: str, audio: Path, utterances_of_file: int, partial_from_0: bool) -> bool:
    """Whether an imported utterance gets ``extra["segment"] = recording``: where ``recording`` is not
    :func:`default_recording_id`, or the utterance starts at 0 and ends before its recording does."""
    return partial_from_0 or recording != default_recording_id(utt_id, audio, utterances_of_file)


def default_recording_id(utt_id: str, audio: Path, utterances_of_file: int) -> str:
    """The recording id of an audio file whose utterances name none: the utterance's id if it is the
    file's only one, else the file's stem."""
    return utt_id if utterances_of_file == 1 else audio.stem


def find_manifests(corpus_dir: Path, splits: list[str] | None = None) -> dict[str, list[dict[str, Path]]]:
    """``{split: [{"recordings": path, "supervisions": path} or {"cuts": path}, one per corpus]}``.

    A recordings file without its supervisions (or the reverse) is an :class:`AsrError`.
    """
    found: dict[tuple[str, str | None], dict[str, Path]] = defaultdict(dict)
    for path in sorted(corpus_dir.iterdir()):
        match = _MANIFEST_FILE.match(path.name)
        if match and path.is_file():
            key = (match["corpus"] or "", match["split"])
            if match["kind"] in found[key]:
                raise AsrError(f"{path}: a second {match['kind']} file for the same corpus and split "
                               f"(first: {found[key][match['kind']].name}); keep one of .jsonl and .jsonl.gz")
            found[key][match["kind"]] = path
    if not found:
        raise AsrError(f"{corpus_dir}: no lhotse manifests (expected <corpus>_recordings_<split>.jsonl.gz with "
                       f"<corpus>_supervisions_<split>.jsonl.gz, or <corpus>_cuts_<split>.jsonl.gz)")
    unsplit = [path.name for (_, split), kinds in found.items() if split is None for path in kinds.values()]
    if unsplit and len(unsplit) < sum(len(kinds) for kinds in found.values()):
        log.warning("lhotse: %s skipped: no split in the name, beside manifests with one (icefall's musan_cuts...)",
                    ", ".join(unsplit))
        found = {key: kinds for key, kinds in found.items() if key[1] is not None}
    if all(split is None for _, split in found):
        name = single_split_name(splits, str(corpus_dir))
        found = {(corpus, name): kinds for (corpus, _), kinds in found.items()}
    chosen = select_splits(sorted({split for _, split in found}), splits, str(corpus_dir))
    out: dict[str, list[dict[str, Path]]] = defaultdict(list)
    for (corpus, split), kinds in sorted(found.items()):
        if split in chosen:
            out[split].append(_pair(corpus_dir, corpus, split, kinds))
    return dict(out)


def _pair(corpus_dir: Path, corpus: str, split: str, kinds: dict[str, Path]) -> dict[str, Path]:
    if "recordings" in kinds and "supervisions" in kinds:
        if "cuts" in kinds:
            log.info("lhotse %s: reading %s and %s, not %s", split, kinds["recordings"].name,
                     kinds["supervisions"].name, kinds["cuts"].name)
        return {"recordings": kinds["recordings"], "supervisions": kinds["supervisions"]}
    if "cuts" in kinds:
        return {"cuts": kinds["cuts"]}
    have, lacking = ("recordings", "supervisions") if "recordings" in kinds else ("supervisions", "recordings")
    prefix = f"{corpus}_" if corpus else ""
    raise AsrError(f"{kinds[have]}: {have} without {lacking} (expected {corpus_dir}/{prefix}{lacking}_{split}"
                   f".jsonl.gz beside it, or a cuts file)")


def _load(path: Path, kind: str):
    """A lhotse ``RecordingSet``, ``SupervisionSet`` or ``CutSet`` read with lhotse itself."""
    lhotse = import_lhotse()
    cls = {"recordings": lhotse.RecordingSet, "supervisions": lhotse.SupervisionSet, "cuts": lhotse.CutSet}[kind]
    try:
        loaded = cls.from_file(path)  # None for an empty file
        return cls.from_items([]) if loaded is None else loaded.to_eager()
    except Exception as e:  # lhotse raises KeyError, TypeError, ValueError, JSONDecodeError... for a bad file
        raise AsrError(f"{path}: not a lhotse {cls.__name__} ({type(e).__name__}: {e})") from e


def _read_recordings_and_supervisions(files: dict[str, Path], corpus_dir: Path,
                                      audio_root: str | Path | None) -> Iterator[Imported]:
    recordings = _load(files["recordings"], "recordings")
    for sup in _load(files["supervisions"], "supervisions"):
        where = f"{files['supervisions']}: supervision {sup.id}"
        if sup.recording_id not in recordings:
            raise AsrError(f"{where}: recording {sup.recording_id!r} is not in {files['recordings']}")
        yield to_source(recordings[sup.recording_id], sup, sup.start, where, corpus_dir, audio_root)


def _read_cuts(files: dict[str, Path], corpus_dir: Path,
               audio_root: str | Path | None) -> Iterator[Imported]:
    lhotse = import_lhotse()
    for cut in _load(files["cuts"], "cuts"):
        where = f"{files['cuts']}: cut {cut.id}"
        if not isinstance(cut, (lhotse.cut.MonoCut, lhotse.cut.MultiCut)) or cut.recording is None:
            raise AsrError(f"{where}: a {type(cut).__name__} without one recording (expected cuts of single "
                           f"recordings, as CutSet.from_manifests makes; mixed and padding cuts have no audio file)")
        for sup in cut.supervisions:
            yield to_source(cut.recording, sup, cut.start + sup.start, f"{where}: supervision {sup.id}",
                            corpus_dir, audio_root)


def to_source(recording, supervision, start: float, where: str, corpus_dir: Path,
              audio_root: str | Path | None) -> Imported:
    """One lhotse supervision as a :class:`Source`, with what :func:`name_recordings` needs.

    ``start``: seconds from the beginning of the recording.
    """
    if not supervision.speaker:
        raise AsrError(f"{where}: no speaker (expected one: the audit's bootstrap resamples speakers)")
    audio = _audio_file(recording, supervision, where, corpus_dir, audio_root)
    custom = dict(supervision.custom or {})
    is_absolute = bool(custom.pop(ABSOLUTE_AUDIO_KEY, False))
    kept_extra = custom.pop(EXTRA_KEY, {})
    native = {"gender": supervision.gender, "locale": supervision.language}
    fields, extra = split_metadata(custom, where, preset=native)
    extra.update(kept_extra)
    source = Source(id=supervision.id, audio=audio, text=supervision.text or "", speaker=supervision.speaker,
                    start=float(start), end=start + supervision.duration, fields=fields, extra=extra, where=where)
    whole = start == 0 and supervision.duration >= recording.duration - DURATION_TOLERANCE
    return Imported(source, recording.id, whole, is_absolute)


def _audio_file(recording, supervision, where: str, corpus_dir: Path, audio_root: str | Path | None) -> Path:
    """The audio file holding exactly the supervision's channels (see the module docstring)."""
    for source in recording.sources:
        if source.type != "file":
            raise AsrError(f"{where}: recording {recording.id} has an audio source of type {source.type!r} "
                           f"(expected type 'file', an audio file path; write the audio out to files first)")
    if recording.transforms:
        names = ", ".join(type(t).__name__ if not isinstance(t, dict) else t.get("name", "?")
                          for t in recording.transforms)
        raise AsrError(f"{where}: recording {recording.id} has transforms ({names}); asr reads audio files as "
                       f"they are (expected a recording without transforms)")
    channel = supervision.channel
    wanted = set(channel) if isinstance(channel, list) else {channel}
    if len(recording.sources) == 1 and wanted == set(recording.channel_ids):
        chosen = recording.sources[0]
    else:
        matching = [s for s in recording.sources if set(s.channels) == wanted]
        if len(matching) != 1:
            raise AsrError(
                f"{where}: channel(s) {sorted(wanted)} of recording {recording.id}, which has channels "
                f"{recording.channel_ids} in {len(recording.sources)} file(s); asr averages all the channels of a "
                f"file, so a supervision must cover one whole file (split the channels into files first)")
        chosen = matching[0]
    return resolve_audio(chosen.source, corpus_dir, audio_root)
