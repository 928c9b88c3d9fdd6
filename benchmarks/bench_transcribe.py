"""Transcription real-time factor at 1 and 2 threads: PyTorch, ONNX fp32 and ONNX int8, beside two peers.

    python benchmarks/bench_transcribe.py                       # default-sized model, random weights
    python benchmarks/bench_transcribe.py --model recipes/dialect/exp/baseline/model \\
        --manifest data_manifests/synthetic/test.jsonl          # a trained model, with its CER
    python benchmarks/bench_transcribe.py --output /tmp/transcribe.json

Ours: :func:`asr.transcribe` (fbank + CMVN, the network, greedy CTC, forced alignment for
timestamps: everything ``asr transcribe`` does after reading the file) on the same 30 s of
speech-like audio, with each backend: ``pytorch`` (:func:`asr.load_model`), ``onnx`` (float32) and
``onnx-int8`` (:func:`asr.decode.onnx_runtime.load_backend` after :func:`asr.decode.export.export_onnx`).
The model is ``--model``, else one of the default configuration (the ``model:`` section of
``recipes/dialect/conf/train.yaml`` if present, else ``asr.models.ModelConfig()``; features from
``recipes/dialect/conf/features.yaml``) with random weights, a 3,000-character vocabulary and
CMVN from the benchmark audio: speed only.

Peers, in the same run on the same 30 s window, with random weights (speed only), built from
``transformers`` configs: the encoder of a Whisper-tiny-sized model (d_model 384, 4 layers, 6
heads, on Whisper's 3,000-frame log-mel input; the encoder alone: no feature extraction, no
decoder) and a wav2vec2-base-sized CTC model (``Wav2Vec2Config()``'s defaults: 768 wide, 12
layers; raw samples in, CTC logits out).

Threads: ``torch.set_num_threads(n)`` for PyTorch, ``intra_op_num_threads = n`` for ONNX Runtime.
Every configuration runs once to warm up, then ``--repeats`` times (peers ``--peer-repeats``),
all interleaved round-robin at each thread count; the best and median times are reported with the
load average. Other processes on a shared machine slow every method alike, so the best time is
the least disturbed, and ``/ whisper-tiny`` (RTF over the Whisper-tiny encoder's at the same
thread count, in the same run) is the figure that carries over between machines and loads.
RTF = compute seconds / audio seconds.

With ``--model`` and ``--manifest``, each backend also decodes the manifest (greedy CTC, as
``asr decode``) and its pooled CER is reported with the decoding RTF.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_features import speech_like  # noqa: E402  (the same synthetic audio as the feature benchmark)
from asr.provenance import cpu_model  # noqa: E402

SAMPLE_RATE = 16000
WINDOW_SECONDS = 30.0
TARGET_RTF = 0.01
VOCAB_SIZE = 3000
TRAIN_CONFIG = Path("recipes/dialect/conf/train.yaml")
FEATURE_CONFIG = Path("recipes/dialect/conf/features.yaml")
BACKENDS = ("pytorch", "onnx", "onnx-int8")  # asr.decode.onnx_runtime.BACKENDS


# ----------------------------------------------------------------------------- our models


def default_configs():
    """The recipe's model and feature configs (or the library defaults) and where they came from."""
    from asr.config import from_dict, load_config, load_yaml
    from asr.features.frontend import FeatureConfig
    from asr.models import ModelConfig

    if TRAIN_CONFIG.is_file() and "model" in (load_yaml(TRAIN_CONFIG) or {}):
        model, source = from_dict(ModelConfig, load_yaml(TRAIN_CONFIG)["model"], source=str(TRAIN_CONFIG)), str(TRAIN_CONFIG)
    else:
        model, source = ModelConfig(), "asr.models.ModelConfig()"
    features = load_config(FeatureConfig, FEATURE_CONFIG) if FEATURE_CONFIG.is_file() else FeatureConfig()
    return model, features, source


def random_model(directory: Path, audio: np.ndarray) -> str:
    """Save a default-configuration model with random weights to ``directory``; returns its description."""
    from asr.features.frontend import Cmvn, CmvnStats, compute_features
    from asr.models.model_dir import data_summary_from_manifest, save_model
    from asr.models import build_model
    from asr.models.tokens import Vocabulary

    config, features, source = default_configs()
    torch.manual_seed(0)
    vocab = Vocabulary([*Vocabulary.build([]).tokens, *(chr(0x4E00 + i) for i in range(VOCAB_SIZE))])
    stats = CmvnStats(features.dim)
    stats.accumulate(compute_features(torch.from_numpy(audio), features))
    network = build_model(config, len(vocab), features.dim)
    save_model(directory, network, config, vocab, features, Cmvn.from_stats(stats), data_summary_from_manifest([]))
    params = sum(p.numel() for p in network.parameters())
    return f"{config.encoder} from {source}, random weights, {params / 1e6:.1f} M parameters, {len(vocab)} tokens"


def model_dir(args, tmp: Path, audio: np.ndarray) -> tuple[Path, str]:
    """A private copy of ``--model`` (so exporting leaves it untouched) or a random default model."""
    directory = tmp / "model"
    if args.model:
        shutil.copytree(args.model, directory, ignore=shutil.ignore_patterns("*.onnx"))
        return directory, str(args.model)
    return directory, random_model(directory, audio)


# ----------------------------------------------------------------------------- peers


def whisper_tiny_encoder(audio: np.ndarray):
    """Whisper-tiny-sized encoder (random weights) and its 30 s log-mel input."""
    from transformers import WhisperConfig, WhisperFeatureExtractor
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    config = WhisperConfig(d_model=384, encoder_layers=4, encoder_attention_heads=6, encoder_ffn_dim=1536,
                           decoder_layers=4, decoder_attention_heads=6, decoder_ffn_dim=1536, num_mel_bins=80)
    torch.manual_seed(0)
    encoder = WhisperEncoder(config).eval()
    mel = WhisperFeatureExtractor(feature_size=80)(audio, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features

    def run():
        with torch.inference_mode():
            return encoder(mel).last_hidden_state

    return run, sum(p.numel() for p in encoder.parameters())


def wav2vec2_base_ctc(audio: np.ndarray):
    """wav2vec2-base-sized CTC model (random weights) on the raw 30 s window."""
    from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

    torch.manual_seed(0)
    model = Wav2Vec2ForCTC(Wav2Vec2Config(vocab_size=VOCAB_SIZE + 2)).eval()
    samples = torch.from_numpy((audio - audio.mean()) / (audio.std() + 1e-7))[None]

    def run():
        with torch.inference_mode():
            return model(samples).logits

    return run, sum(p.numel() for p in model.parameters())


PEERS = {
    "whisper-tiny encoder": (whisper_tiny_encoder, "3,000 log-mel frames (30 s)"),
    "wav2vec2-base CTC": (wav2vec2_base_ctc, "480,000 samples (30 s)"),
}


# ----------------------------------------------------------------------------- measuring


def timed(fn, repeats: int, times: list[float]) -> None:
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)


def bench(directory: Path, audio: np.ndarray, threads: int, repeats: int, peer_repeats: int) -> dict:
    """``{name: (times, parameters)}`` for our backends and the peers, interleaved round-robin."""
    import asr
    from asr.decode.onnx_runtime import load_backend

    torch.set_num_threads(threads)
    runs = {}
    for backend in BACKENDS:
        model = load_backend(directory, backend, threads=threads)
        runs[backend] = ((lambda m: lambda: asr.transcribe(m, audio))(model), None)
    window = speech_like(WINDOW_SECONDS)  # the peers always read a 30 s window
    for name, (build, _) in PEERS.items():
        runs[name] = build(window)
    for fn, _ in runs.values():  # warm-up: allocator, ORT's first-run kernel choices
        fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(max(repeats, peer_repeats)):
        for name, (fn, _) in runs.items():
            if r < (repeats if name in BACKENDS else peer_repeats):
                timed(fn, 1, times[name])
    return {name: (times[name], params) for name, (_, params) in runs.items()}


def manifest_cer(directory: Path, manifest_path: str, threads: int) -> dict[str, dict]:
    """Pooled CER and decoding RTF of each backend on ``manifest_path`` (greedy CTC, as ``asr decode``)."""
    from asr.decode.batch import DecodeConfig, decode_utterances, row_counts
    from asr.decode.engines import AsrEngine
    from asr.decode.search import SearchOptions
    from asr.manifest.records import Manifest
    from asr.decode.onnx_runtime import load_backend
    from asr.score import pooled

    torch.set_num_threads(threads)
    manifest = Manifest(manifest_path)
    utterances = list(manifest)
    audio_seconds = sum(u.duration for u in utterances)
    out = {}
    for backend in BACKENDS:
        model = load_backend(directory, backend, threads=threads)
        start = time.perf_counter()
        engine = AsrEngine(model, SearchOptions(beam_size=1), backend=backend)
        rows = decode_utterances(engine, manifest, utterances, DecodeConfig(beam_size=1))
        seconds = time.perf_counter() - start
        total = pooled(row_counts(r) for r in rows)
        out[backend] = {"cer": round(total.error_rate, 5), "ref_chars": total.ref_len,
                        "decode_rtf": round(seconds / audio_seconds, 5), "utterances": len(rows)}
    return out


def row(name: str, backend: str, threads: int, times: list[float], seconds: float, **extra) -> dict:
    return {
        "model": name, "backend": backend, "threads": threads,
        "rtf_best": round(min(times) / seconds, 5), "rtf_median": round(statistics.median(times) / seconds, 5),
        "x_real_time_best": round(seconds / min(times), 1), "runs": len(times), **extra,
    }


def run(args) -> dict:
    from asr.decode.export import export_onnx

    audio = speech_like(args.seconds)
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-transcribe-") as tmp:
        directory, description = model_dir(args, Path(tmp), audio)
        export = export_onnx(directory, int8=True)
        cer = manifest_cer(directory, args.manifest, max(args.threads)) if args.manifest else {}
        for threads in args.threads:
            results = bench(directory, audio, threads, args.repeats, args.peer_repeats)
            peer_rtf = min(results["whisper-tiny encoder"][0]) / WINDOW_SECONDS
            for name, (times, params) in results.items():
                ours = name in BACKENDS
                seconds = args.seconds if ours else WINDOW_SECONDS
                rows.append(row(
                    f"asr {'(--model)' if args.model else 'default'}" if ours else name,
                    name if ours else "pytorch", threads, times, seconds,
                    input=f"{seconds:g} s audio, end to end" if ours else PEERS[name][1],
                    relative_to_whisper_tiny=round(min(times) / seconds / peer_rtf, 3),
                    cer=cer.get(name, {}).get("cer") if ours else None,
                    **({} if ours else {"parameters": params}),
                ))
    return {
        "model": description, "audio": f"synthetic speech-like (bench_features.speech_like), {args.seconds:g} s",
        "rows": rows, "cer": cer or None, "manifest": args.manifest,
        "onnx": {"max_abs_diff_fp32": export.max_abs_diff, "max_abs_diff_int8": export.int8_max_abs_diff,
                 "int8_range": export.int8_range,
                 "mb_fp32": round(export.size / 1e6, 2), "mb_int8": round(export.int8_size / 1e6, 2)},
        "target_rtf_1_thread": TARGET_RTF,
        "load_average_1min": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "cpu": cpu_model(), "cores": os.cpu_count(), "versions": versions(),
    }


def versions() -> dict:
    names = ["torch", "torchaudio", "onnx", "onnxruntime", "transformers", "numpy"]
    return {n: metadata.version(n) for n in names} | {"python": platform.python_version()}



def print_table(result: dict) -> None:
    print(f"{result['model']}; {result['audio']}; load average {result['load_average_1min']}; {result['cpu']}")
    print(f"| {'model':<20} | {'backend':<9} | {'threads':>7} | {'RTF (best)':>10} | {'(median)':>8} | "
          f"{'x real time':>11} | {'/ whisper-tiny':>14} | {'CER':>6} | input |")
    print(f"|{'-' * 22}|{'-' * 11}|{'-' * 8}:|{'-' * 11}:|{'-' * 9}:|{'-' * 12}:|{'-' * 15}:|{'-' * 7}:|{'-' * 7}|")
    for r in result["rows"]:
        cer = "n/a" if r["cer"] is None else f"{100 * r['cer']:.2f}%"
        print(f"| {r['model']:<20} | {r['backend']:<9} | {r['threads']:>7} | {r['rtf_best']:>10.4f} | "
              f"{r['rtf_median']:>8.4f} | {r['x_real_time_best']:>11,.0f} | {r['relative_to_whisper_tiny']:>14.3f} | "
              f"{cer:>6} | {r['input']} |")
    onnx = result["onnx"]
    print(f"ONNX files: fp32 {onnx['mb_fp32']} MB (max |diff| {onnx['max_abs_diff_fp32']:.1e}), "
          f"int8 {onnx['mb_int8']} MB (max |diff| {onnx['max_abs_diff_int8']:.1e}); target RTF <= {TARGET_RTF} at 1 thread")
    for backend, c in (result["cer"] or {}).items():
        print(f"{backend}: CER {100 * c['cer']:.2f}% on {c['utterances']} utterances of {result['manifest']} "
              f"({c['ref_chars']} characters), decoding RTF {c['decode_rtf']:.4f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a trained model directory (default: random default model)")
    parser.add_argument("--manifest", default=None, help="with --model: also report each backend's CER on it")
    parser.add_argument("--seconds", type=float, default=WINDOW_SECONDS, help="audio length (default 30)")
    parser.add_argument("--threads", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2],
                        help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs of each of our backends (default 10)")
    parser.add_argument("--peer-repeats", type=int, default=3, help="timed runs of each peer (default 3)")
    parser.add_argument("--output", default="benchmarks/results/transcribe.json", help="JSON file to write")
    args = parser.parse_args(argv)
    if args.manifest and not args.model:
        parser.error("--manifest needs --model (a random-weight model has no meaningful CER)")
    result = run(args)
    result["command"] = "python benchmarks/bench_transcribe.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print_table(result)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
