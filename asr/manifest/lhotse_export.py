"""``asr manifest export-lhotse``: a manifest as lhotse manifests, written with lhotse's own classes.

``export_lhotse("data_manifests/aishell/test.jsonl", "lhotse/")`` writes::

    lhotse/aishell_recordings_test.jsonl.gz      RecordingSet: one Recording per audio file
    lhotse/aishell_supervisions_test.jsonl.gz    SupervisionSet: one SupervisionSegment per utterance
    lhotse/aishell_cuts_test.jsonl.gz            CutSet.from_manifests of the two

(``<corpus>`` is the manifest's directory name unless given, ``<split>`` its file
name), the names lhotse's recipes use, so ``asr prepare lhotse`` reads them back
and ``CutSet.from_file`` loads them.

* Recording: id from the utterances' ``extra["segment"]`` where they share one
  (a Kaldi or lhotse recording id), else the utterance id (one utterance per
  file), else the file's stem (``-2``, ``-3`` ... where taken; see
  :func:`asr.corpus.common.recording_ids`); one source of type ``file``
  with the **absolute** path, so lhotse loads it from any directory. The sample
  rate, length and channel count come from the file's header (``soundfile.info``,
  no samples decoded): a manifest records none of the channel count, nor, for a
  segment, the length of its file, and lhotse needs both. A header rate that
  differs from the manifest's is an error.
* SupervisionSegment: ``id``, ``start``, ``duration``, ``text``, ``speaker`` as
  they are; ``gender`` -> ``gender``, ``locale`` -> ``language``; every channel of
  the file (asr reads files mixed to mono); every other first-class field
  (``accents`` a list, ``phase`` an integer, ``snr_db`` a number) and every
  ``extra`` key into ``custom``, flat. An extra whose name would be read back as
  a field (``age``, ``dialect`` ...) goes into ``custom["asr_extra"]``; an
  utterance whose audio path is absolute in the manifest gets
  ``custom["asr_absolute_audio"] = true``; ``extra["segment"]`` is left out where
  the import puts it back by itself, and written as ``null`` where the import
  would add one the utterance does not have (:func:`asr.corpus.lhotse.names_recording`).
  So ``prepare_lhotse(export_lhotse(m))`` gives back ``m`` field for field (values
  as the importers normalise them), audio paths relative to the manifest's
  directory again where they were.

The other way, a lhotse corpus imported and exported again gives back its
recordings (ids included) and supervisions, except that values come back
normalised (``F`` -> ``female``, ``custom["age"]: 34`` -> ``custom["age_band"]:
"30-39"``), times rounded to 0.1 ms, relative source paths absolute, and alignments
dropped.

Each file is written atomically (``asr.io.write_jsonl``; gzip with mtime 0, so
the output is byte-reproducible); lhotse's ``validate_recordings_and_supervisions``
checks the sets first.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

from asr.corpus.fields import FIELD_NAMES
from asr.corpus.common import recording_ids
from asr.corpus.lhotse import ABSOLUTE_AUDIO_KEY, EXTRA_KEY, import_lhotse, names_recording
from asr.errors import AsrError
from asr.io import write_jsonl
from asr.manifest.records import METADATA_FIELDS, Manifest, Utterance
from asr.manifest.validate import DURATION_TOLERANCE

Hertz = int
#: First-class fields that lhotse's SupervisionSegment holds itself: ``{field: attribute}``.
NATIVE_FIELDS = {"gender": "gender", "locale": "language"}
KINDS = ("recordings", "supervisions", "cuts")


class Header(NamedTuple):
    """What an audio file's header says: rate (Hz), length (samples per channel), channel count."""

    sample_rate: Hertz
    frames: int
    channels: int


def export_lhotse(manifest_path: str | Path, output_dir: str | Path, corpus: str | None = None,
                  jobs: int = 4) -> dict[str, Path]:
    """Write the manifest's RecordingSet, SupervisionSet and CutSet; returns ``{kind: path}``.

    ``corpus``: the ``<corpus>`` part of the file names (default: the manifest's directory name).
    """
    lhotse = import_lhotse()
    manifest = Manifest(manifest_path)
    utts = list(manifest)
    if not utts:
        raise AsrError(f"{manifest.path}: manifest has no utterances")
    audio = {u.id: Path(os.path.abspath(manifest.audio_path(u))) for u in utts}
    headers = read_headers(manifest.path, utts, audio, jobs)
    rec_ids = recording_ids(utts, audio)
    recordings = lhotse.RecordingSet.from_recordings(
        to_recording(rec_ids[path], path, header) for path, header in sorted(headers.items()))
    per_file = Counter(audio.values())
    supervisions = lhotse.SupervisionSet.from_segments(
        to_supervision(u, rec_ids[audio[u.id]], headers[audio[u.id]], per_file[audio[u.id]], audio[u.id])
        for u in utts)
    try:
        lhotse.validate_recordings_and_supervisions(recordings, supervisions)
    except AssertionError as e:
        raise AsrError(f"{manifest.path}: lhotse refuses the export: {e}") from None
    cuts = lhotse.CutSet.from_manifests(recordings=recordings, supervisions=supervisions)

    corpus = corpus or manifest.path.absolute().parent.name
    split = manifest.path.name.removesuffix(".gz").removesuffix(".jsonl")
    written = {}
    for kind, items in zip(KINDS, (recordings, supervisions, cuts)):
        path = Path(output_dir) / f"{corpus}_{kind}_{split}.jsonl.gz"
        write_jsonl(path, (item.to_dict() for item in items))
        written[kind] = path
    return written


def read_headers(manifest_path: Path, utts: list[Utterance], audio: dict[str, Path],
                 jobs: int = 4) -> dict[Path, Header]:
    """Each audio file's :class:`Header`, read once; a missing file or a rate other than the
    manifest's is an :class:`AsrError` naming the utterance."""
    import soundfile as sf

    def probe(path: Path) -> Header | str:
        try:
            info = sf.info(str(path))
        except Exception as e:  # soundfile raises LibsndfileError / RuntimeError for any bad file
            return f"{path}: not a readable audio file ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
        return Header(int(info.samplerate), int(info.frames), int(info.channels))

    paths = sorted(set(audio.values()))
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        headers = dict(zip(paths, pool.map(probe, paths)))
    for u in utts:
        header = headers[audio[u.id]]
        if isinstance(header, str):
            raise AsrError(f"{manifest_path}: utterance {u.id}: {header}")
        if header.sample_rate != u.sample_rate:
            raise AsrError(f"{manifest_path}: utterance {u.id}: the manifest says {u.sample_rate} Hz but "
                           f"{audio[u.id]} is {header.sample_rate} Hz")
    return headers


def to_recording(rec_id: str, path: Path, header: Header):
    """A lhotse ``Recording`` of one whole audio file, from its header (no samples read)."""
    lhotse = import_lhotse()
    channels = list(range(header.channels))
    source = lhotse.AudioSource(type="file", channels=channels, source=str(path))
    return lhotse.Recording(id=rec_id, sources=[source], sampling_rate=header.sample_rate,
                            num_samples=header.frames, duration=header.frames / header.sample_rate,
                            channel_ids=channels)


def to_supervision(u: Utterance, rec_id: str, header: Header, utterances_of_file: int, path: Path):
    """A lhotse ``SupervisionSegment`` of one utterance, on every channel of its file."""
    lhotse = import_lhotse()
    partial_from_0 = u.start == 0 and u.duration < header.frames / header.sample_rate - DURATION_TOLERANCE
    named = names_recording(rec_id, u.id, path, utterances_of_file, partial_from_0)
    return lhotse.SupervisionSegment(
        id=u.id, recording_id=rec_id, start=u.start, duration=u.duration,
        channel=0 if header.channels == 1 else list(range(header.channels)), text=u.text, speaker=u.speaker,
        gender=u.gender, language=u.locale, custom=supervision_custom(u, rec_id if named else None) or None,
    )


def supervision_custom(u: Utterance, named_recording: str | None = None) -> dict[str, Any]:
    """Everything of ``u`` that a SupervisionSegment has no attribute for (see the module docstring).

    ``named_recording``: the recording id the import will put into ``extra["segment"]`` by
    itself (:func:`asr.corpus.lhotse.names_recording`); ``custom["segment"]`` is left out where it
    is that id, and is ``null`` where the utterance has none.
    """
    custom: dict[str, Any] = {name: getattr(u, name) for name in METADATA_FIELDS
                              if name not in NATIVE_FIELDS and getattr(u, name) is not None}
    extra = dict(u.extra)
    if named_recording is not None and "segment" not in extra:
        extra["segment"] = None  # the import would add one: null says there is none
    elif named_recording is not None and extra["segment"] == named_recording:
        del extra["segment"]  # the import adds it back
    for key, value in extra.items():
        if key in FIELD_NAMES or key in (ABSOLUTE_AUDIO_KEY, EXTRA_KEY):
            custom.setdefault(EXTRA_KEY, {})[key] = value
        else:
            custom[key] = value
    if Path(u.audio).is_absolute():
        custom[ABSOLUTE_AUDIO_KEY] = True
    return custom
