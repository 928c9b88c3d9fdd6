"""``asr audit``: per-group error rates with intervals over speakers, a self-contained report, gates."""

from __future__ import annotations

import argparse
import sys

from asr.decode.external import HYP_FORMATS

# asr.audit.intervals.METHODS, written out: importing it loads numpy and scipy, which every other
# subcommand's start-up would pay for (a test keeps the two equal).
METHODS = ("pooled_t", "cluster_t", "studentized", "bca", "percentile")

HELP = "audit error rates per dialect/gender/age/condition and write reports/<release>/fairness.html"
DESCRIPTION = """\
Audit a recognizer's results for disparities between groups. The results are asr decode's
results-*.jsonl files (--results), or another recognizer's hypotheses that the audit first scores
against the test set's manifest (--manifest with --hyp), as asr score --manifest does.

The report gives the pooled CER of each group and of each intersection of two attributes, with
intervals over speakers (--interval-method). It gives the highest-CER group's ratio and difference
to a reference group (reference_groups in --config, by default the group with the most reference
tokens) and tests each group against the rest by permutation, with Holm's correction. It fits
error-rate ratios from a count model, before and after adjusting for duration, condition and SNR,
and compares groups on the sentences they share. It explains the errors and ends with a model card.
A list-valued field such as accents counts an utterance in the group of each of its values.
With --paired-by and --contrast it compares two levels of an attribute within the same speakers.
With --compare it sets other systems' CER per group beside this one's.

It writes <output-dir>/<release>/fairness.html, fairness.json and results.jsonl, and updates
<output-dir>/index.html.
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

  another recognizer's hypotheses in a plain file (Kaldi 'id text' lines, trn, JSON lines, CSV/TSV):
  asr audit --manifest data_manifests/synthetic/test.jsonl --hyp paraformer.txt --system paraformer \\
      --release paraformer
  (scored into reports/paraformer/hypotheses/results-test.jsonl, then audited)

  Whisper: decode with asr decode --engine faster-whisper, then audit the results beside other systems:
  asr decode --engine faster-whisper --model /models/whisper-base-ct2 \\
      --manifests data_manifests/synthetic/test.jsonl --output-dir exp/whisper-base
  asr audit --results exp/whisper-base/results-test.jsonl --release whisper-base \\
      --compare reports/baseline reports/targeted

  the same speakers reading in their dialect and in Mandarin (KeSpeech):
  asr audit --results exp/baseline/results-test.jsonl --by home_dialect,gender \\
      --paired-by speaker --contrast reading_style
"""
EXIT_GATE_FAILED = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    inputs = parser.add_mutually_exclusive_group(required=True)
    inputs.add_argument("--results", nargs="+", metavar="RESULTS", help="results files (.jsonl or .jsonl.gz)")
    inputs.add_argument("--manifest", default=None,
                        help="the test set's manifest, to score another recognizer's hypotheses (--hyp) against")
    parser.add_argument("--hyp", default=None,
                        help="with --manifest: the hypotheses, a file or a directory of Whisper *.json files")
    parser.add_argument("--hyp-format", default="auto", choices=("auto", *HYP_FORMATS),
                        help="with --manifest: the hypothesis format (default: from the path, as asr score)")
    parser.add_argument("--key", choices=("auto", "id", "audio"), default="auto",
                        help="with --manifest: match hypotheses by utterance id or audio file stem (default: auto)")
    parser.add_argument("--system", default=None, help="with --manifest: the recognizer's name (default: the release)")
    parser.add_argument("--no-normalize", default=None, metavar="STEPS",
                        help="with --manifest: normalisation steps to leave out, comma-separated: nfkc, tags, "
                             "numerals, t2s, punctuation, lowercase (default: every step)")
    parser.add_argument("--release", default=None,
                        help="release name, the report directory (default: the results' experiment directory, or "
                             "the system name)")
    parser.add_argument("--output-dir", default="reports", help="where release directories and index.html go (default: reports)")
    parser.add_argument("--baseline", default=None, help="an earlier release: its report directory or results file")
    parser.add_argument("--compare", nargs="+", default=None, metavar="REPORT_OR_RESULTS",
                        help="other systems on the same utterances (report directories or results files): their CER "
                             "per group beside this one's, and their paired differences to it")
    parser.add_argument("--model", default=None, help="model directory for the model card (default: 'model' in the results' meta.json)")
    parser.add_argument("--by", default=None, help="comma-separated attributes (default: every metadata field present)")
    parser.add_argument("--paired-by", default=None, metavar="FIELD",
                        help="with --contrast: compare the contrast's two levels within each FIELD (speaker)")
    parser.add_argument("--contrast", default=None, metavar="FIELD",
                        help="the attribute whose two levels are compared within speakers (reading_style)")
    parser.add_argument("--min-speakers", type=int, default=None, help="groups with fewer speakers are flagged, not compared (default 5)")
    parser.add_argument("--replicates", type=int, default=None, help="speaker-bootstrap replicates (default 1000)")
    parser.add_argument("--permutations", type=int, default=None, help="permutations per group test (default 1000)")
    parser.add_argument("--interval-method", default=None, choices=METHODS,
                        help="how intervals are computed (default pooled_t; percentile: the speaker bootstrap's)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    parser.add_argument("--fail-if", action="append", default=None, metavar="GATE", help="a release gate (see below)")
    parser.add_argument("--config", default=None, help="audit config YAML (e.g. recipes/dialect/conf/audit.yaml)")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bar or lines for the bootstrap and permutation phases")


def run(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    from asr.audit.config import AuditConfig
    from asr.audit.pipeline import run_audit, run_audit_hypotheses
    from asr.config import load_config
    from asr.errors import AsrError
    from asr.text import Normalization

    if (args.manifest is None) != (args.hyp is None):
        raise AsrError("--manifest and --hyp go together: the test set's manifest and the hypotheses to score "
                       "against it (or give asr decode's results with --results)")
    overrides = {
        "by": [b.strip() for b in args.by.split(",") if b.strip()] if args.by else None,
        "min_speakers": args.min_speakers,
        "replicates": args.replicates,
        "permutations": args.permutations,
        "seed": args.seed,
        "interval_method": args.interval_method,
        "paired_by": args.paired_by,
        "contrast": args.contrast,
    }
    config = load_config(AuditConfig, args.config, overrides)
    if args.fail_if:
        config = dataclasses.replace(config, fail_if=[*config.fail_if, *args.fail_if])
    options = {"baseline": args.baseline, "model": args.model, "compare": args.compare or (), "progress": args.progress}
    if args.manifest:
        release = args.release or args.system or Path(args.hyp).stem or "release"
        out = run_audit_hypotheses(args.manifest, args.hyp, release, args.output_dir, config, hyp_format=args.hyp_format,
                                   key=args.key, system=args.system, normalization=Normalization.without(args.no_normalize),
                                   **options)
    else:
        release = args.release or Path(args.results[0]).parent.parent.name or "release"
        out = run_audit(args.results, release, args.output_dir, config, **options)
    print(out.result.headline.text)
    print(f"wrote {out.directory / 'fairness.html'}, fairness.json, results.jsonl; index {out.index}")
    for gate in out.result.gates:
        print(f"gate {'FAILED' if gate.failed else 'passed'}: {gate.message}")
    if out.failed_gates:
        print(f"asr audit: release gate failed: {out.failed_gates[0].message}", file=sys.stderr)
        return EXIT_GATE_FAILED
    return 0
