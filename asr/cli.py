"""The ``asr`` command line: a thin layer over the library.

Each subcommand lives in its own module under :mod:`asr.commands` and defines
``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``; this file
only discovers them, parses arguments and turns :class:`~asr.errors.AsrError` into
one line on stderr and a non-zero exit (a traceback only with ``--debug``).
Subcommand modules import heavy libraries (torch, transformers) inside ``run``,
so ``asr --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
import traceback

from asr.errors import AsrError

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130
#: Top-level modules of the ``[speech]`` extra: a command that needs one says which extra installs it.
SPEECH_MODULES = frozenset({"torch", "torchaudio", "transformers", "safetensors", "soundfile", "librosa", "soxr",
                            "onnx", "onnxruntime", "espeakng_loader", "tensorboard"})


def _command_modules():
    import asr.commands

    for info in sorted(pkgutil.iter_modules(asr.commands.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            yield info.name.replace("_", "-"), importlib.import_module(f"asr.commands.{info.name}")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per module in :mod:`asr.commands`."""
    parser = argparse.ArgumentParser(
        prog="asr",
        description="Speech recognition for Mandarin and the Chinese dialects, with a per-group fairness audit.",
    )
    parser.add_argument("--version", action=_VersionAction,
                        help="print the version of asr and of torch, torchaudio, transformers, onnxruntime, and exit")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _command_modules():
        p = sub.add_parser(name, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP))
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


class _VersionAction(argparse.Action):
    """``--version``: the stack's versions come from installed metadata, so nothing heavy is imported."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from asr.provenance import version_report

        print(version_report())
        parser.exit()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    other_rank = os.environ.get("RANK", "0") != "0"  # under torchrun, rank 0 alone reports progress
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING if other_rank else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if not hasattr(args, "_run"):
        parser.print_help()
        return EXIT_ERROR
    try:
        return int(args._run(args) or 0)
    except AsrError as e:
        if debug:
            traceback.print_exc()
        print(f"asr {args.command}: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"asr {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ModuleNotFoundError as e:
        missing = (e.name or "").split(".")[0]
        if missing not in SPEECH_MODULES:
            raise
        if debug:
            traceback.print_exc()
        print(f"asr {args.command}: error: this command needs the recognizer stack ({missing} is not installed): "
              "pip install 'zh-dialect-asr[speech]' (asr score and asr audit work without it)", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader of our output went away (`asr score ... | head`): stop quietly, and keep
        # Python from raising again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR


def entry_point() -> None:
    sys.exit(main())
