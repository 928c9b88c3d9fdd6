"""Adjusted disparity (GEE count model), matched comparison and the results reader."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from asr.audit.adjusted import adjusted_disparity
from asr.audit.config import AuditConfig
from asr.audit.matched import matched_comparison
from asr.audit.results import MISSING, default_attributes, read_results
from asr.audit.schema import AdjustedRow
from asr.audit.synthetic import make_results
from asr.errors import AsrError

CONFIG = AuditConfig(replicates=100, permutations=100)


def _confounded(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Group B is mostly recorded in noise; noise triples the error rate; the groups are otherwise equal."""
    rng = np.random.default_rng(seed)
    group = np.where(np.arange(n) < n // 2, "A", "B")
    speaker = np.char.add(group, (np.arange(n) % 60).astype(str))
    noisy = rng.random(n) < np.where(group == "B", 0.8, 0.2)
    ref_len = rng.integers(5, 25, n)
    errors = rng.poisson(np.where(noisy, 0.15, 0.05) * ref_len)
    return pd.DataFrame({"id": [f"u{i}" for i in range(n)], "speaker": speaker, "dialect": group,
                         "condition": np.where(noisy, "noisy", "clean"), "sub": errors, "del": 0, "ins": 0,
                         "ref_len": ref_len, "duration": ref_len * 0.3})


def test_unadjusted_ratio_is_the_ratio_of_pooled_rates_and_adjustment_removes_a_confounded_gap():
    df = _confounded()
    out = adjusted_disparity(df, "dialect", AuditConfig(reference_groups={"dialect": "A"}))
    assert out.estimable and out.reference == "A"
    (row,) = out.rows
    rate = lambda g: df.loc[df.dialect == g, "sub"].sum() / df.loc[df.dialect == g, "ref_len"].sum()  # noqa: E731
    assert row.unadjusted.ratio == pytest.approx(rate("B") / rate("A"), rel=1e-6)
    assert row.unadjusted.low > 1.3  # a clear raw gap ...
    assert row.adjusted.low < 1 < row.adjusted.high  # ... explained by the condition
    assert out.confounders == ("duration", "condition")


def test_degenerate_models_are_reported_not_fitted():
    df = _confounded(600)
    one = adjusted_disparity(df[df.dialect == "A"], "dialect", CONFIG)
    assert one.estimable is False and one.reason.startswith("one group")
    zero = df.assign(sub=0)
    assert adjusted_disparity(zero, "dialect", CONFIG).reason.startswith("no errors")
    perfect_b = df.assign(sub=np.where(df.dialect == "B", 0, df["sub"]))
    out = adjusted_disparity(perfect_b, "dialect", CONFIG)
    assert out.rows == (AdjustedRow("B", None, None, "no errors: ratio not estimable"),)
    # A reference group without errors makes every ratio to it unbounded: reported, not fitted.
    no_ref = adjusted_disparity(perfect_b, "dialect", CONFIG, reference="B")
    assert no_ref.estimable is False and no_ref.reason == "the reference group has no errors; ratios to it are unbounded"
    with pytest.raises(AsrError, match="reference group 'C' for 'dialect' is not in the results"):
        adjusted_disparity(df, "dialect", AuditConfig(reference_groups={"dialect": "C"}))


def test_large_inputs_fit_on_a_sample_of_speakers():
    df = make_results(3000, 3, 100, texts=False)
    out = adjusted_disparity(df, "dialect", AuditConfig(adjusted_max_utterances=1000))
    assert out.sampled and out.utterances < 3000
    assert {r.group for r in out.rows} == {"dialect01", "dialect02"}


def test_matched_comparison_uses_only_sentences_read_in_every_group():
    df = make_results(1200, 3, 45, n_texts=40)
    only_mandarin = df["dialect"] == "mandarin"
    df.loc[only_mandarin, "text_id"] = df.loc[only_mandarin, "text_id"].where(df.loc[only_mandarin, "text_id"] != "t00001", "t99999")
    out = matched_comparison(df, "dialect", CONFIG)
    assert out.available
    common = set.intersection(*(set(g["text_id"]) for _, g in df.groupby("dialect")))
    assert out.texts == len(common) and "t99999" not in common
    sel = df[df["text_id"].isin(common)]
    mandarin = next(r for r in out.groups if r.group == "mandarin")
    m = sel[sel.dialect == "mandarin"]
    assert mandarin.cer == pytest.approx((m["sub"] + m["del"] + m["ins"]).sum() / m["ref_len"].sum())
    assert out.disparity.reference_group == "mandarin"  # the largest group, as on the whole set
    assert matched_comparison(df.drop(columns="text_id"), "dialect", CONFIG).available is False


def test_results_reader_scores_rows_without_counts_and_validates(tmp_path):
    rows = [
        {"id": "a", "speaker": "s1", "ref": "打开空调", "hyp": "打开空", "dialect": "wu", "gender": None},
        {"id": "b", "speaker": "s2", "ref": "你好", "hyp": "你好", "sub": 0, "del": 0, "ins": 0, "ref_len": 2, "dialect": "wu"},
    ]
    path = tmp_path / "results-test.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    df = read_results(path)
    assert df.loc[0, ["sub", "del", "ins", "ref_len"]].tolist() == [0, 1, 0, 4]
    assert df.attrs["scored_here"] == 1
    assert default_attributes(df) == ["dialect", "gender"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "speaker": "s", "sub": 5, "del": 0, "ins": 0, "ref_len": 2}\n', encoding="utf-8")
    with pytest.raises(AsrError, match="bad.jsonl: utterance a: impossible edit counts"):
        read_results(bad)
    bad.write_text('{"id": "a", "speaker": "s"\n', encoding="utf-8")
    with pytest.raises(AsrError, match="bad.jsonl:1: malformed results line"):
        read_results(bad)
    with pytest.raises(AsrError, match="duplicate utterance id 'a'"):
        read_results([path, path])
    bad.write_text('{"id": "a", "speaker": "s", "dialect": "wu"}\n', encoding="utf-8")
    with pytest.raises(AsrError, match="no edit counts .* and no ref/hyp to score"):
        read_results(bad)


def test_results_with_varying_keys_read_like_uniform_ones(tmp_path):
    df = make_results(50, 2, 6)
    uniform = tmp_path / "u.jsonl"
    df.to_json(uniform, orient="records", lines=True, force_ascii=False)
    shuffled = tmp_path / "s.jsonl"
    lines = [json.loads(x) for x in uniform.read_text(encoding="utf-8").splitlines()]
    lines[10] = dict(reversed(list(lines[10].items())))  # another key order
    del lines[20]["gender"]  # a missing field
    shuffled.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    a, b = read_results(uniform), read_results(shuffled)
    assert a["sub"].tolist() == b["sub"].tolist()
    assert pd.isna(b.loc[20, "gender"]) and MISSING not in set(b["gender"].dropna())
