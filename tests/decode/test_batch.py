"""Results files of ``asr decode``: the contract's fields, edit counts, batching, failures."""

import json

import pytest

from asr.cli import main
from asr.results import RESULT_FIELDS
from asr.decode.batch import DecodeConfig, batches, decode_manifests, result_row, results_stem
from asr.results import summary
from asr.errors import AsrError
from asr.decode.lm import sentence_tokens, train_lm
from asr.manifest.records import Utterance, read_manifest
from tests.tiny_model import TEXTS, make_tiny_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("model") / "model")


def utt(text="打开空调", **kw):
    fields = dict(id="u1", audio="a.wav", duration=1.0, sample_rate=16000, text=text, speaker="s1")
    fields.update(kw)
    return Utterance(**fields)


@pytest.mark.parametrize(
    "hyp,counts",
    [("打开空调", (0, 0, 0)), ("打开调", (0, 1, 0)), ("打开空调吧", (0, 0, 1)), ("打关空调", (1, 0, 0)), ("", (0, 4, 0))],
)
def test_row_edit_counts(hyp, counts):
    row = result_row(utt(), hyp, 0.5)
    assert (row["sub"], row["del"], row["ins"], row["ref_len"]) == (*counts, 4)


def test_row_fields_and_metadata():
    u = utt("导航到 GPS 点。", dialect="wu", gender="female", age_band="30-44", snr_db=10.0, extra={"text_id": "t1"})
    row = result_row(u, "导航到gps点", 0.91234)
    assert list(row)[: len(RESULT_FIELDS)] == list(RESULT_FIELDS)
    assert row["ref"] == "导航到 GPS 点。" and row["hyp"] == "导航到gps点"
    assert (row["sub"], row["del"], row["ins"], row["ref_len"]) == (0, 0, 0, 5)  # GPS is one token
    assert row["unit"] == "char" and row["confidence"] == 0.9123
    assert {k: row[k] for k in ("speaker", "duration", "dialect", "gender", "age_band", "snr_db", "text_id")} == {
        "speaker": "s1", "duration": 1.0, "dialect": "wu", "gender": "female", "age_band": "30-44",
        "snr_db": 10.0, "text_id": "t1",
    }


def test_batches_sort_by_length_and_bound_padding():
    utts = [utt(id=f"u{i}", duration=d) for i, d in enumerate([1.0, 5.0, 2.0, 4.0, 3.0])]
    assert batches(utts, batch_size=2, max_seconds=100) == [[1, 3], [4, 2], [0]]
    assert batches(utts, batch_size=10, max_seconds=9.0) == [[1], [3, 4], [2, 0]]


def test_results_stem():
    assert results_stem("data/synthetic/test.jsonl") == "test"
    assert results_stem("x/test_wu.jsonl.gz") == "test_wu"


def test_summary_reports_overall_and_per_dialect():
    rows = [result_row(utt(dialect="mandarin"), "打开空调", 1), result_row(utt(dialect="wu"), "打开", 1)]
    text = summary(rows, "test")
    assert text.splitlines()[0].startswith("test: 2 utterances, CER 25.00% (sub 0, del 2, ins 0, ref 8)")
    assert "  dialect=mandarin: CER 0.00% (1 utterances)" in text
    assert "  dialect=wu: CER 50.00% (1 utterances)" in text


def check_results(out_dir, manifest, config_method):
    rows = [json.loads(line) for line in (out_dir / "results-test.jsonl").read_text(encoding="utf-8").splitlines()]
    utts = read_manifest(manifest)
    assert [r["id"] for r in rows] == [u.id for u in utts]  # manifest order, not batch order
    for r, u in zip(rows, utts):
        assert r["ref"] == u.text and r["dialect"] == u.dialect and r["text_id"] == u.extra["text_id"]
        assert (r["sub"], r["del"], r["ins"], r["ref_len"]) == tuple(result_row(u, r["hyp"], 0).values())[3:7]
        assert 0 <= r["confidence"] <= 1
    meta = json.loads((out_dir / "results-test.meta.json").read_text(encoding="utf-8"))
    assert meta["utterances"] == 3 and meta["unit"] == "char" and meta["decoding"]["method"] == config_method
    assert meta["ref_len"] == sum(r["ref_len"] for r in rows)
    assert "NFKC" in meta["normalization"]
    assert meta["provenance"]["precision"] == "fp32" and meta["provenance"]["device"] == "cpu"
    assert meta["provenance"]["backend"] == "pytorch" and meta["provenance"]["packages"]["torch"]
    return rows


def test_decode_cli_writes_results(model_dir, tiny_manifest, tmp_path, capsys):
    out = tmp_path / "decode"
    args = ["decode", "--model", str(model_dir), "--manifests", str(tiny_manifest), "--output-dir", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("test: 3 utterances, CER ") and "dialect=wu" in printed
    greedy = check_results(out, tiny_manifest, "greedy")
    assert main([*args, "--beam-size", "4", "--batch-size", "2"]) == 0
    beam = check_results(out, tiny_manifest, "prefix-beam")
    assert len(beam) == len(greedy)


def test_decode_with_lm(model_dir, tiny_manifest, tmp_path):
    lm_path = train_lm([sentence_tokens(t) for t in TEXTS], order=3).save(tmp_path / "lm.arpa")
    config = DecodeConfig(beam_size=3, lm=str(lm_path), lm_weight=0.5)
    (path,) = decode_manifests(model_dir, [tiny_manifest], tmp_path / "out", config, progress=False)
    assert path.name == "results-test.jsonl"
    check_results(tmp_path / "out", tiny_manifest, "prefix-beam")


def test_bad_audio_names_the_utterance(model_dir, tiny_manifest, tmp_path):
    (tiny_manifest.parent / "audio" / "u1.wav").write_bytes(b"RIFF not really")
    with pytest.raises(AsrError, match=r"test\.jsonl: utterance u1: .*u1\.wav: not a readable audio file"):
        decode_manifests(model_dir, [tiny_manifest], tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "results-test.jsonl").exists()


def test_manifests_with_the_same_name_are_refused(model_dir, tiny_manifest, tmp_path):
    other = tmp_path / "other" / "test.jsonl"
    other.parent.mkdir()
    other.write_bytes(tiny_manifest.read_bytes())
    with pytest.raises(AsrError, match=r"other/test\.jsonl: same name as .*test\.jsonl; both would write results-test"):
        decode_manifests(model_dir, [tiny_manifest, other], tmp_path / "out", progress=False)


def test_decode_config_rejects_unknown_keys(model_dir, tiny_manifest, tmp_path, capsys):
    conf = tmp_path / "decode.yaml"
    conf.write_text("beam_size: 2\nbeam_width: 3\n")
    args = ["decode", "--model", str(model_dir), "--manifests", str(tiny_manifest), "--output-dir", str(tmp_path)]
    assert main([*args, "--config", str(conf)]) == 1
    assert "unknown config key 'beam_width' for DecodeConfig" in capsys.readouterr().err
