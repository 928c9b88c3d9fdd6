"""``asr score --ref REF --hyp HYP``: CER/WER of transcript files, sclite-style."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "score hypothesis transcripts against references (CER or WER), printing an sclite-style summary"
DESCRIPTION = (
    "Score hypothesis transcripts against references. Files are Kaldi-style 'id text' lines or sclite "
    "'trn' lines 'text (id)' (detected per file). Texts are normalised (NFKC, full-width to half-width, "
    "tags and punctuation removed, Latin lower-cased; --t2s adds Traditional to Simplified); CER counts "
    "each Han character and each Latin word as one token, WER splits on spaces. A reference without a "
    "hypothesis counts as all deletions. Figures are pooled: summed edits over summed reference tokens."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ref", required=True, help="reference transcripts ('id text' or trn)")
    parser.add_argument("--hyp", required=True, help="hypothesis transcripts ('id text' or trn)")
    parser.add_argument("--unit", choices=("char", "word"), default="char", help="char: CER (default); word: WER")
    parser.add_argument("--t2s", action="store_true", help="convert Traditional to Simplified before scoring")
    parser.add_argument("--utt2spk", default=None, help="Kaldi utt2spk file: adds a line per speaker")
    parser.add_argument("--per-utt", default=None, metavar="FILE",
                        help="write per-utterance rows (id, ref, hyp, sub, del, ins, ref_len) as JSON lines")
    parser.add_argument("--json", action="store_true", help="print the totals as one JSON object instead of the table")


def run(args: argparse.Namespace) -> int:
    from asr.io import write_jsonl
    from asr.score import pooled, read_transcripts, score_transcripts, summary_table
    from asr.text import NORMALIZATION, NORMALIZATION_T2S

    refs = read_transcripts(args.ref)
    hyps = read_transcripts(args.hyp)
    scored = score_transcripts(refs, hyps, args.unit, args.t2s, where=args.hyp)
    normalization = NORMALIZATION_T2S if args.t2s else NORMALIZATION
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


def _read_utt2spk(path: Path) -> dict[str, str]:
    """``utterance speaker`` per line; a line without a speaker is an error naming file and line."""
    from asr.corpus.common import read_table

    return {utt: speaker for utt, (speaker, _) in read_table(path, "<utterance> <speaker>").items()}
