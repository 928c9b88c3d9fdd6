"""The embedded multi-dialect corpus: ``asr prepare synthetic``.

Speech synthesized offline with eSpeak NG (``espeakng-loader`` wheel, via ctypes)
from a voice-assistant / in-car navigation / customer-service slot grammar, read by
speakers of four groups: ``mandarin`` (pinyin, ``cmn-latn-pinyin``), the
accented-Mandarin ``southwestern`` and ``wu`` (documented phonological rules applied
to the pinyin) and ``cantonese`` (``yue`` reading the characters). Each utterance
gets a recording condition (clean, noisy with an SNR, telephone band). The
composition comes from YAML (:mod:`~asr.corpus.synthetic.config`).

Output, byte-identical for the same config and seed whatever ``--jobs``::

    <output_dir>/audio/<split>/<speaker>/<utt>.wav   16 kHz mono, 16-bit PCM
    <output_dir>/speakers.json                       voice settings of every speaker
    <output_dir>/corpus.json                         the resolved composition
    <output_dir>/{train,dev,test}.jsonl              manifests, written last

>>> prepare_synthetic("recipes/dialect/conf/corpus_tiny.yaml", "data_manifests/tiny", jobs=2)  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from pathlib import Path

from asr.corpus.synthetic.compose import PreparedCorpus, plan_corpus, write_corpus
from asr.corpus.synthetic.config import CorpusConfig, load_corpus_config

NAME = "synthetic"
HELP = "synthesize the embedded Mandarin + dialect corpus with eSpeak NG (offline)"

#: The tiny composition used by the tests and CI, relative to the repository root.
TINY_CONFIG = Path("recipes/dialect/conf/corpus_tiny.yaml")

__all__ = ["NAME", "HELP", "CorpusConfig", "PreparedCorpus", "prepare_synthetic", "build_tiny_corpus"]

log = logging.getLogger(__name__)


def prepare_synthetic(
    config: CorpusConfig | str | Path | None,
    output_dir: str | Path,
    jobs: int = 1,
    seed: int | None = None,
    progress: bool = True,
) -> PreparedCorpus:
    """Synthesize the corpus described by ``config`` (a YAML path, a config, or ``None`` for the default).

    ``seed`` overrides the config's seed. Writes audio, ``speakers.json``, ``corpus.json``
    and, last, one manifest per split under ``output_dir``.
    """
    if isinstance(config, CorpusConfig):
        cfg = config if seed is None else dataclasses.replace(config, seed=seed)
    else:
        cfg = load_corpus_config(config, {"seed": seed})
    plan = plan_corpus(cfg)
    return write_corpus(plan, cfg, output_dir, jobs=jobs, progress=progress)


def build_tiny_corpus(
    output_dir: str | Path, seed: int = 0, jobs: int = 2, config: str | Path | None = None
) -> PreparedCorpus:
    """The tiny corpus of ``recipes/dialect/conf/corpus_tiny.yaml`` (seconds to build), for tests.

    ``config`` defaults to that file in the source checkout this package runs from.
    """
    path = Path(config) if config else Path(__file__).resolve().parents[3] / TINY_CONFIG
    return prepare_synthetic(path, output_dir, jobs=jobs, seed=seed, progress=False)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None, help="composition YAML (default: the built-in default)")
    parser.add_argument("--output-dir", type=Path, default=Path("data_manifests/synthetic"), help="where audio and manifests go")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (output does not depend on it)")
    parser.add_argument("--seed", type=int, default=None, help="override the config's seed")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    start = time.monotonic()
    corpus = prepare_synthetic(args.config, args.output_dir, jobs=args.jobs, seed=args.seed, progress=args.progress)
    for split, path in corpus.manifests.items():
        print(
            f"{split}: {corpus.utterances[split]} utterances, {corpus.hours[split]:.2f} h, "
            f"{corpus.speakers[split]} speakers -> {path}"
        )
    log.info("synthesized %d utterances in %.1f s", sum(corpus.utterances.values()), time.monotonic() - start)
    return 0
