"""Fine-tuning Whisper-base's encoder with a CTC head on this machine: throughput and memory per option.

Trains the dialect recipe's Whisper config (``recipes/dialect/conf/whisper/train.yaml``) from a
local ``transformers`` Whisper directory for ``--steps`` optimizer steps, once per option, each
a real ``asr train --init DIR --cpu-procs N`` run (as the recipe trains) in a temporary
experiment directory without a dev set:

* ``full``: every encoder layer trains (the convolutional front end stays frozen);
* ``top2``: the top 2 of the encoder's layers train, the lower ones stay frozen;
* ``lora``: LoRA adapters of rank 8 on the attention projections (q, k, v, out), the
  pretrained weights frozen.

The CTC head trains in every option. Figures: steps per second and audio seconds per second
(from ``log/train.csv``, leaving out the first logging window: model load, first batches),
peak resident memory of the largest process (the training workers, ``wait4``'s
``ru_maxrss``), trainable parameters, and the load average before and after, since other
work on the machine slows every figure.

    python benchmarks/bench_whisper_finetune.py --data-dir data_manifests/synthetic \\
        --init models/whisper-base-transformers --steps 30 --output benchmarks/results/whisper_finetune.json

``--dev dev.jsonl`` also says what each option gives for its cost: the run validates on that
manifest of ``--data-dir`` at its last step (greedy CTC, the trainer's own validation) and
``dev_cer`` is that CER, after the same ``--steps`` under one cosine schedule per option:

    python benchmarks/bench_whisper_finetune.py --steps 240 --dev dev.jsonl \
        --output benchmarks/results/whisper_finetune_dev.json

Prints one table row per option and writes JSON.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from asr.config import to_dict
from asr.io import write_json
from asr.models import build_model
from asr.models.hf import count_trainable
from asr.train.config import TrainConfig, load_train_config

CONFIG = Path("recipes/dialect/conf/whisper/train.yaml")
#: Each option as overrides of ``model.whisper``.
OPTIONS = {
    "full": {"unfreeze_layers": None, "lora": {"rank": 0}},
    "top2": {"unfreeze_layers": 2, "lora": {"rank": 0}},
    "lora": {"unfreeze_layers": None, "lora": {"rank": 8, "alpha": 16.0,
                                               "targets": ["q_proj", "k_proj", "v_proj", "out_proj"]}},
}
#: Vocabulary size for counting trainable parameters (the dialect corpus has about 760 characters).
VOCAB_SIZE = 760


def option_config(base: Path, option: str, steps: int) -> dict:
    """The base config as a dict with ``option``'s model overrides, ``steps`` steps, no validation but
    at the end (when a dev set is given) and no checkpoint but the last."""
    data = yaml.safe_load(base.read_text(encoding="utf-8"))
    data["model"]["whisper"] = {**data["model"]["whisper"], **OPTIONS[option]}
    log_every = max(1, steps // 6)
    data.update(max_steps=steps, log_every=log_every, valid_every=10**9, checkpoint_every=10**9,
                average={"mode": "last", "num": 1})
    return data


def trainable_parameters(config: TrainConfig, init: Path) -> tuple[int, int]:
    """``(trainable, total)`` parameters of ``config``'s model loaded from ``init``."""
    import dataclasses

    whisper = dataclasses.replace(config.model.whisper, init=str(init))
    network = build_model(dataclasses.replace(config.model, whisper=whisper), VOCAB_SIZE)
    return count_trainable(network)


def run_training(config_path: Path, manifest: Path, init: Path, exp_dir: Path, cpu_procs: int,
                 dev: Path | None = None) -> tuple[float, float]:
    """One ``asr train`` run; returns its wall seconds and the peak RSS (MB) of its largest process."""
    command = [sys.executable, "-m", "asr", "train", "--config", str(config_path), "--train-manifest", str(manifest),
               "--exp-dir", str(exp_dir), "--init", str(init), "--cpu-procs", str(cpu_procs), "--device", "cpu",
               "--no-progress", "-q"]
    if dev is not None:
        command += ["--dev-manifest", str(dev)]
    started = time.perf_counter()
    proc = subprocess.Popen(command)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"asr train failed (exit {proc.returncode}): {' '.join(command)}")
    return wall, usage.ru_maxrss / 1024  # Linux: kilobytes


def steady_figures(train_csv: Path) -> dict:
    """Steps/s and audio s/s after the first logging window."""
    with open(train_csv, newline="") as f:
        rows = [{k: float(v) for k, v in r.items() if v not in ("", None)} for r in csv.DictReader(f)]
    if len(rows) < 2:
        raise SystemExit(f"{train_csv}: fewer than two logging windows; use more --steps")
    first, last = rows[0], rows[-1]
    steps_per_second = (last["step"] - first["step"]) / max(last["elapsed_seconds"] - first["elapsed_seconds"], 1e-9)
    audio = [r["audio_seconds_per_second"] for r in rows[1:]]
    return {"steps_per_second": round(steps_per_second, 4), "audio_seconds_per_second": round(sum(audio) / len(audio), 2),
            "final_loss": round(last["loss"], 3), "logged_steps": int(last["step"])}


def final_dev_cer(valid_csv: Path) -> float:
    """The dev CER of the last validation in ``log/valid.csv``."""
    with open(valid_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise SystemExit(f"{valid_csv}: no validation was logged")
    return round(float(rows[-1]["dev_cer"]), 4)


def measure(option: str, args: argparse.Namespace) -> dict:
    """Train ``args.steps`` steps with ``option``; the figures described in the module docstring."""
    data = option_config(args.config, option, args.steps)
    config = load_train_config(None, data)
    trainable, total = trainable_parameters(config, args.init)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp) / f"{option}.yaml"
        config_path.write_text(yaml.safe_dump(data), encoding="utf-8")
        exp_dir = Path(tmp) / "exp"
        dev = args.data_dir / args.dev if args.dev else None
        wall, peak_mb = run_training(config_path, args.data_dir / args.manifest, args.init, exp_dir, args.cpu_procs, dev)
        figures = steady_figures(exp_dir / "log" / "train.csv")
        if dev is not None:
            figures["dev_cer"] = final_dev_cer(exp_dir / "log" / "valid.csv")
    return {
        "option": option, "model": to_dict(config.model), "optimizer": to_dict(config.optimizer),
        "max_frames": config.batching.max_frames, "steps": args.steps, "cpu_procs": args.cpu_procs,
        "wall_seconds": round(wall, 1), **figures, "trainable_parameters": trainable, "parameters": total,
        "peak_rss_mb_per_process": round(peak_mb), "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("data_manifests/synthetic"),
                        help="the dialect corpus (stages 0-1 of the recipe); read only")
    parser.add_argument("--manifest", default="train.jsonl", help="the training manifest in --data-dir (default train.jsonl)")
    parser.add_argument("--init", type=Path, default=Path("models/whisper-base-transformers"),
                        help="a transformers Whisper directory (recipes/dialect/local/get_whisper_base.sh OUT --convert)")
    parser.add_argument("--config", type=Path, default=CONFIG, help=f"the base training config (default {CONFIG})")
    parser.add_argument("--options", nargs="+", choices=list(OPTIONS), default=list(OPTIONS))
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps per option (default 30)")
    parser.add_argument("--dev", default=None,
                        help="a dev manifest in --data-dir (e.g. dev.jsonl): validate at the last step, report dev_cer")
    parser.add_argument("--cpu-procs", type=int, default=2, help="training processes, as the recipe's --cpu-procs (default 2)")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/whisper_finetune.json"))
    args = parser.parse_args()
    if not (args.init / "config.json").is_file():
        raise SystemExit(f"{args.init}: no config.json (run: bash recipes/dialect/local/get_whisper_base.sh "
                         "models/whisper-base --convert)")

    results = []
    for option in args.options:
        results.append(measure(option, args))
        write_json(args.output, {"machine": platform.platform(), "processor": platform.processor(),
                                 "cpus": os.cpu_count(), "manifest": str(args.data_dir / args.manifest),
                                 "results": results})
    print(f"{'option':<6} {'trainable':>10} {'steps':>6} {'wall s':>7} {'steps/s':>8} {'audio s/s':>10} "
          f"{'RSS MB':>7} {'load':>9} {'dev CER':>8}")
    for r in results:
        print(f"{r['option']:<6} {r['trainable_parameters'] / 1e6:>9.2f}M {r['steps']:>6} {r['wall_seconds']:>7.1f} "
              f"{r['steps_per_second']:>8.3f} {r['audio_seconds_per_second']:>10.1f} {r['peak_rss_mb_per_process']:>7} "
              f"{r['load_average_before']:>4.1f}-{r['load_average_after']:<4.1f} "
              f"{r['dev_cer'] * 100 if 'dev_cer' in r else float('nan'):>7.1f}%")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
