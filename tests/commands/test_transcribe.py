"""``asr transcribe``: every bad file is named and the good ones are still transcribed; no model, what to do."""

from __future__ import annotations

from conftest import write_tone
from tests.commands.harness import check_error
from tests.commands.inputs import BAD_AUDIO, make_bad_audio


def test_transcribe_reports_each_bad_file_and_still_transcribes_the_others(asr, tmp_path, good_wav, model_dir):
    bad = {kind: make_bad_audio(tmp_path / kind, kind) for kind in BAD_AUDIO}
    expected = {**BAD_AUDIO, "directory": "no audio files below this directory"}
    bad["directory"] = tmp_path / "no-audio"
    bad["directory"].mkdir()
    r = asr("transcribe", "--model", model_dir, "--vad", "off", *bad.values(), good_wav)
    check_error(r, "transcribe", lines=len(bad) + 1)
    lines = r.lines[1:-1] + r.lines[:1]  # inputs that name no audio (the directory) are reported first
    for line, (kind, path) in zip(lines, bad.items()):
        assert line.startswith(f"asr transcribe: error: {path}: {expected[kind]}"), str(r)
    assert r.lines[-1] == f"asr transcribe: error: {len(bad)} of {len(bad) + 1} input(s) failed"
    assert r.out.startswith(f"{good_wav}\t") and len(r.out.splitlines()) == 1


def test_transcribe_without_a_model_says_how_to_make_one(asr, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ASR_MODEL", raising=False)
    wav = write_tone(tmp_path / "a.wav")
    r = asr("transcribe", wav)
    check_error(r, "transcribe", "no model at recipes/dialect/exp/baseline/model (the default)",
                "bash recipes/dialect/run.sh --stop-stage 3", "--model DIR")


def test_directories_lists_and_stdin_with_colliding_stems_and_every_format(tmp_path, model_dir):
    import json
    import subprocess
    import sys

    for name in ("a/x.wav", "b/x.wav", "b/deep/y.flac", "b/notes.txt"):
        path = tmp_path / "in" / name
        if name.endswith(".txt"):
            path.write_text("not audio\n")
        else:
            write_tone(path, seconds=0.6)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "asr", "transcribe", "--model", str(model_dir), "--vad", "off", "--format", "all",
           "--output-dir", str(out)]
    proc = subprocess.run([*cmd, str(tmp_path / "in")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for stem in ("a/x", "b/x", "b/deep/y"):  # mirrored: a/x.wav and b/x.wav do not overwrite each other
        for ext in ("txt", "json", "srt", "vtt", "tsv"):
            assert (out / f"{stem}.{ext}").is_file(), (stem, ext)
        assert json.loads((out / f"{stem}.json").read_text())["file"].endswith(f"{stem}.{'flac' if 'y' in stem else 'wav'}")
    assert (out / "b/x.vtt").read_text().startswith("WEBVTT\n\n")
    summaries = [line for line in proc.stderr.splitlines() if " -> " in line]
    assert len(summaries) == 3 and all("RTF" in line and "confidence" in line for line in summaries)

    listing = tmp_path / "list.txt"
    listing.write_text(f"{tmp_path / 'in/a/x.wav'}\n\n{tmp_path / 'in/b/deep/y.flac'}\n")
    by_list = subprocess.run([sys.executable, "-m", "asr", "transcribe", "--model", str(model_dir), "--vad", "off",
                              f"@{listing}"], capture_output=True, text=True)
    by_stdin = subprocess.run([sys.executable, "-m", "asr", "transcribe", "--model", str(model_dir), "--vad", "off", "-"],
                              input=listing.read_text(), capture_output=True, text=True)
    assert by_list.returncode == by_stdin.returncode == 0
    assert by_list.stdout == by_stdin.stdout
    assert [line.split("\t")[0] for line in by_list.stdout.splitlines()] == [
        str(tmp_path / "in/a/x.wav"), str(tmp_path / "in/b/deep/y.flac")]


def test_format_all_needs_an_output_dir(asr, tmp_path, model_dir):
    wav = write_tone(tmp_path / "a.wav")
    check_error(asr("transcribe", "--model", model_dir, "--format", "all", wav), "transcribe",
                "--format all writes one file per format: give --output-dir")
