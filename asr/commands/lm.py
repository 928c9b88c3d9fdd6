"""``asr lm``: train a character n-gram language model on manifest transcripts."""

from __future__ import annotations

import argparse

HELP = "train a character n-gram LM (Kneser-Ney or Witten-Bell) on manifest texts, saved as JSON or ARPA"
DESCRIPTION = (
    HELP + ". Units are the scoring tokens (one per Han character, Latin words whole); "
    "an --output ending in .arpa (or .arpa.gz) is written as ARPA text, anything else as JSON. "
    "Use it in decoding with `asr decode --lm PATH --lm-weight W`."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifests", nargs="+", default=None,
                        help="training manifest(s) whose 'text' fields are the training text (globs allowed)")
    parser.add_argument("--manifest", dest="manifests", nargs="+", help=argparse.SUPPRESS)  # the name before 0.2
    parser.add_argument("--output", required=True, help="LM file to write (.json, or .arpa for ARPA text)")
    parser.add_argument("--order", type=int, default=4, help="n-gram order (default 4)")
    parser.add_argument("--smoothing", choices=("kneser-ney", "witten-bell"), default="kneser-ney",
                        help="interpolated smoothing (default kneser-ney)")
    parser.add_argument("--dev-manifest", default=None, help="report per-token perplexity on this manifest's texts")


def run(args: argparse.Namespace) -> int:
    from asr.decode.lm import sentence_tokens, train_lm_from_manifests
    from asr.manifest.records import Manifest
    from asr.manifest.sets import expand_globs

    if not args.manifests:
        from asr.errors import AsrError

        raise AsrError("--manifests is required: the manifests whose texts are the training text")
    lm = train_lm_from_manifests(expand_globs(args.manifests, "--manifests"), order=args.order, smoothing=args.smoothing)
    path = lm.save(args.output)
    sizes = ", ".join(f"{k + 1}-grams {len(t)}" for k, t in enumerate(lm.tables))
    print(f"wrote {path}: order {lm.order}, {lm.smoothing}, vocabulary {len(lm.vocab)}, {sizes}")
    if args.dev_manifest:
        ppl = lm.perplexity(sentence_tokens(u.text) for u in Manifest(args.dev_manifest))
        print(f"perplexity on {args.dev_manifest}: {ppl:.2f} per token")
    return 0
