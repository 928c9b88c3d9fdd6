"""``asr score``: CER/WER of transcript files, sclite-style (``--ref``), or another recognizer's
hypotheses joined with a manifest into a results file for ``asr audit`` (``--manifest``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from asr.decode.external import HYP_FORMATS

HELP = "score hypothesis transcripts against references (CER or WER), printing an sclite-style summary"
DESCRIPTION = (
    "Score hypothesis transcripts against references. With --ref: files of Kaldi-style 'id text' lines or "
    "sclite 'trn' lines 'text (id)' (detected per file), printing an sclite-style summary. With --manifest: "
    "another recognizer's hypotheses (Kaldi text, trn, JSON lines, CSV/TSV, or a directory of Whisper *.json "
    "files; --hyp-format) joined with the manifest's utterances by id or audio file, written with every "
    "utterance's speaker and groups as a results file that `asr audit --results` reads. Both sides are "
    "normalised alike (NFKC, tags, Arabic numerals to Chinese, Traditional to Simplified, punctuation, case; "
    "--no-normalize STEPS leaves steps out); CER counts each Han character and each Latin word as one token, "
    "WER splits on spaces. A reference without a hypothesis counts as all deletions. Figures are pooled."
)
EPILOG = """\
examples:
  asr score --ref text --hyp hyp.txt                                   # sclite-style table
  asr score --manifest data/test.jsonl --hyp funasr.jsonl --output exp/funasr/results-test.jsonl
  asr score --manifest data/test.jsonl --hyp whisper_out/ --hyp-format whisper-json --system whisper-base \\
      --output exp/whisper/results-test.jsonl
  asr audit --results exp/funasr/results-test.jsonl --release funasr
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    refs = parser.add_mutually_exclusive_group(required=True)
    refs.add_argument("--ref", help="reference transcripts ('id text' or trn)")
    refs.add_argument("--manifest", help="the test set's manifest (texts, speakers, groups): write a results file")
    parser.add_argument("--hyp", required=True, help="hypotheses: a file, or a directory of Whisper *.json files")
    parser.add_argument("--hyp-format", default="auto", choices=("auto", *HYP_FORMATS),
                        help="hypothesis format (default: from the path: .jsonl/.json, .csv, .tsv, a directory, "
                             "trn lines 'text (id)', else Kaldi 'id text')")
    parser.add_argument("--output", default=None, help="with --manifest: the results file to write (results-<stem>.jsonl)")
    parser.add_argument("--key", choices=("auto", "id", "audio"), default="auto",
                        help="with --manifest: match hypotheses by utterance id or audio file stem (default: auto)")
    parser.add_argument("--system", default=None, help="with --manifest: the recognizer's name, for the report")
    parser.add_argument("--extra-hyps", choices=("error", "ignore"), default="error",
                        help="with --manifest: a hypothesis matching no utterance is an error (default) or left out")
    parser.add_argument("--id-column", default=None, help="JSON/CSV/TSV: the id column (default: id, key, utt_id, ...)")
    parser.add_argument("--text-column", default=None, help="JSON/CSV/TSV: the text column (default: text, hyp, ...)")
    parser.add_argument("--unit", choices=("char", "word"), default="char", help="char: CER (default); word: WER")
    parser.add_argument("--no-normalize", default=None, metavar="STEPS",
                        help="normalisation steps to leave out, comma-separated: nfkc, tags, numerals, t2s, "
                             "punctuation, lowercase (default: every step, on both sides)")
    parser.add_argument("--t2s", action="store_true", help=argparse.SUPPRESS)  # asr < 0.2: t2s is a default step now
    parser.add_argument("--utt2spk", default=None, help="Kaldi utt2spk file: adds a line per speaker")
    parser.add_argument("--per-utt", default=None, metavar="FILE",
                        help="write per-utterance rows (id, ref, hyp, sub, del, ins, ref_len) as JSON lines")
    parser.add_argument("--json", action="store_true", help="print the totals as one JSON object instead of the table")


def run(args: argparse.Namespace) -> int:
    from asr.errors import AsrError
    from asr.io import write_jsonl
    from asr.score import pooled, read_transcripts, score_transcripts, summary_table
    from asr.text import Normalization

    norm = Normalization.without(args.no_normalize)
    if args.manifest:
        return _score_manifest(args, norm)
    if Path(args.ref).name.endswith((".jsonl", ".jsonl.gz")):
        raise AsrError(f"{args.ref}: a manifest, not a transcript file: score it with --manifest {args.ref} "
                       "--hyp ... --output results.jsonl (then asr audit --results results.jsonl)")
    refs = read_transcripts(args.ref)
    hyps = read_transcripts(args.hyp)
    scored = score_transcripts(refs, hyps, args.unit, norm, where=args.hyp)
    normalization = norm.describe()
    speakers = _read_utt2spk(Path(args.utt2spk)) if args.utt2spk else None
    total = pooled(s.counts for s in scored)
    missing = sum(1 for s in scored if s.id not in hyps)
    if args.per_utt:
        write_jsonl(args.per_utt, (
            {"id": s.id, "ref": s.ref, "hyp": s.hyp, "sub": s.counts.sub, "del": s.counts.dele, "ins": s.counts.ins,
             "ref_len": s.counts.ref_len, "unit": args.unit, "normalization": normalization} for s in scored))
    metric = "CER" if args.unit == "char" else "WER"
    if args.json:
        json.dump({"metric": metric, "unit": args.unit, "utterances": len(scored), "ref_len": total.ref_len,
                   "sub": total.sub, "del": total.dele, "ins": total.ins, "errors": total.errors,
                   "error_rate": total.error_rate, "missing_hypotheses": missing, "normalization": normalization},
                  sys.stdout, ensure_ascii=False)
        print()
        return 0
    print(summary_table(scored, speakers, title=args.hyp))
    print(f"{metric} {100 * total.error_rate:.2f}% [ {total.errors} / {total.ref_len}, {total.sub} sub, "
          f"{total.dele} del, {total.ins} ins ]  {len(scored)} utterances")
    if missing:
        print(f"warning: {missing} reference(s) had no hypothesis and were scored as deletions", file=sys.stderr)
    print(f"normalisation: {normalization}")
    return 0


def _score_manifest(args: argparse.Namespace, normalization) -> int:
    from asr.results import summary
    from asr.decode.external import score_hypotheses
    from asr.errors import AsrError
    from asr.io import open_text

    if not args.output:
        raise AsrError("--manifest needs --output: the results file to write (e.g. exp/mysystem/results-test.jsonl)")
    if args.unit != "char":
        raise AsrError("--manifest scores CER (--unit char): results files count characters")
    path, meta = score_hypotheses(args.manifest, args.hyp, args.output, args.hyp_format, args.key, normalization,
                                  args.system, args.extra_hyps, args.id_column, args.text_column)
    with open_text(path) as f:
        rows = [json.loads(line) for line in f]
    print(summary(rows, meta["system"], path))
    if meta["missing_hypotheses"]:
        print(f"warning: {meta['missing_hypotheses']} utterance(s) had no hypothesis and were scored as deletions "
              f"(e.g. {meta['missing_examples'][0]})", file=sys.stderr)
    print(f"normalisation: {meta['normalization']}")
    return 0


def _read_utt2spk(path: Path) -> dict[str, str]:
    """``utterance speaker`` per line; a line without a speaker is an error naming file and line."""
    from asr.corpus.common import read_table

    return {utt: speaker for utt, (speaker, _) in read_table(path, "<utterance> <speaker>").items()}
