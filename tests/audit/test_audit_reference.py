"""The fixed reference group, the headline's verdict, the colour rule and the interval label."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from asr.audit.config import AuditConfig
from asr.audit.pipeline import audit, run_audit
from asr.audit.report import render_report
from asr.audit.schema import to_json
from asr.audit.synthetic import make_results

FAST = dict(replicates=100, permutations=200, intersections=False)
GAP = np.array([0.03, 0.04, 0.05, 0.25])  # dialect03 far above the rest


@pytest.fixture(scope="module")
def gap_results():
    return make_results(3000, 4, 48, seed=2, cers=GAP, n_texts=40)


def _cer(df, group):
    sel = df[df["dialect"] == group]
    return (sel["sub"] + sel["del"] + sel["ins"]).sum() / sel["ref_len"].sum()


def test_a_configured_reference_group_is_used_everywhere_and_written_down(gap_results, tmp_path):
    df = gap_results
    path = tmp_path / "results.jsonl"
    df.to_json(path, orient="records", lines=True, force_ascii=False)
    config = AuditConfig(by=["dialect"], reference_groups={"dialect": "dialect01"}, **FAST)
    run_audit([path], "v1", tmp_path / "reports", config)
    out = run_audit([path], "v2", tmp_path / "reports", config, baseline=tmp_path / "reports" / "v1")
    fairness = json.loads((out.directory / "fairness.json").read_text(encoding="utf-8"))
    block = fairness["attributes"]["dialect"]
    assert (block["disparity"]["reference_group"], block["disparity"]["reference_source"]) == ("dialect01", "configured")
    assert block["adjusted"]["reference"] == "dialect01"
    assert block["matched"]["disparity"]["reference_group"] == "dialect01"
    assert fairness["baseline"]["attributes"]["dialect"]["reference_group"] == "dialect01"
    assert fairness["headline"]["reference_group"] == "dialect01"
    d = block["disparity"]
    assert d["compared_group"] == d["worst_group"] == "dialect03"
    assert d["ratio"]["value"] == pytest.approx(_cer(df, "dialect03") / _cer(df, "dialect01"))
    assert d["difference"]["value"] == pytest.approx(_cer(df, "dialect03") - _cer(df, "dialect01"))


def test_by_default_the_group_with_the_most_reference_tokens_is_the_reference(gap_results):
    result = audit(gap_results, AuditConfig(by=["dialect"], **FAST))
    tokens = gap_results.groupby("dialect")["ref_len"].sum()
    d = result.attributes["dialect"].disparity
    assert (d.reference_group, d.reference_source) == (tokens.idxmax(), "most reference tokens")
    assert d.reference_group != d.compared_group


def test_when_the_reference_is_the_worst_group_the_ratio_is_of_the_next_highest_to_it(gap_results):
    result = audit(gap_results, AuditConfig(by=["dialect"], reference_groups={"dialect": "dialect03"}, **FAST))
    d = result.attributes["dialect"].disparity
    cers = {g: _cer(gap_results, g) for g in ("mandarin", "dialect01", "dialect02", "dialect03")}
    next_highest = max((g for g in cers if g != "dialect03"), key=cers.get)
    assert (d.worst_group, d.reference_group, d.compared_group) == ("dialect03", "dialect03", next_highest)
    assert d.ratio.value == pytest.approx(cers[next_highest] / cers["dialect03"]) and d.ratio.value < 1
    assert f"dialect03 is the reference group; the next highest, {next_highest}, is" in result.headline.text


def test_a_real_gap_is_named_and_coloured(gap_results):
    result = audit(gap_results, AuditConfig(by=["dialect"], reference_groups={"dialect": "mandarin"}, **FAST))
    d = result.attributes["dialect"].disparity
    assert d.worst_group == "dialect03" and d.worst_differs and d.distinguishable
    assert result.headline.text.startswith("By dialect, dialect03 has the highest CER, ")
    assert "above the reference group mandarin" in result.headline.text
    page = render_report(result)
    assert re.search(r'<tr class="worst"><td>dialect03</td>', page)
    assert '<p class="headline">' in page


def test_indistinguishable_groups_are_said_so_and_not_coloured():
    same = make_results(1500, 3, 36, seed=4, cers=np.array([0.08, 0.08, 0.08]))
    result = audit(same, AuditConfig(by=["dialect"], **FAST))
    d = result.attributes["dialect"].disparity
    assert not d.distinguishable and not d.worst_differs and not d.best_differs
    assert result.headline.text.startswith("By dialect, the groups are indistinguishable: none differs from the rest")
    page = render_report(result)
    assert "The groups are indistinguishable" in page
    assert not re.search(r'<tr class="(worst|best)">', page)
    assert 'fill="#c53030"' not in page and 'fill="#2f855a"' not in page  # no red or green bar


def test_the_interval_label_follows_the_configured_confidence(gap_results):
    result = audit(gap_results, AuditConfig(by=["dialect", "gender"], confidence=0.9, **{**FAST, "intersections": True}))
    page = render_report(result)
    assert not re.search(r"95% (CI|interval)", page)
    assert page.count("90% CI") >= 5 and "(90% intervals)" in page and "(90% CI " in result.headline.text
    assert to_json(result)["config"]["confidence"] == 0.9


def test_fairness_json_is_the_typed_result_serialized(gap_results, tmp_path):
    path = tmp_path / "results.jsonl"
    gap_results.to_json(path, orient="records", lines=True, force_ascii=False)
    out = run_audit([path], "v1", tmp_path / "reports", AuditConfig(by=["dialect", "gender"], **FAST))
    written = json.loads((out.directory / "fairness.json").read_text(encoding="utf-8"))
    assert written == json.loads(json.dumps(to_json(out.result)))
    group = written["attributes"]["dialect"]["groups"][0]
    assert set(group) == {"dialect", "group", "utterances", "speakers", "ref_len", "errors", "sub", "del", "ins", "cer",
                          "cer_low", "cer_high", "sub_rate", "del_rate", "ins_rate", "flag", "eligible"}
    disparity = written["attributes"]["dialect"]["disparity"]
    assert {"reference_group", "reference_source", "compared_group", "worst_differs", "best_differs",
            "distinguishable", "ratio", "difference", "worst_cer", "best_cer"} <= set(disparity)
    assert set(disparity["ratio"]) == {"value", "low", "high"}
