"""Scoring: hand-checked CER/WER, transcript files, the sclite-style summary and `asr score`."""

from __future__ import annotations

import json

import pytest

from asr.cli import main
from asr.errors import AsrError
from asr.text import Normalization
from asr.score import EditCounts, pooled, read_transcripts, score_pair, score_transcripts, summary_table, units


def test_han_characters_are_tokens_and_latin_words_stay_whole():
    assert units("导航到 GPS 点，4S店！", normalization=Normalization(numerals=False)) == ["导", "航", "到", "gps", "点", "4s", "店"]
    assert units("导航到 GPS 点，4S店！") == ["导", "航", "到", "gps", "点", "四", "s", "店"]  # numerals step
    assert units("导航到 GPS 点", unit="word") == ["导航到", "gps", "点"]


def test_hand_checked_pairs():
    # 打开空调 -> 打开空: one deletion of 4 tokens.
    assert score_pair("打开空调", "打开空") == EditCounts(sub=0, dele=1, ins=0, ref_len=4)
    # 导航到GPS点 -> 导航道 gps 点点: 到->道 (S), extra 点 (I); GPS matches gps after lower-casing.
    assert score_pair("导航到GPS点", "导航道 gps 点点") == EditCounts(sub=1, dele=0, ins=1, ref_len=5)
    # Full-width letters and punctuation are normalised away: no error.
    assert score_pair("ＧＰＳ，好。", "gps好") == EditCounts(ref_len=2)
    # Empty hypothesis: all deletions; empty reference: all insertions, rate infinite.
    assert score_pair("你好", "") == EditCounts(dele=2, ref_len=2)
    assert score_pair("", "你好").error_rate == float("inf")
    total = pooled([score_pair("打开空调", "打开空"), score_pair("导航到GPS点", "导航道 gps 点点")])
    assert (total.errors, total.ref_len) == (3, 9)
    assert total.error_rate == pytest.approx(3 / 9)


def test_traditional_to_simplified_unless_turned_off():
    assert score_pair("開門", "开门", normalization=Normalization(t2s=False)).errors == 2
    assert score_pair("開門", "开门").errors == 0


def test_counts_agree_with_jiwer_on_random_pairs():
    import random

    import jiwer

    rng = random.Random(0)
    for _ in range(500):
        ref = [rng.choice("abcde") for _ in range(rng.randint(1, 10))]
        hyp = [rng.choice("abcde") for _ in range(rng.randint(1, 10))]
        out = jiwer.process_words(" ".join(ref), " ".join(hyp))
        got = score_pair(" ".join(ref), " ".join(hyp), unit="word")
        assert (got.sub, got.dele, got.ins) == (out.substitutions, out.deletions, out.insertions)


def test_wer_on_words():
    assert score_pair("the cat sat", "the cat sat down", unit="word") == EditCounts(ins=1, ref_len=3)


def test_read_kaldi_and_trn(tmp_path):
    kaldi = tmp_path / "text"
    kaldi.write_text("u1 打开 空调\nu2 导航\n", encoding="utf-8")
    trn = tmp_path / "hyp.trn"
    trn.write_text("打 开 空 调 (u1)\n导 航 (u2)\n", encoding="utf-8")
    assert read_transcripts(kaldi) == {"u1": "打开 空调", "u2": "导航"}
    assert read_transcripts(trn) == {"u1": "打 开 空 调", "u2": "导 航"}
    dup = tmp_path / "dup"
    dup.write_text("u1 a\nu1 b\n", encoding="utf-8")
    with pytest.raises(AsrError, match=r"dup:2: duplicate utterance id 'u1'"):
        read_transcripts(dup)


def test_missing_hypothesis_is_all_deletions_and_unknown_hypothesis_is_an_error():
    scored = score_transcripts({"u1": "你好", "u2": "再见"}, {"u1": "你好"})
    assert [s.counts for s in scored] == [EditCounts(ref_len=2), EditCounts(dele=2, ref_len=2)]
    with pytest.raises(AsrError, match="1 hypothesis id.*'u9'"):
        score_transcripts({"u1": "你好"}, {"u9": "你好"})


def test_summary_matches_sclite_figures():
    # sclite on the same pair prints: spk1 | 2 9 | 77.8 11.1 11.1 11.1 33.3 100.0
    scored = score_transcripts({"u1": "打开空调", "u2": "导航到GPS点"}, {"u1": "打开空", "u2": "导航道 gps 点点"})
    table = summary_table(scored, {"u1": "spk1", "u2": "spk1"})
    line = next(row for row in table.splitlines() if row.startswith("| spk1"))
    assert line.split("|")[2].split() == ["2", "9"]
    assert line.split("|")[3].split() == ["77.8", "11.1", "11.1", "11.1", "33.3", "100.0"]


def test_asr_score_command(tmp_path, capsys):
    (tmp_path / "ref").write_text("u1 打开空调\nu2 导航到GPS点\n", encoding="utf-8")
    (tmp_path / "hyp").write_text("u1 打开空\nu2 导航道 gps 点点\n", encoding="utf-8")
    per_utt = tmp_path / "per_utt.jsonl"
    args = ["score", "--ref", str(tmp_path / "ref"), "--hyp", str(tmp_path / "hyp")]
    assert main(args + ["--per-utt", str(per_utt)]) == 0
    out = capsys.readouterr().out
    assert "CER 33.33% [ 3 / 9, 1 sub, 1 del, 1 ins ]" in out
    assert "normalisation: NFKC" in out
    rows = [json.loads(x) for x in per_utt.read_text(encoding="utf-8").splitlines()]
    assert [(r["id"], r["sub"], r["del"], r["ins"], r["ref_len"]) for r in rows] == [("u1", 0, 1, 0, 4), ("u2", 1, 0, 1, 5)]
    assert main(args + ["--json"]) == 0
    totals = json.loads(capsys.readouterr().out)
    assert (totals["errors"], totals["ref_len"], totals["metric"]) == (3, 9, "CER")


def test_asr_score_names_a_missing_file(tmp_path, capsys):
    assert main(["score", "--ref", str(tmp_path / "nope"), "--hyp", str(tmp_path / "nope")]) == 1
    assert "nope: transcript file not found" in capsys.readouterr().err
