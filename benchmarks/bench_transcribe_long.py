"""``asr transcribe`` on one long recording: wall time, real-time factor and peak memory.

    python benchmarks/bench_transcribe_long.py                    # one hour, default-sized random model
    python benchmarks/bench_transcribe_long.py --minutes 10 --model recipes/dialect/exp/baseline/model
    python benchmarks/bench_transcribe_long.py --output /tmp/transcribe_long.json

The recording is written block by block (FLAC, 16 kHz, stereo by default, so downmixing is
exercised) with speech-like bursts and pauses, then transcribed through
:func:`asr.transcribe` exactly as the CLI does: read block by block, cut at pauses into chunks of
at most 30 s, decoded a few chunks at a time. Without ``--model`` a Conformer of the default
size (``asr.models.ModelConfig()``) with random weights is used: speed and memory only (its CTC
head is biased away from blank so that it emits tokens and alignment is exercised). Peak
resident memory is measured for the whole process (``ru_maxrss``) and, to show it does not grow
with the file, before and after transcription; a bounded-memory run has a growth of a few
hundred MB at most, whatever the duration.
"""

from __future__ import annotations

import argparse
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000


def write_recording(path: Path, seconds: float, channels: int = 2, seed: int = 0) -> None:
    """Speech-like audio (harmonic bursts at syllable rate, pauses, noise), written 60 s at a time."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    block = 60 * SAMPLE_RATE
    total = int(seconds * SAMPLE_RATE)
    with sf.SoundFile(str(path), "w", SAMPLE_RATE, channels, format="FLAC", subtype="PCM_16") as f:
        for start in range(0, total, block):
            t = (start + np.arange(min(block, total - start))) / SAMPLE_RATE
            f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t)
            voiced = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / SAMPLE_RATE) / k for k in range(1, 8))
            envelope = np.clip(np.sin(2 * np.pi * 4.0 * t), 0, None) * (np.sin(2 * np.pi * 0.11 * t) > -0.5)
            mono = 0.2 * voiced * envelope + 0.01 * rng.standard_normal(t.size)
            f.write(np.stack([mono] * channels, axis=1).astype(np.float32) if channels > 1 else mono)


def default_model(directory: Path) -> Path:
    """A default-sized Conformer with random weights, saved as a model directory."""
    import torch

    from asr.features.frontend import FeatureConfig
    from asr.models.model_dir import data_summary_from_manifest, save_model
    from asr.models import ModelConfig, build_model
    from asr.models.tokens import Vocabulary

    torch.manual_seed(0)
    # ~3,000 characters, a realistic Chinese vocabulary size
    vocab = Vocabulary([*Vocabulary.build([]).tokens, *(chr(0x4E00 + i) for i in range(3000))])
    features = FeatureConfig()
    config = ModelConfig()
    network = build_model(config, len(vocab), features.num_mel_bins)
    with torch.no_grad():
        head = [m for m in network.modules() if isinstance(m, torch.nn.Linear) and m.out_features == len(vocab)][-1]
        head.bias[vocab.blank_id] -= 2.0
    return save_model(directory, network, config, vocab, features, None, data_summary_from_manifest([]))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the recording (default 60)")
    parser.add_argument("--model", default=None, help="model directory (default: random default-sized Conformer)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--output", default="benchmarks/results/transcribe_long.json", help="JSON to write")
    args = parser.parse_args()

    import torch

    import asr

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        audio = tmp / "long.flac"
        started = time.perf_counter()
        write_recording(audio, args.minutes * 60)
        write_seconds = time.perf_counter() - started
        model = asr.load_model(args.model or default_model(tmp / "model"))
        asr.transcribe(model, asr.load_audio(audio, duration=5.0))  # warm-up (imports, allocator)
        rss_before = peak_rss_mb()
        started = time.perf_counter()
        result = asr.transcribe(model, audio)
        seconds = time.perf_counter() - started
        rss_after = peak_rss_mb()

    tokens = result.tokens
    figures = {
        "audio_seconds": result.duration,
        "chunks": result.chunks,
        "tokens": len(tokens),
        "segments": len(result.segments),
        "first_token_start": tokens[0].start if tokens else None,
        "last_token_end": tokens[-1].end if tokens else None,
        "transcribe_seconds": round(seconds, 2),
        "real_time_factor": round(seconds / result.duration, 4),
        "peak_rss_mb_before": round(rss_before, 1),
        "peak_rss_mb_after": round(rss_after, 1),
        "peak_rss_growth_mb": round(rss_after - rss_before, 1),
        "write_seconds": round(write_seconds, 2),
        "model": args.model or "random default-sized Conformer (ModelConfig())",
        "threads": args.threads,
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
        "load_average": [round(x, 2) for x in __import__("os").getloadavg()],
    }
    for key, value in figures.items():
        print(f"{key:>22}: {value}")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    from asr.io import write_json

    write_json(out, figures)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
