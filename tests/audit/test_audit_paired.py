"""The paired within-speaker comparison, on simulated readings with a known within-speaker effect.

Speakers differ a lot (lognormal error rates, sigma 1: the best and worst speakers of a group are
tens of times apart); within a speaker, reading in the dialect multiplies the rate by a known
factor (2.5 for Wu speakers, 1 for Mandarin ones). The truth of a group's ratio is that factor,
and of its difference ``(factor - 1) * BASE`` (the expected pooled Mandarin-reading CER is BASE).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from asr.audit.config import AuditConfig
from asr.audit.paired import within_speaker
from asr.cli import main
from asr.errors import AsrError

BASE = 0.06
EFFECT = {"wu": 2.5, "mandarin": 1.0}
CONFIG = AuditConfig(paired_by="speaker", contrast="reading_style", contrast_levels=["dialect", "mandarin"],
                     min_speakers=5)


def readings(seed: int = 0, speakers: int = 24, utts: int = 8, sigma: float = 1.0, unpaired: int = 0) -> pd.DataFrame:
    """Each speaker reads ``utts`` prompts in each style; ``unpaired`` more speakers read Mandarin only."""
    rng = np.random.default_rng(seed)
    total = speakers + unpaired
    home = np.array(["wu", "mandarin"])[np.arange(total) % 2]
    rate = BASE * np.exp(sigma * rng.standard_normal(total) - sigma**2 / 2)
    rows = []
    for s in range(total):
        for style in ("dialect", "mandarin") if s < speakers else ("mandarin",):
            factor = EFFECT[home[s]] if style == "dialect" else 1.0
            for u in range(utts):
                n = int(max(1, rng.poisson(15)))
                rows.append({"id": f"s{s:03d}-{style}-{u}", "speaker": f"s{s:03d}", "home_dialect": home[s],
                             "reading_style": style, "dialect": home[s] if style == "dialect" else "mandarin",
                             "gender": "female" if s % 4 < 2 else "male", "sub": 0, "del": 0,
                             "ins": int(rng.poisson(rate[s] * factor * n)), "ref_len": n, "unit": "char"})
    return pd.DataFrame(rows)


def _groups(result, attribute: str) -> dict:
    return {g.group: g for g in result.attributes[attribute]}


def _pooled(rows: pd.DataFrame) -> float:
    return float((rows["sub"] + rows["del"] + rows["ins"]).sum() / rows["ref_len"].sum())


def test_speakers_differ_a_lot_in_the_simulation():
    df = readings()
    per_speaker = df[df["reading_style"] == "mandarin"].groupby("speaker").apply(_pooled, include_groups=False)
    assert per_speaker.max() / max(per_speaker[per_speaker > 0].min(), 1e-9) > 10


def test_a_large_within_speaker_effect_is_found_and_its_interval_covers_the_truth():
    df = readings(unpaired=6)
    w = within_speaker(df, ["home_dialect", "gender"], CONFIG)
    assert (w.levels, w.units, w.paired_units) == (("dialect", "mandarin"), 30, 24)
    wu = _groups(w, "home_dialect")["wu"]
    both = df[(df["home_dialect"] == "wu") & (df["speaker"] < "s024")]
    assert wu.speakers == 12 and wu.utterances_a == wu.utterances_b == 96
    assert wu.cer_a.value == pytest.approx(_pooled(both[both["reading_style"] == "dialect"]))
    assert wu.cer_b.value == pytest.approx(_pooled(both[both["reading_style"] == "mandarin"]))
    assert wu.ratio.value == pytest.approx(wu.cer_a.value / wu.cer_b.value)
    assert wu.ratio.low < EFFECT["wu"] < wu.ratio.high and wu.ratio.low > 1
    assert wu.difference.low < (EFFECT["wu"] - 1) * BASE < wu.difference.high and wu.difference.low > 0


def test_no_within_speaker_effect_gives_an_interval_across_zero():
    w = within_speaker(readings(), ["home_dialect"], CONFIG)
    mandarin = _groups(w, "home_dialect")["mandarin"]
    assert mandarin.difference.low < 0 < mandarin.difference.high
    assert mandarin.ratio.low < 1 < mandarin.ratio.high


def test_the_ratio_interval_covers_the_planted_factor_in_most_simulations():
    covered = []
    for seed in range(60):
        groups = _groups(within_speaker(readings(seed=seed), ["home_dialect"], CONFIG), "home_dialect")
        covered += [groups[h].ratio.low <= EFFECT[h] <= groups[h].ratio.high for h in EFFECT]
    assert np.mean(covered) >= 0.9  # nominal 95%; measured 96% (wu) and 97% (mandarin) over 150 sets


def test_attributes_that_vary_within_a_speaker_are_skipped_with_the_reason():
    w = within_speaker(readings(), ["home_dialect", "reading_style", "dialect", "gender"], CONFIG)
    assert set(w.attributes) == {"home_dialect", "gender"}
    assert w.skipped["reading_style"] == "the contrast itself"
    assert w.skipped["dialect"].startswith("varies within speakers (speaker s000 has mandarin, wu)")


def test_an_everyone_row_pools_all_paired_speakers():
    df = readings(unpaired=4)
    w = within_speaker(df, ["home_dialect"], CONFIG)
    paired = df[df["speaker"] < "s024"]
    assert w.overall.speakers == 24
    assert w.overall.cer_a.value == pytest.approx(_pooled(paired[paired["reading_style"] == "dialect"]))


def _third_dialect(df: pd.DataFrame) -> pd.DataFrame:
    df.loc[df.index[:8], "dialect"] = "yue"
    return df


@pytest.mark.parametrize("config,edit,message", [
    (AuditConfig(paired_by="speaker", contrast="dialect"), _third_dialect,
     "contrast 'dialect' has 3 values (mandarin, wu, yue); name the two to compare with contrast_levels: [a, b]"),
    (AuditConfig(paired_by="speaker", contrast="reading_style", contrast_levels=["dialect", "cantonese"]), None,
     "contrast_levels 'cantonese' is not a value of 'reading_style' in the results (values: dialect, mandarin)"),
    (AuditConfig(paired_by="session", contrast="reading_style"), None,
     "paired_by 'session' is not a field of the results"),
])
def test_bad_contrasts_are_one_error(config, edit, message):
    df = readings()
    with pytest.raises(AsrError) as caught:
        within_speaker(edit(df) if edit else df, ["home_dialect"], config)
    assert str(caught.value) == f"audit config: {message}"


def test_paired_by_goes_with_contrast():
    with pytest.raises(ValueError, match="paired_by and contrast go together"):
        AuditConfig(paired_by="speaker")


def test_the_command_writes_the_comparison_and_its_plot(tmp_path):
    path = tmp_path / "results-test.jsonl"
    readings().to_json(path, orient="records", lines=True)
    code = main(["audit", "--results", str(path), "--release", "paired", "--output-dir", str(tmp_path / "reports"),
                 "--by", "home_dialect,gender", "--paired-by", "speaker", "--contrast", "reading_style",
                 "--replicates", "20", "--permutations", "20", "--no-progress"])
    assert code == 0
    fairness = json.loads((tmp_path / "reports" / "paired" / "fairness.json").read_text(encoding="utf-8"))
    w = fairness["within_speaker"]
    assert (w["paired_by"], w["contrast"], w["levels"], w["paired_units"]) == ("speaker", "reading_style",
                                                                             ["dialect", "mandarin"], 24)
    wu = next(g for g in w["attributes"]["home_dialect"] if g["group"] == "wu")
    assert set(wu["ratio"]) == {"value", "low", "high"} and wu["ratio"]["low"] > 1
    page = (tmp_path / "reports" / "paired" / "fairness.html").read_text(encoding="utf-8")
    assert 'id="within-speaker"' in page and "reading dialect over reading mandarin" in page


def test_no_speaker_in_both_levels_is_said_not_estimated():
    df = readings()
    df = df[~((df["reading_style"] == "mandarin") & (df["home_dialect"] == "wu"))]  # wu speakers: dialect only
    df = df[~((df["reading_style"] == "dialect") & (df["home_dialect"] == "mandarin"))]  # the others: Mandarin
    w = within_speaker(df, ["home_dialect"], CONFIG)
    assert not w.estimable and w.paired_units == 0 and w.units == 24
    assert w.reason == "no speaker has utterances in both reading_style levels dialect and mandarin"
