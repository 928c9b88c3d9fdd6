"""Fixtures of the CLI tests: ``asr(*argv)`` runs a subcommand in-process; a tiny model; a good wav file."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

import pytest

from asr.cli import main
from conftest import write_tone
from tests.commands.harness import Outcome
from tests.tiny_model import make_tiny_model


@pytest.fixture
def asr(capsys, caplog):
    """``asr(*argv) -> Outcome``: the CLI in-process, with what a terminal would show."""
    caplog.set_level(logging.WARNING)

    def run(*argv) -> Outcome:
        capsys.readouterr()
        caplog.clear()
        uncaught = None
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:  # argparse
            code = e.code
        except BaseException as e:  # noqa: BLE001 - the console script would print this traceback
            code, uncaught = "uncaught", "".join(traceback.format_exception(e))
        out, err = capsys.readouterr()
        lines = [line for line in err.splitlines() if line.strip()]
        lines += [f"{r.levelname}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING]
        return Outcome(code, out, lines, uncaught)

    return run


@pytest.fixture
def good_wav(tmp_path) -> Path:
    return write_tone(tmp_path / "audio" / "good.wav", seconds=0.5)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("model") / "model")
