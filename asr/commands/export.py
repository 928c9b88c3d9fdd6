"""``asr export --model DIR --format onnx [--int8 [--int8-range R]] [--opset N]``: ONNX files for ONNX Runtime."""

from __future__ import annotations

import argparse

HELP = "export a model directory's network to ONNX (model.onnx; with --int8 also model.int8.onnx)"
DESCRIPTION = (
    HELP + ", with dynamic batch and length axes, next to model.safetensors. The export is checked "
    "against PyTorch on a batch of another shape before it is written. Run it with "
    "`asr transcribe --backend onnx` or `asr decode --backend onnx`."
)
FORMATS = ("onnx",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model directory (from `asr train`)")
    parser.add_argument("--format", choices=FORMATS, default="onnx", help="export format (default onnx)")
    parser.add_argument("--int8", action="store_true",
                        help="also write model.int8.onnx: int8 weights, dynamically quantised MatMuls")
    parser.add_argument("--int8-range", choices=("auto", "full", "reduced"), default="auto",
                        help="int8 weights: full 8 bits, or reduced to 7 for x86 CPUs without VNNI, where full-range "
                             "weights saturate in ONNX Runtime (default auto: reduced unless this CPU has VNNI or AMX; "
                             "choose for the CPU that will run the model)")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset, 17 or newer (default 17)")


def run(args: argparse.Namespace) -> int:
    from asr.decode.export import export_onnx

    options = {"opset": args.opset} if args.opset is not None else {}
    result = export_onnx(args.model, int8=args.int8, int8_range=args.int8_range, **options)
    print(f"wrote {result.path} ({result.size / 1e6:.1f} MB, opset {result.opset}; "
          f"max |ONNX - PyTorch| {result.max_abs_diff:.2g})")
    if result.int8_path is not None:
        print(f"wrote {result.int8_path} ({result.int8_size / 1e6:.1f} MB, int8 with {result.int8_range} range; "
              f"max |int8 - PyTorch| {result.int8_max_abs_diff:.2g})")
    return 0
