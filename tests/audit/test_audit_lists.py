"""List-valued attributes (accents): an utterance counts in the group of each of its values, the rest of the
audit (overall figures, member-vs-rest tests, gaps) counts it once."""

from __future__ import annotations

import json

import numpy as np
import pytest

from asr.audit.config import AuditConfig
from asr.audit.pipeline import audit, run_audit
from asr.audit.results import MISSING, expanded_labels, read_results
from asr.audit.synthetic import make_results
from asr.errors import AsrError

#: Accents by speaker number modulo 6: two speakers in six answered two accents, one gave none.
ACCENTS = {0: ["north"], 1: ["south"], 2: ["north", "south"], 3: ["east"], 4: [], 5: ["east", "north"]}


def _with_accents(n_utts: int = 1200, n_speakers: int = 60):
    df = make_results(n_utts, 3, n_speakers, seed=3, texts=False)
    number = df["speaker"].str[3:].astype(int)
    df["accents"] = [_accents(k) for k in number]
    return df


def _accents(k: int) -> list[str] | None:
    """Speaker ``k``'s accents; speaker 4 of every 12 has none recorded, speaker 10 an empty list."""
    return None if k % 12 == 4 else list(ACCENTS[k % 6])


def _pooled(rows) -> float:
    return float((rows["sub"] + rows["del"] + rows["ins"]).sum() / rows["ref_len"].sum())


def _has(df, accent):
    return df["accents"].map(lambda v: isinstance(v, list) and accent in v)


@pytest.fixture(scope="module")
def audited():
    df = _with_accents()
    config = AuditConfig(by=["accents", "gender"], replicates=50, permutations=200, min_speakers=3)
    return df, audit(df, config)


def test_each_accent_group_holds_every_utterance_with_that_accent(audited):
    df, r = audited
    groups = {g.group: g for g in r.attributes["accents"].groups}
    assert set(groups) == {"east", "north", "south", MISSING}
    for accent in ("east", "north", "south"):
        members = df[_has(df, accent)]
        assert groups[accent].utterances == len(members)
        assert groups[accent].speakers == members["speaker"].nunique()
        assert groups[accent].cer == pytest.approx(_pooled(members))
    empty = df["accents"].map(lambda v: not v)  # an empty list and a missing one alike
    assert groups[MISSING].utterances == r.attributes["accents"].missing == int(empty.sum()) > 0
    assert sum(g.utterances for g in groups.values()) > len(df)  # the groups overlap
    assert r.attributes["accents"].multivalued and not r.attributes["gender"].multivalued


def test_overall_figures_count_every_utterance_once(audited):
    df, r = audited
    assert r.overall.utterances == len(df)
    assert r.overall.cer == pytest.approx(_pooled(df))
    assert r.model_card["evaluation_data"]["utterances"] == len(df)


def test_each_group_is_tested_against_its_non_members(audited):
    df, r = audited
    for test in r.attributes["accents"].tests:
        outside = df[~_has(df, test.group)]
        assert test.rest_cer == pytest.approx(_pooled(outside))
        assert test.difference == pytest.approx(_pooled(df[_has(df, test.group)]) - _pooled(outside))
    gaps = {g.group: g for g in r.attributes["accents"].disparity.gaps_to_overall}
    for accent in ("east", "north", "south"):
        assert gaps[accent].gap == pytest.approx(_pooled(df[_has(df, accent)]) - _pooled(df))
        assert gaps[accent].low < gaps[accent].gap < gaps[accent].high


def test_the_count_model_is_not_fitted_and_says_why(audited):
    _, r = audited
    adjusted = r.attributes["accents"].adjusted
    assert not adjusted.estimable and "several values per utterance" in adjusted.reason
    assert r.attributes["gender"].adjusted.estimable


def test_intersections_count_an_utterance_in_each_of_its_cells(audited):
    df, r = audited
    [block] = r.intersections
    cells = {c.group: c for c in block.cells}
    for accent in ("east", "north", "south"):
        for gender in ("female", "male"):
            members = df[_has(df, accent) & (df["gender"] == gender)]
            assert cells[f"{accent} × {gender}"].utterances == len(members)


def test_expanded_labels_pair_two_list_attributes():
    import pandas as pd

    df = pd.DataFrame({"a": [["x", "y"], None, ["y"]], "b": [["p"], ["q", "r"], []], "c": ["k", "l", "m"]})
    labels, rows = expanded_labels(df, ["a", "b", "c"])
    got = sorted(zip(rows.tolist(), *(list(map(str, c)) for c in labels)))
    assert got == [(0, "x", "p", "k"), (0, "y", "p", "k"), (1, MISSING, "q", "l"), (1, MISSING, "r", "l"),
                   (2, "y", MISSING, "m")]


def test_results_files_keep_lists_and_reject_a_string(tmp_path):
    df = _with_accents(240, 24)
    path = tmp_path / "results-test.jsonl"
    df.to_json(path, orient="records", lines=True, force_ascii=False)
    back = read_results(path)
    assert back["accents"].iloc[2] == ["north", "south"]
    out = run_audit([path], "lists", tmp_path / "reports",
                    AuditConfig(by=["accents"], replicates=20, permutations=20, min_speakers=2))
    fairness = json.loads((out.directory / "fairness.json").read_text(encoding="utf-8"))
    assert fairness["attributes"]["accents"]["multivalued"] is True
    page = (out.directory / "fairness.html").read_text(encoding="utf-8")
    assert "these groups overlap and their utterances add up to more than the total" in page
    lines = path.read_text(encoding="utf-8").splitlines()
    row = json.loads(lines[3])
    row["accents"] = "north|south"
    path.write_text("\n".join(lines[:3] + [json.dumps(row)] + lines[4:]) + "\n", encoding="utf-8")
    with pytest.raises(AsrError, match=rf"utterance {row['id']}: field 'accents' must be a list of strings, "
                                       r"got 'north\|south'"):
        read_results(path)


def test_a_baseline_comparison_counts_the_overall_change_once(tmp_path):
    df = _with_accents(600, 30)
    old = df.copy()
    old["sub"] = old["sub"] + np.where(np.arange(len(old)) % 3 == 0, 1, 0)
    old["ref_len"] = np.maximum(old["ref_len"], old["sub"] + old["del"])
    path = tmp_path / "old.jsonl"
    old.to_json(path, orient="records", lines=True, force_ascii=False)
    r = audit(df, AuditConfig(by=["accents", "gender"], replicates=30, permutations=20, min_speakers=2), baseline=path)
    for attr in ("accents", "gender"):
        overall = r.baseline.attributes[attr].overall_cer
        assert overall.value == pytest.approx(_pooled(df)) and overall.baseline == pytest.approx(_pooled(old))
