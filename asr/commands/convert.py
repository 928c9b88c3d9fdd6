"""``asr convert faster-whisper SRC_DIR OUT_DIR``: a CTranslate2 Whisper model as a ``transformers`` directory."""

from __future__ import annotations

import argparse

HELP = "convert a faster-whisper (CTranslate2) Whisper model directory into a transformers Whisper directory"
DESCRIPTION = (
    HELP + ": config.json, model.safetensors, generation_config.json (languages, tasks, suppressed "
    "tokens), preprocessor_config.json, and tokenizer.json when the source has one. model.bin is read "
    "without the ctranslate2 package; the weights keep the source's float dtype, and a quantized model "
    "is dequantized to float32. Fine-tune the result with `encoder: whisper` and `whisper: {init: OUT_DIR}` "
    "in a model config."
)
#: Source formats: ``faster-whisper`` is a CTranslate2 Whisper directory (model.bin, config.json, vocabulary).
SOURCES = ("faster-whisper",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source_format", choices=SOURCES,
                        help="faster-whisper: a CTranslate2 Whisper directory (model.bin, config.json, vocabulary.txt)")
    parser.add_argument("src_dir", metavar="SRC_DIR", help="the CTranslate2 model directory")
    parser.add_argument("out_dir", metavar="OUT_DIR",
                        help="the transformers directory to write (replaced if it is an empty or Whisper directory)")


def run(args: argparse.Namespace) -> int:
    from asr.models.ct2_whisper import convert_ct2_whisper

    result = convert_ct2_whisper(args.src_dir, args.out_dir)
    d = result.dims
    print(f"wrote {result.path}: Whisper d_model {d.d_model}, {d.encoder_layers} encoder and {d.decoder_layers} "
          f"decoder layers, {d.num_mel_bins} mel bins, vocabulary {d.vocab_size}, "
          f"{result.parameters / 1e6:.1f} M parameters, {result.dtype}")
    return 0
