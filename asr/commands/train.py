"""``asr train``: train a CTC model; the final model goes to ``<exp-dir>/model``.

One command whatever the hardware: ``--gpus N`` (on a machine with CUDA) or ``--cpu-procs N``
(without) runs N processes under ``torchrun`` (:mod:`asr.train.launch`); an external
``torchrun --nproc_per_node 8 -m asr train ...`` works too.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import NoReturn

HELP = "train a CTC recognizer (resumable; several GPUs or CPU processes)"
DESCRIPTION = (
    "Train a CTC recognizer from a training and a dev manifest (feature manifests from `asr features`, "
    "or plain manifests with inputs.source: audio). Checkpoints go to EXP_DIR/checkpoints, logs to "
    "EXP_DIR/log (CSV) and EXP_DIR/tensorboard, the final model to EXP_DIR/model. With --gpus N or "
    "--cpu-procs N > 1, the command runs N processes under torchrun (DistributedDataParallel); one run "
    "at a time holds EXP_DIR."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="training config YAML (e.g. recipes/dialect/conf/train.yaml)")
    parser.add_argument("--train-manifest", nargs="+", required=True,
                        help="training manifest(s) (.jsonl[.gz]; several, or a glob: e.g. 'data/train/shard-*.jsonl.gz')")
    parser.add_argument("--dev-manifest", nargs="+", default=None,
                        help="dev manifest(s) for CER, early stopping and model choice")
    parser.add_argument("--exp-dir", required=True, help="experiment directory (checkpoints, logs, model/)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint (= --if-exists resume)")
    parser.add_argument("--if-exists", choices=("error", "resume", "auto"), default="error",
                        help="when EXP_DIR has checkpoints: error (default); resume; auto: resume an unfinished run "
                             "of the same config and inputs, else move EXP_DIR aside to EXP_DIR.<date>-<time>")
    parser.add_argument("--init", default=None, metavar="DIR",
                        help="fine-tune from an asr model directory (e.g. exp/baseline/model), or from a local "
                             "Hugging Face checkpoint (wav2vec2-family or Whisper encoders)")
    parser.add_argument("--aligner", default=None, metavar="DIR",
                        help="a model directory (e.g. a tdnn trained with this command) to bundle into the trained "
                             "model as its aligner: asr transcribe's character times come from its CTC spikes")
    parser.add_argument("--device", default="auto", help="auto (default: cuda when a GPU is visible), cpu, cuda or cuda:N")
    parser.add_argument("--gpus", type=int, default=1, help="training processes on a machine with CUDA, one per GPU "
                        "(default 1; 0: train on the CPU)")
    parser.add_argument("--cpu-procs", type=int, default=1, help="training processes when training on the CPU "
                        "(default 1, with every core; N > 1: DDP over gloo, one thread each)")
    parser.add_argument("--max-steps", type=int, default=None, help="override max_steps of the config")
    parser.add_argument("--seed", type=int, default=None, help="override seed of the config (initial weights, batches)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from asr.config import to_dict
    from asr.io import die_with_parent
    from asr.train.config import load_train_config
    from asr.train.launch import (
        ExperimentLock, forget_run_that_never_started, is_launched_worker, plan_launch, prepare_exp_dir,
        run_digest, run_torchrun, under_torchrun,
    )

    from asr.manifest.sets import expand_globs

    args.train_manifest = expand_globs(args.train_manifest, "--train-manifest")
    if args.dev_manifest:
        args.dev_manifest = expand_globs(args.dev_manifest, "--dev-manifest")
    if under_torchrun():
        # A worker: of the torchrun this command started (which decided about EXP_DIR already), or of
        # the user's own torchrun (then every rank must be told --resume or nothing, as before).
        die_with_parent()  # a killed torchrun (ours or the user's) takes its workers with it
        if not is_launched_worker() and args.if_exists == "auto":
            from asr.errors import AsrError

            raise AsrError("--if-exists auto needs asr train to start the processes itself: use --gpus N or "
                           "--cpu-procs N instead of an outer torchrun")
        code = _train(args, args.device if args.device != "auto" else None, args.resume or args.if_exists == "resume")
        _exit_worker(code)
    launch = plan_launch(args.device, args.gpus, args.cpu_procs)
    config = load_train_config(args.config)
    if args.aligner:
        from asr.errors import AsrError
        from asr.models.model_dir import load_model

        try:
            load_model(args.aligner)  # an unusable aligner fails now, not after the training
        except AsrError as e:
            raise AsrError(f"--aligner: {e}") from None
    digest = run_digest({**to_dict(config), "max_steps_override": args.max_steps, "seed_override": args.seed},
                        [*args.train_manifest,
                        *(args.dev_manifest or [])], args.init, launch)
    existed = Path(args.exp_dir).exists()
    with ExperimentLock(args.exp_dir) as lock:
        resume = prepare_exp_dir(lock, digest, "resume" if args.resume else args.if_exists)
        try:
            if launch.distributed:
                code = run_torchrun(launch, _worker_args(args, launch.device, resume))
            else:
                code = _train(args, launch.device, resume)
        except BaseException:
            forget_run_that_never_started(lock.exp_dir, existed)
            raise
        if code != 0:
            forget_run_that_never_started(lock.exp_dir, existed)
        return code


def _train(args: argparse.Namespace, device: str | None, resume: bool) -> int:
    from asr.train.trainer import train

    result = train(
        args.config, args.train_manifest, args.dev_manifest, args.exp_dir, resume=resume, init=args.init,
        device=device, max_steps=args.max_steps, progress=args.progress, seed=args.seed,
    )
    if os.environ.get("RANK", "0") != "0":
        return 0
    if args.aligner:
        from asr.models.model_dir import bundle_aligner

        print(f"aligner: {bundle_aligner(result.model_dir, args.aligner)} (from {args.aligner})")
    if result.final_dev_cer is not None:
        print(f"model: {result.model_dir} ({result.steps} steps, dev CER {100 * result.final_dev_cer:.2f}%)")
    else:
        print(f"model: {result.model_dir} ({result.steps} steps)")
    return 0


def _exit_worker(code: int) -> NoReturn:
    """End a torchrun worker whose outputs are written: flush, then leave without interpreter teardown.

    The process group is destroyed by then, but gloo's C++ threads can still be torn down during
    interpreter finalization in an order that calls ``std::terminate`` ("terminate called without
    an active exception", SIGABRT) after the work is done and saved; torchrun then reports the
    whole run failed. ``os._exit`` skips that finalization (no atexit handlers, no static
    destructors), so a finished worker's exit status is its result.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


def _worker_args(args: argparse.Namespace, device: str, resume: bool) -> list[str]:
    """The ``asr train`` arguments of each torchrun worker: this command's, launched and decided."""
    out = ["--config", args.config, "--train-manifest", *args.train_manifest, "--exp-dir", args.exp_dir,
           "--device", device]
    if args.dev_manifest:
        out += ["--dev-manifest", *args.dev_manifest]
    if args.init:
        out += ["--init", args.init]
    if args.aligner:
        out += ["--aligner", args.aligner]
    if args.max_steps is not None:
        out += ["--max-steps", str(args.max_steps)]
    if args.seed is not None:
        out += ["--seed", str(args.seed)]
    if resume:
        out.append("--resume")
    if not args.progress:
        out.append("--no-progress")
    return out
