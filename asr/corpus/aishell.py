"""AISHELL-1 (OpenSLR 33): 178 hours of read Mandarin from 400 speakers.

Layout read (``data_aishell.tgz`` and ``resource_aishell.tgz`` unpacked, and the
per-speaker ``wav/*.tar.gz`` inside the first unpacked too)::

    <corpus_dir>/data_aishell/wav/{train,dev,test}/S0002/BAC009S0002W0122.wav
    <corpus_dir>/data_aishell/transcript/aishell_transcript_v0.8.txt
    <corpus_dir>/resource_aishell/speaker.info                          optional

The transcript has one ``<utterance> <word> <word> ...`` line per utterance, word
segmented; the spaces are removed (``而 对 楼市`` -> ``而对楼市``). ``speaker.info``
has one ``<speaker> <F|M>`` line per speaker, the speaker as a bare number
(``0002 F``; an ``S0002`` spelling is accepted too); further columns and a header
line are ignored.
Utterances with no transcript line (AISHELL-1 ships some) are skipped and counted
in a log line. Every utterance is ``dialect="mandarin"``. One manifest per split:
``<output_dir>/{train,dev,test}.jsonl``.
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path

from asr.corpus.common import (
    Source,
    add_common_arguments,
    build_utterances,
    existing_dir,
    existing_file,
    normalize_gender,
    print_written,
    read_lines,
    read_table,
    write_splits,
)
from asr.errors import AsrError

NAME = "aishell"
HELP = "import AISHELL-1 (data_aishell/wav, transcript, resource_aishell/speaker.info)"
SPLITS = ("train", "dev", "test")
TRANSCRIPT = Path("data_aishell/transcript/aishell_transcript_v0.8.txt")
SPEAKER_INFO = Path("resource_aishell/speaker.info")

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, NAME, "the AISHELL-1 root (holding data_aishell/ and resource_aishell/)")


def run(args: argparse.Namespace) -> int:
    print_written(prepare_aishell(args.corpus_dir, args.output_dir, jobs=args.jobs))
    return 0


def prepare_aishell(corpus_dir: str | Path, output_dir: str | Path, jobs: int = 4) -> dict[str, Path]:
    """``train``, ``dev`` and ``test`` manifests of AISHELL-1; all checked before any is written."""
    corpus_dir = existing_dir(corpus_dir, "the AISHELL-1 root with data_aishell/ and resource_aishell/")
    given_data_aishell = (corpus_dir / "wav").is_dir() and (corpus_dir / "transcript").is_dir()
    if given_data_aishell and not (corpus_dir / "data_aishell").is_dir():
        corpus_dir = corpus_dir.parent
    check_unpacked(corpus_dir / "data_aishell" / "wav")
    wav_root = existing_dir(corpus_dir / "data_aishell" / "wav", "AISHELL-1's data_aishell/wav/<split>/<speaker>")
    transcript = read_transcript(existing_file(corpus_dir / TRANSCRIPT, "AISHELL-1's transcript"))
    genders = read_speaker_info(corpus_dir / SPEAKER_INFO)

    splits = {}
    for split in SPLITS:
        split_dir = existing_dir(wav_root / split, f"AISHELL-1's {split} audio, wav/{split}/<speaker>/*.wav")
        wavs = sorted(split_dir.glob("*/*.wav"))
        if not wavs:
            archives = sorted(split_dir.glob("*.tar.gz")) + sorted(wav_root.glob("*.tar.gz"))
            hint = f"; unpack the per-speaker archives first (e.g. {archives[0].name})" if archives else ""
            raise AsrError(f"{split_dir}: no <speaker>/*.wav files{hint}")
        sources, skipped = [], 0
        for wav in wavs:
            utt, speaker = wav.stem, wav.parent.name
            if utt not in transcript:
                skipped += 1
                continue
            gender = genders.get(speaker.removeprefix("S"))
            sources.append(Source(
                id=utt, audio=wav.absolute(), text=transcript[utt], speaker=speaker,
                fields={"dialect": "mandarin", **({"gender": gender} if gender else {})},
                where=str(wav),
            ))
        if skipped:
            log.info("aishell %s: skipped %d of %d audio files with no transcript line", split, skipped, len(wavs))
        if not sources:
            raise AsrError(f"{split_dir}: none of its {len(wavs)} audio files has a line in {corpus_dir / TRANSCRIPT}")
        splits[split] = build_utterances(sources, output_dir, jobs)
    return write_splits(output_dir, splits, NAME)


def check_unpacked(wav_root: Path) -> None:
    """Refuse ``data_aishell/wav`` as distributed (one ``S0002.tar.gz`` per speaker), saying how to unpack it."""
    archives = sorted(wav_root.glob("*.tar.gz")) if wav_root.is_dir() else []
    if archives and not any((wav_root / split).is_dir() for split in SPLITS):
        raise AsrError(
            f"{wav_root}: holds {len(archives)} per-speaker archives ({archives[0].name}, ...) and no "
            f"{'/'.join(SPLITS)} directories; unpack them first: "
            f"cd {wav_root} && for f in *.tar.gz; do tar -xzf \"$f\"; done"
        )


def read_transcript(path: Path) -> dict[str, str]:
    """``{utterance: text}`` with the word-segmentation spaces removed."""
    return {utt: "".join(words.split()) for utt, (words, _) in
            read_table(path, "<utterance> <word> <word> ...").items()}


def read_speaker_info(path: Path) -> dict[str, str]:
    """``{speaker number: "female"|"male"}`` from ``speaker.info`` (empty if the file is absent)."""
    if not path.is_file():
        log.info("aishell: no %s; gender left unknown", path)
        return {}
    genders = {}
    for i, (lineno, line) in enumerate(read_lines(path)):
        parts = line.split()
        if i == 0 and not re.fullmatch(r"S?\d+", parts[0]):
            continue  # a header line
        gender = normalize_gender(parts[1]) if len(parts) >= 2 else None
        if gender not in ("female", "male"):
            raise AsrError(f"{path}:{lineno}: malformed line {line.strip()!r}: expected '<speaker> <F|M>'")
        genders[parts[0].removeprefix("S")] = gender
    return genders
