"""``asr train``: train a CTC model; the final model goes to ``<exp-dir>/model``.

Multi-GPU or multi-node: launch the same command under ``torchrun``, e.g.
``torchrun --nproc_per_node 8 -m asr train --config ... --exp-dir ...``.
"""

from __future__ import annotations

import argparse
import os

HELP = "train a CTC recognizer (resumable; multi-GPU with torchrun)"
DESCRIPTION = (
    "Train a CTC recognizer from a training and a dev manifest (feature manifests from `asr features`, "
    "or plain manifests with inputs.source: audio). Checkpoints go to EXP_DIR/checkpoints, logs to "
    "EXP_DIR/log (CSV) and EXP_DIR/tensorboard, the final model to EXP_DIR/model. Under torchrun, "
    "every process trains on its share of the batches (DistributedDataParallel)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="training config YAML (e.g. recipes/dialect/conf/train.yaml)")
    parser.add_argument("--train-manifest", nargs="+", required=True,
                        help="training manifest(s) (.jsonl[.gz]; several: e.g. the shards of `asr manifest shard`)")
    parser.add_argument("--dev-manifest", nargs="+", default=None,
                        help="dev manifest(s) for CER, early stopping and model choice")
    parser.add_argument("--exp-dir", required=True, help="experiment directory (checkpoints, logs, model/)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --exp-dir")
    parser.add_argument("--init", default=None, metavar="DIR",
                        help="fine-tune from an asr model directory (e.g. exp/baseline/model), or from a local "
                             "Hugging Face checkpoint (wav2vec2-family or Whisper encoders)")
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument("--max-steps", type=int, default=None, help="override max_steps of the config")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from asr.train.trainer import train

    result = train(
        args.config, args.train_manifest, args.dev_manifest, args.exp_dir, resume=args.resume, init=args.init,
        device=args.device, max_steps=args.max_steps, progress=args.progress,
    )
    if os.environ.get("RANK", "0") != "0":
        return 0
    if result.final_dev_cer is not None:
        print(f"model: {result.model_dir} ({result.steps} steps, dev CER {100 * result.final_dev_cer:.2f}%)")
    else:
        print(f"model: {result.model_dir} ({result.steps} steps)")
    return 0
