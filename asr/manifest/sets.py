"""A recipe's stage 1: check every prepared manifest, then form the train and dev sets.

:func:`form_sets` is what ``asr manifest sets`` runs: it validates each manifest (every problem,
named by utterance), prints hours, utterances and speakers per group, then writes the train set
(the parts merged into ``<data_dir>/<train>.jsonl``, or split into ``<data_dir>/<train>/shard-*.jsonl.gz``
of about equal hours) and the dev set (its parts merged into ``<data_dir>/<dev>.jsonl``). A set
that is a single manifest of that name already is left as it is.
"""

from __future__ import annotations

import glob
import sys
from pathlib import Path
from typing import Sequence

from asr.errors import AsrError
from asr.manifest.shards import WrittenManifest, merge_manifests, shard_manifests
from asr.manifest.validate import manifest_stats, validate_manifest


def resolve_parts(data_dir: str | Path, names: Sequence[str], what: str) -> list[Path]:
    """The manifests ``<data_dir>/<name>.jsonl`` of ``names`` (globs allowed: ``train_phase*``), in order."""
    found: list[Path] = []
    for name in names:
        pattern = str(Path(data_dir) / f"{name}.jsonl")
        matched = sorted(glob.glob(pattern))
        if not matched:
            raise AsrError(f"nothing matches {pattern} ({what}: a manifest written by asr prepare)")
        found += [Path(m) for m in matched]
    return found


def expand_globs(patterns: Sequence[str | Path], what: str = "manifest") -> list[str]:
    """Each pattern with glob characters (``shard-*.jsonl.gz``) replaced by its matches, sorted; plain
    paths pass through as they are (a missing one is reported by whoever opens it)."""
    out: list[str] = []
    for pattern in map(str, patterns):
        if not glob.has_magic(pattern):
            out.append(pattern)
            continue
        matched = sorted(glob.glob(pattern))
        if not matched:
            raise AsrError(f"nothing matches {pattern} ({what})")
        out += matched
    return out


def check_manifests(paths: Sequence[Path], check_audio: bool = True) -> None:
    """Validate each manifest, printing ``ok`` or every problem; one :class:`AsrError` if any failed."""
    failed = 0
    for path in paths:
        problems = validate_manifest(path, check_audio=check_audio)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            failed += 1
            print(f"{path}: {len(problems)} problem(s)", file=sys.stderr)
        else:
            print(f"{path}: ok")
    if failed:
        raise AsrError(f"{failed} of {len(paths)} manifest(s) failed validation")


def print_stats(paths: Sequence[Path], by: Sequence[str] | None) -> None:
    """Hours, utterances and speakers per group of each manifest, as text tables."""
    for path in paths:
        print(f"== {path}")
        print(manifest_stats(path, list(by) if by else None).to_string(float_format=lambda x: f"{x:.3f}"))


def form_sets(
    data_dir: str | Path,
    train: str,
    dev: str,
    tests: Sequence[str],
    train_parts: Sequence[str] | None = None,
    dev_parts: Sequence[str] | None = None,
    num_shards: int = 0,
    check_audio: bool = True,
    stats_by: Sequence[str] | None = None,
) -> list[WrittenManifest]:
    """Stage 1 (see the module docstring); returns what was written (nothing when the sets exist as they are)."""
    data_dir = Path(data_dir)
    if num_shards < 0:
        raise AsrError(f"--num-shards must be >= 0, got {num_shards}")
    train_in = resolve_parts(data_dir, train_parts or [train], "the train set's parts")
    dev_in = resolve_parts(data_dir, dev_parts or [dev], "the dev set's parts")
    test_in = resolve_parts(data_dir, tests, "the test sets")
    everything = [*train_in, *dev_in, *test_in]
    check_manifests(everything, check_audio)
    print_stats(everything, stats_by)
    written = []
    if num_shards > 0:
        written += shard_manifests(train_in, data_dir / train, num_shards)
    elif train_in != [data_dir / f"{train}.jsonl"]:
        written.append(merge_manifests(train_in, data_dir / f"{train}.jsonl"))
    if dev_in != [data_dir / f"{dev}.jsonl"]:
        written.append(merge_manifests(dev_in, data_dir / f"{dev}.jsonl"))
    for info in written:
        print(f"{info.path}: {info.utterances} utterances, {info.hours:.3f} h")
    return written
