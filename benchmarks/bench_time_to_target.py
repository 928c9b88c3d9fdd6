"""Wall time to the Mandarin CER target: the dialect recipe's stages 3-4 (LM, training, decoding), timed.

Runs ``bash recipes/dialect/run.sh --stage 3 --stop-stage 4`` into a fresh experiment
directory (stages 0-2 must have run: the corpus and its features are reused), then reads
the test results and reports each dialect's pooled CER (summed edits over summed
reference characters) beside the wall time::

    python benchmarks/bench_time_to_target.py                       # the default recipe, ~17 min
    python benchmarks/bench_time_to_target.py --target 0.05 --group mandarin \\
        --output benchmarks/results/time_to_target.json
    python benchmarks/bench_time_to_target.py -- --train-config my.yaml   # options after -- go to run.sh

Prints one row per dialect and writes JSON (wall seconds, per-stage seconds from the
recipe's log, CER by group, whether the target was met).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from asr.provenance import cpu_model

from asr.io import write_json

REPO = Path(__file__).resolve().parents[1]
STAGE_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \(stages\.sh:\d+:run_stage\) Stage (\d+): ")


def stage_seconds(log: str, finished: float) -> dict[str, float]:
    """Seconds per stage from the recipe's ``Stage N:`` log lines (the last stage ends at ``finished``)."""
    starts = [(int(m.group(2)), datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").timestamp())
              for m in map(STAGE_LINE.match, log.splitlines()) if m]
    ends = [t for _, t in starts[1:]] + [finished]
    return {str(stage): round(end - start, 1) for (stage, start), end in zip(starts, ends)}


def cer_by_group(results: Path, field: str) -> dict[str, dict[str, float]]:
    """Pooled CER and counts per value of ``field`` in a decode results file."""
    groups: dict[str, list[int]] = {}  # group -> [edits, reference characters, utterances]
    with open(results, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            totals = groups.setdefault(str(row.get(field)), [0, 0, 0])
            totals[0] += row["sub"] + row["del"] + row["ins"]
            totals[1] += row["ref_len"]
            totals[2] += 1
    return {g: {"cer": edits / max(length, 1), "utterances": n, "reference_chars": length}
            for g, (edits, length, n) in sorted(groups.items())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", type=float, default=0.05, help="CER target as a fraction (default 0.05)")
    parser.add_argument("--group", default="mandarin", help="the dialect the target is for (default mandarin)")
    parser.add_argument("--data-dir", type=Path, default=REPO / "data_manifests/synthetic",
                        help="where stages 0-2 wrote the corpus (default: the recipe's)")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks/results/time_to_target.json")
    parser.add_argument("recipe_options", nargs="*", help="after --: more run.sh options")
    args = parser.parse_args()

    if not (args.data_dir / "fbank" / "train.jsonl").is_file():
        print(f"error: {args.data_dir / 'fbank/train.jsonl'} not found: run "
              f"`bash recipes/dialect/run.sh --stop-stage 2` first", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="time-to-target-") as tmp:
        exp = Path(tmp) / "exp"
        command = ["bash", str(REPO / "recipes/dialect/run.sh"), "--stage", "3", "--stop-stage", "4",
                   "--data-dir", str(args.data_dir.resolve()), "--exp-dir", str(exp),
                   "--report-dir", str(Path(tmp) / "reports"), *args.recipe_options]
        started = time.time()
        proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
        finished = time.time()
        if proc.returncode != 0:
            print(proc.stdout[-2000:] + proc.stderr[-2000:], file=sys.stderr)
            print(f"error: the recipe failed (exit {proc.returncode})", file=sys.stderr)
            return 1
        groups = cer_by_group(exp / "baseline" / "decode" / "results-test.jsonl", "dialect")
        training = json.loads((exp / "baseline" / "result.json").read_text())
    if args.group not in groups:
        print(f"error: no {args.group!r} utterances in the test results (found {', '.join(groups)})", file=sys.stderr)
        return 1
    result = {
        "command": " ".join(["bash recipes/dialect/run.sh --stage 3 --stop-stage 4", *args.recipe_options]),
        "wall_seconds": round(finished - started, 1),
        "stage_seconds": stage_seconds(proc.stdout + proc.stderr, finished),
        "training_steps": training["steps"],
        "target": {"group": args.group, "cer": args.target, "met": groups[args.group]["cer"] <= args.target},
        "cer_by_dialect": groups,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average_after": list(os.getloadavg()),
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
    }
    print(f"stages 3-4: {result['wall_seconds'] / 60:.1f} min ({training['steps']} training steps)")
    print(f"{'dialect':<16} {'CER':>7} {'utterances':>11}")
    for group, figures in groups.items():
        print(f"{group:<16} {100 * figures['cer']:>6.1f}% {figures['utterances']:>11}")
    met = "met" if result["target"]["met"] else "NOT met"
    print(f"target: {args.group} CER <= {100 * args.target:.1f}%: {met}")
    write_json(args.output, result)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
