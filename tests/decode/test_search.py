"""CTC search on hand-built log-probability matrices: exact expected outputs."""

import math

import pytest
import torch

from asr.decode.lm import sentence_tokens, train_lm
from asr.decode.search import SearchOptions, align, beam_search, greedy_search, search

BLANK = 0
TOKENS = ("<blank>", "<unk>", "打", "开", "关")


def frames(*rows):
    """(1, T, V) log-probs from rows of probabilities (each row normalised)."""
    probs = torch.tensor(rows, dtype=torch.float64)
    return (probs / probs.sum(-1, keepdim=True)).log().float().unsqueeze(0)


def one_hot_path(path, vocab=5, peak=0.9):
    """Log-probs whose argmax path is ``path`` (``peak`` posterior on it, the rest spread)."""
    rest = (1 - peak) / (vocab - 1)
    return frames(*[[peak if v == p else rest for v in range(vocab)] for p in path])


def test_greedy_collapses_repeats_and_removes_blanks():
    lp = one_hot_path([2, 2, 0, 2, 3, 3, 0, 0, 4])
    (hyp,) = greedy_search(lp)
    assert hyp.token_ids == (2, 2, 3, 4)
    assert [(s.start, s.end) for s in hyp.spans] == [(0, 2), (3, 4), (4, 6), (8, 9)]
    assert hyp.confidence == pytest.approx(0.9)
    assert hyp.score == pytest.approx(9 * math.log(0.9), abs=1e-5)


def test_greedy_batch_respects_lengths():
    a = one_hot_path([2, 0, 3, 0])
    b = one_hot_path([4, 4, 0, 2])
    hyps = greedy_search(torch.cat([a, b]), torch.tensor([4, 2]))
    assert [h.token_ids for h in hyps] == [(2, 3), (4,)]
    assert [h.num_frames for h in hyps] == [4, 2]


def test_empty_hypothesis_confidence_is_mean_blank_posterior():
    (hyp,) = greedy_search(frames([0.8, 0.0, 0.2, 0, 0], [0.6, 0.0, 0.4, 0, 0]))
    assert hyp.token_ids == () and hyp.confidence == pytest.approx(0.7)


def test_beam_finds_the_more_probable_labelling_than_greedy():
    # Best path is blank-blank (0.36), but "打" has total probability 0.64 over three paths.
    lp = frames([0.6, 0, 0.4, 0, 0], [0.6, 0, 0.4, 0, 0])
    assert greedy_search(lp)[0].token_ids == ()
    (hyp,) = beam_search(lp, beam_size=4)
    assert hyp.token_ids == (2,)
    assert hyp.score == pytest.approx(math.log(0.64), abs=1e-6)


def test_beam_keeps_repeats_separated_by_blank():
    lp = one_hot_path([2, 0, 2, 2, 3])
    (hyp,) = beam_search(lp, beam_size=3)
    assert hyp.token_ids == (2, 2, 3)
    assert [(s.start, s.end) for s in hyp.spans] == [(0, 1), (2, 4), (4, 5)]


def test_beam_score_is_the_exact_ctc_probability_with_a_wide_beam():
    torch.manual_seed(0)
    lp = (3 * torch.randn(1, 6, 3)).log_softmax(-1)  # few enough prefixes that nothing is pruned
    (hyp,) = beam_search(lp, beam_size=1000, token_threshold=-1e9)
    target = torch.tensor([hyp.token_ids])
    nll = torch.nn.functional.ctc_loss(
        lp.transpose(0, 1), target, torch.tensor([6]), torch.tensor([len(hyp.token_ids)]), reduction="sum"
    )
    assert hyp.score == pytest.approx(-nll.item(), abs=1e-4)
    assert hyp.score >= greedy_search(lp)[0].score - 1e-6


def _acoustics():
    # 打 then an ambiguous frame where 关 is slightly more likely than 开
    return frames([0.02, 0, 0.96, 0.01, 0.01], [0.9, 0, 0.05, 0.05, 0], [0.02, 0, 0.02, 0.44, 0.52])


def test_language_model_changes_the_choice():
    lm = train_lm([sentence_tokens("打开")] * 5 + [sentence_tokens("关")], order=2)
    lp = _acoustics()
    assert [TOKENS[i] for i in greedy_search(lp)[0].token_ids] == ["打", "关"]
    assert [TOKENS[i] for i in beam_search(lp, beam_size=4)[0].token_ids] == ["打", "关"]
    fused = beam_search(lp, beam_size=4, lm=lm, lm_weight=1.0, token_strings=TOKENS)[0]
    assert [TOKENS[i] for i in fused.token_ids] == ["打", "开"]


def test_insertion_bonus_favours_longer_outputs():
    lp = frames([0.6, 0, 0.4, 0, 0])
    assert beam_search(lp, beam_size=2)[0].token_ids == ()
    assert beam_search(lp, beam_size=2, insertion_bonus=1.0)[0].token_ids == (2,)


def test_search_dispatches_greedy_or_beam():
    lp = frames([0.6, 0, 0.4, 0, 0], [0.6, 0, 0.4, 0, 0])
    assert search(lp)[0].token_ids == ()
    assert search(lp, options=SearchOptions(beam_size=2))[0].token_ids == (2,)


def test_forced_alignment_spans_and_confidences():
    lp = one_hot_path([0, 2, 2, 0, 3, 0], peak=0.8)
    spans = align(lp[0], [2, 3])
    assert [(s.token, s.start, s.end) for s in spans] == [(2, 1, 3), (3, 4, 5)]
    assert all(s.confidence == pytest.approx(0.8) for s in spans)
    with pytest.raises(ValueError, match="cannot be aligned"):
        align(lp[0, :2], [2, 2, 3])
