"""Mozilla Common Voice, Chinese locales: zh-CN, zh-HK, zh-TW (and yue, nan-tw if present).

Layout read (a ``cv-corpus-*`` release unpacked)::

    <corpus_dir>/<locale>/{train,dev,test}.tsv
    <corpus_dir>/<locale>/clips/<path>.mp3

``corpus_dir`` may also be one locale directory itself (holding ``train.tsv``). Each
row's locale is its ``locale`` column where the TSV has one, else the directory's
name (``zh-CN`` ...); a row whose locale is neither is refused, so that no utterance
reaches the audit without its dialect.
The TSVs are tab-separated with a header row; the columns used are ``client_id``
(-> speaker), ``path``, ``sentence`` (required) and ``age``, ``gender``,
``accents`` (older releases: ``accent``), ``variant``, ``sentence_id``
(optional; missing columns and empty cells give ``None``; other columns are
ignored). Sentences are read verbatim with ``csv.QUOTE_NONE``: Common Voice does
not quote its fields, and a sentence may hold an unbalanced ``"``.

Metadata mapping:

* ``age``: Common Voice's decade labels onto :data:`asr.corpus.common.AGE_BANDS`:
  ``teens`` -> ``0-19``, ``twenties`` -> ``20-29`` ... ``fifties`` -> ``50-59``,
  ``sixties`` and older -> ``60+``.
* ``gender``: ``male_masculine``/``male`` -> ``male``, ``female_feminine``/``female``
  -> ``female``, other answers kept (snake case), ``do_not_wish_to_say`` -> ``None``.
* ``accents``: a speaker may give several accents, joined by ``|``
  (``出生地：11 北京市|出生地：37 山东省``). ``accents`` is the list of them
  (:func:`asr.corpus.common.split_values`), the field the audit groups on, each
  accent its own group; ``accent`` keeps the whole answer verbatim, as one label.
* ``locale`` (``zh-CN``, ``zh-HK``, ``zh-TW``), verbatim, and from it ``dialect``
  (:data:`LOCALE_DIALECT`: ``mandarin`` for zh-CN and zh-TW, ``cantonese`` for
  zh-HK) and ``region`` (:data:`LOCALE_REGION`: ``mainland_china``, ``taiwan``,
  ``hong_kong``); ``variant`` and ``sentence_id`` go to ``extra``.

One manifest per split with every selected locale in it: ``<output_dir>/<split>.jsonl``.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from asr.corpus.common import (
    Source,
    add_common_arguments,
    build_utterances,
    existing_dir,
    existing_file,
    normalize_gender,
    print_written,
    split_values,
    write_splits,
)
from asr.errors import AsrError

NAME = "commonvoice"
HELP = "import Common Voice zh-CN / zh-HK / zh-TW (<locale>/{train,dev,test}.tsv + clips/*.mp3)"

LOCALES = ("zh-CN", "zh-HK", "zh-TW")
LOCALE_DIALECT = {"zh-CN": "mandarin", "zh-TW": "mandarin", "zh-HK": "cantonese", "yue": "cantonese",
                  "nan-tw": "min_nan"}
LOCALE_REGION = {"zh-CN": "mainland_china", "zh-TW": "taiwan", "zh-HK": "hong_kong", "yue": None,
                 "nan-tw": "taiwan"}
SPLITS = ("train", "dev", "test")
#: Separator of a speaker's several answers in the ``accents`` column.
ACCENT_SEPARATOR = "|"
REQUIRED_COLUMNS = ("client_id", "path", "sentence")
AGE_BANDS = {"teens": "0-19", "twenties": "20-29", "thirties": "30-39", "fourties": "40-49",
             "forties": "40-49", "fifties": "50-59", "sixties": "60+", "seventies": "60+",
             "eighties": "60+", "nineties": "60+"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, NAME, "a Common Voice release (holding <locale>/ dirs) or one locale dir")
    parser.add_argument("--locales", default=None,
                        help=f"comma-separated locales (default: those present of {','.join(LOCALES)})")
    parser.add_argument("--splits", default=",".join(SPLITS), help="comma-separated TSV names (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    locales = args.locales.split(",") if args.locales else None
    written = prepare_commonvoice(args.corpus_dir, args.output_dir, locales=locales,
                                  splits=args.splits.split(","), jobs=args.jobs)
    print_written(written)
    return 0


def prepare_commonvoice(
    corpus_dir: str | Path,
    output_dir: str | Path,
    locales: list[str] | None = None,
    splits: list[str] | tuple[str, ...] = SPLITS,
    jobs: int = 4,
) -> dict[str, Path]:
    """One manifest per split, merging the locales; everything is checked before anything is written."""
    corpus_dir = existing_dir(corpus_dir, "a Common Voice release with <locale>/train.tsv")
    locale_dirs = _locale_dirs(corpus_dir, locales)
    out = {}
    for split in splits:
        sources = []
        for locale, locale_dir in locale_dirs.items():
            sources.extend(read_tsv(existing_file(locale_dir / f"{split}.tsv", f"Common Voice's {split}.tsv"),
                                    locale))
        out[split] = build_utterances(sources, output_dir, jobs)
    return write_splits(output_dir, out, NAME)


def _locale_dirs(corpus_dir: Path, locales: list[str] | None) -> dict[str | None, Path]:
    """``{locale: directory}``; one locale directory under another name maps from ``None``
    (its rows then need a ``locale`` column, or ``--locales`` naming one locale)."""
    if (corpus_dir / "train.tsv").is_file():
        name = corpus_dir.resolve().name
        locale = name if name in LOCALE_DIALECT else None
        if locales and locale and locales != [locale]:
            raise AsrError(f"{corpus_dir}: is the {locale} locale, but --locales asks for {','.join(locales)}")
        if locale is None and locales and len(locales) == 1:
            locale = locales[0]
        return {locale: corpus_dir}
    if locales is None:
        found = {loc: corpus_dir / loc for loc in LOCALES if (corpus_dir / loc / "train.tsv").is_file()}
        if not found:
            raise AsrError(f"{corpus_dir}: no <locale>/train.tsv for any of {', '.join(LOCALES)}")
        return found
    for loc in locales:
        existing_dir(corpus_dir / loc, f"Common Voice locale {loc} with train/dev/test.tsv and clips/")
    return {loc: corpus_dir / loc for loc in locales}


def read_tsv(path: Path, locale: str | None) -> list[Source]:
    """The utterances of one Common Voice TSV; a malformed row is an :class:`AsrError` naming its line.

    ``locale``: the directory's, used for rows without a ``locale`` cell.
    """
    clips = path.parent / "clips"
    sources = []
    try:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            header = next(reader, None)
            if header is None:
                raise AsrError(f"{path}: empty file (expected a header row with {', '.join(REQUIRED_COLUMNS)})")
            header = [h.strip() for h in header]
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                raise AsrError(f"{path}:1: header has no column {missing[0]!r} "
                               f"(expected {', '.join(REQUIRED_COLUMNS)}, tab-separated)")
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                sources.append(_source(path, reader.line_num, header, row, clips, locale))
    except UnicodeDecodeError as e:
        raise AsrError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    return sources


def _source(path: Path, lineno: int, header: list[str], row: list[str], clips: Path, locale: str | None) -> Source:
    where = f"{path}:{lineno}"
    if len(row) > len(header):
        raise AsrError(f"{where}: malformed row: {len(row)} tab-separated fields but the header has {len(header)}")
    cells = {name: (row[i].strip() if i < len(row) else "") for i, name in enumerate(header)}
    for column in REQUIRED_COLUMNS:
        if not cells[column]:
            raise AsrError(f"{where}: malformed row: empty {column!r} (expected {', '.join(REQUIRED_COLUMNS)})")
    locale = cells.get("locale") or locale
    if locale not in LOCALE_DIALECT:
        raise AsrError(
            f"{where}: unknown locale {locale!r} (expected one of {', '.join(LOCALE_DIALECT)}, from the 'locale' "
            f"column or the directory's name; name the directory after its locale or pass --locales)"
        )
    clip = clips / cells["path"]
    if not clip.exists() and (clips / f"{cells['path']}.mp3").exists():
        clip = clips / f"{cells['path']}.mp3"
    age = cells.get("age", "").lower()
    accent = cells.get("accents") or cells.get("accent") or None
    fields = {
        "dialect": LOCALE_DIALECT.get(locale),
        "region": LOCALE_REGION.get(locale),
        "locale": locale,
        "gender": normalize_gender(cells.get("gender")),
        "age_band": AGE_BANDS.get(age, age or None),
        "accent": accent,
        "accents": split_values(accent, ACCENT_SEPARATOR),
    }
    extra = {k: cells[k] for k in ("variant", "sentence_id") if cells.get(k)}
    return Source(
        id=Path(cells["path"]).stem, audio=clip.absolute(), text=cells["sentence"], speaker=cells["client_id"],
        fields={k: v for k, v in fields.items() if v is not None}, extra=extra, where=where,
    )
