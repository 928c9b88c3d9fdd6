"""Feature extraction speed, x real time per core, against the usual alternatives on the same audio.

    python benchmarks/bench_features.py                       # 60 s of synthetic speech-like audio
    python benchmarks/bench_features.py --audio some.wav --output /tmp/features.json

Every method computes 80 log-mel energies per 25 ms frame every 10 ms (512-point FFT) on one
thread (``torch.set_num_threads(1)`` and one BLAS/OpenMP thread, set before numpy loads), so
"x real time" = audio seconds / compute seconds is per core. Methods:

* ``asr``: :func:`asr.features.frontend.compute_features` (Kaldi fbank, blocked and in place);
* ``torchaudio``: :func:`torchaudio.compliance.kaldi.fbank`, called directly;
* ``kaldi_native_fbank``: ``OnlineFbank`` on the whole waveform, frames gathered into an array;
* ``librosa``: ``librosa.feature.melspectrogram`` + log. Its filterbank (Slaney mel, Hann
  window, no pre-emphasis) is not Kaldi's, so no difference from torchaudio is reported.

Two workloads on the same audio: one call on the whole clip, and the clip cut into 4 s
utterances (one call each, as in training or ``asr features``). Methods run round-robin,
``--repeats`` times; the best and the median times are reported, with the load average (other
processes on the machine slow every method alike). ``max_abs_diff`` is the largest absolute
difference from torchaudio's Kaldi fbank over all frames and bins.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from importlib import metadata  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from asr.provenance import cpu_model  # noqa: E402

SAMPLE_RATE = 16000
UTTERANCE_SECONDS = 4.0
TARGET_X_REAL_TIME = 2000


def speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """Voiced-speech-like audio: a gliding harmonic source, syllable-rate envelope, noise, pauses."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t) + 20 * np.sin(2 * np.pi * 3.1 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 16))
    envelope = np.clip(np.sin(2 * np.pi * 4.0 * t), 0, None) * (np.sin(2 * np.pi * 0.23 * t) > -0.6)
    audio = 0.2 * voiced * envelope + 0.01 * rng.standard_normal(t.size)
    return (audio / np.abs(audio).max() * 0.8).astype(np.float32)


def methods(n_mels: int = 80):
    """name -> (function of a float32 waveform in [-1, 1] returning (frames, n_mels) numpy, Kaldi-comparable?)."""
    import kaldi_native_fbank as knf
    import librosa
    import torchaudio.compliance.kaldi as kaldi

    from asr.features.frontend import FeatureConfig, compute_features

    config = FeatureConfig(num_mel_bins=n_mels)
    options = knf.FbankOptions()
    options.frame_opts.dither = 0.0
    options.mel_opts.num_bins = n_mels

    def ours(x):
        return compute_features(torch.from_numpy(x), config).numpy()

    def torchaudio_kaldi(x):
        return kaldi.fbank(torch.from_numpy(x)[None] * 32768, num_mel_bins=n_mels, dither=0.0, energy_floor=0.0).numpy()

    def kaldi_native(x):
        fbank = knf.OnlineFbank(options)
        fbank.accept_waveform(SAMPLE_RATE, x * 32768)
        fbank.input_finished()
        return np.stack([fbank.get_frame(i) for i in range(fbank.num_frames_ready)])

    def librosa_mel(x):
        mel = librosa.feature.melspectrogram(y=x, sr=SAMPLE_RATE, n_fft=512, hop_length=160, win_length=400,
                                             n_mels=n_mels, power=2.0)
        return np.log(np.maximum(mel, 1e-10)).T

    return {"asr": (ours, True), "torchaudio": (torchaudio_kaldi, True),
            "kaldi_native_fbank": (kaldi_native, True), "librosa": (librosa_mel, False)}


def run(audio: np.ndarray, repeats: int) -> dict:
    seconds = audio.size / SAMPLE_RATE
    step = int(UTTERANCE_SECONDS * SAMPLE_RATE)
    utterances = [audio[i : i + step] for i in range(0, audio.size, step) if audio[i : i + step].size >= 400]
    table = methods()
    workloads = {"whole clip": lambda f: f(audio), f"{UTTERANCE_SECONDS:g} s utterances": lambda f: [f(u) for u in utterances]}
    reference = table["torchaudio"][0](audio)
    times = {(w, m): [] for w in workloads for m in table}
    for w, work in workloads.items():  # warm up: imports, caches, FFT plans
        for fn, _ in table.values():
            work(fn)
    for _ in range(repeats):
        for w, work in workloads.items():
            for m, (fn, _) in table.items():
                start = time.perf_counter()
                work(fn)
                times[w, m].append(time.perf_counter() - start)
    rows = []
    for (w, m), ts in times.items():
        fn, comparable = table[m]
        diff = None
        if comparable and w == "whole clip":
            diff = float(np.abs(fn(audio) - reference).max())
        rows.append({
            "method": m, "workload": w,
            "x_real_time_best": round(seconds / min(ts), 1),
            "x_real_time_median": round(seconds / statistics.median(ts), 1),
            "ms_best": round(1000 * min(ts), 3),
            "max_abs_diff_vs_torchaudio": diff,
        })
    return {"audio_seconds": seconds, "utterances": len(utterances), "rows": rows}


def versions() -> dict:
    names = ["torch", "torchaudio", "librosa", "kaldi-native-fbank", "numpy"]
    return {n: metadata.version(n) for n in names} | {"python": platform.python_version()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the synthetic audio")
    parser.add_argument("--audio", default=None, help="benchmark this audio file instead (resampled to 16 kHz)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--output", default="benchmarks/results/features.json", help="JSON file to write")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.audio:
        from asr.audio import load_audio

        audio = load_audio(args.audio, SAMPLE_RATE)
    else:
        audio = speech_like(args.seconds)
    load_before = os.getloadavg()
    result = run(audio, args.repeats)
    result |= {
        "threads": 1, "target_x_real_time": TARGET_X_REAL_TIME, "repeats": args.repeats,
        "audio": args.audio or f"synthetic speech-like, seed 0, {args.seconds:g} s",
        "load_average_1min": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "cpu": cpu_model(), "cores": os.cpu_count(), "versions": versions(),
        "command": "python benchmarks/bench_features.py" + (f" --audio {args.audio}" if args.audio else ""),
    }
    print(f"{result['audio']}, {result['utterances']} utterances of {UTTERANCE_SECONDS:g} s; 1 thread; "
          f"load average {result['load_average_1min']}; {result['cpu']}")
    print(f"| {'method':<20} | {'workload':<16} | {'x real time (best)':>18} | {'(median)':>9} | {'max abs diff':>12} |")
    print(f"|{'-' * 22}|{'-' * 18}|{'-' * 20}:|{'-' * 10}:|{'-' * 13}:|")
    for r in result["rows"]:
        diff = "n/a" if r["max_abs_diff_vs_torchaudio"] is None else f"{r['max_abs_diff_vs_torchaudio']:.2e}"
        print(f"| {r['method']:<20} | {r['workload']:<16} | {r['x_real_time_best']:>18,.0f} | "
              f"{r['x_real_time_median']:>9,.0f} | {diff:>12} |")
    from asr.io import write_json

    write_json(args.output, result)
    print(f"wrote {args.output}")
    return 0



if __name__ == "__main__":
    raise SystemExit(main())
