"""Someone else's recognizer in the audit: hypotheses scored straight into a report, a model card that shows
what is known of the system and nothing else, and several systems side by side (--compare)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from asr.audit.config import AuditConfig
from asr.audit.pipeline import run_audit, run_audit_hypotheses
from asr.audit.synthetic import make_results
from asr.cli import main
from asr.errors import AsrError
from asr.manifest.records import Utterance, write_manifest

FAST = AuditConfig(by=["dialect", "gender"], replicates=20, permutations=20, min_speakers=3, intersections=False)
#: Utterances the external system gave no hypothesis for.
MISSING_IDS = 5


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A manifest of 300 utterances (30 speakers, 3 dialects) and a Kaldi hypothesis file missing 5 of them."""
    root = tmp_path_factory.mktemp("external")
    df = make_results(300, 3, 30, seed=1)
    utts = [Utterance(id=r.id, audio=f"audio/{r.id}.wav", duration=float(r.duration), sample_rate=16000, text=r.ref,
                      speaker=r.speaker, dialect=r.dialect, gender=r.gender) for r in df.itertuples()]
    write_manifest(root / "test.jsonl", utts)
    hyp = root / "whisper.txt"
    hyp.write_text("".join(f"{r.id} {r.hyp}\n" for r in df.iloc[MISSING_IDS:].itertuples()), encoding="utf-8")
    return root, df


def _pooled(rows: pd.DataFrame) -> float:
    return float((rows["sub"] + rows["del"] + rows["ins"]).sum() / rows["ref_len"].sum())


@pytest.fixture(scope="module")
def external(corpus):
    root, _ = corpus
    return run_audit_hypotheses(root / "test.jsonl", root / "whisper.txt", "whisper", root / "reports", FAST,
                                system="whisper-base")


def test_hypotheses_are_scored_into_the_release_directory_then_audited(external, corpus):
    root, df = corpus
    results = root / "reports" / "whisper" / "hypotheses" / "results-test.jsonl"
    meta = json.loads(results.with_name("results-test.meta.json").read_text(encoding="utf-8"))
    assert (meta["system"], meta["engine"], meta["missing_hypotheses"]) == ("whisper-base", "external", MISSING_IDS)
    rows = pd.read_json(results, lines=True)
    assert list(rows["id"]) == list(df["id"])
    missed = rows.iloc[:MISSING_IDS]
    assert (missed["hyp"] == "").all() and (missed["del"] == missed["ref_len"]).all()  # all deletions
    assert external.result.overall.cer == pytest.approx(_pooled(rows)) == pytest.approx(meta["cer"], abs=1e-6)


def test_the_card_of_an_external_system_says_what_is_known_and_why_not_the_rest(external, corpus):
    root, _ = corpus
    card = external.result.model_card
    assert card["model"]["system"] == "whisper-base"
    assert card["model"]["engine"] == "external (asr score --manifest)"
    assert card["model"]["hypotheses"] == str(root / "whisper.txt")
    assert (card["model"]["hyp_format"], card["model"]["missing_hypotheses"]) == ("kaldi", MISSING_IDS)
    assert card["training_data"] == {
        "available": False,
        "note": "whisper-base's hypotheses were scored from a file (asr score --manifest): asr has no record of the "
                "data it was trained on, so this card does not describe it."}
    assert f"{MISSING_IDS} of 300 utterances have no hypothesis from whisper-base: they are scored as all deletions" \
        in external.result.warnings
    assert set(card["provenance"]) == {"scored", "audited"}  # asr neither trained nor decoded it: not "not recorded"
    page = (external.directory / "fairness.html").read_text(encoding="utf-8")
    assert "asr has no record of the data it was trained on" in page
    assert "<th class=num>train hours</th>" not in page and "path</th><td>None" not in page
    assert "<th>missing_hypotheses</th><td>5</td>" in page


def test_another_engines_card_gives_its_name_engine_and_options(tmp_path):
    df = make_results(200, 2, 20, seed=2)
    path = tmp_path / "exp" / "whisper-base" / "results-test.jsonl"
    path.parent.mkdir(parents=True)
    df.to_json(path, orient="records", lines=True, force_ascii=False)
    engine = {"engine": "faster-whisper", "model": "/models/whisper-base-ct2", "config_digest": "0123abcd",
              "language": "zh", "task": "transcribe", "beam_size": 5, "compute_type": "int8"}
    meta = {"model": "/models/whisper-base-ct2", "normalization": "NFKC", "engine": engine}
    path.with_name("results-test.meta.json").write_text(json.dumps(meta), encoding="utf-8")
    out = run_audit([path], "whisper", tmp_path / "reports", FAST)  # the model directory is not here: no error
    model = out.result.model_card["model"]
    assert model == {"system": "whisper-base-ct2", "engine": "faster-whisper", "model": "/models/whisper-base-ct2",
                     "config_digest": "0123abcd", "language": "zh", "task": "transcribe", "beam_size": 5,
                     "compute_type": "int8"}
    assert "asr decode --engine faster-whisper" in out.result.model_card["training_data"]["note"]


@pytest.fixture(scope="module")
def three(corpus, external, tmp_path_factory):
    """The external system audited with two others: a report directory and a results file missing 10 utterances."""
    root, df = corpus
    base = tmp_path_factory.mktemp("three")
    better = df.assign(sub=0, ins=0, **{"del": np.where(df["dialect"] == "mandarin", 0, df["del"])})
    baseline = base / "baseline.jsonl"
    better.drop(columns=["ref", "hyp"]).to_json(baseline, orient="records", lines=True, force_ascii=False)
    run_audit([baseline], "baseline", base / "reports", FAST)
    worse = df.assign(sub=df["sub"] + 1, ref_len=np.maximum(df["ref_len"], df["sub"] + 1 + df["del"]))
    other = base / "exp" / "targeted" / "results-test.jsonl"
    other.parent.mkdir(parents=True)
    worse.drop(columns=["ref", "hyp"]).iloc[10:].to_json(other, orient="records", lines=True, force_ascii=False)
    results = root / "reports" / "whisper" / "hypotheses" / "results-test.jsonl"
    out = run_audit([results], "whisper", base / "reports", FAST, compare=[base / "reports" / "baseline", other])
    return out, {"whisper": pd.read_json(results, lines=True), "baseline": better, "targeted": worse}


def test_several_systems_are_compared_per_group_on_the_utterances_they_share(three):
    out, frames = three
    s = out.result.systems
    assert [i.name for i in s.systems] == ["whisper", "baseline", "targeted"]
    assert (s.systems[0].system, s.systems[0].engine) == ("whisper-base", "external (asr score --manifest)")
    assert (s.shared_utterances, s.only_current) == (290, 10)
    shared = frames["targeted"]["id"].iloc[10:]
    groups = {g.group: g for g in s.attributes["dialect"]}
    for dialect, g in groups.items():
        cers = {}
        for f in g.figures:
            rows = frames[f.system]
            rows = rows[rows["id"].isin(shared) & (rows["dialect"] == dialect)]
            cers[f.system] = _pooled(rows)
            assert f.cer.value == pytest.approx(cers[f.system])
            assert f.cer.value == 0 or f.cer.low <= f.cer.value <= f.cer.high  # no errors: no log-scale interval
        for f in g.figures[1:]:
            assert f.difference.value == pytest.approx(cers[f.system] - cers["whisper"])
    assert groups["mandarin"].figures[1].cer.value == 0.0  # the baseline is perfect on Mandarin
    assert s.overall.utterances == 290


def test_the_systems_table_and_plot_are_in_the_report(three):
    out, _ = three
    page = (out.directory / "fairness.html").read_text(encoding="utf-8")
    assert 'id="systems"' in page and "3 systems side by side" in page
    assert "<th class=num>targeted [95% CI]</th><th class=num>Δ vs whisper, pts</th>" in page
    fairness = json.loads((out.directory / "fairness.json").read_text(encoding="utf-8"))
    assert fairness["systems"]["shared_utterances"] == 290
    assert [x["system"] for x in fairness["systems"]["attributes"]["gender"][0]["figures"]] == \
        ["whisper", "baseline", "targeted"]


def test_a_missing_system_to_compare_fails_before_the_audit(corpus, tmp_path):
    root, _ = corpus
    with pytest.raises(AsrError, match="nothing.jsonl: --compare not found"):
        run_audit([root / "reports" / "whisper" / "results.jsonl"], "x", tmp_path, FAST, compare=[tmp_path / "nothing.jsonl"])
    assert not (tmp_path / "x").exists()


def test_the_command_scores_and_audits_in_one_step(corpus, tmp_path, capsys):
    root, _ = corpus
    code = main(["audit", "--manifest", str(root / "test.jsonl"), "--hyp", str(root / "whisper.txt"),
                 "--system", "whisper-base", "--output-dir", str(tmp_path), "--by", "dialect", "--replicates", "20",
                 "--permutations", "20", "--no-progress"])
    assert code == 0
    assert (tmp_path / "whisper-base" / "hypotheses" / "results-test.jsonl").is_file()  # the release: the system name
    assert (tmp_path / "whisper-base" / "fairness.html").is_file()


def test_help_has_the_two_worked_examples(capsys):
    with pytest.raises(SystemExit):
        main(["audit", "--help"])
    text = capsys.readouterr().out
    assert "asr audit --manifest data_manifests/synthetic/test.jsonl --hyp paraformer.txt" in text
    assert "asr decode --engine faster-whisper" in text and "--compare reports/baseline reports/targeted" in text
    assert ":func:" not in text and ">>>" not in text


def test_progress_of_the_permutation_phase_is_logged_when_asked(tmp_path, caplog):
    path = tmp_path / "results-test.jsonl"
    make_results(200, 2, 20, seed=4, texts=False).to_json(path, orient="records", lines=True)
    with caplog.at_level("INFO"):
        run_audit([path], "p", tmp_path / "reports", FAST, progress=True)
    lines = [r.getMessage() for r in caplog.records if "permutation tests" in r.getMessage()]
    assert any(line.startswith("audit dialect: permutation tests: 20/20 permutation (100%)") for line in lines), lines
    caplog.clear()
    with caplog.at_level("INFO"):
        run_audit([path], "q", tmp_path / "reports", FAST, progress=False)
    assert not [r for r in caplog.records if "permutation tests" in r.getMessage()]


def test_a_system_name_comes_from_the_results_meta(tmp_path):
    from asr.audit.systems import system_name

    assert system_name({"system": "paraformer"}, "x") == "paraformer"
    assert system_name({"engine": {"engine": "hf-ctc", "model": "/m/wav2vec2-zh/"}}, "x") == "wav2vec2-zh (hf-ctc)"
    assert system_name({"engine": {"engine": "asr", "model": "exp/baseline/model"}}, Path("exp").name) == "exp"
