"""Seed spread of the dialect recipe: its baseline and mitigation trained with several seeds.

Runs ``bash recipes/dialect/run.sh --stage S`` once per training seed (``--train-args "--seed N"``:
initial weights, batch order, augmentation; the corpus and its test set stay the same), each into
an experiment and report directory of its own, then reads each run's ``fairness.json`` and prints,
per dialect group, the mean and the range (min to max) over seeds of

* the baseline's CER and the mitigated model's CER,
* the mitigation's change (mitigated minus baseline, in points),
* the headline ratio and difference of each release: the worst group's CER to the reference
  group's (the recipe's audit config sets mandarin), as each ``fairness.json`` states them.

A difference between groups or releases is only worth stating when it holds in every seed (its
range does not cross zero). Stages 0-2 (corpus, features) are shared: they run first if missing.

    python benchmarks/bench_seeds.py --seeds 1234 1 2 --output benchmarks/results/seeds.json

``--stage 4`` decodes and audits the trained models again (after a change to decoding or the audit).
``--existing 1234=reports`` counts a run already made with that seed (the recipe's own, whose
default seed is 1234, with its releases under ``reports/``) instead of training it again:

    python benchmarks/bench_seeds.py --seeds 1 2 --existing 1234=reports
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes/dialect/run.sh"
RELEASES = ("baseline", "targeted")
#: The recipe runs this interpreter's `asr` (its bin directory first on PATH).
ENV = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}


def run_seed(seed: int, exp_root: Path, report_root: Path, stage: int, stop_stage: int, data_dir: str | None) -> float:
    """The recipe's stages ``stage`` to ``stop_stage`` with training seed ``seed``; returns its wall seconds."""
    command = ["bash", str(RECIPE), "--stage", str(stage), "--stop-stage", str(stop_stage),
               "--exp-dir", str(exp_root / f"seed-{seed}"),
               "--report-dir", str(report_root / f"seed-{seed}"), "--train-args", f"--seed {seed}"]
    if data_dir:
        command += ["--data-dir", data_dir]
    started = time.perf_counter()
    print(f"seed {seed}: {' '.join(command)}", flush=True)
    subprocess.run(command, check=True, cwd=REPO, env=ENV)
    return time.perf_counter() - started


def read_release(report_dir: Path, release: str, attribute: str = "dialect") -> dict:
    """Per-group CER, and the headline ratio and difference (worst group to reference group), of one
    release's ``fairness.json``."""
    fairness = json.loads((report_dir / release / "fairness.json").read_text(encoding="utf-8"))
    block = fairness["attributes"][attribute]
    groups = {g["group"]: g["cer"] for g in block["groups"]}
    disparity = block["disparity"]
    return {
        "cer": groups,
        "overall": fairness["overall"]["cer"],
        "ratio": (disparity.get("ratio") or {}).get("value"),
        "difference": (disparity.get("difference") or {}).get("value"),
        "worst": disparity.get("worst_group"),
        "best": disparity.get("best_group") or disparity.get("reference_group"),
    }


def read_releases(report_dir: Path) -> dict:
    """:func:`read_release` of each of :data:`RELEASES` that the run audited (the baseline always)."""
    return {r: read_release(report_dir, r) for r in RELEASES if r == "baseline" or (report_dir / r / "fairness.json").is_file()}


def spread(values: list[float | None]) -> dict:
    """Mean, min and max of the values given (None left out)."""
    kept = [v for v in values if v is not None]
    if not kept:
        return {"mean": None, "min": None, "max": None, "n": 0}
    return {"mean": statistics.fmean(kept), "min": min(kept), "max": max(kept), "n": len(kept)}


def summarize(runs: dict[int, dict]) -> dict:
    """Across seeds: per group and release, CER; per group, the mitigation's change; per release, ratio and gap."""
    groups = sorted({g for run in runs.values() for g in run["baseline"]["cer"]})
    out: dict = {"groups": {}, "releases": {}}
    for g in groups:
        base = [run["baseline"]["cer"].get(g) for run in runs.values()]
        mit = [run["targeted"]["cer"].get(g) if "targeted" in run else None for run in runs.values()]
        change = [None if b is None or m is None else m - b for b, m in zip(base, mit)]
        out["groups"][g] = {"baseline": spread(base), "targeted": spread(mit), "change": spread(change)}
    for release in RELEASES:
        out["releases"][release] = {
            key: spread([run[release][key] for run in runs.values() if release in run])
            for key in ("overall", "ratio", "difference")
        }
        out["releases"][release]["worst"] = sorted({run[release]["worst"] for run in runs.values() if release in run})
    return out


def _pct(s: dict) -> str:
    if s["mean"] is None:
        return "-"
    return f"{100 * s['mean']:5.1f}% [{100 * s['min']:.1f}, {100 * s['max']:.1f}]"


def _pts(s: dict) -> str:
    if s["mean"] is None:
        return "-"
    return f"{100 * s['mean']:+5.1f} [{100 * s['min']:+.1f}, {100 * s['max']:+.1f}]"


def _num(s: dict) -> str:
    if s["mean"] is None:
        return "-"
    return f"{s['mean']:5.2f} [{s['min']:.2f}, {s['max']:.2f}]"


def print_table(summary: dict, seeds: list[int]) -> None:
    print(f"\nCER by dialect over training seeds {', '.join(map(str, seeds))}: mean [min, max]")
    print(f"{'group':<14} {'baseline':<24} {'targeted':<24} {'change (points)':<24}")
    for g, s in summary["groups"].items():
        print(f"{g:<14} {_pct(s['baseline']):<24} {_pct(s['targeted']):<24} {_pts(s['change']):<24}")
    for release, s in summary["releases"].items():
        print(f"{release}: overall {_pct(s['overall'])}, ratio to the reference {_num(s['ratio'])}, "
              f"difference {_pts(s['difference'])} points, worst group {', '.join(s['worst'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1234, 1, 2], help="training seeds (default 1234 1 2)")
    parser.add_argument("--exp-root", type=Path, default=REPO / "recipes/dialect/exp/seeds")
    parser.add_argument("--report-root", type=Path, default=REPO / "reports/seeds")
    parser.add_argument("--data-dir", default=None, help="the recipe's data directory (default: the recipe's)")
    parser.add_argument("--stage", type=int, default=3, help="first recipe stage of each seed's run (default 3)")
    parser.add_argument("--stop-stage", type=int, default=8,
                        help="last recipe stage of each seed's run (default 8; 5: the baseline only)")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks/results/seeds.json")
    parser.add_argument("--existing", action="append", default=[], metavar="SEED=REPORT_DIR",
                        help="a run already made with SEED, its releases in REPORT_DIR (not trained again; repeatable)")
    args = parser.parse_args()
    existing = {}
    for item in args.existing:
        seed, sep, report = item.partition("=")
        if not sep or not seed.strip().lstrip("-").isdigit() or not (Path(report) / "baseline" / "fairness.json").is_file():
            parser.error(f"--existing {item!r}: expected SEED=REPORT_DIR with REPORT_DIR/baseline/fairness.json")
        existing[int(seed)] = Path(report)
    if len(set(args.seeds) | set(existing)) != len(args.seeds) + len(existing):
        parser.error("--seeds and --existing must be distinct")
    prepare = ["bash", str(RECIPE), "--stop-stage", "2"] + (["--data-dir", args.data_dir] if args.data_dir else [])
    subprocess.run(prepare, check=True, cwd=REPO, env=ENV)  # stages 0-2: skipped when their sentinels say done
    runs, seconds = {}, {}
    for seed, report in existing.items():
        runs[seed] = read_releases(report)
    for seed in args.seeds:
        seconds[seed] = round(run_seed(seed, args.exp_root, args.report_root, args.stage, args.stop_stage,
                                       args.data_dir), 1)
        runs[seed] = read_releases(args.report_root / f"seed-{seed}")
    summary = summarize(runs)
    seeds = [*existing, *args.seeds]
    print_table(summary, seeds)
    record = {
        "seeds": seeds, "existing": {str(k): str(v) for k, v in existing.items()}, "runs": {str(k): v for k, v in runs.items()}, "summary": summary,
        "wall_seconds": {str(k): v for k, v in seconds.items()}, "stages": [args.stage, args.stop_stage],
        "machine": {"cpu": _cpu(), "cores": os.cpu_count(), "python": platform.python_version()},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")


def _cpu() -> str:
    sys.path.insert(0, str(REPO))
    from asr.provenance import cpu_model

    return cpu_model()


if __name__ == "__main__":
    main()
