"""``asr audit`` time and peak memory at 10 k, 100 k and 1 M utterances.

    python benchmarks/bench_audit.py                         # 10k, 100k, 1M; JSON to benchmarks/results/
    python benchmarks/bench_audit.py --sizes 10000 --output /tmp/audit.json

Each size is a synthetic results file (:func:`asr.audit.synthetic.make_results`: 20
dialects, one speaker per 50 utterances, i.e. 20,000 speakers at 1 M; gender, age band,
condition, SNR, duration; references and hypotheses with the recorded edits), written
once into ``--work-dir`` and reused. The audit runs as the command a user would type,

    asr audit --results FILE --release bench --output-dir DIR --by dialect,gender,age_band,condition

with the defaults (1,000 speaker-bootstrap replicates, 1,000 permutations, the
adjusted models, intersections, explanations, the HTML report), in a fresh process
per size: ``wall_s`` is that process's wall time (Python start-up included),
``cpu_s`` its user + system CPU time and ``peak_rss_mb`` its maximum resident set
size. From 100 k utterances on, the explanations run in a forked child beside the
group statistics (``explain_child_*``: its CPU time and peak RSS, which counts the
pages it shares with the parent, so the sum of the two peaks bounds the total from
above). The load average is recorded because other processes on the machine slow
the audit down (``cpu_s`` much less than ``wall_s`` means it waited for a core).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHILD = """
import resource, sys, time
from asr.cli import main
start = time.perf_counter()
code = main(sys.argv[1:])
usage = resource.getrusage(resource.RUSAGE_SELF)
child = resource.getrusage(resource.RUSAGE_CHILDREN)
print("BENCH", code, time.perf_counter() - start, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
      child.ru_utime + child.ru_stime, child.ru_maxrss / 1024, flush=True)
"""


MAKE = """
import sys
from asr.audit.synthetic import make_results
n = int(sys.argv[1])
make_results(n, n_groups=20, n_speakers=max(20, n // 50), seed=0).to_json(
    sys.argv[2], orient="records", lines=True, force_ascii=False)
"""


def make_file(n: int, work_dir: Path) -> Path:
    """The synthetic results file of ``n`` utterances, made in a separate process.

    (A process's peak RSS survives ``exec``: generating a million rows here would
    inflate the peak the audit process reports.)
    """
    path = work_dir / f"results-{n}.jsonl"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        subprocess.run([sys.executable, "-c", MAKE, str(n), str(tmp)], check=True, cwd=REPO)
        tmp.rename(path)
    return path


def run_one(path: Path, n: int, out_dir: Path) -> dict:
    cmd = [sys.executable, "-c", CHILD, "audit", "--results", str(path), "--release", f"bench-{n}",
           "--output-dir", str(out_dir), "--by", "dialect,gender,age_band,condition"]
    load = os.getloadavg()[0]
    start = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - start
    line = next((x for x in run.stdout.splitlines() if x.startswith("BENCH ")), None)
    if run.returncode != 0 or line is None:
        raise SystemExit(f"audit of {path} failed:\n{run.stderr[-2000:]}")
    _, code, inner, cpu, rss, child_cpu, child_rss = line.split()
    report = json.loads((out_dir / f"bench-{n}" / "fairness.json").read_text(encoding="utf-8"))
    return {
        "utterances": n,
        "speakers": report["overall"]["speakers"],
        "groups": len(report["attributes"]["dialect"]["groups"]),
        "wall_s": round(wall, 2),
        "audit_s": round(float(inner), 2),
        "cpu_s": round(float(cpu), 2),
        "peak_rss_mb": round(float(rss), 1),
        "explain_child_cpu_s": round(float(child_cpu), 2),
        "explain_child_peak_rss_mb": round(float(child_rss), 1),
        "load_avg_1m": round(load, 2),
        "steps_s": report["timings"],
        "worst_group": report["headline"].get("worst_group"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated utterance counts")
    parser.add_argument("--work-dir", default=str(REPO / "benchmarks" / "results" / "audit_data"),
                        help="where the synthetic results files are kept between runs")
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results" / "audit.json"), help="JSON output")
    args = parser.parse_args()
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    print(f"{'utterances':>10} {'speakers':>8} {'wall s':>8} {'cpu s':>8} {'peak MB':>8} {'+child MB':>9} {'load':>5}")
    for n in (int(s) for s in args.sizes.split(",")):
        row = run_one(make_file(n, work), n, work / "reports")
        rows.append(row)
        print(f"{row['utterances']:>10} {row['speakers']:>8} {row['wall_s']:>8.1f} {row['cpu_s']:>8.1f} "
              f"{row['peak_rss_mb']:>8.0f} {row['explain_child_peak_rss_mb']:>9.0f} {row['load_avg_1m']:>5.1f}", flush=True)
    result = {"benchmark": "asr audit", "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
              "python": platform.python_version()}, "command": " ".join(sys.argv), "rows": rows}
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    tmp.rename(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
