"""CTC search on log-probabilities: batched greedy decoding and prefix beam search.

Input everywhere: ``log_probs`` of shape ``(B, T, V)`` (natural log, softmax over V,
id 0 the blank), and ``lengths`` ``(B,)`` of valid frames. Output: one
:class:`Hypothesis` per utterance, with the token ids after CTC collapsing and a
:class:`TokenSpan` per token.

Confidence (documented once, used by ``asr decode`` and ``asr transcribe``): a
token's confidence is the mean posterior of that token over the frames of its span on
the best CTC path of the hypothesis -- the greedy path itself for greedy decoding
(which is the Viterbi path of its own output), the CTC forced alignment
(``torchaudio.functional.forced_align``) for a beam-search hypothesis. An utterance's
confidence is the mean over its tokens; for an empty hypothesis it is the mean blank
posterior over the frames.

Prefix beam search keeps, per prefix, the log-probability of all CTC paths ending in
blank and in non-blank (Graves 2012; Hannun et al. 2014). With a language model it
ranks prefixes by ``log p_ctc + lm_weight * log p_lm + insertion_bonus * len`` (shallow
fusion, one LM step per token) and adds the LM's end-of-sentence score at the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from asr.errors import AsrError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from asr.decode.lm import NgramLM

Frames = int
NEG_INF = float("-inf")


@dataclass(frozen=True)
class TokenSpan:
    """One emitted token: id, frames ``[start, end)`` of its span, mean posterior over them."""

    token: int
    start: Frames
    end: Frames
    confidence: float


@dataclass(frozen=True)
class Hypothesis:
    """A decoded utterance: collapsed token ids with spans, score and confidence.

    ``score`` is the search score: the best path's log-probability for greedy, the
    fused prefix score (CTC + weighted LM + bonus) for beam search.
    """

    token_ids: tuple[int, ...]
    spans: tuple[TokenSpan, ...]
    score: float
    confidence: float
    num_frames: Frames

    @property
    def token_confidences(self) -> tuple[float, ...]:
        return tuple(s.confidence for s in self.spans)


@dataclass(frozen=True)
class SearchOptions:
    """Options of :func:`search`; ``beam_size=1`` without an LM is greedy decoding.

    ``token_threshold``: in beam search, at each frame only tokens whose log-probability
    is at least this (and among the ``beam_size`` best of the frame) extend prefixes.
    """

    beam_size: int = 1
    lm_weight: float = 0.0
    insertion_bonus: float = 0.0
    token_threshold: float = -12.0

    def __post_init__(self):
        if self.beam_size < 1:
            raise AsrError(f"beam size must be at least 1, got {self.beam_size}")


def search(
    log_probs: "torch.Tensor",
    lengths: "torch.Tensor | Sequence[int] | None" = None,
    options: SearchOptions = SearchOptions(),
    lm: "NgramLM | None" = None,
    token_strings: Sequence[str] | None = None,
    blank: int = 0,
) -> list[Hypothesis]:
    """Greedy decoding when ``beam_size == 1`` and no LM is used, prefix beam search otherwise.

    ``token_strings`` (the vocabulary's tokens in id order) map ids to LM units; it is
    needed only with ``lm``.
    """
    if options.beam_size == 1 and (lm is None or options.lm_weight == 0):
        return greedy_search(log_probs, lengths, blank=blank)
    return beam_search(
        log_probs, lengths, beam_size=options.beam_size, lm=lm, lm_weight=options.lm_weight,
        insertion_bonus=options.insertion_bonus, token_strings=token_strings, blank=blank,
        token_threshold=options.token_threshold,
    )


def _lengths(log_probs: "torch.Tensor", lengths) -> list[int]:
    if lengths is None:
        return [log_probs.shape[1]] * log_probs.shape[0]
    return [int(n) for n in lengths]


def greedy_search(log_probs: "torch.Tensor", lengths=None, blank: int = 0) -> list[Hypothesis]:
    """Batched best-path decoding: argmax per frame, repeats collapsed, blanks removed."""
    import torch

    with torch.no_grad():
        best, ids = log_probs.detach().float().max(dim=-1)  # (B, T)
        blank_post = log_probs[..., blank].detach().float().exp().cpu().numpy()
    posts = best.exp().cpu().numpy()
    ids = ids.cpu().numpy()
    scores = best.cpu().numpy()
    out = []
    for b, n in enumerate(_lengths(log_probs, lengths)):
        out.append(_path_hypothesis(ids[b, :n], posts[b, :n], blank_post[b, :n], float(scores[b, :n].sum()), blank))
    return out


def _path_hypothesis(path: np.ndarray, post: np.ndarray, blank_post: np.ndarray, score: float, blank: int) -> Hypothesis:
    """A hypothesis from a frame-level CTC path and the posterior of its label at each frame."""
    n = len(path)
    if n == 0:
        return Hypothesis((), (), score, 0.0, 0)
    starts = np.flatnonzero(np.concatenate(([True], path[1:] != path[:-1])))
    ends = np.concatenate((starts[1:], [n]))
    sums = np.add.reduceat(post.astype(np.float64), starts)
    spans = tuple(
        TokenSpan(int(path[s]), int(s), int(e), float(total / (e - s)))
        for s, e, total in zip(starts, ends, sums)
        if path[s] != blank
    )
    confidence = float(np.mean([s.confidence for s in spans])) if spans else float(blank_post.mean())
    return Hypothesis(tuple(s.token for s in spans), spans, score, confidence, n)


def align(log_probs: "torch.Tensor", token_ids: Sequence[int], blank: int = 0) -> tuple[TokenSpan, ...]:
    """CTC forced alignment of ``token_ids`` to ``(T, V)`` log-probs: one span per token.

    Uses ``torchaudio.functional.forced_align`` and ``merge_tokens``; a span's
    confidence is the token's mean posterior over its frames. Raises ``ValueError``
    when the sequence needs more frames than there are (``T < L + repeats``).
    """
    import torch
    import torchaudio.functional as F

    if not token_ids:
        return ()
    emission = log_probs.detach().float().cpu().unsqueeze(0)
    targets = torch.tensor([list(token_ids)], dtype=torch.int32)
    repeats = sum(1 for a, b in zip(token_ids, token_ids[1:]) if a == b)
    if emission.shape[1] < len(token_ids) + repeats:
        raise ValueError(f"{len(token_ids)} tokens cannot be aligned to {emission.shape[1]} frames")
    path, scores = F.forced_align(emission, targets, blank=blank)
    merged = F.merge_tokens(path[0], scores[0].exp(), blank=blank)
    return tuple(TokenSpan(int(s.token), int(s.start), int(s.end), float(s.score)) for s in merged)


def beam_search(
    log_probs: "torch.Tensor",
    lengths=None,
    beam_size: int = 8,
    lm: "NgramLM | None" = None,
    lm_weight: float = 0.0,
    insertion_bonus: float = 0.0,
    token_strings: Sequence[str] | None = None,
    blank: int = 0,
    token_threshold: float = -12.0,
) -> list[Hypothesis]:
    """CTC prefix beam search per utterance, optionally fused with a token n-gram LM."""
    if lm is not None and lm_weight and token_strings is None:
        raise ValueError("beam_search: token_strings are needed to score tokens with a language model")
    use_lm = lm is not None and lm_weight != 0.0
    lp_all = log_probs.detach().float().cpu()
    out = []
    for b, n in enumerate(_lengths(log_probs, lengths)):
        lp = lp_all[b, :n]
        k = min(beam_size, lp.shape[-1])
        top_lp, top_ids = lp.topk(k, dim=-1) if n else (lp[:, :0], lp[:, :0].long())
        prefix, score = _prefix_search(
            lp.numpy(), top_ids.numpy(), top_lp.numpy(), beam_size, lm if use_lm else None, lm_weight,
            insertion_bonus, token_strings, blank, token_threshold,
        )
        if prefix:
            spans = align(lp, prefix, blank=blank)
            confidence = float(np.mean([s.confidence for s in spans]))
        else:
            spans = ()
            confidence = float(lp[:, blank].exp().mean()) if n else 0.0
        out.append(Hypothesis(tuple(prefix), spans, score, confidence, n))
    return out


def _logaddexp(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    if a > b:
        return a + math.log1p(math.exp(b - a))
    return b + math.log1p(math.exp(a - b))


def _prefix_search(lp, top_ids, top_lp, beam_size, lm, lm_weight, bonus, token_strings, blank, threshold):
    """The frame loop of prefix beam search on numpy arrays; returns (best prefix, its score)."""
    # beam entries: prefix -> [log p_blank, log p_nonblank]; LM state and score per prefix in lm_info
    beams: dict[tuple[int, ...], list[float]] = {(): [0.0, NEG_INF]}
    lm_info: dict[tuple[int, ...], tuple[float, tuple]] = {(): (0.0, lm.start() if lm else ())}

    def extend_lm(prefix: tuple[int, ...], token: int) -> None:
        new = prefix + (token,)
        if new not in lm_info:
            lm_score, state = lm_info[prefix]
            unit = token_strings[token] if lm else ""
            if lm:
                lm_info[new] = (lm_score + lm.score(state, unit), lm.advance(state, unit))
            else:
                lm_info[new] = (0.0, ())

    def rank(prefix: tuple[int, ...], probs: list[float]) -> float:
        return _logaddexp(*probs) + lm_weight * lm_info[prefix][0] + bonus * len(prefix)

    for t in range(lp.shape[0]):
        frame = lp[t]
        blank_lp = float(frame[blank])
        cands = [int(c) for c, v in zip(top_ids[t], top_lp[t]) if c != blank and v >= threshold]
        nxt: dict[tuple[int, ...], list[float]] = {}
        for prefix, (pb, pnb) in beams.items():
            total = _logaddexp(pb, pnb)
            entry = nxt.setdefault(prefix, [NEG_INF, NEG_INF])
            entry[0] = _logaddexp(entry[0], total + blank_lp)
            last = prefix[-1] if prefix else None
            if last is not None:  # repeated last token without a blank: same prefix
                entry[1] = _logaddexp(entry[1], pnb + float(frame[last]))
            for c in cands:
                new = prefix + (c,)
                extend_lm(prefix, c)
                e = nxt.setdefault(new, [NEG_INF, NEG_INF])
                e[1] = _logaddexp(e[1], (pb if c == last else total) + float(frame[c]))
        ranked = sorted(nxt.items(), key=lambda kv: rank(*kv), reverse=True)[:beam_size]
        beams = dict(ranked)
    final = []
    for prefix, probs in beams.items():
        score = rank(prefix, probs)
        if lm is not None:
            lm_score, state = lm_info[prefix]
            score += lm_weight * lm.score(state, "</s>")
        final.append((score, prefix))
    score, prefix = max(final, key=lambda x: x[0])
    return list(prefix), float(score)
