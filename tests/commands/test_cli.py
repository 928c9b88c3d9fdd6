"""The ``asr`` command itself: --help, --version, one error line without traceback unless --debug, the real
console script (exit status, a closed stdout)."""

import subprocess
import sys

from asr.cli import main
from tests.commands.inputs import malformed_manifest, transcripts


def test_help_lists_subcommands(capsys):
    proc = subprocess.run([sys.executable, "-m", "asr", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for command in ("prepare", "manifest"):
        assert command in proc.stdout


def test_version_names_the_stack():
    import importlib.metadata

    import asr

    proc = subprocess.run([sys.executable, "-m", "asr", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0
    line = proc.stdout.strip()
    assert line.startswith(f"asr {asr.__version__}, torch {importlib.metadata.version('torch')}, torchaudio ")
    assert f"onnxruntime {importlib.metadata.version('onnxruntime')}" in line
    assert importlib.metadata.version("zh-dialect-asr") == asr.__version__  # one source for the version


def test_error_is_one_line_without_traceback(tmp_path, capsys):
    assert main(["manifest", "validate", str(tmp_path / "none.jsonl")]) == 1
    err = capsys.readouterr().err
    assert err == f"asr manifest: error: {tmp_path / 'none.jsonl'}: manifest not found\n"


def test_debug_shows_the_traceback(tmp_path, capsys):
    assert main(["--debug", "manifest", "validate", str(tmp_path / "none.jsonl")]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_debug_shows_the_traceback_of_a_user_error(asr, tmp_path):
    manifest = malformed_manifest(tmp_path, "bad_json")
    r = asr("--debug", "manifest", "stats", manifest)
    assert r.code == 1 and r.lines[0] == "Traceback (most recent call last):", str(r)
    assert r.lines[-1].startswith(f"asr manifest: error: {manifest}:2: malformed manifest line")


def test_the_console_script_prints_one_line_and_exits_1(tmp_path):
    manifest = malformed_manifest(tmp_path, "wrong_type")
    proc = subprocess.run([sys.executable, "-m", "asr", "manifest", "merge", str(manifest), "--output",
                           str(tmp_path / "out.jsonl")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == (f"asr manifest: error: {manifest}:2: utterance u2: field 'duration' must be a finite, "
                           f"non-negative number of seconds, got 'long'\n")
    assert not (tmp_path / "out.jsonl").exists()


def test_a_closed_stdout_is_no_traceback(tmp_path):
    """``asr score ... | head -1``: the reader goes away; the command must not print a BrokenPipeError traceback."""
    ref = transcripts(tmp_path, "ref.txt", "u1 打开空调\nu2 关闭车窗\n")
    proc = subprocess.Popen([sys.executable, "-m", "asr", "score", "--ref", str(ref), "--hyp", str(ref)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # before the interpreter has started: its first write finds no reader
    err = proc.stderr.read()
    proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
