"""``asr manifest``: validate names every problem by file, line and utterance; stats, merge, shard, export-kaldi
refuse bad options without touching their inputs."""

from __future__ import annotations

import pytest

from asr.cli import main
from asr.manifest.records import write_manifest
from conftest import write_tone
from tests.commands.harness import check_error, listing
from tests.commands.inputs import BAD_AUDIO, BAD_LINES, RATE, bad_audio_manifest, malformed_manifest, utt


@pytest.mark.parametrize("kind", BAD_AUDIO)
def test_validate_names_the_utterance_and_the_audio_problem(kind, asr, tmp_path):
    manifest, bad = bad_audio_manifest(tmp_path, kind)
    r = asr("manifest", "validate", manifest)
    check_error(r, "manifest", f"{manifest}:2: utterance bad: {bad}: {BAD_AUDIO[kind]}", lines=3)
    assert r.lines[1:] == [f"{manifest}: 1 problem(s)", "asr manifest: error: 1 of 1 manifest(s) failed validation"]


def test_validate_reports_a_truncated_data_chunk_as_a_duration_mismatch(asr, tmp_path):
    whole = write_tone(tmp_path / "audio" / "whole.wav", seconds=1.0)
    cut = tmp_path / "audio" / "cut.wav"
    cut.write_bytes(whole.read_bytes()[: 44 + RATE])  # the header claims 1 s, half a second of data is left
    manifest = tmp_path / "test.jsonl"
    write_manifest(manifest, [utt("cut", "audio/cut.wav", seconds=1.0)])
    r = asr("manifest", "validate", manifest)
    check_error(r, "manifest", f"{manifest}:1: utterance cut: segment ends at 1.000 s but the audio lasts 0.500 s", lines=3)


@pytest.mark.parametrize("kind", BAD_LINES)
def test_validate_reports_a_malformed_line_once_with_its_line_number(kind, asr, tmp_path):
    manifest = malformed_manifest(tmp_path, kind)
    r = asr("manifest", "validate", "--no-audio", manifest)
    line = check_error(r, "manifest", f"{manifest}:2: ", BAD_LINES[kind][1], lines=3)
    assert "utterance ?: utterance" not in line, "the utterance is named twice"
    assert r.lines[1:] == [f"{manifest}: 1 problem(s)", "asr manifest: error: 1 of 1 manifest(s) failed validation"]


def test_validate_reports_every_problem_of_every_manifest(asr, tmp_path):
    first = malformed_manifest(tmp_path / "a", "bad_json")
    with open(first, "a", encoding="utf-8") as f:
        f.write(BAD_LINES["wrong_type"][0] + "\n")
    second = malformed_manifest(tmp_path / "b", "missing_fields")
    r = asr("manifest", "validate", "--no-audio", first, second)
    check_error(r, "manifest", f"{first}:2: ", "malformed manifest line", lines=6)
    assert r.lines[1].startswith(f"{first}:3: ") and "'duration'" in r.lines[1]
    assert r.lines[2] == f"{first}: 2 problem(s)"
    assert r.lines[3].startswith(f"{second}:2: ") and "missing field(s)" in r.lines[3]
    assert r.lines[5] == "asr manifest: error: 2 of 2 manifest(s) failed validation"


@pytest.mark.parametrize("argv,expected", [
    (["stats", "{m}", "--by", "dialekt"], "{m}: no field 'dialekt' in the manifest"),
    (["shard", "{m}", "--output-dir", "{o}", "--num-shards", "0"], "--num-shards"),
    (["merge", "{m}", "{m2}", "--output", "{o}/merged.jsonl"], "duplicate utterance id 'u1'"),
    (["merge", "{m}", "--output", "{m}"], "{m}: the output is also an input"),
    (["export-kaldi", "{m}", "{m}"], "{m}: exists and is not a Kaldi data dir; refusing to replace it"),
])
def test_manifest_actions_refuse_bad_options(argv, expected, asr, tmp_path):
    names = {"m": malformed_manifest(tmp_path, "bad_json"), "o": tmp_path / "out"}
    names["m"].write_text(names["m"].read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    names["m2"] = tmp_path / "copy" / "test.jsonl"
    names["m2"].parent.mkdir()
    names["m2"].write_text(names["m"].read_text(encoding="utf-8").replace("audio/", "../audio/"), encoding="utf-8")
    before = names["m"].read_text(encoding="utf-8")
    r = asr("manifest", *[a.format(**names) for a in argv])
    check_error(r, "manifest", expected.format(**names))
    assert listing(tmp_path / "out") == set() and names["m"].read_text(encoding="utf-8") == before


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
