"""``asr score``: bad reference, hypothesis and utt2spk files are named by file and line; nothing is written."""

from __future__ import annotations

import pytest

from tests.commands.harness import check_error, listing
from tests.commands.inputs import transcripts


#: Bad reference file -> (content, the error line after the file name).
BAD_TRANSCRIPTS = {
    "empty": ("", ": transcript file is empty"),
    "trn_then_kaldi": ("打开空调 (u1)\nu2 关闭车窗\n", ":2: expected a trn line 'text (id)'"),
    "duplicate_id": ("u1 打开空调\nu1 关闭车窗\n", ":2: duplicate utterance id 'u1'"),
}


@pytest.mark.parametrize("kind", BAD_TRANSCRIPTS)
def test_score_names_the_reference_file_and_line(kind, asr, tmp_path):
    content, tail = BAD_TRANSCRIPTS[kind]
    ref = transcripts(tmp_path, "ref.txt", content)
    hyp = transcripts(tmp_path, "hyp.txt", "u1 打开空调\n")
    check_error(asr("score", "--ref", ref, "--hyp", hyp, "--per-utt", tmp_path / "out" / "utt.jsonl"),
                "score", f"{ref}{tail}")
    assert listing(tmp_path / "out") == set()


def test_score_missing_and_non_utf8_files_are_one_error(asr, tmp_path):
    hyp = transcripts(tmp_path, "hyp.txt", "u1 打开空调\n")
    check_error(asr("score", "--ref", tmp_path / "none.txt", "--hyp", hyp), "score",
                f"{tmp_path / 'none.txt'}: transcript file not found")
    ref = tmp_path / "ref.txt"
    ref.write_bytes("u1 打开空调\n".encode("gbk"))
    check_error(asr("score", "--ref", ref, "--hyp", hyp), "score", f"{ref}: not UTF-8 text")


def test_score_names_a_hypothesis_without_reference(asr, tmp_path):
    ref = transcripts(tmp_path, "ref.txt", "u1 打开空调\n")
    hyp = transcripts(tmp_path, "hyp.txt", "u1 打开空调\nu9 关闭车窗\n")
    check_error(asr("score", "--ref", ref, "--hyp", hyp), "score",
                f"{hyp}: 1 hypothesis id(s) not in the references, e.g. 'u9'")


def test_score_names_an_utt2spk_line_without_speaker(asr, tmp_path):
    ref = transcripts(tmp_path, "ref.txt", "u1 打开空调\nu2 关闭车窗\n")
    hyp = transcripts(tmp_path, "hyp.txt", "u1 打开空调\nu2 关闭车窗\n")
    utt2spk = transcripts(tmp_path, "utt2spk", "u1 s1\nu2\n")
    check_error(asr("score", "--ref", ref, "--hyp", hyp, "--utt2spk", utt2spk), "score", f"{utt2spk}:2: ", "speaker")
