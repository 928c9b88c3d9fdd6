"""The vectorised speaker bootstrap equals the straightforward computation, and its intervals cover."""

from __future__ import annotations

import numpy as np
import pandas as pd

from asr.audit.bootstrap import BLOCK, bootstrap, error_rates, group_members, interval, make_cells, speaker_draws
from asr.audit.synthetic import make_results, simulate_counts


def test_cells_sum_like_pandas():
    df = make_results(500, 3, 20, texts=False)
    cells = make_cells(df, ["dialect"])
    df["errors"] = df["sub"] + df["del"] + df["ins"]
    expected = df.groupby(["dialect", "speaker"])[["sub", "del", "ins", "ref_len"]].sum()
    got = pd.DataFrame(cells.values[:, :4], columns=["sub", "del", "ins", "ref_len"],
                       index=pd.MultiIndex.from_arrays([[cells.labels[g][0] for g in cells.group], cells.speaker]))
    pd.testing.assert_frame_equal(got.sort_index(), expected.astype(float).sort_index(), check_names=False)
    assert cells.values[:, 4].sum() == len(df)


def test_vectorised_bootstrap_equals_a_loop_over_replicates():
    df = make_results(400, 3, 24, seed=5, texts=False)
    replicates, seed = BLOCK + 37, 11  # more than one block
    cells = make_cells(df, ["dialect"])
    fast = bootstrap(cells, replicates, seed)

    # Straightforward: the same draws, one replicate at a time, summing the utterance rows of the
    # drawn speakers (with repeats) with pandas.
    rng = np.random.default_rng(seed)
    by_speaker = {s: g for s, g in df.groupby("speaker")}
    for g, idx in enumerate(group_members(cells)):
        speakers = cells.speaker[idx]
        draws = np.vstack([d for _, d in speaker_draws(rng, len(idx), replicates)])
        for r in range(replicates):
            rows = pd.concat([by_speaker[s] for s in speakers[draws[r]]])
            errors = int((rows["sub"] + rows["del"] + rows["ins"]).sum())
            assert (fast[r, g, 0], fast[r, g, 1]) == (errors, int(rows["ref_len"].sum()))


def test_one_speaker_group_has_a_degenerate_interval():
    df = make_results(300, 2, 10, texts=False)
    df.loc[df.index[:7], "dialect"] = "solo"
    df.loc[df.index[:7], "speaker"] = "only-one"
    cells = make_cells(df, ["dialect"])
    g = [label[0] for label in cells.labels].index("solo")
    cer = error_rates(bootstrap(cells, 50, 0))[:, g]
    assert np.all(cer == cer[0])  # every replicate redraws the same speaker


def _coverage(sims: int = 200, speakers: int = 30, utts: int = 20, replicates: int = 300, sigma: float = 0.8):
    """Share of simulations whose 95% interval of CER(B) - CER(A) covers the true gap; speaker vs row bootstrap."""
    truth = np.array([0.05, 0.10])
    hits = {"speaker": 0, "row": 0}
    for sim in range(sims):
        c = simulate_counts(2 * speakers * utts, 2, 2 * speakers, seed=sim, sigma=sigma, cers=truth)
        df = pd.DataFrame({"speaker": c["speaker"].astype(str), "dialect": c["group"].astype(str),
                           "sub": c["sub"], "del": c["del"], "ins": c["ins"], "ref_len": c["ref_len"]})
        cells = make_cells(df, ["dialect"])
        cer = error_rates(bootstrap(cells, replicates, sim))
        low, high = interval(cer[:, 1] - cer[:, 0], 0.95)
        hits["speaker"] += low <= truth[1] - truth[0] <= high
        # Row bootstrap: utterances resampled within each group, as if independent.
        rng = np.random.default_rng(sim)
        errors = c["sub"] + c["del"] + c["ins"]
        rates = []
        for g in (0, 1):
            e, n = errors[c["group"] == g], c["ref_len"][c["group"] == g]
            draws = rng.integers(0, len(e), size=(replicates, len(e)))
            rates.append(e[draws].sum(1) / n[draws].sum(1))
        low, high = interval(rates[1] - rates[0], 0.95)
        hits["row"] += low <= truth[1] - truth[0] <= high
    return {k: v / sims for k, v in hits.items()}


def test_speaker_bootstrap_covers_the_true_gap_and_a_row_bootstrap_does_not():
    # 60 speakers (about 40 and 20 per group), speaker rates spread by a factor exp(0.8): the
    # speaker bootstrap covers about 89% (percentile intervals with ~20 clusters run a little
    # short of 95%), the row bootstrap about 43%.
    coverage = _coverage()
    assert coverage["speaker"] >= 0.85, coverage
    assert coverage["row"] <= coverage["speaker"] - 0.2, coverage
