"""Each real-corpus recipe's audit (stage 5: `asr audit --config recipes/<corpus>/conf/audit.yaml`)
on results made from its fake corpus, with errors planted in one group: the groups asked for are there
and the planted group is the one that stands out."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from asr.cli import main
from asr.corpus.commonvoice import prepare_commonvoice
from asr.corpus.fakes import make_commonvoice, make_kespeech
from asr.corpus.kespeech import prepare_kespeech
from asr.decode.batch import result_row
from asr.io import write_jsonl
from asr.manifest.records import Utterance, read_manifest

REPO = Path(__file__).resolve().parents[2]


def _results(manifests, plant, path: Path) -> list[dict]:
    """Write a results file of every utterance: the reference as hypothesis, its first two
    characters dropped where ``plant(utt)``. Returns the rows."""
    rows = [result_row(u, u.text[2:] if plant(u) else u.text, 0.9) for m in manifests for u in read_manifest(m)]
    write_jsonl(path, rows)
    return rows


def _audit(corpus: str, results: Path, out: Path) -> dict:
    """Stage 5 of recipes/<corpus>/run.sh: the recipe's audit config, its attributes included."""
    code = main(["audit", "--config", str(REPO / "recipes" / corpus / "conf" / "audit.yaml"),
                 "--results", str(results), "--release", "baseline", "--output-dir", str(out)])
    assert code == 0
    return json.loads((out / "baseline" / "fairness.json").read_text(encoding="utf-8"))


def _groups(fairness: dict, attribute: str) -> dict[str, dict]:
    return {g["group"]: g for g in fairness["attributes"][attribute]["groups"]}


def _cells(fairness: dict, a: str, b: str) -> dict[str, dict]:
    [pair] = [i for i in fairness["intersections"] if i["attributes"] == [a, b]]
    return {c["group"]: c for c in pair["cells"]}


def _pooled(rows: list[dict]) -> float:
    """Summed edits over summed reference characters."""
    return sum(r["sub"] + r["del"] + r["ins"] for r in rows) / sum(r["ref_len"] for r in rows)


def _counts(rows: list[dict], key) -> dict[str, int]:
    return dict(Counter(key(r) for r in rows))


# ----------------------------------------------------------------------------- KeSpeech


@pytest.fixture(scope="module")
def kespeech(tmp_path_factory):
    root = tmp_path_factory.mktemp("kespeech")
    written = prepare_kespeech(make_kespeech(root / "KeSpeech", speakers=6, utterances=4), root / "manifests")

    def plant(u: Utterance) -> bool:  # Mandarin read by Jiang-Huai speakers
        return u.home_dialect == "jiang_huai" and u.reading_style == "mandarin"

    rows = _results(written.values(), plant, root / "results-test.jsonl")
    return rows, _audit("kespeech", root / "results-test.jsonl", root / "reports")


def test_kespeech_audits_home_subdialect_reading_style_and_their_intersection(kespeech):
    rows, fairness = kespeech
    assert fairness["config"]["by"] == ["home_dialect", "reading_style", "dialect", "gender", "age_band", "city",
                                        "condition"]
    assert fairness["headline"]["attribute"] == "home_dialect"
    homes = _groups(fairness, "home_dialect")
    # Every utterance of a speaker counts in their home group, Mandarin readings included.
    assert {k: v["utterances"] for k, v in homes.items()} == _counts(rows, lambda r: r["home_dialect"])
    assert set(homes) == {"beijing", "southwestern", "zhongyuan", "northeastern", "lan_yin", "jiang_huai", "ji_lu",
                          "jiao_liao"}
    assert homes["jiang_huai"]["cer"] == pytest.approx(_pooled([r for r in rows if r["home_dialect"] == "jiang_huai"]))
    styles = _groups(fairness, "reading_style")
    assert {k: v["utterances"] for k, v in styles.items()} == {"dialect": 30, "mandarin": 90}
    cells = _cells(fairness, "home_dialect", "reading_style")
    assert len(cells) == 16  # 8 home subdialects x 2 reading styles
    planted = [r for r in rows if r["home_dialect"] == "jiang_huai" and r["reading_style"] == "mandarin"]
    assert cells["jiang_huai × mandarin"]["utterances"] == len(planted) == 15
    assert cells["jiang_huai × mandarin"]["cer"] == pytest.approx(_pooled(planted)) and _pooled(planted) > 0.3
    assert cells["jiang_huai × dialect"]["cer"] == 0.0
    assert max(cells.values(), key=lambda c: c["cer"])["group"] == "jiang_huai × mandarin"
    # The utterance's own dialect merges every Mandarin reading into one group.
    assert _groups(fairness, "dialect")["mandarin"]["utterances"] == 90


def test_kespeech_audit_compares_dialect_and_mandarin_reading_within_speakers(kespeech):
    rows, fairness = kespeech
    w = fairness["within_speaker"]
    assert (w["paired_by"], w["contrast"], w["levels"]) == ("speaker", "reading_style", ["dialect", "mandarin"])
    both = {r["speaker"] for r in rows if r["reading_style"] == "dialect"} & \
        {r["speaker"] for r in rows if r["reading_style"] == "mandarin"}
    assert w["paired_units"] == len(both) > 0
    assert set(w["attributes"]) == {"home_dialect", "gender", "age_band", "city"}
    assert set(w["skipped"]) == {"reading_style", "dialect", "condition"}
    homes = {g["group"]: g for g in w["attributes"]["home_dialect"]}
    # Planted: Mandarin read by Jiang-Huai speakers; their dialect reading is perfect.
    jiang_huai = [r for r in rows if r["home_dialect"] == "jiang_huai" and r["speaker"] in both]
    assert homes["jiang_huai"]["cer_a"]["value"] == 0.0
    assert homes["jiang_huai"]["cer_b"]["value"] == pytest.approx(
        _pooled([r for r in jiang_huai if r["reading_style"] == "mandarin"]))
    assert homes["jiang_huai"]["difference"]["value"] < -0.3


def test_kespeech_audit_adjusts_for_the_recording_environment(kespeech):
    rows, fairness = kespeech
    conditions = _groups(fairness, "condition")
    assert {k: v["utterances"] for k, v in conditions.items()} == _counts(rows, lambda r: r.get("condition", "(missing)"))
    assert set(conditions) == {"noisy", "quiet", "(missing)"}  # phase 1 records no environment
    assert fairness["attributes"]["reading_style"]["adjusted"]["confounders"] == ["duration", "condition"]
    assert "phase" not in fairness["attributes"]  # recorded, not asked by the recipe


# ----------------------------------------------------------------------------- Common Voice


@pytest.fixture(scope="module")
def commonvoice(tmp_path_factory):
    root = tmp_path_factory.mktemp("commonvoice")
    corpus = make_commonvoice(root / "cv", locales=("zh-CN", "zh-HK", "zh-TW"))
    written = prepare_commonvoice(corpus, root / "manifests")

    def plant(u: Utterance) -> bool:  # zh-TW, which `dialect` would merge into mandarin
        return u.locale == "zh-TW"

    rows = _results(written.values(), plant, root / "results-test.jsonl")
    return rows, _audit("commonvoice", root / "results-test.jsonl", root / "reports")


def test_commonvoice_audits_locale_accents_gender_and_age(commonvoice):
    rows, fairness = commonvoice
    assert fairness["config"]["by"] == ["locale", "accents", "gender", "age_band"]
    locales = _groups(fairness, "locale")
    assert {k: v["utterances"] for k, v in locales.items()} == {"zh-CN": 24, "zh-HK": 24, "zh-TW": 24}
    assert locales["zh-TW"]["cer"] == pytest.approx(_pooled([r for r in rows if r["locale"] == "zh-TW"]))
    assert locales["zh-CN"]["cer"] == locales["zh-HK"]["cer"] == 0.0
    assert fairness["headline"]["worst_group"] == "zh-TW"
    genders = _groups(fairness, "gender")
    assert {k: v["utterances"] for k, v in genders.items()} == _counts(rows, lambda r: r.get("gender", "(missing)"))
    assert set(genders) == {"female", "male", "(missing)"}
    assert set(_groups(fairness, "age_band")) == {"0-19", "20-29", "30-39", "40-49", "(missing)"}
    assert ["locale", "gender"] in [i["attributes"] for i in fairness["intersections"]]


def test_commonvoice_accent_groups_count_each_accent_of_a_speaker(commonvoice):
    rows, fairness = commonvoice
    accents = _groups(fairness, "accents")
    items = {a for r in rows for a in r.get("accents", [])}
    assert set(accents) == items | {"(missing)"}
    for accent in items:
        members = [r for r in rows if accent in r.get("accents", [])]
        assert accents[accent]["utterances"] == len(members)
        assert accents[accent]["cer"] == pytest.approx(_pooled(members))
    assert accents["出生地：11 北京市"]["utterances"] == 6  # the two zh-CN speakers who gave two accents
    assert accents["(missing)"]["utterances"] == sum("accents" not in r for r in rows)
