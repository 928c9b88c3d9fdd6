"""``asr transcribe``: every bad file is named and the good ones are still transcribed; no model, what to do."""

from __future__ import annotations

from conftest import write_tone
from tests.commands.harness import check_error
from tests.commands.inputs import BAD_AUDIO, make_bad_audio


def test_transcribe_reports_each_bad_file_and_still_transcribes_the_others(asr, tmp_path, good_wav, model_dir):
    bad = {kind: make_bad_audio(tmp_path / kind, kind) for kind in BAD_AUDIO}
    expected = {**BAD_AUDIO, "directory": "is a directory (expected an audio file)"}
    bad["directory"] = tmp_path / "audio"
    r = asr("transcribe", "--model", model_dir, *bad.values(), good_wav)
    check_error(r, "transcribe", lines=len(bad) + 1)
    for line, (kind, path) in zip(r.lines, bad.items()):
        assert line.startswith(f"asr transcribe: error: {path}: {expected[kind]}"), str(r)
    assert r.lines[-1] == f"asr transcribe: error: {len(bad)} of {len(bad) + 1} file(s) failed"
    assert r.out.startswith(f"{good_wav}\t") and len(r.out.splitlines()) == 1


def test_transcribe_without_a_model_says_how_to_make_one(asr, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ASR_MODEL", raising=False)
    wav = write_tone(tmp_path / "a.wav")
    r = asr("transcribe", wav)
    check_error(r, "transcribe", "no model at recipes/dialect/exp/baseline/model (the default)",
                "bash recipes/dialect/run.sh --stop-stage 3", "--model DIR")
