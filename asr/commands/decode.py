"""``asr decode``: decode test manifests into results files (stage 4)."""

from __future__ import annotations

import argparse
import dataclasses

from asr.decode.engines import ENGINES

HELP = "decode manifests with a model into results-<stem>.jsonl files (per-utterance edits + metadata)"
DESCRIPTION = (
    HELP + ". The model is an asr model directory (greedy CTC by default; --beam-size N for prefix beam "
    "search, with --lm PATH from `asr lm` and --lm-weight W for shallow fusion), or, with --engine, another "
    "recognizer in a local directory: a transformers CTC checkpoint (hf-ctc), a transformers Whisper "
    "checkpoint (hf-whisper) or a CTranslate2 Whisper directory (faster-whisper). Prints the CER overall "
    "and per dialect; `asr audit --results` reads the files."
)
EPILOG = """\
examples:
  asr decode --model exp/baseline/model --manifests data/test.jsonl --output-dir exp/baseline/decode
  asr decode --engine hf-ctc --model /models/wav2vec2-large-xlsr-zh --manifests data/test.jsonl --output-dir exp/xlsr
  asr decode --engine faster-whisper --model /models/whisper-base-ct2 --language zh --manifests data/test.jsonl \\
      --output-dir exp/whisper-base
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--model", required=True, help="model directory (from `asr train`, or of --engine's kind)")
    parser.add_argument("--engine", choices=ENGINES, default="asr",
                        help="what reads --model: asr (default), hf-ctc, hf-whisper or faster-whisper")
    parser.add_argument("--manifests", nargs="+", required=True, help="manifests to decode (.jsonl[.gz])")
    parser.add_argument("--output-dir", required=True, help="directory for results-<stem>.jsonl and .meta.json")
    parser.add_argument("--config", default=None, help="decoding config YAML (keys of asr.decode.batch.DecodeConfig)")
    parser.add_argument("--beam-size", type=int, default=None, help="beam width (1: greedy; default from config, 1)")
    parser.add_argument("--lm", default=None, help="n-gram LM file from `asr lm` (JSON or ARPA)")
    parser.add_argument("--lm-weight", type=float, default=None, help="LM weight in shallow fusion (default 0.3)")
    parser.add_argument("--insertion-bonus", type=float, default=None, help="score added per emitted token")
    parser.add_argument("--batch-size", type=int, default=None, help="utterances per batch (default 32)")
    parser.add_argument("--no-normalize", default=None, metavar="STEPS",
                        help="normalisation steps to leave out when scoring, comma-separated: nfkc, tags, numerals, "
                             "t2s, punctuation, lowercase (default: every step on both sides)")
    parser.add_argument("--to-simplified", action="store_true", help=argparse.SUPPRESS)  # asr < 0.2: t2s is a default step now
    parser.add_argument("--language", default=None, help="Whisper engines: the spoken language (default zh; 'auto': detect)")
    parser.add_argument("--task", choices=("transcribe", "translate"), default=None, help="Whisper engines (default transcribe)")
    parser.add_argument("--compute-type", default=None, help="faster-whisper: float32 (default), int8, float16, ...")
    parser.add_argument("--device", default="auto", help="auto (default: cuda when a GPU is visible), cpu, cuda, cuda:N")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar or lines")
    parser.add_argument("--backend", choices=("pytorch", "onnx", "onnx-int8"), default="pytorch",
                        help="inference engine: PyTorch, or ONNX Runtime on the model from `asr export` (default pytorch)")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads of the ONNX Runtime session")


def run(args: argparse.Namespace) -> int:
    from asr.config import load_config, to_dict
    from asr.decode.batch import DecodeConfig, decode_manifests
    from asr.text import Normalization

    overrides = {
        "beam_size": args.beam_size,
        "lm": args.lm,
        "lm_weight": args.lm_weight,
        "insertion_bonus": args.insertion_bonus,
        "batch_size": args.batch_size,
        "normalization": None if args.no_normalize is None else to_dict(Normalization.without(args.no_normalize)),
        "language": args.language,
        "task": args.task,
        "compute_type": args.compute_type,
    }
    config = load_config(DecodeConfig, args.config, overrides)
    if config.language == "auto":
        config = dataclasses.replace(config, language=None)
    device = args.device
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() and args.backend == "pytorch" else "cpu"
    decode_manifests(args.model, args.manifests, args.output_dir, config, device=device, progress=args.progress,
                     backend=args.backend, threads=args.threads, engine=args.engine)
    return 0
