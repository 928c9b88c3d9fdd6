"""KeSpeech (Tang et al., NeurIPS 2021 Datasets and Benchmarks): Mandarin and eight subdialects.

Layout read (as distributed; lhotse's ``recipes/kespeech.py`` reads the same files)::

    KeSpeech/
      Audio/<speaker>/phase1|phase2/<utterance>.wav
      Tasks/ASR/<part>/{wav.scp, text, utt2spk, utt2subdialect}   part: train_phase1, ...
      Metadata/{spk2gender, spk2age, spk2city}                    optional; also phase1.utt2style

Each ``Tasks/ASR/<part>`` is a Kaldi data dir (read by :mod:`asr.corpus.kaldi`); its
``wav.scp`` paths (``Audio/...``) are relative to the corpus root. The speaker
tables in ``Metadata/`` are Kaldi tables keyed by speaker id: ``spk2gender``
holds ``Female`` / ``Male``, ``spk2age`` an age in years, ``spk2city`` a city name
(``Chengdu``). They give ``gender``, ``age_band`` (decades, see
:data:`asr.corpus.common.AGE_BANDS`) and ``region``; ``utt2subdialect`` gives
``dialect`` as a snake name (``Mandarin`` -> ``mandarin``, ``Lan-Yin`` ->
``lan_yin``, ``Jiang-Huai`` -> ``jiang_huai`` ...); ``phase<N>.utt2style`` (if
present) goes to ``extra["style"]``. A part's own ``spk2*`` / ``utt2*`` file, if
any, overrides ``Metadata/``. Transcripts are kept verbatim, tags such as
``<SPOKEN_NOISE>`` included (scoring normalisation removes them).
One manifest per part: ``<output_dir>/<part>.jsonl``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asr.corpus.common import add_common_arguments, build_utterances, existing_dir, write_splits
from asr.corpus.kaldi import read_data_dir
from asr.errors import AsrError

NAME = "kespeech"
HELP = "import KeSpeech (Tasks/ASR/<part> Kaldi dirs + Metadata speaker gender, age, city)"

#: The parts of KeSpeech's ASR task, in the corpus's order.
PARTS = ("train_phase1", "train_phase2", "dev_phase1", "dev_phase2", "test")
#: The subdialect labels of KeSpeech (``utt2subdialect``), as they appear in the corpus.
SUBDIALECTS = ("Mandarin", "Beijing", "Southwestern", "Zhongyuan", "Northeastern", "Lan-Yin",
               "Jiang-Huai", "Ji-Lu", "Jiao-Liao")
METADATA_TABLES = ("spk2gender", "spk2age", "spk2city")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, NAME, "the KeSpeech root (holding Tasks/ASR, Metadata and Audio)")
    parser.add_argument("--parts", default=None,
                        help=f"comma-separated parts (default: those present of {','.join(PARTS)})")


def run(args: argparse.Namespace) -> int:
    parts = args.parts.split(",") if args.parts else None
    for part, path in prepare_kespeech(args.corpus_dir, args.output_dir, parts=parts, jobs=args.jobs).items():
        print(f"{part}: {path}")
    return 0


def prepare_kespeech(
    corpus_dir: str | Path,
    output_dir: str | Path,
    parts: list[str] | None = None,
    jobs: int = 4,
) -> dict[str, Path]:
    """One manifest per KeSpeech ASR part; every part is checked before any is written."""
    corpus_dir = existing_dir(corpus_dir, "the KeSpeech root with Tasks/ASR/<part>")
    tasks = existing_dir(corpus_dir / "Tasks" / "ASR", "KeSpeech's Tasks/ASR/<part> data dirs")
    present = [d.name for d in sorted(tasks.iterdir()) if (d / "wav.scp").is_file()]
    if parts is None:
        parts = [p for p in PARTS if p in present] + [p for p in present if p not in PARTS]
        if not parts:
            raise AsrError(f"{tasks}: no part with a wav.scp (expected e.g. {', '.join(PARTS)})")
    else:
        missing = [p for p in parts if p not in present]
        if missing:
            raise AsrError(f"{tasks / missing[0]}: no such KeSpeech part with a wav.scp "
                           f"(present: {', '.join(present) or 'none'})")

    metadata = corpus_dir / "Metadata"
    tables = {name: metadata / name for name in METADATA_TABLES if (metadata / name).is_file()}
    splits = {}
    for part in parts:
        part_tables = dict(tables)
        style = metadata / f"{_phase(part)}.utt2style"
        if style.is_file():
            part_tables["utt2style"] = style
        sources = read_data_dir(tasks / part, audio_root=corpus_dir, extra_tables=part_tables)
        splits[part] = build_utterances(sources, output_dir, jobs)
    return write_splits(output_dir, splits, NAME)


def _phase(part: str) -> str:
    return "phase2" if part.endswith("phase2") else "phase1"
