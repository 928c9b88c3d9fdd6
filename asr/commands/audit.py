"""``asr audit``: per-group error rates with intervals over speakers, a self-contained report, gates."""

from __future__ import annotations

import argparse
import sys

# asr.audit.intervals.METHODS, written out: importing it loads numpy and scipy, which every other
# subcommand's start-up would pay for (a test keeps the two equal).
METHODS = ("pooled_t", "cluster_t", "studentized", "bca", "percentile")

HELP = "audit error rates per dialect/gender/age/condition and write reports/<release>/fairness.html"
DESCRIPTION = """\
Audit a recognizer's results files (asr decode's results-*.jsonl) for disparities between groups:
pooled CER per group and per intersection of two attributes, intervals over speakers (--interval-method),
the worst group's ratio and difference to a reference group (reference_groups in --config, default
the group with the most reference tokens), a permutation test of each group against the rest (Holm),
error-rate ratios from a count model before and after adjusting for duration, condition and SNR, a
comparison on shared sentences, explanations, and a model card. Writes
<output-dir>/<release>/{fairness.html, fairness.json, results.jsonl} and <output-dir>/index.html.
"""
EPILOG = """\
release gates (--fail-if, repeatable; the command exits 3 when one fails):
  [ATTRIBUTE.]METRIC OP NUMBER        fail when the condition holds, OP one of > >= < <=
  [ATTRIBUTE.]NAME_worse:P            fail when P(NAME got worse than the baseline) > P
metrics of this release: worst_group_cer best_group_cer overall_cer ratio difference
against --baseline: worst_group_cer_delta best_group_cer_delta ratio_delta overall_cer_delta
  (this release minus the baseline) and p_worst_group_cer_worse p_best_group_cer_worse
  p_ratio_worse p_overall_cer_worse; ATTRIBUTE defaults to the first of --by.
examples:
  asr audit --results exp/baseline/decode/results-test.jsonl --release baseline
  asr audit --results exp/balanced/decode/results-test.jsonl --release balanced \\
      --baseline reports/baseline --fail-if worst_group_cer_worse:0.95 --fail-if ratio_delta>0.1
"""
EXIT_GATE_FAILED = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--results", nargs="+", required=True, metavar="RESULTS", help="results files (.jsonl[.gz])")
    parser.add_argument("--release", default=None, help="release name: the report directory (default: the model or results name)")
    parser.add_argument("--output-dir", default="reports", help="where release directories and index.html go (default: reports)")
    parser.add_argument("--baseline", default=None, help="an earlier release: its report directory or results file")
    parser.add_argument("--model", default=None, help="model directory for the model card (default: 'model' in the results' meta.json)")
    parser.add_argument("--by", default=None, help="comma-separated attributes (default: every metadata field present)")
    parser.add_argument("--min-speakers", type=int, default=None, help="fewer speakers: flagged, not compared (default 5)")
    parser.add_argument("--replicates", type=int, default=None, help="speaker-bootstrap replicates (default 1000)")
    parser.add_argument("--permutations", type=int, default=None, help="permutations per group test (default 1000)")
    parser.add_argument("--interval-method", default=None, choices=METHODS,
                        help="how intervals are computed (default pooled_t; percentile: the speaker bootstrap's)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    parser.add_argument("--fail-if", action="append", default=None, metavar="GATE", help="a release gate (see below)")
    parser.add_argument("--config", default=None, help="audit config YAML (e.g. recipes/dialect/conf/audit.yaml)")


def run(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    from asr.audit.config import AuditConfig
    from asr.audit.pipeline import run_audit
    from asr.config import load_config

    overrides = {
        "by": [b.strip() for b in args.by.split(",") if b.strip()] if args.by else None,
        "min_speakers": args.min_speakers,
        "replicates": args.replicates,
        "permutations": args.permutations,
        "seed": args.seed,
        "interval_method": args.interval_method,
    }
    config = load_config(AuditConfig, args.config, overrides)
    if args.fail_if:
        config = dataclasses.replace(config, fail_if=[*config.fail_if, *args.fail_if])
    release = args.release or Path(args.results[0]).parent.parent.name or "release"
    out = run_audit(args.results, release, args.output_dir, config, baseline=args.baseline, model=args.model)
    print(out.result.headline.text)
    print(f"wrote {out.directory / 'fairness.html'}, fairness.json, results.jsonl; index {out.index}")
    for gate in out.result.gates:
        print(f"gate {'FAILED' if gate.failed else 'passed'}: {gate.message}")
    if out.failed_gates:
        print(f"asr audit: release gate failed: {out.failed_gates[0].message}", file=sys.stderr)
        return EXIT_GATE_FAILED
    return 0
