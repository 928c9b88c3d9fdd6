"""``asr audit`` time and peak memory at 10 k, 100 k and 1 M utterances.

    python benchmarks/bench_audit.py                         # 10k, 100k, 1M; JSON to benchmarks/results/
    python benchmarks/bench_audit.py --sizes 10000 --output /tmp/audit.json
    python benchmarks/bench_audit.py --external              # another recognizer's hypotheses, scored then audited

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
group statistics (``children_*``: the CPU time of the child processes and the largest
one's peak RSS, which counts the pages it shares with the parent, so the sum of the two
peaks bounds the total from above). The load average is recorded because other processes on the machine slow
the audit down (``cpu_s`` much less than ``wall_s`` means it waited for a core).

``--external`` times the path of another recognizer's hypotheses instead: a manifest of the
same utterances (``test.jsonl``) and a Kaldi-style hypothesis file (``<id> <text>`` lines) are
written once, and the child runs

    asr audit --manifest test-N.jsonl --hyp hyp-N.txt --release bench-ext --by dialect,gender,age_band,condition

which reads the manifest, joins and scores every pair (:func:`asr.decode.external.score_hypotheses`,
one process per core from 20,000 utterances), writes the results file and audits it.
``children_*`` then include the scoring workers, and
``score_s`` is the scoring step's own time from the results' meta. The target: 1,000,000
hypotheses (20 groups, 20,000 speakers, 1,000 replicates) within 60 s and 4 GB on 2 cores.
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


MAKE_EXTERNAL = """
import json, sys
from asr.audit.synthetic import make_results
n = int(sys.argv[1])
df = make_results(n, n_groups=20, n_speakers=max(20, n // 50), seed=0)
keep = ["dialect", "gender", "age_band", "condition", "snr_db"]
with open(sys.argv[2], "w", encoding="utf-8") as m, open(sys.argv[3], "w", encoding="utf-8") as h:
    for row in df.itertuples(index=False):
        utt = {"id": row.id, "audio": "audio/" + row.id + ".wav", "duration": float(row.duration),
               "sample_rate": 16000, "text": row.ref, "speaker": row.speaker}
        utt.update({k: getattr(row, k) for k in keep})
        utt["snr_db"] = float(utt["snr_db"])
        m.write(json.dumps(utt, ensure_ascii=False) + "\\n")
        h.write(row.id + " " + row.hyp + "\\n")
"""


def make_external(n: int, work_dir: Path) -> tuple[Path, Path]:
    """A manifest and a Kaldi-style hypothesis file of ``n`` utterances, made once in a separate process."""
    manifest, hyp = work_dir / f"test-{n}.jsonl", work_dir / f"hyp-{n}.txt"
    if not (manifest.exists() and hyp.exists()):
        tmp_m, tmp_h = manifest.with_suffix(".tmp"), hyp.with_suffix(".tmp")
        subprocess.run([sys.executable, "-c", MAKE_EXTERNAL, str(n), str(tmp_m), str(tmp_h)], check=True, cwd=REPO)
        tmp_m.rename(manifest)
        tmp_h.rename(hyp)
    return manifest, hyp


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


def run_one(inputs: list[str], n: int, out_dir: Path, release: str, extra: list[str]) -> dict:
    cmd = [sys.executable, "-c", CHILD, "audit", *inputs, "--release", release,
           "--output-dir", str(out_dir), "--by", "dialect,gender,age_band,condition", "--no-progress", *extra]
    load = os.getloadavg()[0]
    start = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - start
    line = next((x for x in run.stdout.splitlines() if x.startswith("BENCH ")), None)
    if run.returncode != 0 or line is None:
        raise SystemExit(f"audit of {' '.join(inputs)} failed:\n{run.stderr[-2000:]}")
    _, code, inner, cpu, rss, child_cpu, child_rss = line.split()
    report = json.loads((out_dir / release / "fairness.json").read_text(encoding="utf-8"))
    return {
        "utterances": n,
        "speakers": report["overall"]["speakers"],
        "groups": len(report["attributes"]["dialect"]["groups"]),
        "wall_s": round(wall, 2),
        "audit_s": round(float(inner), 2),
        "cpu_s": round(float(cpu), 2),
        "peak_rss_mb": round(float(rss), 1),
        "children_cpu_s": round(float(child_cpu), 2),
        "children_peak_rss_mb": round(float(child_rss), 1),
        "load_avg_1m": round(load, 2),
        "steps_s": report["timings"],
        "worst_group": report["headline"].get("worst_group"),
        "interval_method": report["config"]["interval_method"],
        "replicates": report["config"]["replicates"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated utterance counts")
    parser.add_argument("--work-dir", default=str(REPO / "benchmarks" / "results" / "audit_data"),
                        help="where the synthetic results files are kept between runs")
    parser.add_argument("--output", default=None,
                        help="JSON output (default benchmarks/results/audit.json, audit_external.json with --external)")
    parser.add_argument("--external", action="store_true",
                        help="time asr audit --manifest --hyp (scoring another recognizer's hypotheses) instead")
    parser.add_argument("--interval-method", default=None,
                        help="passed to asr audit (default: its own, pooled_t; percentile draws the 1,000 replicates)")
    args = parser.parse_args()
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    output = args.output or str(REPO / "benchmarks" / "results" / ("audit_external.json" if args.external else "audit.json"))
    extra = ["--interval-method", args.interval_method] if args.interval_method else []
    rows = []
    print(f"{'utterances':>10} {'speakers':>8} {'wall s':>8} {'cpu s':>8} {'peak MB':>8} {'+child MB':>9} {'load':>5}")
    for n in (int(s) for s in args.sizes.split(",")):
        if args.external:
            manifest, hyp = make_external(n, work)
            release = f"bench-ext-{n}"
            row = run_one(["--manifest", str(manifest), "--hyp", str(hyp)], n, work / "reports", release, extra)
            meta = json.loads((work / "reports" / release / "hypotheses" / f"results-test-{n}.meta.json")
                              .read_text(encoding="utf-8"))
            row["score_s"] = meta["score_seconds"]
        else:
            row = run_one(["--results", str(make_file(n, work))], n, work / "reports", f"bench-{n}", extra)
        rows.append(row)
        print(f"{row['utterances']:>10} {row['speakers']:>8} {row['wall_s']:>8.1f} {row['cpu_s']:>8.1f} "
              f"{row['peak_rss_mb']:>8.0f} {row['children_peak_rss_mb']:>9.0f} {row['load_avg_1m']:>5.1f}", flush=True)
    result = {"benchmark": "asr audit --manifest --hyp" if args.external else "asr audit", "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
              "python": platform.python_version()}, "command": " ".join(sys.argv), "rows": rows}
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    tmp.rename(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
