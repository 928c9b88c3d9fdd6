"""``asr prepare``: bad audio, malformed Kaldi tables and corpus files are named by file and line; nothing is written."""

from __future__ import annotations

import pytest

from conftest import write_tone
from tests.commands.harness import check_error, listing
from tests.commands.inputs import BAD_AUDIO, config_argv, kaldi_dir, make_bad_audio, write_config


@pytest.mark.parametrize("kind", BAD_AUDIO)
def test_prepare_kaldi_names_the_utterance_and_writes_nothing(kind, asr, tmp_path):
    data = tmp_path / "data" / "test"
    data.mkdir(parents=True)
    good = write_tone(tmp_path / "audio" / "good.wav")
    bad = make_bad_audio(tmp_path / "audio", kind)
    (data / "wav.scp").write_text(f"bad {bad}\ngood {good}\n")
    (data / "text").write_text("bad 打开空调\ngood 关闭车窗\n")
    (data / "utt2spk").write_text("bad s1\ngood s1\n")
    out = tmp_path / "manifests"
    r = asr("prepare", "kaldi", "--corpus-dir", data, "--output-dir", out)
    check_error(r, "prepare", f"{data / 'wav.scp'}:1: utterance bad: {bad}: {BAD_AUDIO[kind]}")
    assert listing(out) == set()


#: Kaldi data dir file -> (its corrupted content, the error line's tail).
BAD_KALDI = {
    "text_without_transcript": ("text", "a 打开空调\nb\n", ":2: malformed line 'b': expected '<utterance> <transcript>'"),
    "utt2spk_one_field": ("utt2spk", "a s1\nb\n", ":2: malformed line 'b': expected '<utterance> <speaker>'"),
    "utt2spk_three_fields": ("utt2spk", "a s1\nb s2 s3\n", ":2: malformed line: expected '<utterance> <speaker>', got 3 fields"),
    "duplicate_key": ("text", "a 打开空调\na 关闭车窗\nb 关闭车窗\n", ":2: duplicate key 'a' (first on line 1)"),
    "wav_scp_pipe": ("wav.scp", "a sox a.flac -t wav - |\nb b.wav\n", ":1: recording a: piped command"),
    "segments_three_fields": ("segments", "a a 0.0\n", ":1: malformed line 'a a 0.0': expected '<utterance> <recording> <start> <end>'"),
    "segments_bad_times": ("segments", "a a zero 0.3\n", ":1: malformed times 'zero' '0.3'"),
    "spk2gender_one_field": ("spk2gender", "s1 f\ns2\n", ":2: malformed line 's2': expected '<id> <value>'"),
    "utt2snr_not_a_number": ("utt2snr", "a 12.5\nb loud\n", ":2: snr 'loud' is not a number"),
    "not_utf8": ("text", "a 打开空调\n".encode("gbk"), ": not UTF-8 text"),
}


@pytest.mark.parametrize("kind", BAD_KALDI)
def test_prepare_kaldi_names_file_and_line_of_a_malformed_transcript(kind, asr, tmp_path):
    data = kaldi_dir(tmp_path)
    name, content, tail = BAD_KALDI[kind]
    if isinstance(content, bytes):
        (data / name).write_bytes(content)
    else:
        (data / name).write_text(content, encoding="utf-8")
    out = tmp_path / "manifests"
    r = asr("prepare", "kaldi", "--corpus-dir", data, "--output-dir", out)
    check_error(r, "prepare", f"{data / name}{tail}")
    assert listing(out) == set()


@pytest.mark.parametrize("name", ["wav.scp", "text", "utt2spk"])
def test_prepare_kaldi_names_a_missing_table(name, asr, tmp_path):
    data = kaldi_dir(tmp_path)
    (data / name).unlink()
    r = asr("prepare", "kaldi", "--corpus-dir", data, "--output-dir", tmp_path / "manifests")
    if name == "wav.scp":  # then it is not a data dir at all
        check_error(r, "prepare", f"{data}: no wav.scp here or in any subdirectory (expected a Kaldi data dir)")
    else:
        check_error(r, "prepare", f"{data / name}: no such file (expected a Kaldi {name} file)")


def test_prepare_kaldi_names_an_utterance_missing_from_text(asr, tmp_path):
    data = kaldi_dir(tmp_path)
    (data / "text").write_text("a 打开空调\n")
    r = asr("prepare", "kaldi", "--corpus-dir", data, "--output-dir", tmp_path / "manifests")
    check_error(r, "prepare", f"{data / 'wav.scp'}: utterance b has no line in {data / 'text'}")


def test_prepare_kaldi_names_an_empty_transcript_after_normalisation(asr, tmp_path):
    data = kaldi_dir(tmp_path)
    (data / "text").write_text("a 打开空调\nb ，。！\n")
    out = tmp_path / "manifests"
    r = asr("prepare", "kaldi", "--corpus-dir", data, "--output-dir", out)
    check_error(r, "prepare", "utterance b: empty transcript")
    assert listing(out) == set()


def test_prepare_of_a_missing_corpus_dir_says_what_was_expected(asr, tmp_path):
    for corpus, expected in (("kaldi", "a Kaldi data dir"), ("kespeech", "the KeSpeech root"),
                             ("aishell", "the AISHELL-1 root"), ("commonvoice", "a Common Voice release")):
        r = asr("prepare", corpus, "--corpus-dir", tmp_path / "nowhere", "--output-dir", tmp_path / "out")
        check_error(r, "prepare", f"{tmp_path / 'nowhere'}: no such directory (expected {expected}")
    assert not (tmp_path / "out").exists()


def test_prepare_kespeech_names_a_subdialect_line_with_one_field(asr, tmp_path):
    from asr.corpus.fakes import make_kespeech

    root = make_kespeech(tmp_path / "KeSpeech", speakers=1, utterances=2)
    table = root / "Tasks" / "ASR" / "test" / "utt2subdialect"
    first = table.read_text().splitlines()[0]
    table.write_text(f"{first}\n{first.split()[0].replace('000', '001')}\n")
    out = tmp_path / "manifests"
    r = asr("prepare", "kespeech", "--corpus-dir", root, "--output-dir", out)
    check_error(r, "prepare", f"{table}:2: malformed line", "expected '<id> <value>'")
    assert listing(out) == set()


@pytest.mark.parametrize("kind", ["transcript_without_text", "speaker_info_bad_gender"])
def test_prepare_aishell_names_file_and_line(kind, asr, tmp_path):
    from asr.corpus.fakes import make_aishell

    root = make_aishell(tmp_path / "aishell", speakers={"train": 1, "dev": 1, "test": 1}, utterances=1)
    if kind == "transcript_without_text":
        path = root / "data_aishell" / "transcript" / "aishell_transcript_v0.8.txt"
        lines = path.read_text().splitlines()
        path.write_text("\n".join(lines + [lines[0].split()[0] + "9"]) + "\n")
        tail = f":{len(lines) + 1}: malformed line"
    else:
        path = root / "resource_aishell" / "speaker.info"
        path.write_text(path.read_text() + "0099 X\n")
        tail = ":4: malformed line '0099 X': expected '<speaker> <F|M>'"
    out = tmp_path / "manifests"
    r = asr("prepare", "aishell", "--corpus-dir", root, "--output-dir", out)
    check_error(r, "prepare", f"{path}{tail}")
    assert listing(out) == set()


@pytest.mark.parametrize("kind", ["too_many_fields", "empty_sentence", "no_path_column", "empty_file"])
def test_prepare_commonvoice_names_file_and_row(kind, asr, tmp_path):
    from asr.corpus.fakes import make_commonvoice

    root = make_commonvoice(tmp_path / "cv", locales=("zh-CN",), speakers={"train": 1, "dev": 1, "test": 1},
                            utterances=1)
    tsv = root / "zh-CN" / "dev.tsv"
    header, row = tsv.read_text().splitlines()[:2]
    cells = row.split("\t")
    if kind == "too_many_fields":
        tsv.write_text(f"{header}\n{row}\textra\n")
        tail = ":2: malformed row: 14 tab-separated fields but the header has 13"
    elif kind == "empty_sentence":
        cells[3] = ""
        tsv.write_text(header + "\n" + "\t".join(cells) + "\n")
        tail = ":2: malformed row: empty 'sentence'"
    elif kind == "no_path_column":
        tsv.write_text(header.replace("path", "file") + "\n" + row + "\n")
        tail = ":1: header has no column 'path'"
    else:
        tsv.write_text("")
        tail = ": empty file (expected a header row with client_id, path, sentence)"
    out = tmp_path / "manifests"
    r = asr("prepare", "commonvoice", "--corpus-dir", root, "--output-dir", out)
    check_error(r, "prepare", f"{tsv}{tail}")
    assert listing(out) == set()


def test_a_corpus_config_with_an_unknown_dialect_group_lists_the_known_ones(asr, tmp_path, model_dir):
    config = write_config(tmp_path, "corpus", {"groups": {"klingon": {"speakers": {"train": 1}, "train_utterances": 1}}})
    check_error(asr(*config_argv("corpus", config, tmp_path, model_dir)), "prepare",
                f"{config}: unknown dialect group 'klingon'; expected one of: mandarin, ")
    assert listing(tmp_path / "out") == set()
