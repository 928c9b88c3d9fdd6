"""``asr features``: Kaldi fbank/MFCC features of manifests, stored in shards, plus global CMVN."""

from __future__ import annotations

import argparse

from asr.errors import AsrError

HELP = "compute Kaldi-compatible fbank/MFCC features into shards, with global CMVN statistics"
DESCRIPTION = (
    "Compute fbank or MFCC features (torchaudio.compliance.kaldi-compatible) for each manifest, "
    "store them in safetensors shards under OUTPUT_DIR/<split>/ and write OUTPUT_DIR/<split>.jsonl, "
    "OUTPUT_DIR/features.yaml and, with --cmvn-from, OUTPUT_DIR/cmvn.json. A rerun reuses finished shards."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None, help="features YAML (FeatureConfig keys; default: Kaldi fbank, 80 bins)")
    parser.add_argument("--manifests", nargs="+", required=True, help="utterance manifests; split = file name stem")
    parser.add_argument("--output-dir", required=True, help="directory for shards, feature manifests and cmvn.json")
    parser.add_argument("--cmvn-from", default=None, metavar="SPLIT",
                        help="split whose features give the global CMVN statistics (e.g. train)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--shard-size", type=int, default=None,
                        help="utterances per shard (default: asr.features.store.DEFAULT_SHARD_SIZE, 500)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    from asr.config import load_config
    from asr.features.store import DEFAULT_SHARD_SIZE, extract_features, split_name
    from asr.features.frontend import FeatureConfig

    config = load_config(FeatureConfig, args.config)
    splits = [split_name(m) for m in args.manifests]
    if len(set(splits)) != len(splits):
        raise AsrError(f"--manifests: two manifests share a split name ({', '.join(splits)}); they would overwrite each other")
    if args.cmvn_from is not None and args.cmvn_from not in splits:
        raise AsrError(f"--cmvn-from {args.cmvn_from}: no manifest of that split among {', '.join(splits)}")
    for manifest, split in zip(args.manifests, splits):
        result = extract_features(manifest, args.output_dir, config, jobs=args.jobs,
                                  shard_size=args.shard_size or DEFAULT_SHARD_SIZE,
                                  cmvn=split == args.cmvn_from, progress=args.progress)
        print(f"{split}: {result.num_utterances} utterances, {result.num_frames} frames of dim {config.dim}, "
              f"{len(result.computed_shards)} shard(s) computed, {len(result.reused_shards)} reused -> {result.manifest}"
              + (f" (+ {result.manifest.parent / 'cmvn.json'})" if result.cmvn is not None else ""))
    return 0
