"""Stage 4: decode test manifests into results files, the artifact the audit reads.

For each manifest ``<dir>/<stem>.jsonl`` :func:`decode_manifests` writes, atomically,

``results-<stem>.jsonl``
    one :class:`asr.results.ResultRow` per utterance, in manifest order (the schema is
    written down once, in :mod:`asr.results`), with the edit counts of
    :func:`asr.score.score_pair` after the documented normalisation and the confidence of
    :mod:`asr.decode.search`.
``results-<stem>.meta.json``
    how the file was made: model directory, manifest, decoding options, normalisation,
    utterance count and the pooled CER with its edit counts; ``provenance``, what decoded it
    (package versions, precision, device, CPU, threads: :mod:`asr.provenance`), and
    ``model_provenance``, what trained the model (from its ``provenance.json``).

Utterances are sorted by duration for batching (less padding), their audio read with
:func:`asr.audio.load_audio` (honouring ``start`` and ``duration``) and their network
inputs computed by :meth:`asr.models.model_dir.AsrModel.prepare`.
"""

from __future__ import annotations

import concurrent.futures
import logging
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Literal, Sequence

import numpy as np

from asr.audio import load_audio
from asr.errors import AsrError
from asr.io import progress as progress_bar
from asr.io import write_json, write_jsonl
from asr.manifest.records import Manifest, Utterance
from asr.provenance import provenance
from asr.results import RESULT_FIELDS, ResultRow, row_counts, summary
from asr.score import EditCounts, pooled, score_pair
from asr.decode.engines import AsrEngine, Engine, load_engine
from asr.decode.lm import load_lm
from asr.decode.onnx_runtime import load_backend
from asr.decode.search import SearchOptions
from asr.text import DEFAULT, Normalization

log = logging.getLogger(__name__)
UNIT = "char"


@dataclass(frozen=True)
class DecodeConfig:
    """Decoding options (``conf/decode.yaml``); CLI flags of the same names override them.

    ``beam_size`` 1 without an LM is greedy CTC. ``lm`` is a file from ``asr lm``
    (JSON or ARPA), fused with ``lm_weight``; ``insertion_bonus`` is added per emitted
    token. Batches hold at most ``batch_size`` utterances and ``max_batch_seconds`` of
    padded audio. ``normalization``: the steps applied to reference and hypothesis before
    scoring (:class:`asr.text.Normalization`; every step by default). ``language``, ``task``,
    ``compute_type`` and ``max_new_tokens`` (a cap on the tokens generated per utterance, None:
    the model's own) are for the Whisper engines (:mod:`asr.decode.engines`); ``beam_size`` is
    theirs too.
    """

    beam_size: int = 1
    lm: str | None = None
    lm_weight: float = 0.3
    insertion_bonus: float = 0.0
    token_threshold: float = -12.0
    batch_size: int = 32
    max_batch_seconds: float = 300.0
    normalization: Normalization = DEFAULT
    language: str | None = "zh"
    task: Literal["transcribe", "translate"] = "transcribe"
    compute_type: str = "float32"
    max_new_tokens: int | None = None

    def search_options(self) -> SearchOptions:
        return SearchOptions(
            beam_size=self.beam_size,
            lm_weight=self.lm_weight if self.lm else 0.0,
            insertion_bonus=self.insertion_bonus,
            token_threshold=self.token_threshold,
        )


def results_stem(manifest: str | Path) -> str:
    """``test`` for ``.../test.jsonl`` or ``.../test.jsonl.gz``."""
    name = Path(manifest).name
    for suffix in (".jsonl.gz", ".jsonl", ".json"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def result_row(utt: Utterance, hyp: str, confidence: float | None, normalization: Normalization = DEFAULT) -> dict:
    """One results row (:class:`asr.results.ResultRow`) of ``utt`` recognised as ``hyp``, as JSON."""
    counts = score_pair(utt.text, hyp, UNIT, normalization)
    metadata = {k: v for k, v in utt.metadata().items() if k not in RESULT_FIELDS}
    return ResultRow(utt.id, utt.text, hyp, counts, UNIT, confidence, metadata).to_json()


def batches(utterances: Sequence[Utterance], batch_size: int, max_seconds: float) -> list[list[int]]:
    """Indices of ``utterances`` grouped longest first; a batch's padded length stays within ``max_seconds``."""
    order = sorted(range(len(utterances)), key=lambda i: (-utterances[i].duration, utterances[i].id))
    out: list[list[int]] = []
    for i in order:
        if out and len(out[-1]) < batch_size and utterances[out[-1][0]].duration * (len(out[-1]) + 1) <= max_seconds:
            out[-1].append(i)
        else:
            out.append([i])
    return out


def _load(manifest: Manifest, utt: Utterance, sample_rate: int) -> np.ndarray:
    try:
        return load_audio(manifest.audio_path(utt), sample_rate, start=utt.start, duration=utt.duration)
    except AsrError as e:
        raise AsrError(f"{manifest.path}: utterance {utt.id}: {e}") from None


def _loaded_batches(manifest: Manifest, utts: list[Utterance], groups: list[list[int]], rate: int) -> Iterator:
    """Yield ``(indices, waveforms)``, reading the next batch's audio in a thread meanwhile."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        def read(group):
            return group, [_load(manifest, utts[i], rate) for i in group]

        pending = pool.submit(read, groups[0]) if groups else None
        for k in range(len(groups)):
            group, waves = pending.result()
            pending = pool.submit(read, groups[k + 1]) if k + 1 < len(groups) else None
            yield group, waves


def decode_utterances(
    engine: Engine,
    manifest: Manifest,
    utterances: list[Utterance],
    config: DecodeConfig,
    progress: bool = False,
) -> list[dict]:
    """Results rows for ``utterances`` (in their order), recognised by ``engine`` in batches."""
    rows: list[dict | None] = [None] * len(utterances)
    groups = batches(utterances, config.batch_size, config.max_batch_seconds)
    bar = _progress(len(utterances), manifest.path.name, progress)
    for group, waves in _loaded_batches(manifest, utterances, groups, engine.sample_rate):
        for i, rec in zip(group, engine.recognize(waves)):
            rows[i] = result_row(utterances[i], rec.text, rec.confidence, config.normalization)
        bar.update(len(group))
    bar.close()
    return rows  # type: ignore[return-value]


def _progress(total: int, desc: str, enabled: bool):
    return progress_bar(total, f"decode {desc}", "utt", enabled=enabled)


def decode_manifests(
    model_dir: str | Path,
    manifests: Sequence[str | Path],
    output_dir: str | Path,
    config: DecodeConfig = DecodeConfig(),
    device: str = "cpu",
    progress: bool = True,
    backend: str = "pytorch",
    threads: int | None = None,
    engine: str = "asr",
) -> list[Path]:
    """Decode each manifest with the model in ``model_dir``; write and return the results files.

    ``engine``: ``asr`` (an ``asr`` model directory), or another recognizer run from a local
    directory (:data:`asr.decode.engines.ENGINES`). ``backend`` (``asr`` only) is ``pytorch``,
    ``onnx`` or ``onnx-int8`` (the latter two run the export of ``asr export`` in ONNX Runtime with
    ``threads`` intra-op threads).
    """
    manifests = [Manifest(m) for m in manifests]  # fail fast on a missing manifest
    stems: dict[str, Path] = {}
    for manifest in manifests:
        other = stems.setdefault(results_stem(manifest.path), manifest.path)
        if other != manifest.path:
            raise AsrError(
                f"{manifest.path}: same name as {other}; both would write results-{results_stem(other)}.jsonl "
                "(decode them into different --output-dir)"
            )
    contents = [_utterances(m) for m in manifests]  # every manifest checked before anything is decoded
    recognizer = _engine(engine, model_dir, config, device, backend, threads)
    output_dir = Path(output_dir)
    written = []
    for manifest, utterances in zip(manifests, contents):
        started = time.perf_counter()
        rows = decode_utterances(recognizer, manifest, utterances, config, progress=progress)
        elapsed = time.perf_counter() - started
        stem = results_stem(manifest.path)
        path = output_dir / f"results-{stem}.jsonl"
        meta = results_meta(rows, model_dir, manifest.path, config, elapsed)
        meta.update(engine=recognizer.describe(), provenance=decode_provenance(recognizer, backend, threads))
        if isinstance(recognizer, AsrEngine):
            meta["model_provenance"] = recognizer.model.provenance
        # The meta file first: a results file never exists without the normalisation it used.
        write_json(output_dir / f"results-{stem}.meta.json", meta)
        write_jsonl(path, rows)
        print(summary(rows, stem, path))
        written.append(path)
    return written


def _utterances(manifest: Manifest) -> list[Utterance]:
    """The manifest's utterances; an empty manifest or a duplicate id is refused before decoding."""
    utterances = list(manifest)
    if not utterances:
        raise AsrError(f"{manifest.path}: manifest has no utterances")
    seen: set[str] = set()
    for utt in utterances:
        if utt.id in seen:
            raise AsrError(f"{manifest.path}: duplicate utterance id {utt.id!r} (ids must be unique to be scored)")
        seen.add(utt.id)
    return utterances


def _engine(engine: str, model_dir, config: DecodeConfig, device: str, backend: str, threads: int | None) -> Engine:
    if engine != "asr":
        if backend != "pytorch":
            raise AsrError(f"--backend {backend} is for --engine asr (the ONNX export of an asr model)")
        return load_engine(engine, model_dir, language=config.language, task=config.task, beam_size=config.beam_size,
                           device=device, threads=threads, compute_type=config.compute_type,
                           max_new_tokens=config.max_new_tokens)
    model = load_backend(model_dir, backend, device, threads)
    return AsrEngine(model, config.search_options(), load_lm(config.lm) if config.lm else None, backend)


def results_meta(rows: list[dict], model_dir, manifest, config: DecodeConfig, seconds: float) -> dict:
    """The ``results-<stem>.meta.json`` contents (see the module docstring)."""
    total = pooled(row_counts(r) for r in rows)
    audio_seconds = sum(float(r.get("duration") or 0.0) for r in rows)
    return {
        "model": str(model_dir),
        "manifest": str(manifest),
        "utterances": len(rows),
        "unit": UNIT,
        "normalization": config.normalization.describe(),
        "decoding": {**asdict(config), "method": _method(config.search_options())},
        "confidence": "mean over emitted tokens of the token's mean posterior over its aligned frames",
        "cer": round(total.error_rate, 6) if total.ref_len else None,
        "sub": total.sub,
        "del": total.dele,
        "ins": total.ins,
        "ref_len": total.ref_len,
        "audio_seconds": round(audio_seconds, 3),
        "decode_seconds": round(seconds, 3),
    }


def decode_provenance(engine: Engine, backend: str, threads: int | None) -> dict:
    """What decodes: PyTorch in float32 on the model's device, the ONNX export on the CPU, or another engine."""
    import torch

    if isinstance(engine, AsrEngine):
        precision = getattr(engine.model, "precision", "fp32")  # ONNX exports say float32 or int8
        device = str(engine.model.device)
    else:
        precision, device = getattr(engine, "compute_type", "float32"), str(getattr(engine, "device", "cpu"))
    precision = {"float32": "fp32"}.get(precision, precision)
    return provenance(precision=precision, device=device, threads=threads or torch.get_num_threads(),
                      processes=1) | {"backend": backend}


def _method(options: SearchOptions) -> str:
    return "greedy" if options.beam_size == 1 and options.lm_weight == 0 else "prefix-beam"
