"""``asr transcribe FILE [FILE ...]``: transcribe audio files of any format, rate and length."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HELP = "transcribe audio files (wav, flac, ogg, mp3; any rate, any length) as text, json, srt or tsv"
DESCRIPTION = (
    HELP + ". json, srt and tsv carry start and end times from CTC forced alignment and confidences; "
    "long recordings are decoded in chunks with bounded memory. A file that fails gets one error "
    "line on stderr, the others are still transcribed, and the exit status is then 1."
)
#: Where the dialect recipe leaves its baseline model (relative to the working directory).
DEFAULT_MODEL = "recipes/dialect/exp/baseline/model"
MODEL_ENV = "ASR_MODEL"
TRAIN_COMMAND = "bash recipes/dialect/run.sh --stop-stage 3"
EXTENSIONS = {"text": "txt", "json": "json", "srt": "srt", "tsv": "tsv"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="audio files")
    parser.add_argument("--model", default=None,
                        help=f"model directory (default: ${MODEL_ENV}, else {DEFAULT_MODEL})")
    parser.add_argument("--format", choices=tuple(EXTENSIONS), default="text", help="output format (default text)")
    parser.add_argument("--timestamps", choices=("token", "segment"), default="token",
                        help="srt/tsv: one cue/row per token, i.e. per character (default), or per segment "
                             "(tokens between pauses: subtitle-style cues)")
    parser.add_argument("--output-dir", default=None,
                        help="write <file stem>.<txt|json|srt|tsv> here instead of printing to stdout")
    parser.add_argument("--beam-size", type=int, default=1, help="beam width (1: greedy, the default)")
    parser.add_argument("--lm", default=None, help="n-gram LM from `asr lm` for beam search")
    parser.add_argument("--lm-weight", type=float, default=0.3, help="LM weight (default 0.3)")
    parser.add_argument("--chunk-seconds", type=float, default=30.0, help="longest chunk decoded at once (default 30)")
    parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, ... (default cpu)")
    parser.add_argument("--backend", choices=("pytorch", "onnx", "onnx-int8"), default="pytorch",
                        help="inference engine: PyTorch, or ONNX Runtime on the model from `asr export` (default pytorch)")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads of the ONNX Runtime session")


def resolve_model_dir(model: str | None) -> Path:
    """``--model``, else ``$ASR_MODEL``, else the recipe's baseline; an AsrError naming the fix if absent."""
    from asr.errors import AsrError

    path = Path(model or os.environ.get(MODEL_ENV) or DEFAULT_MODEL)
    if not path.is_dir():
        how = "--model" if model else (f"${MODEL_ENV}" if os.environ.get(MODEL_ENV) else "the default")
        raise AsrError(
            f"no model at {path} ({how}); train one with `{TRAIN_COMMAND}` "
            f"or pass --model DIR (or set {MODEL_ENV})"
        )
    return path


def run(args: argparse.Namespace) -> int:
    from asr.errors import AsrError
    from asr.io import atomic_write
    from asr.decode.onnx_runtime import load_backend
    from asr.decode.transcription import TSV_HEADER, format_transcript, transcribe

    model = load_backend(resolve_model_dir(args.model), args.backend, args.device, args.threads)
    lm = None
    if args.lm:
        from asr.decode.lm import load_lm

        lm = load_lm(args.lm)
    failed = 0
    many = len(args.files) > 1
    if args.format == "tsv" and not args.output_dir:
        print(TSV_HEADER, flush=True)
    for path in args.files:
        try:
            result = transcribe(model, path, beam_size=args.beam_size, lm=lm, lm_weight=args.lm_weight,
                                chunk_seconds=args.chunk_seconds)
        except AsrError as e:
            failed += 1
            print(f"asr transcribe: error: {e}", file=sys.stderr, flush=True)
            continue
        except (RuntimeError, ValueError, OSError, MemoryError) as e:  # decoder or network failure on this file
            failed += 1
            print(f"asr transcribe: error: {path}: {type(e).__name__}: {e}".splitlines()[0], file=sys.stderr, flush=True)
            continue
        text = format_transcript(result, args.format, args.timestamps)
        if args.output_dir:
            out = Path(args.output_dir) / f"{Path(path).stem}.{EXTENSIONS[args.format]}"
            with atomic_write(out) as f:
                f.write((TSV_HEADER + "\n" if args.format == "tsv" else "") + text)
            print(f"{path}: wrote {out}", file=sys.stderr)
        elif args.format == "text" and many:
            print(f"{path}\t{text}", end="", flush=True)
        elif args.format == "srt" and many:
            print(f"==> {path} <==\n{text}", end="", flush=True)
        else:
            print(text, end="", flush=True)
    if failed:
        raise AsrError(f"{failed} of {len(args.files)} file(s) failed")
    return 0
