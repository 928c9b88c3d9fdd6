"""asr.audit.explain: why a group fails (composition, confusions, worst utterances, bins)."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from asr.audit.explain import MISSING, aligned_strings, explain, group_label
from asr.audit.pinyin_confusions import PinyinTally
from asr.errors import AsrError
from asr.score import score_pair

# (group, speaker, reference, hypothesis, condition)
PAIRS = [
    # Wu: zh -> z (知/资), n -> l (您/林), ing -> in (英/银)
    ("wu", "w1", "我知道您在哪里", "我资道林在哪里", "quiet"),
    ("wu", "w1", "知识就是力量", "资识就是力量", "quiet"),
    ("wu", "w2", "请您知道", "请林资道", "street"),
    ("wu", "w2", "我去英国", "我去银国", "street"),
    ("wu", "w3", "知道了", "资道", "street"),  # also a deletion of 了
    # Yue: f -> h (飞/灰)
    ("yue", "y1", "飞机很快", "灰机很快", "quiet"),
    ("yue", "y1", "坐飞机去北京", "坐灰机去北京", "quiet"),
    ("yue", "y2", "飞得很高", "灰得很高啊", "street"),  # also an insertion of 啊
    # Mandarin: perfect
    ("mandarin", "m1", "打开空调", "打开空调", "quiet"),
    ("mandarin", "m2", "导航到人民广场", "导航到人民广场", "quiet"),
    # No dialect recorded; a homophone substitution (是/事)
    (None, "x1", "这是真的", "这事真的", "street"),
]


def make_results(pairs=PAIRS, condition=True) -> pd.DataFrame:
    rows = []
    for i, (group, spk, ref, hyp, cond) in enumerate(pairs):
        c = score_pair(ref, hyp)
        row = {"id": f"u{i:02d}", "ref": ref, "hyp": hyp, "sub": c.sub, "del": c.dele, "ins": c.ins,
               "ref_len": c.ref_len, "unit": "char", "confidence": float("nan"), "speaker": spk,
               "duration": 1.0 + 0.1 * i, "dialect": group, "gender": float("nan")}
        if condition:
            row["condition"] = cond
        rows.append(row)
    return pd.DataFrame(rows)


SUMMARY = {"total": {"hours": 100.0, "utterances": 100000, "speakers": 325}, "by": {"dialect": {
    "mandarin": {"hours": 90.0, "utterances": 90000, "speakers": 300},
    "wu": {"hours": 8.0, "utterances": 8000, "speakers": 20},
    "min": {"hours": 2.0, "utterances": 2000, "speakers": 5},  # in training, not in the test set
}}}


@pytest.fixture(scope="module")
def out():
    return explain(make_results(), "dialect", SUMMARY, top_k=3)


def test_output_is_strict_json(out):
    text = json.dumps(out, allow_nan=False, ensure_ascii=False)
    assert json.loads(text) == out
    assert out["by"] == "dialect" and out["normalization"].startswith("NFKC")


def test_top_pinyin_initial_confusion_names_the_accent(out):
    wu = out["pinyin_confusions"]["wu"]
    assert wu["initial"][0] == {"ref": "zh", "hyp": "z", "count": 4}
    assert {"ref": "n", "hyp": "l", "count": 2} in wu["initial"]
    assert {"ref": "ing", "hyp": "in", "count": 1} in wu["final"]
    assert {"ref": "1", "hyp": "2", "count": 1} in wu["tone"]  # 英 ying1 -> 银 yin2
    assert out["pinyin_confusions"]["yue"]["initial"][0] == {"ref": "f", "hyp": "h", "count": 3}
    assert out["pinyin_confusions"]["mandarin"]["initial"] == []


def test_pinyin_rates_are_per_100_reference_chars(out):
    wu = out["pinyin_confusions"]["wu"]
    ref_chars = sum(len(ref) for g, _, ref, _, _ in PAIRS if g == "wu")  # 7 + 6 + 4 + 4 + 3 = 24
    assert wu["rate_per_100_ref_chars"]["initial"] == pytest.approx(100 * 6 / ref_chars, abs=1e-4)
    assert out["pinyin_confusions"]["mandarin"]["rate_per_100_ref_chars"]["initial"] == 0.0


def test_homophones_add_no_pinyin_confusion(out):
    missing = out["pinyin_confusions"][MISSING]
    assert missing["han_substitutions"] == 1 and missing["homophones"] == 1  # 是 shi4 -> 事 shi4
    assert missing["initial"] == missing["final"] == missing["tone"] == []


def test_char_confusions_list_substitutions_deletions_insertions(out):
    wu = out["char_confusions"]["wu"]
    assert wu[0] == {"op": "S", "ref": "知", "hyp": "资", "count": 4}
    assert {"op": "D", "ref": "了", "hyp": "", "count": 1} in wu
    assert {"op": "I", "ref": "", "hyp": "啊", "count": 1} in out["char_confusions"]["yue"]
    assert [r["op"] for r in wu] == sorted((r["op"] for r in wu), key="SDI".index)


def test_worst_utterances_ordered_and_aligned(out):
    wu = out["worst_utterances"]["wu"]
    assert len(wu) == 3  # top_k
    cers = [r["cer"] for r in wu]
    assert cers == sorted(cers, reverse=True)
    # CERs: u00 2/7, u01 1/6, u02 2/4, u03 1/4, u04 2/3
    assert wu[0]["id"] == "u04" and wu[0]["cer"] == pytest.approx(2 / 3, abs=1e-6)
    assert (wu[0]["ref_aligned"], wu[0]["hyp_aligned"], wu[0]["ops"]) == ("知道了", "资道*", "S=D")
    assert wu[1]["id"] == "u02" and wu[1]["cer"] == 0.5
    yue = out["worst_utterances"]["yue"]
    assert (yue[0]["ref_aligned"], yue[0]["hyp_aligned"], yue[0]["ops"]) == ("飞得很高*", "灰得很高啊", "S===I")


def test_worst_utterance_ties_broken_by_longer_reference():
    pairs = [("g", "s", "飞机", "灰机", "q"), ("g", "s", "飞机很快呢", "灰鸡很快", "q"),
             ("g", "s", "飞机很快", "灰鸡很快", "q"), ("g", "s", "十二个", "四二个", "q")]
    # CERs: 1/2, 3/5, 2/4, 1/3 -> 0.6, then the two 0.5s longer first, then 1/3.
    rows = explain(make_results(pairs), "dialect", None)["worst_utterances"]["g"]
    assert [r["id"] for r in rows] == ["u01", "u02", "u00", "u03"]


def test_by_length_pools_edits(out):
    bins = {r["bin"]: r for r in out["by_length"]}
    # 1-5 chars (edits/length): 请您知道 2/4, 我去英国 1/4, 知道了 2/3, 飞机很快 1/4, 飞得很高 2/4,
    # 打开空调 0/4, 这是真的 1/4
    assert bins["1-5"]["utterances"] == 7 and bins["1-5"]["ref_len"] == 27
    assert bins["1-5"]["cer"] == pytest.approx(9 / 27, abs=1e-6)
    # 6-10 chars: 我知道您在哪里 2/7, 知识就是力量 1/6, 坐飞机去北京 1/6, 导航到人民广场 0/7
    assert bins["6-10"] == {"bin": "6-10", "utterances": 4, "ref_len": 26, "cer": pytest.approx(4 / 26, abs=1e-6)}
    assert list(bins) == ["1-5", "6-10"]


def test_by_condition_and_missing_condition(out):
    cond = {r["condition"]: r for r in out["by_condition"]}
    assert set(cond) == {"quiet", "street"}
    assert cond["street"]["utterances"] == 5 and cond["street"]["cer"] == pytest.approx(8 / 19, abs=1e-6)
    assert explain(make_results(condition=False), "dialect", None)["by_condition"] == []


def test_training_composition_joins_data_summary(out):
    comp = {r["group"]: r for r in out["training_composition"]}
    assert set(comp) == {"mandarin", "wu", "yue", "min", MISSING}
    assert comp["wu"]["train_hours"] == 8.0 and comp["wu"]["train_speakers"] == 20
    assert comp["wu"]["cer"] == pytest.approx(8 / 24, abs=1e-6) and comp["wu"]["utterances"] == 5
    assert comp["min"]["train_hours"] == 2.0 and comp["min"]["utterances"] == 0 and comp["min"]["cer"] is None
    assert comp["wu"]["train_share"] == pytest.approx(0.08)
    assert comp["yue"]["train_hours"] is None and comp["yue"]["cer"] == pytest.approx(4 / 14, abs=1e-6)


@pytest.mark.parametrize("summary", [None, {}, {"total": {"hours": 3.0}}, {"total": {}, "by": {"gender": {}}}])
def test_training_composition_without_the_attribute(summary):
    comp = explain(make_results(), "dialect", summary)["training_composition"]
    assert {r["group"] for r in comp} == {"mandarin", "wu", "yue", MISSING}
    assert all(r["train_hours"] is None and r["train_utterances"] is None for r in comp)


def test_training_composition_joins_missing_values_of_the_model_directory_summary():
    # asr.models.model_dir counts a training utterance without the field as UNKNOWN; read the
    # constant from its source, because importing asr.models.model_dir imports torch (seconds).
    import asr

    tree = ast.parse((Path(asr.__file__).parent / "models" / "model_dir.py").read_text(encoding="utf-8"))
    unknown = next(node.value.value for node in tree.body if isinstance(node, ast.Assign)
                   and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["UNKNOWN"])
    assert unknown == MISSING
    summary = {"total": {"hours": 1.5, "utterances": 3, "speakers": 3}, "by": {"dialect": {
        "wu": {"hours": 1.0, "utterances": 2, "speakers": 2}, unknown: {"hours": 0.5, "utterances": 1, "speakers": 1}}}}
    comp = {r["group"]: r for r in explain(make_results(), "dialect", summary)["training_composition"]}
    assert comp["wu"]["train_hours"] == 1.0 and comp["wu"]["train_speakers"] == 2
    assert comp[MISSING]["train_hours"] == 0.5 and comp[MISSING]["utterances"] == 1


def test_sampling_caps_alignment_and_scales_rates():
    pairs = [("wu", f"s{i}", "我知道", "我资道", "q") for i in range(20)]
    full = explain(make_results(pairs), "dialect", None)
    capped = explain(make_results(pairs), "dialect", None, max_aligned=5)
    assert capped["alignment"]["wu"] == {"errorful_utterances": 20, "aligned_utterances": 5, "sampled": True,
                                         "count_mismatches": 0}
    assert capped["char_confusions"]["wu"][0]["count"] == 5
    rates = [o["pinyin_confusions"]["wu"]["rate_per_100_ref_chars"] for o in (full, capped)]
    assert rates[0] == rates[1] and rates[0]["initial"] == pytest.approx(100 / 3, abs=1e-3)


def test_missing_group_column_is_an_actionable_error():
    with pytest.raises(AsrError, match="no column 'accent' to group by"):
        explain(make_results(), "accent", None)


def test_numeric_groups_and_missing_values_become_string_keys():
    df = make_results()
    df["snr_db"] = [10.0] * 5 + [float("nan")] * 6
    out = explain(df, "snr_db", None)
    assert set(out["worst_utterances"]) == {"10.0", MISSING}
    json.dumps(out, allow_nan=False)
    assert group_label(None) == group_label(float("nan")) == MISSING


def test_latin_words_are_padded_in_aligned_strings():
    ref, hyp, ops = aligned_strings([("=", "打", "打"), ("S", "gps", "jps"), ("D", "点", None)])
    assert ops == "=SD" and ref.split() == ["打", "gps", "点"] and hyp.split() == ["打", "jps", "*"]
    assert ref.index("点") == hyp.index("*")


def test_pinyin_tally_counts_only_differing_components():
    tally = PinyinTally()
    tally.add_pairs(list("英"), list("银"), [("S", 0, 0)])  # ying1 -> yin2: final and tone, same initial
    assert dict(tally.initial) == {} and dict(tally.final) == {("ing", "in"): 1} and dict(tally.tone) == {("1", "2"): 1}
    assert math.isclose(tally.to_json(5, 50.0)["rate_per_100_ref_chars"]["final"], 2.0)


def _plain(obj) -> bool:
    """True when ``obj`` is made only of plain Python JSON types (no numpy scalars)."""
    if type(obj) is dict:
        return all(type(k) is str and _plain(v) for k, v in obj.items())
    if type(obj) is list:
        return all(_plain(v) for v in obj)
    return obj is None or type(obj) in (str, int, float, bool)


def test_output_is_plain_python(out):
    assert _plain(out)


def test_empty_reference_with_insertions_ranks_first_with_cer_none():
    pairs = [("g", "s", "飞机", "灰机", "q"), ("g", "s", "", "啊啊", "q")]
    out = explain(make_results(pairs), "dialect", None)
    worst = out["worst_utterances"]["g"]
    assert worst[0]["id"] == "u01" and worst[0]["cer"] is None and worst[0]["ops"] == "II"
    assert {r["bin"]: r["cer"] for r in out["by_length"]} == {"0": None, "1-5": 0.5}
    json.dumps(out, allow_nan=False)


def test_empty_results():
    out = explain(make_results([]).reindex(columns=make_results().columns), "dialect", None)
    assert out["training_composition"] == [] and out["by_length"] == [] and out["worst_utterances"] == {}
    json.dumps(out, allow_nan=False)


def test_word_units_have_word_confusions_and_no_pinyin():
    df = pd.DataFrame([{"id": "w0", "ref": "turn the light on", "hyp": "turn a light on", "sub": 1, "del": 0, "ins": 0,
                        "ref_len": 4, "unit": "word", "speaker": "s", "accent": "scottish"}])
    out = explain(df, "accent", None)
    assert out["char_confusions"]["scottish"] == [{"op": "S", "ref": "the", "hyp": "a", "count": 1}]
    assert out["pinyin_confusions"]["scottish"]["initial"] == []
    assert out["worst_utterances"]["scottish"][0]["ops"] == "=S=="
