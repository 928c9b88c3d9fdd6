"""``asr manifest validate|stats|sets|export-kaldi|export-lhotse|merge|shard``."""

from __future__ import annotations

import argparse
from pathlib import Path

from asr.errors import AsrError

HELP = ("validate a manifest, summarise it per group, export it as a Kaldi data dir or lhotse manifests, merge or "
        "shard manifests")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("validate", help="check audio, durations, ids and texts; report every problem")
    _manifests(p, "manifest files (.jsonl or .jsonl.gz)")
    p.add_argument("--no-audio", dest="check_audio", action="store_false", help="skip decoding the audio")
    p = sub.add_parser("stats", help="hours, utterances and speakers per group")
    _manifests(p, "manifest files")
    p.add_argument("--by", default=None, help="comma-separated fields to group by (default: dialect)")
    p = sub.add_parser("sets", help="a recipe's stage 1: validate and summarise manifests, then form the train "
                       "and dev sets (merged or sharded)")
    p.add_argument("--data-dir", required=True, help="where asr prepare wrote <name>.jsonl manifests")
    p.add_argument("--train", default="train", help="the train set's name (default: train)")
    p.add_argument("--train-parts", nargs="+", default=None, metavar="NAME",
                   help="manifests (names without .jsonl; globs allowed) merged into the train set (default: the set itself)")
    p.add_argument("--dev", default="dev", help="the dev set's name (default: dev)")
    p.add_argument("--dev-parts", nargs="+", default=None, metavar="NAME", help="manifests merged into the dev set")
    p.add_argument("--test", nargs="+", default=["test"], metavar="NAME", help="test sets to check (default: test)")
    p.add_argument("--num-shards", type=int, default=0,
                   help="> 0: split the train set into N gzip shards of about equal hours, DATA_DIR/TRAIN/shard-*.jsonl.gz")
    p.add_argument("--no-audio", dest="check_audio", action="store_false", help="skip decoding the audio")
    p.add_argument("--stats-by", default=None, help="comma-separated fields to summarise by (default: dialect)")
    p = sub.add_parser("export-kaldi", help="write a Kaldi data dir (wav.scp, text, utt2spk, ...)")
    _manifest_and_output_dir(p, "Kaldi data directory to write")
    p = sub.add_parser("export-lhotse", help="write lhotse manifests (<corpus>_{recordings,supervisions,cuts}_<split>"
                       ".jsonl.gz)")
    _manifest_and_output_dir(p, "directory to write the lhotse manifests into")
    p.add_argument("--corpus", default=None, help="<corpus> in the file names (default: the manifest's directory name)")
    p = sub.add_parser("merge", help="concatenate manifests into one (ids must be unique across them)")
    _manifests(p, "input manifests, in order")
    p.add_argument("--output", required=True, help="merged manifest to write (.jsonl or .jsonl.gz)")
    p = sub.add_parser("shard", help="split manifests into N gzip shards of about equal hours")
    _manifests(p, "input manifests, in order")
    p.add_argument("--output-dir", required=True, help="directory for shard-00000.jsonl.gz ...")
    p.add_argument("--num-shards", type=int, required=True, help="number of shards")


def _manifests(p: argparse.ArgumentParser, help_text: str) -> None:
    """Manifests as positional arguments or ``--manifests`` (the name every subcommand uses)."""
    p.add_argument("positional", nargs="*", metavar="MANIFEST", help=help_text)
    p.add_argument("--manifests", nargs="+", default=[], help="the same, as an option")


def _manifest_and_output_dir(p: argparse.ArgumentParser, output_help: str) -> None:
    p.add_argument("positional", nargs="*", metavar="MANIFEST [OUTPUT_DIR]", help="manifest file, then " + output_help)
    p.add_argument("--manifests", nargs=1, default=[], help="the manifest file, as an option")
    p.add_argument("--output-dir", default=None, help=output_help)


def _inputs(args: argparse.Namespace) -> None:
    """Fill ``args.manifests`` (and ``args.output_dir``, ``args.manifest`` for the exports) from either spelling."""
    words = list(args.positional)
    if hasattr(args, "output_dir") and args.action in ("export-kaldi", "export-lhotse"):
        if args.output_dir is None and len(words) >= 2:
            args.output_dir = words.pop()
        if args.output_dir is None:
            raise AsrError(f"manifest {args.action}: give the output directory (OUTPUT_DIR or --output-dir)")
    args.manifests = words + list(args.manifests)
    if not args.manifests:
        raise AsrError(f"manifest {args.action}: give the manifest(s), as arguments or with --manifests")
    if args.action in ("export-kaldi", "export-lhotse"):
        if len(args.manifests) != 1:
            raise AsrError(f"manifest {args.action}: one manifest expected, got {len(args.manifests)}")
        args.manifest = args.manifests[0]


def run(args: argparse.Namespace) -> int:
    if args.action != "sets":
        _inputs(args)
    if args.action == "validate":
        return _validate(args.manifests, args.check_audio)
    if args.action == "stats":
        return _stats(args.manifests, args.by.split(",") if args.by else None)
    if args.action in ("merge", "shard"):
        return _merge_or_shard(args)
    if args.action == "sets":
        from asr.manifest.sets import form_sets

        form_sets(args.data_dir, args.train, args.dev, args.test, args.train_parts, args.dev_parts, args.num_shards,
                  args.check_audio, args.stats_by.split(",") if args.stats_by else None)
        return 0
    if args.action == "export-lhotse":
        from asr.manifest.lhotse_export import export_lhotse

        for kind, path in export_lhotse(args.manifest, args.output_dir, corpus=args.corpus).items():
            print(f"{kind}: {path}")
        return 0
    from asr.corpus.kaldi import export_kaldi

    export_kaldi(args.manifest, args.output_dir)
    print(f"wrote Kaldi data dir {args.output_dir}")
    return 0


def _validate(paths: list[str], check_audio: bool) -> int:
    from asr.manifest.sets import check_manifests

    check_manifests([Path(p) for p in paths], check_audio)
    return 0


def _stats(paths: list[str], by: list[str] | None) -> int:
    from asr.manifest.sets import print_stats

    print_stats([Path(p) for p in paths], by)
    return 0


def _merge_or_shard(args: argparse.Namespace) -> int:
    from asr.manifest.shards import merge_manifests, shard_manifests

    if args.action == "merge":
        written = [merge_manifests(args.manifests, args.output)]
    else:
        written = shard_manifests(args.manifests, args.output_dir, args.num_shards)
    for w in written:
        print(f"{w.path}: {w.utterances} utterances, {w.hours:.3f} h")
    return 0
