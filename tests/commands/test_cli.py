import subprocess
import sys

from asr.cli import main


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


def test_validate_cli_reports_problems_and_fails(tiny_manifest, capsys):
    with open(tiny_manifest, "a") as f:
        f.write('{"id": "x", "audio": "audio/none.wav", "duration": 1, "sample_rate": 16000, "text": "a", "speaker": "s"}\n')
    assert main(["manifest", "validate", str(tiny_manifest)]) == 1
    err = capsys.readouterr().err
    assert "utterance x:" in err and "no such audio file" in err
    assert err.strip().endswith("1 of 1 manifest(s) failed validation")


def test_stats_cli_prints_groups(tiny_manifest, capsys):
    assert main(["manifest", "stats", str(tiny_manifest), "--by", "dialect"]) == 0
    out = capsys.readouterr().out
    assert "mandarin" in out and "wu" in out and "total" in out
