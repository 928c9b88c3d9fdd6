"""Training throughput: audio seconds trained per wall second, for a training config.

Runs ``asr.train.trainer.train`` for ``--steps`` optimizer steps on a feature (or plain) manifest,
without a dev set, and reads the throughput the trainer logs (``log/train.csv``:
``audio_seconds_per_second`` per logging window). The first window (model build, first
batches) is left out of the steady-state figure.

    python benchmarks/bench_train.py --manifest data_manifests/synthetic/fbank/train.jsonl \\
        --config recipes/dialect/conf/train.yaml --steps 100 --output benchmarks/results/train.json

Prints one table row per config and writes JSON. ``--device cuda`` measures a GPU.
"""

from __future__ import annotations

import argparse
import csv
import platform
import tempfile
import time
from pathlib import Path

import torch

from asr.config import to_dict
from asr.io import write_json
from asr.train.trainer import train
from asr.train.config import load_train_config


def measure(config_path: Path, manifest: Path, steps: int, device: str | None) -> dict:
    """Train ``steps`` steps in a temporary directory; return throughput and memory figures."""
    log_every = max(1, steps // 5)
    config = load_train_config(config_path, {"max_steps": steps, "log_every": log_every,
                                             "valid_every": 10**9, "checkpoint_every": 10**9})
    with tempfile.TemporaryDirectory() as exp_dir:
        started = time.perf_counter()
        train(config, manifest, None, exp_dir, device=device, progress=False)
        wall = time.perf_counter() - started
        with open(Path(exp_dir) / "log" / "train.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    steady = [float(r["audio_seconds_per_second"]) for r in rows[1:]] or [float(rows[-1]["audio_seconds_per_second"])]
    cuda = torch.cuda.is_available() and (device or "cuda").startswith("cuda")
    return {
        "config": str(config_path),
        "encoder": config.model.encoder,
        "model": to_dict(config.model),
        "steps": steps,
        "wall_seconds": round(wall, 1),
        "audio_seconds_per_second": round(sum(steady) / len(steady), 1),
        "peak_gpu_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "device": device or ("cuda" if torch.cuda.is_available() else "cpu"),
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", required=True, type=Path, help="training manifest (feature or plain)")
    parser.add_argument("--config", nargs="+", type=Path, default=[Path("recipes/dialect/conf/train.yaml")])
    parser.add_argument("--steps", type=int, default=100, help="optimizer steps per config (default 100)")
    parser.add_argument("--device", default=None, help="cpu, cuda (default: cuda when available)")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/train.json"))
    args = parser.parse_args()

    results = [measure(c, args.manifest, args.steps, args.device) for c in args.config]
    print(f"{'config':<45} {'encoder':<12} {'steps':>6} {'wall s':>8} {'audio s/s':>10} {'GPU GB':>7}")
    for r in results:
        gpu = "-" if r["peak_gpu_memory_gb"] is None else f"{r['peak_gpu_memory_gb']:.2f}"
        print(f"{r['config']:<45} {r['encoder']:<12} {r['steps']:>6} {r['wall_seconds']:>8.1f} "
              f"{r['audio_seconds_per_second']:>10.1f} {gpu:>7}")
    write_json(args.output, {"machine": platform.platform(), "processor": platform.processor(), "results": results})
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
