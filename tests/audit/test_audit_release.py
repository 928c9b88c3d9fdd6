"""`asr audit` end to end: outputs, baseline comparison, gates and the releases index."""

from __future__ import annotations

import json

import numpy as np
import pytest

from asr.audit.gates import parse_gate
from asr.cli import main
from asr.errors import AsrError
from asr.audit.synthetic import make_results

FAST = ["--replicates", "200", "--permutations", "200", "--by", "dialect,gender"]


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    """A baseline results file and a release in which dialect03 got clearly worse."""
    root = tmp_path_factory.mktemp("releases")
    old = make_results(2000, 4, 60, seed=3)
    old.to_json(root / "old.jsonl", orient="records", lines=True, force_ascii=False)
    new = old.copy()
    worse = new["dialect"] == "dialect03"
    new.loc[worse, "sub"] = np.minimum(new.loc[worse, "sub"] + 2, new.loc[worse, "ref_len"] - new.loc[worse, "del"])
    new.to_json(root / "new.jsonl", orient="records", lines=True, force_ascii=False)
    reports = root / "reports"
    assert main(["audit", "--results", str(root / "old.jsonl"), "--release", "v1", "--output-dir", str(reports), *FAST]) == 0
    return root, reports, old, new


def test_outputs_agree_with_an_independent_computation(releases):
    root, reports, old, _ = releases
    fairness = json.loads((reports / "v1" / "fairness.json").read_text(encoding="utf-8"))
    rows = [json.loads(x) for x in (reports / "v1" / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(old)
    errors, ref = {}, {}
    for r in rows:
        errors[r["dialect"]] = errors.get(r["dialect"], 0) + r["sub"] + r["del"] + r["ins"]
        ref[r["dialect"]] = ref.get(r["dialect"], 0) + r["ref_len"]
    cer = {g: errors[g] / ref[g] for g in errors}
    worst = max(cer, key=cer.get)
    head = fairness["headline"]
    assert head["worst_group"] == worst and head["worst_cer"]["value"] == pytest.approx(cer[worst])
    assert head["worst_cer"]["low"] < cer[worst] < head["worst_cer"]["high"]
    assert fairness["schema"] == "asr-fairness/2" and fairness["config"]["by"] == ["dialect", "gender"]
    assert fairness["config"]["interval_method"] == "pooled_t"
    assert {"overall", "attributes", "intersections", "explanations", "model_card", "baseline", "gates"} <= set(fairness)
    assert fairness["intersections"][0]["attributes"] == ["dialect", "gender"]
    assert fairness["normalization"].startswith("NFKC")
    assert worst in (reports / "v1" / "fairness.html").read_text(encoding="utf-8")


def test_baseline_comparison_and_a_gate_that_must_fail(releases, capsys):
    root, reports, old, new = releases
    args = ["audit", "--results", str(root / "new.jsonl"), "--release", "v2", "--output-dir", str(reports),
            "--baseline", str(reports / "v1"), *FAST]
    code = main(args + ["--fail-if", "worst_group_cer_worse:0.95", "--fail-if", "gender.ratio>100"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3
    assert err == ["asr audit: release gate failed: worst_group_cer_worse:0.95: dialect p_worst_group_cer_worse = 1 > 0.95"]
    fairness = json.loads((reports / "v2" / "fairness.json").read_text(encoding="utf-8"))
    block = fairness["baseline"]["attributes"]["dialect"]
    assert fairness["baseline"]["matched_utterances"] == len(new)
    d03 = next(g for g in block["groups"] if g["group"] == "dialect03")
    same = next(g for g in block["groups"] if g["group"] == "mandarin")
    assert d03["difference"] > 0 and d03["low"] > 0 and d03["p_improvement"] == 0
    assert same["difference"] == 0 and same["low"] == same["high"] == 0
    assert block["worst_group_cer"]["p_worse"] == 1.0
    assert [g["failed"] for g in fairness["gates"]] == [True, False]
    index = (reports / "index.html").read_text(encoding="utf-8")
    assert 'href="v1/fairness.html"' in index and 'href="v2/fairness.html"' in index
    # A tolerant gate passes.
    assert main(args + ["--fail-if", "worst_group_cer_delta>0.5"]) == 0


def test_gate_syntax_and_missing_baseline(tmp_path, capsys):
    assert parse_gate("ratio_worse:0.9").metric == "p_ratio_worse"
    gate = parse_gate("gender.worst_group_cer_delta>=0.01")
    assert (gate.attribute, gate.metric, gate.op, gate.threshold) == ("gender", "worst_group_cer_delta", ">=", 0.01)
    with pytest.raises(AsrError, match="unknown metric 'wer'"):
        parse_gate("wer>0.1")
    with pytest.raises(AsrError, match="expected \\[ATTRIBUTE.\\]METRIC OP NUMBER"):
        parse_gate("ratio is big")
    path = tmp_path / "r.jsonl"
    make_results(100, 2, 10).to_json(path, orient="records", lines=True, force_ascii=False)
    code = main(["audit", "--results", str(path), "--release", "x", "--output-dir", str(tmp_path), "--fail-if", "ratio_worse:0.9"])
    assert code == 1
    assert "compares with a baseline: pass --baseline" in capsys.readouterr().err
    assert main(["audit", "--results", str(path), "--release", "x", "--output-dir", str(tmp_path), "--by", "dialekt"]) == 1
    assert "no field 'dialekt' to group by (attributes present: dialect, gender, age_band, condition)" in capsys.readouterr().err
    assert main(["audit", "--results", str(path), "--release", "x", "--output-dir", str(tmp_path), "--by", "accent"]) == 1
    assert "no utterance has accent (attributes present: dialect, gender, age_band, condition)" in capsys.readouterr().err
    # A metadata field no utterance has is skipped with a warning when others remain.
    assert main(["audit", "--results", str(path), "--release", "y", "--output-dir", str(tmp_path),
                 "--by", "dialect,accent", "--replicates", "20", "--permutations", "20"]) == 0
    figures = json.loads((tmp_path / "y" / "fairness.json").read_text())
    assert list(figures["attributes"]) == ["dialect"]
    assert "accent: no utterance has this field; not audited" in figures["warnings"]


def test_forked_explanations_equal_serial_ones(monkeypatch):
    from asr.audit import pipeline
    from asr.audit.config import AuditConfig

    df = make_results(400, 3, 15)
    config = AuditConfig(by=["dialect"], replicates=20, permutations=20, intersections=False)
    serial = pipeline.audit(df, config).explanations
    monkeypatch.setattr(pipeline, "PARALLEL_EXPLAIN_MIN", 0)
    forked = pipeline.audit(df, config).explanations
    assert forked == serial and serial["worst_utterances"]


def test_fairness_records_provenance_and_warns_when_the_baseline_ran_otherwise(tmp_path, caplog):
    from asr.provenance import provenance

    results = make_results(400, 3, 12, seed=5)
    reports = tmp_path / "reports"
    for release, precision in (("old", "bf16"), ("new", "fp32")):
        results.to_json(tmp_path / f"results-{release}.jsonl", orient="records", lines=True, force_ascii=False)
        meta = {"normalization": "NFKC", "provenance": provenance(precision=precision, device="cpu", threads=2),
                "model_provenance": provenance(precision=precision, device="cpu", seed=1, threads=1, processes=2)}
        (tmp_path / f"results-{release}.meta.json").write_text(json.dumps(meta))
    base = ["audit", "--output-dir", str(reports), *FAST]
    assert main([*base, "--results", str(tmp_path / "results-old.jsonl"), "--release", "old"]) == 0
    fairness = json.loads((reports / "old" / "fairness.json").read_text(encoding="utf-8"))
    assert fairness["provenance"]["model"]["precision"] == "bf16"
    assert fairness["provenance"]["decode"]["precision"] == "bf16"
    assert fairness["provenance"]["audit"]["packages"]["pandas"]
    card = fairness["model_card"]["provenance"]
    assert "precision bf16" in card["trained"] and "seed 1" in card["trained"] and "x 2 process(es)" in card["trained"]
    assert "precision bf16" in (reports / "old" / "fairness.html").read_text(encoding="utf-8")
    assert not any("different settings" in w for w in fairness["warnings"])

    with caplog.at_level("WARNING"):
        assert main([*base, "--results", str(tmp_path / "results-new.jsonl"), "--release", "new",
                     "--baseline", str(reports / "old")]) == 0
    fairness = json.loads((reports / "new" / "fairness.json").read_text(encoding="utf-8"))
    warned = [w for w in fairness["warnings"] if "different settings" in w]
    assert len(warned) == 2 and all("precision bf16 vs fp32" in w for w in warned)
    assert "were trained under different settings (precision bf16 vs fp32)" in caplog.text
