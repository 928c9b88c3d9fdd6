"""``asr recipe stage|split-args``: what a recipe's shell script asks of Python.

``asr recipe stage --range A:B --state-dir DIR KEY NAME -- COMMAND...`` runs one stage line of
``recipes/shared/stages.sh``: when stage ``int(KEY)`` lies in ``[A, B]`` and its sentinel
``DIR/.stage<KEY>.done`` does not hold the digest of COMMAND and of the YAML configs it names,
it forgets that the later stages finished (their sentinels, in DIR and the ``--invalidate``
directories, with a larger KEY: ``3.2`` comes after ``3.1`` and before ``4``), runs COMMAND
(which dies with this process), and writes the sentinel only when COMMAND succeeded.

``asr recipe split-args STRING`` splits STRING as the shell would (quotes honoured) and prints
the words NUL-separated, for options such as ``--train-args "--max-steps 1"``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import shlex
import subprocess
import sys
from pathlib import Path

from asr.errors import AsrError

HELP = "run one recipe stage line (sentinels, invalidation); split a recipe option's words"
SUFFIXES = (".yaml", ".yml")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("stage", help="run COMMAND as stage KEY unless its sentinel says it is done")
    p.add_argument("key", help="stage key: N, or N.M for the M-th command of stage N")
    p.add_argument("name", help="what the stage does, for the log")
    p.add_argument("--range", required=True, help="A:B, the stages this recipe run covers")
    p.add_argument("--state-dir", required=True, help="where this stage's sentinel lives")
    p.add_argument("--invalidate", action="append", default=[], metavar="DIR",
                   help="another directory whose later sentinels are removed (repeatable)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ARG...")
    p = sub.add_parser("split-args", help="split a string as the shell would; print the words NUL-separated")
    p.add_argument("string")
    p = sub.add_parser("check-args", help="whether an asr subcommand accepts ARGS (besides its required ones)")
    p.add_argument("subcommand", help="e.g. train")
    p.add_argument("args", nargs=argparse.REMAINDER, help="-- ARG...")


def run(args: argparse.Namespace) -> int:
    if args.action == "split-args":
        sys.stdout.write("".join(word + "\0" for word in _split(args.string)))
        return 0
    if args.action == "check-args":
        return check_args(args.subcommand, args.args[1:] if args.args[:1] == ["--"] else args.args)
    return run_stage(args)


def check_args(subcommand: str, words: list[str]) -> int:
    """Parse ``words`` with ``asr SUBCOMMAND``'s parser (its required options filled in): 0 if accepted.

    argparse prints its own one-line error and exits 2 for an unknown option or a bad value.
    """
    from asr.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if subcommand not in subparsers.choices:
        raise AsrError(f"check-args: no asr subcommand {subcommand!r}")
    sub = subparsers.choices[subcommand]
    filled = []
    for action in sub._actions:
        if action.required and action.option_strings:
            filled += [action.option_strings[0], "x"]
    sub.parse_args([*filled, *words])
    return 0


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as e:
        raise AsrError(f"cannot split {text!r} as the shell would ({e})") from None


def stage_key(key: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in key.split("."))
    except ValueError:
        raise AsrError(f"stage key {key!r}: expected N or N.M") from None


def run_stage(args: argparse.Namespace) -> int:
    from asr.io import atomic_write
    from asr.io import die_with_parent

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise AsrError(f"stage {args.key}: no command after --")
    key = stage_key(args.key)
    first, _, last = args.range.partition(":")
    if not first.isdigit() or not last.isdigit():
        raise AsrError(f"--range {args.range!r}: expected A:B")
    if not int(first) <= key[0] <= int(last):
        return 0
    state = Path(args.state_dir)
    sentinel = state / f".stage{args.key}.done"
    digest = command_digest(command)
    if sentinel.is_file() and sentinel.read_text().strip() == digest:
        _log(f"Stage {args.key}: {args.name}: already done ({sentinel}), skipping")
        return 0
    _log(f"Stage {args.key}: {args.name}")
    sentinel.unlink(missing_ok=True)
    for directory in {state, *map(Path, args.invalidate)}:
        forget_later_stages(directory, key)
    try:
        code = subprocess.call(command, preexec_fn=die_with_parent)
    except FileNotFoundError:
        raise AsrError(f"stage {args.key}: command not found: {command[0]}") from None
    if code != 0:
        _log(f"Stage {args.key}: {args.name}: failed (exit status {code})")
        return code
    with atomic_write(sentinel) as f:
        f.write(digest + "\n")
    return 0


def command_digest(command: list[str]) -> str:
    """SHA-256 of the command's words and of the contents of every YAML config it names."""
    h = hashlib.sha256(json.dumps(command).encode())
    for word in command:
        path = Path(word)
        if path.suffix in SUFFIXES and path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()


def forget_later_stages(directory: Path, key: tuple[int, ...]) -> None:
    """Remove the sentinels in ``directory`` of the stages after ``key``."""
    for path in directory.glob(".stage*.done"):
        name = path.name[len(".stage"):-len(".done")]
        try:
            later = stage_key(name) > key
        except AsrError:  # a file of another shape: not ours
            continue
        if later:
            path.unlink(missing_ok=True)


def _log(message: str) -> None:
    print(f"{dt.datetime.now():%Y-%m-%d %H:%M:%S} (stages) {message}", flush=True)
