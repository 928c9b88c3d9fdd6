"""Coverage of the audit's interval methods, by simulation with a planted gap and speaker effects.

    python benchmarks/bench_coverage.py                          # 6, 12, 24 speakers per group; JSON to benchmarks/results/
    python benchmarks/bench_coverage.py --effects gamma --shape 0.7 --utterances lognormal --datasets 200
    python benchmarks/bench_coverage.py --methods cluster_t_mover --speakers 6 --output /tmp/coverage.json

Each simulated test set has ``len(--cers)`` groups (the first is the reference group, as
``mandarin`` is in the dialect recipe) of ``k`` speakers each (``--speakers``). A speaker of
group ``g`` has the error rate ``cer_g * u`` with a speaker effect ``u`` of mean 1
(``--effects``: ``lognormal`` with ``--sigma``, ``gamma`` with ``--shape``, or ``mixture``: a
share ``--bad-share`` of speakers ``--bad-factor`` times worse, on top of a lognormal with
``--sigma``), reads ``m`` utterances (``--utterances``: ``uniform`` between ``--min-utts`` and
``--max-utts``, or ``lognormal`` with median ``--median-utts``, clipped to 2..200) of
Poisson(``--mean-len``) characters, and makes Poisson(rate x characters) errors. A second
release, on the same utterances, multiplies each group's rates by ``exp(--change)`` and each
speaker's by a lognormal factor of spread ``--change-sigma`` (mean 1), independently drawn
errors: the paired release differences.

The truth is the pooled CER of each group on a population of ``--population`` speakers per
group drawn from the same model (expected errors over characters), in both releases. For each
method (:mod:`asr.audit.intervals`) and each estimand the audit reports (each group's CER,
the worst group minus the reference group, the worst/reference ratio, each group's paired
release difference; the worst group is the one the data names), over ``--datasets`` test sets:
coverage, its Monte Carlo standard error ``sqrt(c (1 - c) / n)``, the share of all intervals
that missed with the truth above / below, and the median width (ratios: of the log
interval, in log units). Simulation works on per-speaker sums, which is all an interval uses.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from asr.audit.estimands import Term, difference, make_sample, rate_of, ratio  # noqa: E402
from asr.audit.intervals import BOOTSTRAP_METHODS, METHODS, estimate  # noqa: E402
from asr.io import write_json  # noqa: E402

#: Estimand families; a method's default-worthiness is judged on all of them.
FAMILIES = ("cer", "difference", "ratio", "paired")


def speaker_effects(rng: np.random.Generator, n: int, args) -> np.ndarray:
    """(n,) multiplicative speaker effects with mean 1."""
    if args.effects == "lognormal":
        return np.exp(args.sigma * rng.standard_normal(n) - args.sigma**2 / 2)
    if args.effects == "gamma":
        return rng.gamma(args.shape, 1 / args.shape, n)
    if args.effects == "mixture":
        bad = rng.random(n) < args.bad_share
        scale = 1 + args.bad_share * (args.bad_factor - 1)
        return np.where(bad, args.bad_factor, 1.0) / scale * np.exp(args.sigma * rng.standard_normal(n) - args.sigma**2 / 2)
    raise SystemExit(f"--effects {args.effects!r}: expected lognormal, gamma or mixture")


def utterance_counts(rng: np.random.Generator, n: int, args) -> np.ndarray:
    if args.utterances == "uniform":
        return rng.integers(args.min_utts, args.max_utts + 1, n)
    if args.utterances == "lognormal":
        return np.clip(np.round(args.median_utts * np.exp(0.9 * rng.standard_normal(n))), 2, 200).astype(int)
    raise SystemExit(f"--utterances {args.utterances!r}: expected uniform or lognormal")


def speakers(rng: np.random.Generator, k: int, args) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(G, k) arrays: characters read, rate in release A, rate in release B, group index."""
    cers, change = np.asarray(args.cers), np.asarray(args.change)
    G = len(cers)
    chars = rng.poisson(args.mean_len * utterance_counts(rng, G * k, args)).reshape(G, k).astype(float)
    rate_a = cers[:, None] * speaker_effects(rng, G * k, args).reshape(G, k)
    tau = args.change_sigma
    rate_b = rate_a * np.exp(change[:, None] + tau * rng.standard_normal((G, k)) - tau**2 / 2)
    return chars, rate_a, rate_b, np.repeat(np.arange(G), k).reshape(G, k)


def truth(args, seed: int) -> dict[str, np.ndarray]:
    """Pooled CER per group of a large population, releases A and B."""
    chars, rate_a, rate_b, _ = speakers(np.random.default_rng(seed), args.population, args)
    return {"a": (rate_a * chars).sum(1) / chars.sum(1), "b": (rate_b * chars).sum(1) / chars.sum(1)}


def one_dataset(rng: np.random.Generator, k: int, args, methods: list[str], seed: int) -> dict:
    """Every method's interval of every estimand on one simulated test set."""
    chars, rate_a, rate_b, group = speakers(rng, k, args)
    e_a, e_b = rng.poisson(rate_a * chars), rng.poisson(rate_b * chars)
    values = np.column_stack([e_a.ravel(), chars.ravel(), e_b.ravel(), chars.ravel()])
    G = len(args.cers)
    needs_boot = any(m in BOOTSTRAP_METHODS for m in methods)
    sample = make_sample(group.ravel(), G, values, args.replicates if needs_boot else 0, seed,
                         moments="studentized" in methods)
    observed = e_a.sum(1) / chars.sum(1)
    worst = int(np.argmax(observed))
    ref = Term((0,))
    estimands = {f"cer[{g}]": rate_of(g) for g in range(G)}
    estimands["difference"] = difference(Term((worst,)), ref)
    estimands["ratio"] = ratio(Term((worst,)), ref)
    for g in range(G):
        estimands[f"paired[{g}]"] = difference(Term((g,), 2, 3), Term((g,), 0, 1))
    out = {"worst": worst}
    for m in methods:
        out[m] = {name: estimate(est, sample, m, args.confidence)[1:] for name, est in estimands.items()}
    return out


def true_values(t: dict, worst: int, G: int) -> dict[str, float]:
    out = {f"cer[{g}]": t["a"][g] for g in range(G)}
    out["difference"] = t["a"][worst] - t["a"][0]
    out["ratio"] = t["a"][worst] / t["a"][0]
    out.update({f"paired[{g}]": t["b"][g] - t["a"][g] for g in range(G)})
    return out


def summarise(intervals: list[tuple[float | None, float | None]], truths: list[float], log: bool) -> dict:
    n = len(intervals)
    above = below = covered = 0
    widths = []
    for (low, high), true in zip(intervals, truths):
        if low is None or high is None:  # no interval: counts as a miss on the side of the missing bound
            above += high is None
            below += high is not None
            continue
        if true > high:
            above += 1
        elif true < low:
            below += 1
        else:
            covered += 1
        widths.append(np.log(high / low) if log and low > 0 else high - low)
    c = covered / n
    return {"coverage": c, "mc_se": float(np.sqrt(c * (1 - c) / n)), "miss_above": above / n, "miss_below": below / n,
            "median_width": float(np.median(widths)) if widths else None, "no_interval": (n - len(widths)) / n}


def run_size(k: int, args, methods: list[str], t: dict) -> dict:
    rng = np.random.default_rng([args.seed, k])
    G = len(args.cers)
    collected = {m: {} for m in methods}
    truths: dict[str, list[float]] = {}
    worst_right = 0
    for d in range(args.datasets):
        result = one_dataset(rng, k, args, methods, seed=args.seed * 100_003 + d)
        worst_right += result["worst"] == int(np.argmax(t["a"]))
        for name, value in true_values(t, result["worst"], G).items():
            truths.setdefault(name, []).append(value)
        for m in methods:
            for name, iv in result[m].items():
                collected[m].setdefault(name, []).append(iv)
    table = {m: {name: summarise(ivs, truths[name], name == "ratio") for name, ivs in by.items()} for m, by in collected.items()}
    return {"speakers_per_group": k, "worst_named_correctly": worst_right / args.datasets, "methods": table}


def family_range(rows: dict[str, dict], family: str) -> tuple[float, float]:
    cov = [r["coverage"] for name, r in rows.items() if name.split("[")[0] == family]
    return min(cov), max(cov)


def print_tables(results: list[dict], methods: list[str], args) -> None:
    G = len(args.cers)
    names = [f"cer[{g}]" for g in range(G)] + ["difference", "ratio"] + [f"paired[{g}]" for g in range(G)]
    for res in results:
        print(f"\n{res['speakers_per_group']} speakers per group ({args.datasets} test sets; worst group named "
              f"correctly {100 * res['worst_named_correctly']:.0f}%): coverage % (MC SE)")
        print(f"{'method':<16}" + "".join(f"{n:>13}" for n in names))
        for m in methods:
            row = res["methods"][m]
            print(f"{m:<16}" + "".join(f"{100 * row[n]['coverage']:>7.1f} ({100 * row[n]['mc_se']:.1f})" for n in names))
        print(f"{'misses above/below %':<22}")
        for m in methods:
            row = res["methods"][m]
            print(f"{m:<16}" + "".join(f"{100 * row[n]['miss_above']:>6.1f}/{100 * row[n]['miss_below']:<6.1f}" for n in names))
        print("median width (CER and differences in points, ratio in log units)")
        for m in methods:
            row = res["methods"][m]
            print(f"{m:<16}" + "".join(
                f"{(row[n]['median_width'] or float('nan')) * (1 if n == 'ratio' else 100):>13.2f}" for n in names))
    print("\nsummary: lowest-highest coverage % per family (CER per group, worst-reference difference, "
          "worst/reference ratio, paired release difference per group)")
    print(f"{'method':<16}{'speakers':>9}" + "".join(f"{f:>14}" for f in FAMILIES))
    for m in methods:
        for res in results:
            rows = res["methods"][m]
            cells = "".join(f"{100 * lo:>7.1f}-{100 * hi:<6.1f}" for lo, hi in (family_range(rows, f) for f in FAMILIES))
            print(f"{m:<16}{res['speakers_per_group']:>9}{cells}")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    floats = lambda s: [float(x) for x in s.split(",")]  # noqa: E731
    p.add_argument("--speakers", default="6,12,24", help="speakers per group, comma-separated")
    p.add_argument("--datasets", type=int, default=400, help="simulated test sets per size")
    p.add_argument("--cers", type=floats, default=[0.03, 0.04, 0.05, 0.15],
                   help="true pooled CER per group; the first is the reference group")
    p.add_argument("--change", type=floats, default=[0.1, 0.0, -0.1, -0.4],
                   help="log change of each group's rate in the second release")
    p.add_argument("--change-sigma", type=float, default=0.3, help="spread of the speakers' change (lognormal)")
    p.add_argument("--effects", default="lognormal", help="speaker effects: lognormal, gamma or mixture")
    p.add_argument("--sigma", type=float, default=0.8, help="lognormal speaker-effect spread")
    p.add_argument("--shape", type=float, default=1.0, help="gamma speaker-effect shape (1: exponential)")
    p.add_argument("--bad-share", type=float, default=0.1, help="mixture: share of much worse speakers")
    p.add_argument("--bad-factor", type=float, default=4.0, help="mixture: how much worse")
    p.add_argument("--utterances", default="uniform", help="utterances per speaker: uniform or lognormal")
    p.add_argument("--min-utts", type=int, default=8)
    p.add_argument("--max-utts", type=int, default=25)
    p.add_argument("--median-utts", type=float, default=15.0)
    p.add_argument("--mean-len", type=float, default=15.0, help="characters per utterance (Poisson mean)")
    p.add_argument("--population", type=int, default=20_000, help="speakers per group behind the true values")
    p.add_argument("--replicates", type=int, default=1000, help="bootstrap replicates per test set")
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated methods of asr.audit.intervals")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default=str(REPO / "benchmarks" / "results" / "coverage.json"), help="JSON output")
    args = p.parse_args(argv)
    if len(args.change) != len(args.cers):
        p.error("--change needs one value per group of --cers")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise SystemExit(f"--methods: unknown {', '.join(unknown)} (expected some of {', '.join(METHODS)})")
    started = time.perf_counter()
    t = truth(args, seed=args.seed + 10_000)
    print(f"true pooled CER per group: {', '.join(f'{100 * x:.2f}%' for x in t['a'])}; second release: "
          f"{', '.join(f'{100 * x:.2f}%' for x in t['b'])}")
    results = [run_size(int(k), args, methods, t) for k in args.speakers.split(",")]
    print_tables(results, methods, args)
    elapsed = time.perf_counter() - started
    print(f"\n{elapsed:.0f} s")
    out = {"benchmark": "interval coverage", "command": " ".join(sys.argv), "settings": vars(args),
           "truth": {k: v.tolist() for k, v in t.items()}, "sizes": results, "seconds": round(elapsed, 1),
           "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}}
    write_json(args.output, out)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
