"""Merge manifests into one, or split them into gzip shards of about equal hours.

A 1,000-hour corpus has about a million utterances; its training set is kept as
``<dir>/shard-00000.jsonl.gz ... shard-<N-1>.jsonl.gz`` (icefall and lhotse split
their large corpora the same way), which training reads as several manifests.

>>> shard_manifests(["train_phase1.jsonl", "train_phase2.jsonl"], "train", num_shards=16)  # doctest: +SKIP
>>> merge_manifests(["dev_phase1.jsonl", "dev_phase2.jsonl"], "dev.jsonl")                # doctest: +SKIP

Both stream: every input is read twice (once to check it and sum its hours, once to
write), never held in memory, and nothing is written unless every input is valid and
every utterance id is unique across the inputs. Relative audio paths are rebased onto
the output's directory (absolute ones are kept), so a shard in a subdirectory still
points at the same files. Outputs are gzip with mtime 0: the same inputs give the same
bytes. Shards hold consecutive utterances in input order (importers sort by id, so a
speaker's utterances stay together).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from asr.errors import AsrError
from asr.io import atomic_write
from asr.manifest.records import Manifest, Seconds, Utterance

#: File name of shard ``i`` in a shard directory.
SHARD_PATTERN = "shard-{:05d}.jsonl.gz"
_SHARD_RE = re.compile(r"^shard-(\d{5,})\.jsonl\.gz$")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WrittenManifest:
    """One manifest written: where, how many utterances and seconds of audio."""

    path: Path
    utterances: int
    seconds: Seconds

    @property
    def hours(self) -> float:
        return self.seconds / 3600


def shard_paths(directory: str | Path) -> list[Path]:
    """The shards of a shard directory in index order (``[]`` if there are none)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _SHARD_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def shard_manifests(inputs: Sequence[str | Path], output_dir: str | Path, num_shards: int) -> list[WrittenManifest]:
    """Split the utterances of ``inputs`` (in order) into ``num_shards`` gzip shards of about equal hours.

    Writes ``<output_dir>/shard-00000.jsonl.gz`` ...; with fewer utterances than
    ``num_shards`` (a small corpus, a test), one shard per utterance. Shards of an earlier
    run beyond those written are removed. Raises :class:`AsrError` for an invalid input
    line or a duplicate id.
    """
    if num_shards < 1:
        raise AsrError(f"--num-shards must be at least 1, got {num_shards}")
    durations = _check(inputs)
    if len(durations) < num_shards:
        log.info("%d utterances: writing %d shards instead of %d", len(durations), len(durations), num_shards)
        num_shards = len(durations)
    bounds = _equal_hours_bounds(durations, num_shards)
    output_dir = Path(output_dir)
    stream = _rebased(inputs, output_dir)
    written = []
    for index, (start, stop) in enumerate(zip(bounds, bounds[1:])):
        path = output_dir / SHARD_PATTERN.format(index)
        written.append(_write(path, itertools.islice(stream, stop - start), stop - start))
    for stale in shard_paths(output_dir)[num_shards:]:
        stale.unlink()
    return written


def merge_manifests(inputs: Sequence[str | Path], output: str | Path) -> WrittenManifest:
    """Concatenate ``inputs`` into one manifest ``output`` (``.jsonl`` or ``.jsonl.gz``).

    Raises :class:`AsrError` for an invalid input line or an id found twice.
    """
    durations = _check(inputs)
    output = Path(output)
    if any(Path(p).absolute() == output.absolute() for p in inputs):
        raise AsrError(f"{output}: the output is also an input; write the merged manifest elsewhere")
    return _write(output, _rebased(inputs, output.parent), len(durations))


def _check(inputs: Sequence[str | Path]) -> list[Seconds]:
    """Every utterance's duration, in order, after checking each line and the ids' uniqueness."""
    if not inputs:
        raise AsrError("no input manifests given")
    first_seen: dict[str, int] = {}
    durations: list[Seconds] = []
    for index, path in enumerate(inputs):
        for utt in Manifest(path):
            earlier = first_seen.get(utt.id)
            if earlier is not None:
                where = "earlier in the same file" if earlier == index else f"also in {inputs[earlier]}"
                raise AsrError(f"{path}: duplicate utterance id {utt.id!r} ({where}); ids must be unique across inputs")
            first_seen[utt.id] = index
            durations.append(utt.duration)
    if not durations:
        raise AsrError(f"{', '.join(map(str, inputs))}: no utterances to write")
    return durations


def _equal_hours_bounds(durations: list[Seconds], num_shards: int) -> list[int]:
    """Start indices of ``num_shards`` consecutive runs of about equal total duration, plus the end.

    Utterance ``i`` goes to shard ``floor(midpoint_i / (total / num_shards))``; if that
    leaves a shard empty (a few very long utterances), runs of equal counts are used.
    """
    total = sum(durations)
    counts = [0] * num_shards
    if total > 0:
        elapsed = 0.0
        for d in durations:
            counts[min(num_shards - 1, int((elapsed + d / 2) * num_shards / total))] += 1
            elapsed += d
    if min(counts) == 0:
        base, extra = divmod(len(durations), num_shards)
        counts = [base + (i < extra) for i in range(num_shards)]
    bounds = [0]
    for c in counts:
        bounds.append(bounds[-1] + c)
    return bounds


def _rebased(inputs: Sequence[str | Path], output_dir: Path) -> Iterator[Utterance]:
    """The utterances of ``inputs`` in order, relative audio paths made relative to ``output_dir``."""
    target = output_dir.absolute()
    for path in inputs:
        manifest = Manifest(path)
        same_dir = manifest.root.absolute() == target
        for utt in manifest:
            if not same_dir and not Path(utt.audio).is_absolute():
                audio = os.path.relpath(manifest.audio_path(utt).absolute(), target)
                utt = dataclasses.replace(utt, audio=Path(audio).as_posix())
            yield utt


def _write(path: Path, utterances: Iterator[Utterance], expected: int) -> WrittenManifest:
    count, seconds = 0, 0.0
    with atomic_write(path) as f:
        for utt in utterances:
            f.write(json.dumps(utt.to_json(), ensure_ascii=False))
            f.write("\n")
            count += 1
            seconds += utt.duration
        if count != expected:  # an input changed between the two passes
            raise AsrError(f"{path}: expected {expected} utterances, read {count}; did an input change while writing?")
    return WrittenManifest(path, count, seconds)
