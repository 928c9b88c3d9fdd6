"""``asr transcribe INPUT...``: transcribe audio files of any format, rate and length.

Inputs are audio files, directories (searched recursively for audio files), ``@list.txt`` (one
path a line) or ``-`` (paths on stdin). With ``--output-dir`` each transcript is written to the
input's path relative to the inputs' common directory, so ``a/x.wav`` and ``b/x.wav`` never
overwrite each other.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HELP = "transcribe audio files or directories (wav, flac, ogg, mp3; any rate, any length) as txt, json, srt, vtt or tsv"
DESCRIPTION = (
    "Transcribe audio files with a trained model. Only the speech a voice-activity detector finds is "
    "decoded (--vad off decodes everything): silence gives an empty transcript and a note, never invented "
    "text; long recordings are decoded window by window, cut in pauses, with bounded memory. json, srt, vtt "
    "and tsv carry start and end times from CTC forced alignment (to the spikes of the model's bundled "
    "aligner when it has one), and confidences. A file that fails gets "
    "one error line on stderr, the others are still transcribed, and the exit status is then 1."
)
EPILOG = """\
inputs:
  FILE            an audio file
  DIR             every audio file below DIR (by extension: .wav .flac .ogg .oga .mp3 .aif .aiff .au .w64)
  @LIST           the paths in the text file LIST, one a line
  -               the paths on standard input, one a line
examples:
  asr transcribe speech.wav
  asr transcribe recordings/ --format all --output-dir transcripts/
  find /data -name '*.flac' | asr transcribe - --format srt --output-dir subs/
"""
#: Where the dialect recipe leaves its baseline model (relative to the working directory).
DEFAULT_MODEL = "recipes/dialect/exp/baseline/model"
MODEL_ENV = "ASR_MODEL"
TRAIN_COMMAND = "bash recipes/dialect/run.sh --stop-stage 3"
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".au", ".w64")
CHOICES = ("txt", "json", "srt", "vtt", "tsv", "all")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files, directories, @LIST or - (see below)")
    parser.add_argument("--model", default=None,
                        help=f"model directory (default: ${MODEL_ENV}, else {DEFAULT_MODEL})")
    parser.add_argument("--format", choices=(*CHOICES, "text"), default="txt", metavar="{" + ",".join(CHOICES) + "}",
                        help="output format (default txt; all: every format, with --output-dir)")
    parser.add_argument("--timestamps", choices=("token", "segment"), default="token",
                        help="srt/vtt/tsv: one cue/row per token, i.e. per character (default), or per segment "
                             "(tokens between pauses: subtitle-style cues)")
    parser.add_argument("--output-dir", default=None,
                        help="write each transcript under here, at its input's path, instead of to stdout")
    parser.add_argument("--aligner", default="bundled", metavar="{bundled,none,DIR}",
                        help="whose CTC spikes give the times: bundled (default: the model's aligner/ when it has "
                             "one, else the model's own), none (the model's own), or an aligner's model directory")
    parser.add_argument("--vad", choices=("on", "off"), default="on",
                        help="decode only detected speech (default on); off: decode the whole recording")
    parser.add_argument("--vad-threshold", type=float, default=None, help="speech probability threshold (default 0.5)")
    parser.add_argument("--nonfinite", choices=("error", "zero"), default="error",
                        help="NaN or infinite samples: an error (default), or silence in their place")
    parser.add_argument("--beam-size", type=int, default=1, help="beam width (1: greedy, the default)")
    parser.add_argument("--lm", default=None, help="n-gram LM from `asr lm` for beam search")
    parser.add_argument("--lm-weight", type=float, default=0.3, help="LM weight (default 0.3)")
    parser.add_argument("--chunk-seconds", type=float, default=30.0, help="longest window decoded at once (default 30)")
    parser.add_argument("--device", default="auto", help="auto (default: cuda when a GPU is visible), cpu, cuda, cuda:N")
    parser.add_argument("--backend", choices=("pytorch", "onnx", "onnx-int8"), default="pytorch",
                        help="inference engine: PyTorch, or ONNX Runtime on the model from `asr export` (default pytorch)")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads of the ONNX Runtime session")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar or lines")


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


def expand_inputs(inputs: list[str], stdin=None) -> tuple[list[Path], list[str]]:
    """Audio files named by ``inputs`` (files, directories, ``@LIST``, ``-``), in order, each once; and
    one message for each input that names no audio (an unreadable list, a directory without audio)."""
    found: list[Path] = []
    problems: list[str] = []
    for item in inputs:
        if item == "-":
            names = [line.strip() for line in (stdin or sys.stdin) if line.strip()]
            more, bad = expand_inputs(names)
            found, problems = found + more, problems + bad
        elif item.startswith("@"):
            listing = Path(item[1:])
            try:
                names = [line.strip() for line in listing.read_text(encoding="utf-8").splitlines() if line.strip()]
            except (OSError, UnicodeDecodeError) as e:
                problems.append(f"{listing}: cannot read the list of inputs ({e})")
                continue
            more, bad = expand_inputs(names)
            found, problems = found + more, problems + bad
        elif Path(item).is_dir():
            files = sorted(p for p in Path(item).rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
            if not files:
                problems.append(f"{item}: no audio files below this directory (expected {', '.join(AUDIO_EXTENSIONS)})")
            found += files
        else:
            found.append(Path(item))  # a missing or bad file is reported when it is transcribed
    return list(dict.fromkeys(found)), problems


def output_paths(files: list[Path], output_dir: Path) -> dict[Path, Path]:
    """Each input's place under ``output_dir``: its path relative to the inputs' common directory
    (suffix dropped), so distinct inputs never share an output."""
    absolute = [p.resolve() for p in files]
    common = Path(os.path.commonpath([p.parent for p in absolute])) if absolute else Path("/")
    return {p: output_dir / a.relative_to(common).with_suffix("") for p, a in zip(files, absolute)}


def run(args: argparse.Namespace) -> int:
    from asr.decode.formats import FORMATS, TSV_HEADER, format_transcript
    from asr.decode.onnx_runtime import load_backend
    from asr.decode.transcription import transcribe
    from asr.decode.vad import VadOptions
    from asr.errors import AsrError
    from asr.io import atomic_write, progress

    fmt = "text" if args.format in ("txt", "text") else args.format
    if fmt == "all" and not args.output_dir:
        raise AsrError("--format all writes one file per format: give --output-dir")
    files, problems = expand_inputs(args.inputs)
    for problem in problems:
        print(f"asr transcribe: error: {problem}", file=sys.stderr, flush=True)
    if not files:
        raise AsrError("no input files" + (f" ({len(problems)} input(s) named none)" if problems else
                                          " (the list or standard input was empty)"))
    formats = list(FORMATS) if fmt == "all" else [fmt]
    device = _device(args.device)
    model = load_backend(resolve_model_dir(args.model), args.backend, device, args.threads)
    lm = None
    if args.lm:
        from asr.decode.lm import load_lm

        lm = load_lm(args.lm)
    aligner = {"bundled": True, "none": False}.get(args.aligner)
    if aligner is None:
        from asr.decode.transcription import resolve_aligner
        from asr.models.model_dir import load_model

        try:
            aligner = resolve_aligner(model, load_model(args.aligner, device=device))
        except AsrError as e:
            raise AsrError(f"--aligner: {e}") from None
    vad_options = VadOptions() if args.vad_threshold is None else VadOptions(threshold=args.vad_threshold)
    outputs = output_paths(files, Path(args.output_dir)) if args.output_dir else {}
    if fmt == "tsv" and not args.output_dir:
        print(TSV_HEADER, flush=True)
    failed, audio_seconds, started = len(problems), 0.0, time.perf_counter()
    bar = progress(len(files), "transcribe", "file", enabled=args.progress)
    for path in files:
        clock = time.perf_counter()
        try:
            result = transcribe(model, path, beam_size=args.beam_size, lm=lm, lm_weight=args.lm_weight,
                                chunk_seconds=args.chunk_seconds, vad=args.vad == "on", vad_options=vad_options,
                                nonfinite=args.nonfinite, aligner=aligner)
        except AsrError as e:
            failed += 1
            print(f"asr transcribe: error: {e}", file=sys.stderr, flush=True)
            bar.update(1)
            continue
        except (RuntimeError, ValueError, OSError, MemoryError) as e:  # decoder or network failure on this file
            failed += 1
            print(f"asr transcribe: error: {path}: {type(e).__name__}: {e}".splitlines()[0], file=sys.stderr, flush=True)
            bar.update(1)
            continue
        seconds = time.perf_counter() - clock
        audio_seconds += result.duration
        written = []
        for f in formats:
            text = format_transcript(result, f, args.timestamps)
            if path in outputs:
                out = outputs[path].with_name(f"{outputs[path].name}.{FORMATS[f]}")
                with atomic_write(out) as handle:
                    handle.write((TSV_HEADER + "\n" if f == "tsv" else "") + text)
                written.append(out)
            else:
                _print(text, f, path, many=len(files) > 1)
        _summary(path, result, seconds, written)
        bar.update(1)
        bar.set_postfix(audio=f"{audio_seconds:.0f}s", rtf=f"{(time.perf_counter() - started) / max(audio_seconds, 1e-9):.3f}")
    bar.close()
    if failed:
        raise AsrError(f"{failed} of {len(files) + len(problems)} input(s) failed")
    return 0


def _device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _print(text: str, fmt: str, path: Path, many: bool) -> None:
    if fmt == "text" and many:
        print(f"{path}\t{text}", end="", flush=True)
    elif fmt in ("srt", "vtt") and many:
        print(f"==> {path} <==\n{text}", end="", flush=True)
    else:
        print(text, end="", flush=True)


def _summary(path: Path, result, seconds: float, written: list[Path]) -> None:
    """One line on stderr per file: what was found, how fast, where it went."""
    if result.note:
        print(f"asr transcribe: {path}: {result.note} ({result.duration:.1f} s of audio)", file=sys.stderr, flush=True)
    if not written:
        return
    speech = f", {result.speech_seconds:.1f} s of speech" if result.speech_seconds is not None else ""
    print(f"{path}: {result.duration:.1f} s{speech}, {len(result.tokens)} tokens, confidence {result.confidence:.2f}, "
          f"RTF {seconds / max(result.duration, 1e-9):.3f} -> {', '.join(map(str, written))}", file=sys.stderr, flush=True)
