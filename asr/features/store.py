"""Features computed once and stored in shards on disk, with a feature manifest pointing into them.

Layout written by :func:`extract_features` for ``<split>.jsonl`` into ``<output_dir>``::

    <output_dir>/features.yaml                  resolved FeatureConfig (Kaldi option names)
    <output_dir>/cmvn.json                      global CMVN (mean, std) when asked, from the train split
    <output_dir>/<split>.jsonl                  one FeatureRecord per line, written last
    <output_dir>/<split>/shard-00000.safetensors  one (num_frames, dim) tensor per utterance, keyed by id
    <output_dir>/<split>/shard-00000.done       JSON: config digest, ids, frames, CMVN sums of the shard

Shards hold ``shard_size`` consecutive utterances of the manifest, as ``config.storage_dtype``:
float32 by default (bit-identical to :func:`~asr.features.frontend.compute_features` on the fly);
float16 halves the disk at a rounding error of at most ~0.016 on log-mel values (< 32).

Resumable and atomic: a shard is written to a temporary file and renamed, then its ``.done``
marker is written the same way. A rerun reuses every shard whose marker names the same
config digest, the same utterances (ids and records) and the shard's byte size, and computes
the rest; the feature manifest is written only when every shard is complete.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import multiprocessing
import os
import re
import sys
from collections import OrderedDict
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import torch

from asr.config import load_yaml, to_dict
from asr.errors import AsrError
from asr.audio import read_audio, resample
from asr.features.frontend import Cmvn, CmvnStats, FeatureConfig, compute_features
from asr.io import atomic_write, canonical_safetensors, die_with_parent, open_text, write_json, write_jsonl
from asr.io import progress as progress_bar
from asr.manifest.records import Manifest, Utterance, parse_utterance

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

DEFAULT_SHARD_SIZE = 500
CONFIG_FILE = "features.yaml"
CMVN_FILE = "cmvn.json"
_SHARD_RE = re.compile(r"^shard-(\d{5,})\.(safetensors|done)$")
_TEMP_RE = re.compile(r"^\.shard-\d{5,}\.(safetensors|done)\..*\.tmp$")  # left by a killed run


@dataclass(frozen=True)
class FeatureRecord:
    """One line of a feature manifest: the utterance, where its features are, how many frames.

    ``utterance.audio`` is relative to the feature manifest's directory; ``shard`` is absolute.
    """

    utterance: Utterance
    shard: Path
    num_frames: int

    @property
    def id(self) -> str:
        return self.utterance.id


def read_feature_manifest(path: str | Path) -> list[FeatureRecord]:
    """All records of a feature manifest (``<output_dir>/<split>.jsonl``), in file order."""
    path = Path(path)
    if not path.is_file():
        raise AsrError(f"{path}: feature manifest not found (run `asr features`)")
    root = path.parent.absolute()
    records = []
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                row = json.loads(line)
                shard, frames = row.pop("shard"), row.pop("num_frames")
            except (json.JSONDecodeError, AttributeError, KeyError) as e:
                raise AsrError(f"{where}: expected a JSON utterance with 'shard' and 'num_frames' ({e})") from None
            if not isinstance(shard, str) or isinstance(frames, bool) or not isinstance(frames, int) or frames < 0:
                raise AsrError(f"{where}: 'shard' must be a path and 'num_frames' a non-negative integer")
            records.append(FeatureRecord(parse_utterance(json.dumps(row), where), root / shard, frames))
    return records


class FeatureReader:
    """Reads stored features: ``reader.read(record) -> (num_frames, dim)`` float32 Tensor.

    Shards are opened lazily with :func:`safetensors.safe_open` (memory-mapped) and the
    ``max_open`` most recently used handles are kept. Create one reader per process (e.g. per
    DataLoader worker): handles are not shared across processes.
    """

    def __init__(self, max_open: int = 64):
        self.max_open = max_open
        self._handles: OrderedDict[Path, object] = OrderedDict()

    def read(self, record: FeatureRecord) -> torch.Tensor:
        handle = self._open(record.shard, record.id)
        try:
            features = handle.get_tensor(record.id)
        except Exception as e:  # safetensors raises SafetensorError for a missing key
            raise AsrError(f"{record.shard}: no features for utterance {record.id} (rerun asr features)") from e
        if features.shape[0] != record.num_frames:
            raise AsrError(f"{record.shard}: utterance {record.id} has {features.shape[0]} frames, "
                           f"the feature manifest says {record.num_frames} (rerun asr features)")
        return features.float()

    def _open(self, shard: Path, utt_id: str):
        if shard in self._handles:
            self._handles.move_to_end(shard)
            return self._handles[shard]
        from safetensors import safe_open

        if not shard.is_file():
            raise AsrError(f"{shard}: feature shard not found for utterance {utt_id} (rerun asr features)")
        try:
            handle = safe_open(str(shard), framework="pt")
        except Exception as e:
            raise AsrError(f"{shard}: not a readable safetensors shard ({e})") from e
        self._handles[shard] = handle
        if len(self._handles) > self.max_open:
            self._handles.popitem(last=False)
        return handle

    def close(self) -> None:
        self._handles.clear()

    def __enter__(self) -> FeatureReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ----------------------------------------------------------------------------- extraction


@dataclass(frozen=True)
class ExtractionResult:
    """What :func:`extract_features` wrote: the feature manifest and which shards it computed."""

    manifest: Path
    num_utterances: int
    num_frames: int
    computed_shards: tuple[int, ...]
    reused_shards: tuple[int, ...]
    cmvn: Cmvn | None = None


@dataclass(frozen=True)
class _Shard:
    """The work of one shard: its files and its utterances (audio paths absolute)."""

    index: int
    path: Path
    utterances: tuple[Utterance, ...]
    config: FeatureConfig

    @property
    def done_path(self) -> Path:
        return self.path.with_suffix(".done")

    def rows(self) -> list[dict]:
        """The utterances as feature-manifest lines, audio relative to the output directory."""
        output_dir = self.path.parent.parent
        return [{**dataclasses.replace(utt, audio=os.path.relpath(utt.audio, output_dir)).to_json(),
                 "shard": os.path.relpath(self.path, output_dir)} for utt in self.utterances]

    def marker(self) -> dict:
        """The fields a ``.done`` marker must match for the shard to be reused."""
        source = hashlib.sha256(json.dumps(self.rows(), sort_keys=True, ensure_ascii=False).encode())
        return {"config": self.config.digest(), "ids": [u.id for u in self.utterances],
                "source": source.hexdigest()[:16]}


def split_name(manifest_path: str | Path) -> str:
    """``train`` for ``.../train.jsonl`` or ``.../train.jsonl.gz``."""
    name = Path(manifest_path).name
    for suffix in (".gz", ".jsonl", ".json"):
        name = name.removesuffix(suffix)
    return name


def extract_features(
    manifest_path: str | Path,
    output_dir: str | Path,
    config: FeatureConfig = FeatureConfig(),
    jobs: int = 1,
    shard_size: int = DEFAULT_SHARD_SIZE,
    cmvn: bool = False,
    progress: bool = True,
) -> ExtractionResult:
    """Compute and store the features of every utterance of a manifest (see the module docstring).

    Writes ``<output_dir>/<split>/shard-*.safetensors``, ``features.yaml``, ``cmvn.json`` when
    ``cmvn`` (global statistics of this manifest's features) and ``<output_dir>/<split>.jsonl``
    last. ``jobs`` processes compute shards in parallel. Raises :class:`AsrError` naming the
    utterance for missing or unreadable audio, or audio whose rate differs from the manifest's.
    """
    if jobs < 1 or shard_size < 1:
        raise AsrError(f"jobs and shard_size must be at least 1, got {jobs} and {shard_size}")
    manifest = Manifest(manifest_path)
    output_dir, split = Path(output_dir).absolute(), split_name(manifest_path)
    shards = _plan_shards(manifest, output_dir, split, config, shard_size)
    if not shards:
        raise AsrError(f"{manifest.path}: no utterances (expected at least one line)")
    done = {s.index: _read_marker(s) for s in shards}
    pending = [s for s in shards if done[s.index] is None]
    log.info("features %s: %d utterances in %d shards (%d done, %d to compute)", split,
             sum(len(s.utterances) for s in shards), len(shards), len(shards) - len(pending), len(pending))
    if pending:  # nothing may look complete while shards are being replaced
        for stale in (output_dir / f"{split}.jsonl", *([output_dir / CMVN_FILE] if cmvn else [])):
            stale.unlink(missing_ok=True)
    done.update(_run_shards(pending, jobs, progress, desc=f"features {split}",
                           initial=sum(len(s.utterances) for s in shards if done[s.index] is not None)))
    _remove_stale_shards(output_dir / split, len(shards))
    _write_config(output_dir, config, split)
    stats = CmvnStats(config.dim)
    rows, total = [], 0
    for shard in shards:
        marker = done[shard.index]
        stats.merge(CmvnStats.from_dict(marker["cmvn"]))
        rows.extend({**row, "num_frames": frames} for row, frames in zip(shard.rows(), marker["num_frames"]))
        total += sum(marker["num_frames"])
    result_cmvn = None
    if cmvn:
        result_cmvn = Cmvn.from_stats(stats)
        result_cmvn.to_json(output_dir / CMVN_FILE)
    feature_manifest = output_dir / f"{split}.jsonl"
    write_jsonl(feature_manifest, rows)
    computed = tuple(s.index for s in pending)
    reused = tuple(s.index for s in shards if s.index not in computed)
    return ExtractionResult(feature_manifest, len(rows), total, computed, reused, result_cmvn)


def _plan_shards(manifest: Manifest, output_dir: Path, split: str, config: FeatureConfig,
                 shard_size: int) -> list[_Shard]:
    utterances, seen = [], set()
    for utt in manifest:
        if utt.id in seen:
            raise AsrError(f"{manifest.path}: duplicate utterance id {utt.id!r}")
        seen.add(utt.id)
        utterances.append(dataclasses.replace(utt, audio=str(manifest.audio_path(utt).absolute())))
    return [
        _Shard(i, output_dir / split / f"shard-{i:05d}.safetensors", tuple(utterances[start : start + shard_size]), config)
        for i, start in enumerate(range(0, len(utterances), shard_size))
    ]


def _read_marker(shard: _Shard) -> dict | None:
    """The shard's ``.done`` marker if it proves the shard complete and current, else None."""
    try:
        marker = json.loads(shard.done_path.read_text(encoding="utf-8"))
        size = shard.path.stat().st_size
    except (OSError, json.JSONDecodeError):
        return None
    expected = shard.marker()
    if not isinstance(marker, dict) or any(marker.get(k) != v for k, v in expected.items()):
        return None
    if marker.get("bytes") != size or len(marker.get("num_frames", ())) != len(shard.utterances):
        return None
    return marker


def _remove_stale_shards(shard_dir: Path, count: int) -> None:
    """Delete shards beyond the current plan (left by a longer manifest or a smaller shard_size)
    and temporary files of a killed run."""
    if not shard_dir.is_dir():
        return
    for path in shard_dir.iterdir():
        match = _SHARD_RE.match(path.name)
        if (match and int(match.group(1)) >= count) or _TEMP_RE.match(path.name):
            path.unlink()


def _write_config(output_dir: Path, config: FeatureConfig, split: str) -> None:
    """Write ``features.yaml``; if it held another config, drop outputs that were computed with it."""
    import yaml

    path = output_dir / CONFIG_FILE
    resolved = to_dict(config)
    if path.is_file() and load_yaml(path) != resolved:
        stale = [p for p in output_dir.glob("*.jsonl") if split_name(p) != split]
        for p in [*stale, output_dir / CMVN_FILE]:
            if p.exists():
                log.warning("%s: removed, it was computed with a different feature config", p)
                p.unlink()
    with atomic_write(path) as f:
        f.write("# Resolved feature config of the shards in this directory (written by asr features).\n")
        yaml.safe_dump(resolved, f, sort_keys=False)


# ----------------------------------------------------------------------------- workers


def _run_shards(shards: list[_Shard], jobs: int, show_progress: bool, desc: str, initial: int) -> dict[int, dict]:
    """Compute ``shards`` (in ``jobs`` processes when more than one); their markers by index."""
    results: dict[int, dict] = {}
    total = initial + sum(len(s.utterances) for s in shards)
    with progress_bar(total, desc, "utt", enabled=show_progress, initial=initial) as bar:
        if jobs == 1 or len(shards) <= 1:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)  # one job, one core: blocks of frames are too small to split
            try:
                for shard in shards:
                    results[shard.index] = _compute_shard(shard, lambda: bar.update(1))
            finally:
                torch.set_num_threads(threads)
            return results
        context = _worker_context()
        queue = context.Queue()
        reported = {s.index: 0 for s in shards}
        with ProcessPoolExecutor(min(jobs, len(shards)), mp_context=context,
                                 initializer=_init_worker, initargs=(queue,)) as pool:
            futures = {pool.submit(_compute_shard_in_worker, shard): shard for shard in shards}
            pending = set(futures)
            try:
                while pending:
                    finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                    while not queue.empty():
                        index = queue.get()
                        if index not in results:
                            reported[index] += 1
                            bar.update(1)
                    for future in finished:
                        shard = futures[future]
                        results[shard.index] = future.result()
                        bar.update(len(shard.utterances) - reported[shard.index])
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
    return results


def _worker_context():
    """``fork`` on Linux: workers start at once with torch imported, and are safe the way DataLoader
    workers are, because the first thing each does is ``torch.set_num_threads(1)``, so it never
    enters the OpenMP pool it inherited. ``spawn`` elsewhere."""
    fork = sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if fork else "spawn")


_progress_queue = None


def _init_worker(queue) -> None:
    global _progress_queue
    die_with_parent()  # a killed `asr features` takes its workers with it
    _progress_queue = queue
    torch.set_num_threads(1)  # one core per job


def _compute_shard_in_worker(shard: _Shard) -> dict:
    return _compute_shard(shard, lambda: _progress_queue.put(shard.index))


def _compute_shard(shard: _Shard, tick: Callable[[], None]) -> dict:
    """Compute, store and mark one shard; returns its marker."""
    config, dtype = shard.config, getattr(torch, shard.config.storage_dtype)
    features, frames, stats = {}, [], CmvnStats(config.dim)
    for utt in shard.utterances:
        feats = compute_features(utterance_audio(utt, config.sample_rate), config).to(dtype)
        stats.accumulate(feats)
        features[utt.id] = feats.contiguous()
        frames.append(feats.shape[0])
        tick()
    return _write_shard(shard, features, frames, stats)


def utterance_audio(utt: Utterance, sample_rate: int) -> np.ndarray:
    """``(num_samples,)`` float32 audio of ``utt`` (``utt.audio`` absolute) at ``sample_rate``.

    Raises :class:`AsrError` naming the utterance when the audio is missing or unreadable, or
    when the file's sample rate is not the one the manifest states.
    """
    try:
        audio, rate = read_audio(utt.audio, start=utt.start, duration=utt.duration or None)
    except AsrError as e:
        raise AsrError(f"utterance {utt.id}: {e}") from e
    if rate != utt.sample_rate:
        raise AsrError(f"utterance {utt.id}: {utt.audio} has sample rate {rate} Hz "
                       f"but the manifest says {utt.sample_rate} Hz")
    return resample(audio, rate, sample_rate, source=utt.audio)


def _write_shard(shard: _Shard, features: dict[str, torch.Tensor], num_frames: list[int], stats: CmvnStats) -> dict:
    """Save a shard atomically, then its ``.done`` marker; returns the marker."""
    from safetensors.torch import save

    data = canonical_safetensors(save(features, metadata={"config": shard.config.digest()}))
    shard.done_path.unlink(missing_ok=True)  # an old marker must never vouch for the new file
    with atomic_write(shard.path, "wb") as f:
        f.write(data)
    marker = {**shard.marker(), "bytes": len(data), "num_frames": num_frames, "cmvn": stats.to_dict()}
    write_json(shard.done_path, marker)
    return marker
