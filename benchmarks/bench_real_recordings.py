"""``asr transcribe`` on audio that looks like real recordings: pauses, noise, long files, timestamps.

    python benchmarks/bench_real_recordings.py --model recipes/dialect/exp/baseline/model \\
        --manifest data_manifests/synthetic/test.jsonl --output benchmarks/results/real_recordings.json

Character times come from the model's bundled aligner when it has one (as in ``asr transcribe``);
``--aligner none`` times them with the model's own CTC spikes, ``--aligner DIR`` with another.

On the embedded corpus's test utterances (which carry eSpeak NG's ground-truth character times,
``char_times``), through :func:`asr.transcribe` exactly as the CLI runs it (voice-activity
detection on, greedy search):

* **padded CER**: each utterance as it is, and padded with 0.5 to 2 s on each side (drawn per
  utterance) of digital silence, and of white noise at -50 dBFS under the whole clip; the CER of
  each against the references, and the change from the unpadded CER (target: within 1 point);
* **timestamps**: the start and end of every correctly recognised character against the ground
  truth (:mod:`asr.decode.timing_eval`), unpadded and padded: mean and 95th percentile of the
  absolute errors (targets: 60 ms and 150 ms), in all and by dialect;
* **long form**: ``--minutes`` of test utterances in a shuffled cycle with 1 s pauses, written as
  one FLAC and transcribed as one file; its CER against the concatenated references, beside the
  same utterances' CER when each is transcribed alone (target: within 1 point), with the wall
  time, real-time factor and peak memory growth.

Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
PAD_RANGE = (0.5, 2.0)
NOISE_DBFS = -50.0


def load(manifest: Path, limit: int | None):
    from asr.manifest.records import Manifest

    m = Manifest(manifest)
    utts = [u for u in m if u.char_times is not None]
    if not utts:
        raise SystemExit(f"{manifest}: no utterance has char_times (regenerate the synthetic corpus)")
    return m, utts[:limit] if limit else utts


def padded(audio: np.ndarray, before: float, after: float, kind: str, rng: np.random.Generator) -> np.ndarray:
    out = np.concatenate([np.zeros(int(before * SAMPLE_RATE), np.float32), audio,
                          np.zeros(int(after * SAMPLE_RATE), np.float32)])
    if kind == "noise":
        out = out + (10 ** (NOISE_DBFS / 20) * rng.standard_normal(out.size)).astype(np.float32)
    return out


def cer(pairs) -> float:
    from asr.score import pooled, score_pair

    total = pooled(score_pair(ref, hyp) for ref, hyp in pairs)
    return total.error_rate


def timed(result) -> list[tuple[str, float, float]]:
    from asr.text import normalize

    return [(normalize(t.text), t.start, t.end) for t in result.tokens if normalize(t.text)]


def run_conditions(model, manifest, utts, seed: int) -> dict:
    """Unpadded, silence-padded and noise-padded: CER and character-time errors of each."""
    from asr import transcribe
    from asr.audio import load_audio
    from asr.decode.timing_eval import character_time_errors, summarize
    from asr.text import normalize

    rng = np.random.default_rng(seed)
    out = {}
    pads = {u.id: rng.uniform(*PAD_RANGE, size=2) for u in utts}
    for kind in ("clean", "silence", "noise"):
        noise_rng = np.random.default_rng(seed + 1)
        pairs, errors, empty = [], [], 0
        for u in utts:
            audio = load_audio(manifest.audio_path(u))
            before, after = pads[u.id] if kind != "clean" else (0.0, 0.0)
            clip = audio if kind == "clean" else padded(audio, before, after, kind, noise_rng)
            result = transcribe(model, clip)
            empty += not result.text
            pairs.append((u.text, result.text))
            errors.append(character_time_errors(normalize(u.text), u.char_times, timed(result), offset=before))
        by_dialect = {d: summarize(e for e, u in zip(errors, utts) if u.dialect == d).to_json()
                      for d in sorted({u.dialect for u in utts if u.dialect})}
        out[kind] = {"cer": cer(pairs), "empty_transcripts": empty, "timing": summarize(errors).to_json(),
                     "timing_by_dialect": by_dialect}
    for kind in ("silence", "noise"):
        out[kind]["cer_change_points"] = 100 * (out[kind]["cer"] - out["clean"]["cer"])
    return out


def long_form(model, manifest, utts, minutes: float, seed: int) -> dict:
    """One long FLAC of test utterances with 1 s pauses, transcribed as one file."""
    import soundfile as sf

    from asr import transcribe
    from asr.audio import load_audio

    rng = np.random.default_rng(seed)
    pause = np.zeros(SAMPLE_RATE, np.float32)
    refs, seconds, isolated = [], 0.0, []
    clips = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.flac"
        with sf.SoundFile(str(path), "w", SAMPLE_RATE, 1, format="FLAC", subtype="PCM_16") as f:
            while seconds < minutes * 60:
                for i in rng.permutation(len(utts)):
                    u = utts[i]
                    if u.id not in clips:
                        clips[u.id] = load_audio(manifest.audio_path(u))
                    f.write(np.concatenate([clips[u.id], pause]))
                    refs.append(u)
                    seconds += len(clips[u.id]) / SAMPLE_RATE + 1.0
                    if seconds >= minutes * 60:
                        break
        alone = {uid: transcribe(model, audio).text for uid, audio in clips.items()}
        isolated = [(u.text, alone[u.id]) for u in refs]
        rss_before = peak_rss_mb()
        started = time.perf_counter()
        result = transcribe(model, path)
        wall = time.perf_counter() - started
    reference = "".join(u.text for u in refs)
    return {
        "minutes": round(seconds / 60, 2), "utterances": len(refs), "distinct_utterances": len(clips),
        "windows": result.chunks, "cer": cer([(reference, result.text)]), "isolated_cer": cer(isolated),
        "cer_change_points": 100 * (cer([(reference, result.text)]) - cer(isolated)),
        "wall_seconds": round(wall, 1), "rtf": round(wall / seconds, 4),
        "peak_rss_growth_mb": round(peak_rss_mb() - rss_before, 1),
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="model directory")
    parser.add_argument("--manifest", type=Path, default=Path("data_manifests/synthetic/test.jsonl"))
    parser.add_argument("--limit", type=int, default=None, help="first N utterances only (default: all)")
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the long-form recording (0: skip)")
    parser.add_argument("--aligner", default="bundled",
                        help="whose spikes time the characters: bundled (the model's aligner/ if it has one, as "
                             "`asr transcribe` does), none (the model's own), or an aligner's model directory")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/real_recordings.json"))
    args = parser.parse_args()

    import torch

    import asr
    from asr.provenance import provenance

    torch.set_num_threads(args.threads)
    model = asr.load_model(args.model)
    if args.aligner == "none":
        model = dataclasses.replace(model, aligner=None)
    elif args.aligner != "bundled":
        model = dataclasses.replace(model, aligner=asr.load_model(args.aligner))
    aligner = model.aligner
    manifest, utts = load(args.manifest, args.limit)
    started = time.perf_counter()
    conditions = run_conditions(model, manifest, utts, args.seed)
    record = {"model": str(args.model), "manifest": str(args.manifest), "utterances": len(utts),
              "times_from": "aligner" if aligner is not None else "model",
              "aligner": str(aligner.path) if aligner is not None else None,
              "pad_seconds": PAD_RANGE, "noise_dbfs": NOISE_DBFS, "conditions": conditions,
              "condition_seconds": round(time.perf_counter() - started, 1)}
    if args.minutes > 0:
        record["long_form"] = long_form(model, manifest, utts, args.minutes, args.seed)
    record["provenance"] = provenance(precision="fp32", device="cpu", threads=args.threads, processes=1)
    print(f"{'condition':<10} {'CER':>7} {'change':>8} {'empty':>6} {'start mean/p95 ms':>19} {'end mean/p95 ms':>17}")
    for kind, c in conditions.items():
        t = c["timing"]
        change = f"{c.get('cer_change_points', 0.0):+.2f}"
        print(f"{kind:<10} {100 * c['cer']:6.2f}% {change:>8} {c['empty_transcripts']:>6} "
              f"{1000 * t['start_mean']:8.0f} /{1000 * t['start_p95']:5.0f} {1000 * t['end_mean']:8.0f} /{1000 * t['end_p95']:5.0f}")
    print("character start / end error by dialect, mean / p95 ms:")
    for kind, c in conditions.items():
        cells = [f"{d} {1000 * t['start_mean']:.0f}/{1000 * t['start_p95']:.0f} {1000 * t['end_mean']:.0f}/"
                 f"{1000 * t['end_p95']:.0f}" for d, t in c["timing_by_dialect"].items() if t["start_mean"] is not None]
        print(f"  {kind:<8} " + "; ".join(cells))
    if "long_form" in record:
        lf = record["long_form"]
        print(f"long form: {lf['minutes']} min, {lf['utterances']} utterances in {lf['windows']} windows: CER "
              f"{100 * lf['cer']:.2f}% vs {100 * lf['isolated_cer']:.2f}% alone ({lf['cer_change_points']:+.2f} points), "
              f"RTF {lf['rtf']}, peak memory growth {lf['peak_rss_growth_mb']} MB")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    main()
