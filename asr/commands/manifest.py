"""``asr manifest validate|stats|export-kaldi|merge|shard``."""

from __future__ import annotations

import argparse
import sys

from asr.errors import AsrError

HELP = "validate a manifest, summarise it per group, export it as a Kaldi data dir, merge or shard manifests"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("validate", help="check audio, durations, ids and texts; report every problem")
    p.add_argument("manifests", nargs="+", help="manifest files (.jsonl or .jsonl.gz)")
    p.add_argument("--no-audio", dest="check_audio", action="store_false", help="skip decoding the audio")
    p = sub.add_parser("stats", help="hours, utterances and speakers per group")
    p.add_argument("manifests", nargs="+", help="manifest files")
    p.add_argument("--by", default=None, help="comma-separated fields to group by (default: dialect)")
    p = sub.add_parser("export-kaldi", help="write a Kaldi data dir (wav.scp, text, utt2spk, ...)")
    p.add_argument("manifest", help="manifest file")
    p.add_argument("output_dir", help="Kaldi data directory to write")
    p = sub.add_parser("merge", help="concatenate manifests into one (ids must be unique across them)")
    p.add_argument("manifests", nargs="+", help="input manifests, in order")
    p.add_argument("--output", required=True, help="merged manifest to write (.jsonl or .jsonl.gz)")
    p = sub.add_parser("shard", help="split manifests into N gzip shards of about equal hours")
    p.add_argument("manifests", nargs="+", help="input manifests, in order")
    p.add_argument("--output-dir", required=True, help="directory for shard-00000.jsonl.gz ...")
    p.add_argument("--num-shards", type=int, required=True, help="number of shards")


def run(args: argparse.Namespace) -> int:
    if args.action == "validate":
        return _validate(args.manifests, args.check_audio)
    if args.action == "stats":
        return _stats(args.manifests, args.by.split(",") if args.by else None)
    if args.action in ("merge", "shard"):
        return _merge_or_shard(args)
    from asr.corpus.kaldi import export_kaldi

    export_kaldi(args.manifest, args.output_dir)
    print(f"wrote Kaldi data dir {args.output_dir}")
    return 0


def _validate(paths: list[str], check_audio: bool) -> int:
    from asr.manifest.validate import validate_manifest

    failed = 0
    for path in paths:
        problems = validate_manifest(path, check_audio=check_audio)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            failed += 1
            print(f"{path}: {len(problems)} problem(s)", file=sys.stderr)
        else:
            print(f"{path}: ok")
    if failed:
        raise AsrError(f"{failed} of {len(paths)} manifest(s) failed validation")
    return 0


def _stats(paths: list[str], by: list[str] | None) -> int:
    from asr.manifest.validate import manifest_stats

    for path in paths:
        table = manifest_stats(path, by)
        print(f"== {path}")
        print(table.to_string(float_format=lambda x: f"{x:.3f}"))
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
