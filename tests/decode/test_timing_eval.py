"""Character time errors against ground truth, on constructed references and hypotheses."""

from __future__ import annotations

import numpy as np
import pytest

from asr.errors import AsrError
from asr.manifest.records import Utterance
from asr.decode.timing_eval import CharacterTimeErrors, character_time_errors, manifest_time_errors, summarize

REFERENCE = "导航到加油站"
TIMES = ((0.10, 0.30), (0.30, 0.52), (0.55, 0.70), (0.72, 0.90), (0.90, 1.10), (1.12, 1.40))


def test_a_correct_hypothesis_gives_signed_errors_per_character():
    hypothesis = [(c, s + 0.02, e - 0.04) for c, (s, e) in zip(REFERENCE, TIMES)]
    errors = character_time_errors(REFERENCE, TIMES, hypothesis)
    assert errors.reference_chars == 6
    assert errors.start == pytest.approx([0.02] * 6) and errors.end == pytest.approx([-0.04] * 6)
    summary = summarize([errors])
    assert (summary.timed_chars, summary.start_mean, summary.end_mean) == (6, pytest.approx(0.02), pytest.approx(0.04))
    assert summary.start_bias == pytest.approx(0.02) and summary.end_bias == pytest.approx(-0.04)


def test_only_correctly_recognised_characters_are_timed():
    # 到 -> 去 (substitution), an inserted 战, 站 still matched at the end
    hypothesis = [("导", 0.1, 0.3), ("航", 0.3, 0.5), ("去", 0.5, 0.7), ("加", 0.75, 0.9), ("油", 0.9, 1.1),
                  ("战", 1.1, 1.2), ("站", 1.2, 1.4)]
    errors = character_time_errors(REFERENCE, TIMES, hypothesis)
    assert errors.start == pytest.approx([0.0, 0.0, 0.03, 0.0, 0.08])
    assert errors.end == pytest.approx([0.0, -0.02, 0.0, 0.0, 0.0])
    deleted = character_time_errors(REFERENCE, TIMES, [("站", 1.12, 1.40)])
    assert deleted.start == pytest.approx([0.0]) and deleted.reference_chars == 6
    assert len(character_time_errors(REFERENCE, TIMES, []).start) == 0


def test_offset_moves_the_reference_for_padded_audio():
    hypothesis = [(c, s + 1.0, e + 1.0) for c, (s, e) in zip(REFERENCE, TIMES)]
    errors = character_time_errors(REFERENCE, TIMES, hypothesis, offset=1.0)
    assert np.allclose(errors.start, 0.0) and np.allclose(errors.end, 0.0)


def test_summary_pools_utterances_with_the_95th_percentile():
    values = np.arange(100) * 0.001  # 0 to 99 ms: the 95th percentile interpolates 94.05 ms
    first = CharacterTimeErrors(-values[:40], values[:40], 40)
    second = CharacterTimeErrors(values[40:], 2 * values[40:], 70)
    summary = summarize([first, second])
    assert (summary.utterances, summary.reference_chars, summary.timed_chars) == (2, 110, 100)
    assert summary.start_mean == pytest.approx(0.0495) and summary.start_p95 == pytest.approx(0.09405)
    assert summary.end_p95 == pytest.approx(np.percentile(np.concatenate([values[:40], 2 * values[40:]]), 95))
    assert summary.start_bias == pytest.approx((values[40:].sum() - values[:40].sum()) / 100)
    assert summary.meets_target is False  # ends reach 198 ms
    good = summarize([CharacterTimeErrors(values * 0.5, values * 0.5, 100)])
    assert good.meets_target is True and good.to_json()["start_p95"] == 0.047


def test_nothing_timed_gives_no_figures_and_misses_the_target():
    summary = summarize([character_time_errors(REFERENCE, TIMES, [])])
    assert summary.timed_chars == 0 and summary.start_mean is None and summary.end_p95 is None
    assert summary.meets_target is False and summary.to_json()["start_mean"] is None


def test_manifest_utterances_without_times_or_hypotheses_are_named():
    with_times = Utterance("u1", "a.wav", 1.5, 16000, REFERENCE, "s", char_times=TIMES)
    without = Utterance("u2", "b.wav", 1.5, 16000, REFERENCE, "s")
    hypotheses = {"u1": [(c, s, e) for c, (s, e) in zip(REFERENCE, TIMES)]}
    assert summarize(manifest_time_errors([with_times], hypotheses)).start_mean == 0.0
    with pytest.raises(AsrError, match=r"utterance u2: no char_times in the manifest"):
        manifest_time_errors([without], hypotheses)
    with pytest.raises(AsrError, match=r"utterance u1: no recognised tokens to compare with"):
        manifest_time_errors([with_times], {})
    with pytest.raises(AsrError, match=r"2 reference times for the 6 characters of '导航到加油站'"):
        character_time_errors(REFERENCE, TIMES[:2], [])
