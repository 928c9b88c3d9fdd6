"""``asr prepare <corpus>``: write manifests for the embedded or a local corpus.

Each corpus is a module in :mod:`asr.corpus` that defines ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil

HELP = "prepare a corpus (synthetic, kaldi, kespeech, aishell, commonvoice, lhotse, hf) into manifests"


def _corpus_modules():
    import asr.corpus

    for info in sorted(pkgutil.iter_modules(asr.corpus.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"asr.corpus.{info.name}")
        if hasattr(module, "NAME") and hasattr(module, "run"):
            yield module


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from asr.cli import plain_text

    sub = parser.add_subparsers(dest="corpus", metavar="CORPUS", required=True)
    for module in _corpus_modules():
        # the module's docstring documents the layout it reads: `asr prepare <corpus> --help` shows it
        p = sub.add_parser(module.NAME, help=module.HELP, description=plain_text(module.__doc__ or module.HELP),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_prepare=module.run)


def run(args: argparse.Namespace) -> int:
    return args._prepare(args)
