"""The ``asr`` command line: a thin layer over the library.

Each subcommand lives in its own module under :mod:`asr.commands` and defines
``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``; this file
only discovers them, parses arguments and turns :class:`~asr.errors.AsrError` into
one line on stderr and a non-zero exit (a traceback only with ``--debug``).
Subcommand modules import heavy libraries (torch, transformers) inside ``run``,
so ``asr --help`` stays fast, and so that ``asr score`` and ``asr audit`` run in the
core install, without them.

Every subcommand takes ``-q/--quiet`` (warnings and errors only, no progress),
``-v/--verbose`` (debug logging) and ``--debug`` (``-v`` and tracebacks), before or after
its name. ``asr completion bash|zsh|tcsh`` prints a shell completion script (``shtab``).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import pkgutil
import re
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
        epilog="Run `asr COMMAND --help` for a command's options and examples.",
    )
    parser.add_argument("--version", action=_VersionAction,
                        help="print the version of asr and of torch, torchaudio, transformers, onnxruntime, and exit")
    _add_verbosity(parser, None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _command_modules():
        p = sub.add_parser(name, help=module.HELP, description=plain_text(getattr(module, "DESCRIPTION", module.HELP)))
        module.add_arguments(p)
        for leaf in _with_subcommands(p):  # asr manifest validate -q works as asr -q manifest validate
            _add_verbosity(leaf, argparse.SUPPRESS)
        p.set_defaults(_run=module.run)
    _add_completion(sub, parser)
    return parser


def _with_subcommands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """``parser`` and every parser below it (``asr manifest`` and ``asr manifest validate``...)."""
    found = [parser]
    for action in parser._actions:  # argparse keeps subparsers in a private action; there is no public API
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                found += _with_subcommands(child)
    return found


def _add_verbosity(parser: argparse.ArgumentParser, default) -> None:
    """``-q``, ``-v`` and ``--debug``, on the top-level parser and (defaults suppressed) on each subcommand."""
    kw = {} if default is None else {"default": default}
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only, no progress", **kw)
    group.add_argument("-v", "--verbose", action="store_true", help="debug logging", **kw)
    parser.add_argument("--debug", action="store_true", help="debug logging and tracebacks", **kw)


def _add_completion(sub, parser: argparse.ArgumentParser) -> None:
    p = sub.add_parser("completion", help="print a shell completion script: eval \"$(asr completion bash)\"",
                       description="Print a completion script for bash, zsh or tcsh, generated from asr's own "
                                   "parser by shtab. Example: asr completion bash > ~/.local/share/bash-completion/"
                                   "completions/asr")
    p.add_argument("shell", choices=("bash", "zsh", "tcsh"))
    _add_verbosity(p, argparse.SUPPRESS)
    p.set_defaults(_run=lambda args: _print_completion(parser, args.shell))


def _print_completion(parser: argparse.ArgumentParser, shell: str) -> int:
    import shtab

    print(shtab.complete(parser, shell=shell))
    return 0


_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")


def plain_text(text: str) -> str:
    """A docstring as help prose: Sphinx roles and double backticks dropped, doctest lines removed.

    >>> plain_text(":func:`asr.audio.load_audio` reads ``x.wav``")
    'asr.audio.load_audio reads x.wav'
    """
    lines = [line for line in text.splitlines() if not line.lstrip().startswith((">>>", "..."))]
    return _LITERAL.sub(r"\1", _ROLE.sub(lambda m: m.group(1).split(".")[-1] if m.group(0).startswith(":class:")
                                          else m.group(1), "\n".join(lines))).strip()


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
    if debug or getattr(args, "verbose", False):
        level = logging.DEBUG
    elif getattr(args, "quiet", False) or other_rank:
        level = logging.WARNING
    else:
        level = logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger().setLevel(level)  # also when logging was configured before (main called twice in a process)
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
        if importlib.util.find_spec("torch") is None:
            missing = "torch"  # the stack's core: name it, whichever of its modules an import reached first
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
