"""Group figures, flags, missing values, intersections and the disparity summary and tests."""

from __future__ import annotations

import numpy as np
import pytest

from asr.audit.bootstrap import make_cells
from asr.audit.config import AuditConfig
from asr.audit.disparity import choose_reference, group_tests, permutation_pvalues, summarize
from asr.audit.groups import group_rows, overall_row, sample_of
from asr.audit.results import MISSING
from asr.audit.synthetic import make_results

CONFIG = AuditConfig(replicates=200)


def _rows(df, keys, config=CONFIG):
    """Cells, their sample and the typed group rows."""
    cells = make_cells(df, keys)
    sample = sample_of(cells, config)
    return cells, sample, group_rows(cells, sample, config)


def _summary(cells, sample, rows, attr="dialect", config=CONFIG, tests=()):
    reference = choose_reference(attr, {r.group: r.ref_len for r in rows}, config, {r.group for r in rows if r.eligible})
    return summarize(cells, rows, sample, config, reference, tests)


def test_group_figures_match_an_independent_pandas_computation():
    df = make_results(1500, 4, 50, texts=False)
    _, _, rows = _rows(df, ["dialect"])
    df["errors"] = df["sub"] + df["del"] + df["ins"]
    expected = df.groupby("dialect").agg(errors=("errors", "sum"), ref_len=("ref_len", "sum"),
                                         utterances=("id", "size"), speakers=("speaker", "nunique"), sub=("sub", "sum"))
    for row in rows:
        e = expected.loc[row.group]
        assert row.cer == pytest.approx(e["errors"] / e["ref_len"])
        assert row.sub_rate == pytest.approx(e["sub"] / e["ref_len"])
        assert (row.utterances, row.speakers, row.ref_len) == (e["utterances"], e["speakers"], e["ref_len"])
        assert row.cer_low < row.cer < row.cer_high
    worst = max(rows, key=lambda r: r.cer)
    assert worst.group == "dialect03"  # the simulated CERs rise with the group index


def test_missing_values_form_a_flagged_group_and_small_groups_are_flagged():
    df = make_results(800, 3, 30, texts=False)
    df["gender"] = df["gender"].astype(object)
    df.loc[df.index[:40], "gender"] = None
    df.loc[df["speaker"] == df["speaker"].iloc[-1], "dialect"] = "tiny"
    _, _, rows = _rows(df, ["gender"])
    missing = next(r for r in rows if r.group == MISSING)
    assert missing.utterances == 40 and not missing.eligible
    assert "missing" in missing.flag
    cells, sample, rows = _rows(df, ["dialect"])
    tiny = next(r for r in rows if r.group == "tiny")
    assert tiny.speakers == 1 and not tiny.eligible
    assert tiny.flag == "1 speaker < 5: not in the disparity summary"
    summary = _summary(cells, sample, rows)
    assert "tiny" not in summary.eligible_groups and summary.worst_group != "tiny"


def test_intersection_cells_carry_both_labels():
    df = make_results(1200, 3, 40, texts=False)
    _, _, rows = _rows(df, ["dialect", "gender"])
    assert {(r.value_of("dialect"), r.value_of("gender")) for r in rows} == set(zip(df["dialect"], df["gender"]))
    cell = next(r for r in rows if r.value_of("dialect") == "mandarin" and r.value_of("gender") == "female")
    sel = df[(df["dialect"] == "mandarin") & (df["gender"] == "female")]
    assert cell.group == "mandarin × female"
    assert cell.cer == pytest.approx((sel["sub"] + sel["del"] + sel["ins"]).sum() / sel["ref_len"].sum())


def test_disparity_summary_and_overall():
    df = make_results(2000, 4, 60, texts=False)
    cells, sample, rows = _rows(df, ["dialect"])
    s = _summary(cells, sample, rows)
    by = {r.group: r.cer for r in rows}
    assert (s.worst_group, s.best_group) == (max(by, key=by.get), min(by, key=by.get))
    # mandarin, the largest group, is the reference, and here also the best
    assert (s.reference_group, s.reference_source, s.compared_group) == ("mandarin", "most reference tokens", s.worst_group)
    assert s.best_group == s.reference_group
    assert s.ratio.value == pytest.approx(by[s.worst_group] / by[s.best_group])
    assert s.ratio.low < s.ratio.value < s.ratio.high
    assert s.difference.low > 0  # a real gap of 15 points
    overall = overall_row(cells, sample, CONFIG)
    assert overall.cer == pytest.approx((df["sub"] + df["del"] + df["ins"]).sum() / df["ref_len"].sum())
    gaps = {g.group: g.gap for g in s.gaps_to_overall}
    assert gaps["mandarin"] == pytest.approx(by["mandarin"] - overall.cer)


def test_one_eligible_group_is_not_a_disparity():
    df = make_results(300, 1, 12, texts=False)
    cells, sample, rows = _rows(df, ["dialect"])
    s = _summary(cells, sample, rows)
    assert s.estimable is False and "1 eligible group" in s.reason
    assert group_tests(cells, rows, 100, 0, 0.05) == ()


def test_permutation_test_rejects_a_real_gap_with_holm_and_is_uniform_under_the_null():
    df = make_results(4000, 4, 240, texts=False)
    cells, _, rows = _rows(df, ["dialect"])
    tests = {t.group: t for t in group_tests(cells, rows, 500, 0, 0.05)}
    assert tests["dialect03"].significant and tests["mandarin"].significant
    assert all(t.p_holm >= t.p_value for t in tests.values())
    # Null: equal CERs everywhere; p-values of a group over many seeds are roughly uniform.
    pvals = []
    for seed in range(40):
        null = make_results(400, 2, 30, seed=seed, cers=np.array([0.1, 0.1]), texts=False)
        _, p = permutation_pvalues(make_cells(null, ["dialect"]), 200, seed)
        pvals.append(p[0])
    assert np.mean(np.array(pvals) < 0.05) <= 0.15
    assert 0.3 < np.mean(pvals) < 0.7
