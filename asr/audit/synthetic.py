"""Synthetic results files with a known per-group error rate and speaker effects.

Used by the tests (interval coverage, scale, escaping) and by
``benchmarks/bench_audit.py``; never by a recipe. Each speaker belongs to one group
of the primary attribute (``dialect``) and has a speaker effect: its error rate is
``true_cer[group] * exp(sigma * z - sigma**2 / 2)`` with ``z ~ N(0, 1)``, so the
expected pooled CER of a group is its ``true_cer`` while utterances of one speaker
are correlated (the reason the audit resamples speakers, not utterances).
"""

from __future__ import annotations

import numpy as np

#: Characters the synthetic references are drawn from.
ALPHABET = "的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要她出也得里后自以会家可下而过天去能对小多然于心学么之都好看起发当没成只如事把还用第样道想作种开美总从无情己面最女但现前些所同日手又行意动方期它头经长儿回位分爱老因很给名法间斯知世什两次使身者被高已亲其进此话常与活正感"
#: Characters substitutions and insertions use (disjoint from :data:`ALPHABET`).
CONFUSABLE = "资次四泥林银因怒路辣"
GENDERS = ("female", "male")
AGE_BANDS = ("20-29", "30-39", "40-49", "50-59", "60+")
CONDITIONS = ("clean", "noisy", "telephone")


def group_names(n_groups: int) -> list[str]:
    """``mandarin`` first (the largest group), then ``dialect01`` ... ."""
    return ["mandarin"] + [f"dialect{i:02d}" for i in range(1, n_groups)]


def true_cers(n_groups: int, base: float = 0.05, gap: float = 0.15) -> np.ndarray:
    """Group CERs rising linearly from ``base`` (mandarin) to ``base + gap`` (the last group)."""
    return base + gap * np.linspace(0.0, 1.0, n_groups)


def simulate_counts(
    n_utts: int,
    n_groups: int,
    n_speakers: int,
    seed: int = 0,
    sigma: float = 0.8,
    cers: np.ndarray | None = None,
    mean_len: float = 15.0,
    ref_len: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per-utterance arrays: ``speaker`` (int), ``group`` (int), ``ref_len``, ``sub``, ``del``, ``ins``.

    Speakers are spread evenly over groups (group 0 gets twice its share, as the
    standard variety usually does); utterances evenly over speakers. Errors are
    Poisson with mean ``speaker_rate * ref_len``, split 70/20/10 into S/D/I
    (deletions capped at the reference length). ``ref_len``: given lengths instead of
    Poisson(``mean_len``) ones.
    """
    rng = np.random.default_rng(seed)
    cers = true_cers(n_groups) if cers is None else np.asarray(cers, dtype=float)
    weights = np.ones(n_groups)
    weights[0] = 2.0
    speaker_group = np.sort(rng.choice(n_groups, size=n_speakers, p=weights / weights.sum()))
    speaker_group[:n_groups] = np.arange(n_groups)  # every group has a speaker
    speaker_rate = cers[speaker_group] * np.exp(sigma * rng.standard_normal(n_speakers) - sigma**2 / 2)
    speaker = np.sort(rng.integers(0, n_speakers, size=n_utts))
    speaker[: min(n_speakers, n_utts)] = np.arange(min(n_speakers, n_utts))
    if ref_len is None:
        ref_len = np.maximum(1, rng.poisson(mean_len, size=n_utts))
    errors = rng.poisson(speaker_rate[speaker] * ref_len)
    split = rng.multinomial(1, [0.7, 0.2, 0.1], size=n_utts).argmax(1)  # one kind per utterance: cheap
    sub = np.where(split == 0, errors, 0)
    dele = np.minimum(np.where(split == 1, errors, 0), ref_len)
    ins = np.where(split == 2, errors, 0)
    sub = np.minimum(sub, ref_len - dele)
    return {"speaker": speaker, "group": speaker_group[speaker], "ref_len": ref_len, "sub": sub, "del": dele, "ins": ins}


def make_results(
    n_utts: int = 2000,
    n_groups: int = 4,
    n_speakers: int = 60,
    seed: int = 0,
    sigma: float = 0.8,
    cers: np.ndarray | None = None,
    texts: bool = True,
    n_texts: int | None = None,
):
    """A results table (pandas DataFrame) in the results-file schema.

    Columns: ``id speaker ref hyp sub del ins ref_len unit dialect gender age_band
    condition snr_db duration text_id``. With ``texts=False`` the ``ref``/``hyp``
    columns are left out (scale tests only need counts). Hypotheses are built from
    the references with the simulated edits, so the recorded counts are those of an
    alignment (a unit-cost aligner may find a cheaper one when edits touch).
    ``n_texts``: draw references from that many sentences (``text_id``), so groups
    read parallel texts.
    """
    import pandas as pd

    rng = np.random.default_rng(seed + 1)
    text_index = sentences = None
    if n_texts:
        sentences = ["".join(ALPHABET[j] for j in rng.integers(0, len(ALPHABET), max(1, n))) for n in rng.poisson(15, n_texts)]
        text_index = rng.integers(0, n_texts, n_utts)
    lengths = np.array([len(sentences[t]) for t in text_index]) if n_texts else None
    c = simulate_counts(n_utts, n_groups, n_speakers, seed, sigma, cers, ref_len=lengths)
    names = np.array(group_names(n_groups))
    spk = c["speaker"]
    n_spk = int(spk.max()) + 1
    df = pd.DataFrame(
        {
            "id": [f"spk{s:06d}-utt{i:07d}" for i, s in enumerate(spk)],
            "speaker": [f"spk{s:06d}" for s in spk],
            "sub": c["sub"],
            "del": c["del"],
            "ins": c["ins"],
            "ref_len": c["ref_len"],
            "unit": "char",
            "dialect": names[c["group"]],
            "gender": np.array(GENDERS)[rng.integers(0, 2, n_spk)][spk],
            "age_band": np.array(AGE_BANDS)[rng.integers(0, len(AGE_BANDS), n_spk)][spk],
            "condition": np.array(CONDITIONS)[rng.integers(0, len(CONDITIONS), n_utts)],
            "snr_db": np.round(rng.uniform(5, 30, n_utts), 1),
            "duration": np.round(c["ref_len"] * 0.25 + rng.uniform(0.2, 1.0, n_utts), 3),
        }
    )
    if n_texts:
        df["text_id"] = [f"t{t:05d}" for t in text_index]
    if texts:
        refs, hyps = [], []
        for i in range(n_utts):
            if n_texts:
                ref = sentences[text_index[i]]
            else:
                ref = "".join(ALPHABET[j] for j in rng.integers(0, len(ALPHABET), int(c["ref_len"][i])))
            refs.append(ref)
            hyps.append(_corrupt(ref, int(c["sub"][i]), int(c["del"][i]), int(c["ins"][i]), rng))
        df.insert(2, "ref", refs)
        df.insert(3, "hyp", hyps)
    return df


def _corrupt(ref: str, sub: int, dele: int, ins: int, rng: np.random.Generator) -> str:
    chars = list(ref)
    positions = rng.permutation(len(chars))
    for p in positions[:sub]:
        chars[p] = CONFUSABLE[rng.integers(len(CONFUSABLE))]
    for p in sorted(positions[sub : sub + dele], reverse=True):
        del chars[p]
    for _ in range(ins):
        chars.insert(int(rng.integers(0, len(chars) + 1)), CONFUSABLE[rng.integers(len(CONFUSABLE))])
    return "".join(chars)
