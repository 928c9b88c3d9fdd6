"""KeSpeech (Tang et al., NeurIPS 2021 Datasets and Benchmarks): Mandarin and eight subdialects.

Layout read (as distributed; lhotse's ``recipes/kespeech.py`` reads the same ``Tasks/ASR``)::

    KeSpeech/
      Audio/<speaker>/phase1|phase2/<utterance>.wav
      Tasks/ASR/<part>/{wav.scp, text, utt2spk, utt2subdialect}   part: train_phase1, ...
      Metadata/{spk2gender, spk2age, spk2city, city2subdialect,     each optional
                phase1.utt2style, phase2.utt2env}

Each ``Tasks/ASR/<part>`` is a Kaldi data dir (read by :mod:`asr.corpus.kaldi`); its
``wav.scp`` paths (``Audio/...``) are relative to the corpus root. ``Metadata/``
holds Kaldi tables keyed by speaker (``spk2*``), by utterance (``phase*.utt2*``) or
by city (``city2subdialect``: ``<city> <subdialect>``). (It also holds the whole
corpus's ``phase<N>.text``, ``phase<N>.wav.scp``, ``phase<N>.utt2subdialect`` and
``utt2spk``, which the parts repeat; they are not read.) Manifest fields:

* ``dialect``: ``utt2subdialect``, what this utterance is spoken in, as a snake name
  (``Mandarin`` -> ``mandarin``, ``Jiang-Huai`` -> ``jiang_huai``): a Chengdu
  speaker's Mandarin reading is ``mandarin``.
* ``home_dialect``: the speaker's own subdialect, on every utterance, Mandarin
  readings included: ``city2subdialect`` of the speaker's ``spk2city``, snake-cased
  (cities match case-insensitively). A speaker whose city is not in the table takes
  the subdialect of their dialect readings in the parts imported, when those agree.
* ``reading_style``: ``mandarin`` or ``dialect``, from ``phase1.utt2style``
  (``Mandarin`` / ``Dialect``); an utterance it does not list (phase 2) is
  ``mandarin`` when its ``dialect`` is, else ``dialect``.
* ``phase``: ``1`` or ``2``, from the ``phase<N>`` directory of its audio, else the
  part's name (``dev_phase2``), else the phase table listing it (``phase1.utt2style``
  or ``phase2.utt2env``).
* ``condition``: ``phase2.utt2env``, the recording environment, verbatim (phase 1
  records none).
* ``gender``, ``age_band``, ``city``: ``spk2gender`` (``Female`` / ``Male``),
  ``spk2age`` (years, as decades: :data:`asr.corpus.common.AGE_BANDS`), ``spk2city``
  (verbatim, ``Chengdu``).

A part's own ``spk2*`` / ``utt2*`` file, if any, overrides ``Metadata/``; any other
``utt2*`` / ``spk2*`` file of a part goes to ``extra``. Transcripts are kept
verbatim, tags such as ``<SPOKEN_NOISE>`` included (scoring normalisation removes
them). One manifest per part: ``<output_dir>/<part>.jsonl``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import re
from collections import defaultdict
from pathlib import Path
from typing import Iterable

from asr.corpus.common import (
    Source,
    add_common_arguments,
    build_utterances,
    existing_dir,
    normalize_dialect,
    print_written,
    read_lines,
    write_splits,
)
from asr.corpus.kaldi import read_data_dir
from asr.errors import AsrError

NAME = "kespeech"
HELP = ("import KeSpeech (Tasks/ASR/<part> Kaldi dirs + Metadata: speaker gender, age, city, home subdialect, "
        "reading style, recording environment)")

log = logging.getLogger(__name__)

#: The parts of KeSpeech's ASR task, in the corpus's order.
PARTS = ("train_phase1", "train_phase2", "dev_phase1", "dev_phase2", "test")
#: The subdialect labels of KeSpeech (``utt2subdialect``), as they appear in the corpus.
SUBDIALECTS = ("Mandarin", "Beijing", "Southwestern", "Zhongyuan", "Northeastern", "Lan-Yin",
               "Jiang-Huai", "Ji-Lu", "Jiao-Liao")
#: ``Metadata/`` files read, under the attribute-file name whose field they fill.
METADATA_TABLES = {
    "spk2gender": "spk2gender",
    "spk2age": "spk2age",
    "spk2city": "spk2city",
    "phase1.utt2style": "utt2reading_style",
    "phase2.utt2env": "utt2condition",
}
CITY_TABLE = "city2subdialect"
MANDARIN = "mandarin"
DIALECT = "dialect"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, NAME, "the KeSpeech root (holding Tasks/ASR, Metadata and Audio)")
    parser.add_argument("--parts", default=None,
                        help=f"comma-separated parts (default: those present of {','.join(PARTS)})")


def run(args: argparse.Namespace) -> int:
    parts = args.parts.split(",") if args.parts else None
    print_written(prepare_kespeech(args.corpus_dir, args.output_dir, parts=parts, jobs=args.jobs))
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
    parts = _select_parts(tasks, parts)
    metadata = corpus_dir / "Metadata"
    tables = {name: metadata / file for file, name in METADATA_TABLES.items() if (metadata / file).is_file()}
    city_dialects = read_city_dialects(metadata / CITY_TABLE) if (metadata / CITY_TABLE).is_file() else {}
    sources = {part: read_data_dir(tasks / part, audio_root=corpus_dir, extra_tables=tables) for part in parts}
    homes = home_dialects([src for part in parts for src in sources[part]], city_dialects)
    splits = {
        part: build_utterances([_complete(src, part, homes) for src in sources[part]], output_dir, jobs)
        for part in parts
    }
    return write_splits(output_dir, splits, NAME)


def _select_parts(tasks: Path, parts: list[str] | None) -> list[str]:
    present = [d.name for d in sorted(tasks.iterdir()) if (d / "wav.scp").is_file()]
    if parts is None:
        parts = [p for p in PARTS if p in present] + [p for p in present if p not in PARTS]
        if not parts:
            raise AsrError(f"{tasks}: no part with a wav.scp (expected e.g. {', '.join(PARTS)})")
        return parts
    missing = [p for p in parts if p not in present]
    if missing:
        raise AsrError(f"{tasks / missing[0]}: no such KeSpeech part with a wav.scp "
                       f"(present: {', '.join(present) or 'none'})")
    return parts


def _city_key(city: str) -> str:
    return " ".join(city.split()).casefold()


def read_city_dialects(path: Path) -> dict[str, str]:
    """``city2subdialect`` as ``{city (case-folded): subdialect (snake)}``.

    One ``<city> <subdialect>`` line per city; the subdialect is the last field, so a
    city name may hold spaces. A line with one field, or a city given two different
    subdialects, is an :class:`AsrError` naming the file and line.
    """
    table: dict[str, tuple[str, int]] = {}
    for lineno, line in read_lines(path):
        parts = line.strip().rsplit(maxsplit=1)
        if len(parts) < 2:
            raise AsrError(f"{path}:{lineno}: malformed line {line.strip()!r}: expected '<city> <subdialect>'")
        city, dialect = _city_key(parts[0]), normalize_dialect(parts[1])
        if city in table and table[city][0] != dialect:
            raise AsrError(f"{path}:{lineno}: city {parts[0]!r} is {table[city][0]} on line {table[city][1]} "
                           f"and {dialect} here (expected one subdialect per city)")
        table[city] = (dialect, lineno)
    return {city: dialect for city, (dialect, _) in table.items()}


def reading_style(fields: dict) -> str | None:
    """``mandarin`` or ``dialect``: ``phase1.utt2style``'s label, else from the utterance's dialect."""
    if fields.get("reading_style"):
        return fields["reading_style"]
    dialect = fields.get("dialect")
    if dialect is None:
        return None
    return MANDARIN if dialect == MANDARIN else DIALECT


def home_dialects(sources: Iterable[Source], city_dialects: dict[str, str]) -> dict[str, str]:
    """``{speaker: home subdialect}``: their city's subdialect, else that of their dialect readings.

    Speakers left without one, and speakers whose dialect readings are labelled other
    than their city's subdialect, are counted in a log line.
    """
    cities: dict[str, str] = {}
    readings: dict[str, set[str]] = defaultdict(set)
    for src in sources:
        if src.fields.get("city"):
            cities[src.speaker] = src.fields["city"]
        if reading_style(src.fields) == DIALECT:
            readings[src.speaker].add(src.fields["dialect"])
    homes, unknown, disagree = {}, [], []
    for speaker in sorted(cities.keys() | readings.keys()):
        from_city = city_dialects.get(_city_key(cities.get(speaker, "")))
        read = readings.get(speaker, set())
        if from_city is not None:
            homes[speaker] = from_city
            if read - {from_city}:
                disagree.append(speaker)
        elif len(read) == 1:
            homes[speaker] = next(iter(read))
        else:
            unknown.append(speaker)
    if unknown:
        log.info("kespeech: %d speaker(s) without a home subdialect (no city in %s, no single dialect "
                 "of their readings), e.g. %s", len(unknown), CITY_TABLE, unknown[0])
    if disagree:
        log.info("kespeech: %d speaker(s) read in a subdialect other than their city's, e.g. %s; "
                 "home_dialect follows the city", len(disagree), disagree[0])
    return homes


def recording_phase(audio: Path, part: str) -> int | None:
    """1 or 2: the ``phase<N>`` directory the audio is in, else the part's ``_phase<N>`` suffix."""
    for name in reversed(Path(audio).parts[:-1]):
        match = re.fullmatch(r"phase(\d+)", name)
        if match:
            return int(match.group(1))
    match = re.search(r"_phase(\d+)$", part)
    return int(match.group(1)) if match else None


def _complete(src: Source, part: str, homes: dict[str, str]) -> Source:
    """``src`` with its reading style, home subdialect and phase filled in."""
    fields = dict(src.fields)
    listed_in = 2 if "condition" in fields else 1 if "reading_style" in fields else None
    phase = recording_phase(src.audio, part)
    derived = {
        "reading_style": reading_style(fields),
        "home_dialect": homes.get(src.speaker),
        "phase": phase if phase is not None else listed_in,
    }
    fields.update({k: v for k, v in derived.items() if v is not None})
    return dataclasses.replace(src, fields=fields)
