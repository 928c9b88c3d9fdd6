"""Character n-gram LM: normalised distributions, hand-computed values, file formats, CLI."""

import json
import math

import pytest

from asr.cli import main
from asr.errors import AsrError
from asr.decode.lm import EOS, UNK, load_lm, sentence_tokens, train_lm
from asr.manifest.records import Utterance, write_manifest

TEXTS = ["打开空调", "打开车窗", "关闭空调", "导航到 GPS 点", "打开 GPS", "空调打开"]
SENTENCES = [sentence_tokens(t) for t in TEXTS]
CONTEXTS = [(), ("<s>",), ("打",), ("<s>", "打"), ("打", "开"), ("开", "空", "调"), ("gps",), ("没", "见", "过")]


@pytest.mark.parametrize("smoothing", ["kneser-ney", "witten-bell"])
@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_probabilities_sum_to_one_over_the_vocabulary(smoothing, order):
    lm = train_lm(SENTENCES, order=order, smoothing=smoothing)
    assert EOS in lm.vocab and UNK in lm.vocab and "<s>" not in lm.vocab
    for context in CONTEXTS:
        total = sum(math.exp(lm.score(context, w)) for w in lm.vocab)
        assert total == pytest.approx(1.0, abs=1e-6), context


def test_witten_bell_matches_hand_computation():
    lm = train_lm([["打", "开"], ["打", "关"]], order=2, smoothing="witten-bell")
    # unigrams: 打 2, 开 1, 关 1, </s> 2 (6 tokens, 4 types) over 5 predicted words (with <unk>)
    p_kai = (1 + 4 * 0.2) / (6 + 4)
    assert math.exp(lm.score((), "开")) == pytest.approx(p_kai)
    # after 打: 开 1, 关 1 (2 tokens, 2 types)
    assert math.exp(lm.score(("打",), "开")) == pytest.approx((1 + 2 * p_kai) / (2 + 2))
    assert math.exp(lm.score(("打",), "没见过")) == pytest.approx(2 / 4 * (0 + 4 * 0.2) / 10)


def test_kneser_ney_uses_continuation_counts():
    # "调" follows only "空" (one context) although it is frequent; "开" follows three contexts.
    lm = train_lm([["空", "调"]] * 5 + [["打", "开"], ["关", "开"], ["空", "开"]], order=2)
    assert lm.score(("没",), "开") > lm.score(("没",), "调")


def test_training_text_is_more_probable_than_shuffled_text():
    lm = train_lm(SENTENCES, order=3)
    assert lm.perplexity(SENTENCES) < lm.perplexity([list(reversed(s)) for s in SENTENCES])


@pytest.mark.parametrize("name", ["lm.json", "lm.arpa", "lm.arpa.gz"])
def test_saved_model_scores_the_same(tmp_path, name):
    lm = train_lm(SENTENCES, order=3, smoothing="kneser-ney")
    loaded = load_lm(lm.save(tmp_path / name))
    assert loaded.order == 3
    for context in CONTEXTS:
        for w in [*lm.vocab, "未知"]:
            assert loaded.score(context, w) == pytest.approx(lm.score(context, w), abs=1e-5)


def test_arpa_file_has_the_standard_layout(tmp_path):
    text = train_lm(SENTENCES, order=2).save(tmp_path / "lm.arpa").read_text(encoding="utf-8")
    assert text.startswith("\\data\\\nngram 1=") and text.rstrip().endswith("\\end\\")
    assert "\\2-grams:" in text and "\t<s> 打\t" not in text  # top order has no backoff column
    assert "-99.000000\t<s>\t" in text


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(AsrError, match=r"none\.json: language model not found \(train one with `asr lm`\)"):
        load_lm(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(AsrError, match=r"bad\.json: not an asr n-gram LM"):
        load_lm(tmp_path / "bad.json")
    (tmp_path / "cut.arpa").write_text("\\data\\\nngram 1=3\nngram 2=2\n\n\\1-grams:\n-1.0\ta\n")
    with pytest.raises(AsrError, match=r"cut\.arpa: truncated ARPA file"):
        load_lm(tmp_path / "cut.arpa")


def test_invalid_options():
    with pytest.raises(AsrError, match="order must be at least 1"):
        train_lm(SENTENCES, order=0)
    with pytest.raises(AsrError, match="unknown smoothing 'good-turing'"):
        train_lm(SENTENCES, smoothing="good-turing")
    with pytest.raises(AsrError, match="no training text"):
        train_lm([[], []])


def test_cli_trains_on_manifest_texts(tmp_path, capsys):
    utts = [
        Utterance(id=f"u{i}", audio="a.wav", duration=1.0, sample_rate=16000, text=t, speaker="s")
        for i, t in enumerate(TEXTS)
    ]
    write_manifest(tmp_path / "train.jsonl", utts)
    out = tmp_path / "exp" / "lm" / "char3.json"
    args = ["lm", "--manifest", str(tmp_path / "train.jsonl"), "--order", "3", "--output", str(out)]
    assert main([*args, "--dev-manifest", str(tmp_path / "train.jsonl")]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}: order 3, kneser-ney" in printed and "perplexity on" in printed
    lm = load_lm(out)
    assert lm.score(("打",), "开") > lm.score(("打",), "闭")
