"""What every subcommand shares: help texts as prose, one flag name per concept, -q/-v, completion."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

import pytest

from asr.cli import _with_subcommands, build_parser, main


def every_parser() -> list[tuple[str, argparse.ArgumentParser]]:
    parser = build_parser()
    return [(p.prog, p) for p in _with_subcommands(parser)]


def option_names(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions if a.help != argparse.SUPPRESS for o in a.option_strings}


@pytest.mark.parametrize("prog, parser", every_parser(), ids=lambda x: x if isinstance(x, str) else "")
def test_help_is_plain_prose_with_the_shared_options(prog, parser):
    text = parser.format_help()
    assert not re.search(r":(func|class|mod|meth|data|attr):`|``|^\s*>>> ", text, flags=re.M), prog
    if prog != "asr" and not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions):
        assert {"-q", "--quiet", "-v", "--verbose", "--debug"} <= {o for a in parser._actions for o in a.option_strings}


def test_one_flag_name_per_concept():
    seen: dict[str, set[str]] = {}
    for prog, parser in every_parser():
        names = option_names(parser)
        for concept, synonyms in {"manifest inputs": {"--manifest-list", "--manifest-files"},
                                  "simplified": {"--t2s", "--to-simplified"},
                                  "output directory": {"--outdir", "--out-dir", "--output_dir"}}.items():
            assert not names & synonyms, (prog, concept, names & synonyms)
        for name in names:
            seen.setdefault(name, set()).add(prog)
    # inputs are --manifests wherever a command reads manifests it names
    for prog in ("asr features", "asr lm", "asr decode", "asr manifest validate", "asr manifest stats",
                 "asr manifest merge", "asr manifest shard", "asr manifest export-kaldi", "asr manifest export-lhotse"):
        assert prog in seen["--manifests"], prog
    assert "--manifest" not in option_names(dict(every_parser())["asr lm"])  # the old name is a hidden alias
    for prog in ("asr train", "asr decode", "asr transcribe"):
        parser = dict(every_parser())[prog]
        device = next(a for a in parser._actions if "--device" in a.option_strings)
        assert device.default == "auto", prog
    for prog in ("asr features", "asr train", "asr decode", "asr transcribe", "asr audit"):
        assert prog in seen["--no-progress"], prog


def test_old_names_still_work(tmp_path, tiny_manifest, capsys):
    assert main(["lm", "--manifest", str(tiny_manifest), "--output", str(tmp_path / "lm.json"), "--order", "2"]) == 0
    assert main(["manifest", "validate", "--manifests", str(tiny_manifest)]) == 0
    assert main(["manifest", "export-kaldi", str(tiny_manifest), str(tmp_path / "kaldi")]) == 0
    assert main(["manifest", "export-kaldi", "--manifests", str(tiny_manifest), "--output-dir", str(tmp_path / "k2")]) == 0
    assert (tmp_path / "kaldi" / "text").read_text() == (tmp_path / "k2" / "text").read_text()


def test_quiet_and_verbose_anywhere(tiny_manifest):
    for argv in (["-q", "manifest", "stats", str(tiny_manifest)], ["manifest", "stats", str(tiny_manifest), "-q"],
                 ["manifest", "stats", "-v", str(tiny_manifest)]):
        proc = subprocess.run([sys.executable, "-m", "asr", *argv], capture_output=True, text=True)
        assert proc.returncode == 0 and "hours" in proc.stdout, argv
    with pytest.raises(SystemExit):
        main(["manifest", "stats", "-q", "-v", str(tiny_manifest)])  # one or the other


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_shell_completion_names_the_subcommands(shell):
    proc = subprocess.run([sys.executable, "-m", "asr", "completion", shell], capture_output=True, text=True)
    assert proc.returncode == 0
    for word in ("transcribe", "audit", "--no-progress", "--manifests"):
        assert word in proc.stdout
