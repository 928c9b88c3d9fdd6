"""Results files (``asr decode``'s ``results-*.jsonl``) read into one validated DataFrame.

A results file has one JSON object per utterance, as :mod:`asr.results` specifies,
and a ``results-*.meta.json`` beside it (``normalization``, ``model``, ...). Rows
without edit counts are scored here from ``ref`` and ``hyp`` (:func:`asr.score.score_pair`).
Attribute columns become categoricals of string labels, a missing value the group
:data:`MISSING`. Parsing uses ``orjson`` when it is installed (about twice as fast on
a million lines), else the standard library.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from asr.errors import AsrError
from asr.io import open_text
from asr.manifest.records import LIST_FIELDS, METADATA_FIELDS
from asr.results import COUNT_FIELDS, NON_ATTRIBUTES
from asr.score import score_pair
from asr.text import DEFAULT, NORMALIZATION, Normalization

try:  # optional speed-up; the standard library gives the same result
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads

#: The group label of rows whose attribute value is missing.
MISSING = "(missing)"
#: Most distinct values a column may have to be taken as an attribute by default.
MAX_DEFAULT_GROUPS = 100
_CATEGORICAL = frozenset({"speaker", "unit", "normalization", "text_id", *METADATA_FIELDS}) - {"snr_db", *LIST_FIELDS}
_TEXT = ("id", "ref", "hyp", "text", "audio")


def read_results(paths: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """Read and validate one or more results files into one DataFrame (one row per utterance).

    Raises :class:`AsrError` naming the file and utterance for a malformed line, a
    missing ``id``/``speaker``, counts that are missing without ``ref``/``hyp`` to
    score, impossible counts, duplicate ids or mixed scoring units.
    """
    paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    if not paths:
        raise AsrError("no results file given")
    frames = [_read_one(p) for p in paths]
    scored = sum(f.attrs.get("scored_here", 0) for f in frames)
    df = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    df.attrs["scored_here"] = scored
    dup = df["id"].duplicated()
    if dup.any():
        raise AsrError(f"{', '.join(map(str, paths))}: duplicate utterance id {df['id'][dup].iloc[0]!r}")
    units = df["unit"].dropna().unique() if "unit" in df else []
    if len(units) > 1:
        raise AsrError(f"{', '.join(map(str, paths))}: results mix scoring units {sorted(map(str, units))}; audit one unit at a time")
    return df


def read_meta(results_path: str | Path) -> dict:
    """The ``.meta.json`` beside a results file (``results-x.jsonl`` -> ``results-x.meta.json``), or ``{}``."""
    path = Path(results_path)
    name = path.name.removesuffix(".gz").removesuffix(".jsonl")
    meta = path.with_name(name + ".meta.json")
    if not meta.is_file():
        return {}
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise AsrError(f"{meta}: invalid JSON ({e.msg})") from None
    return data if isinstance(data, dict) else {}


def normalization_of(df: pd.DataFrame, metas: list[dict]) -> str:
    """The text normalisation the counts were computed with (meta files, else a column, else the default)."""
    found = {m["normalization"] for m in metas if isinstance(m.get("normalization"), str)}
    if "normalization" in df:
        found |= {str(v) for v in df["normalization"].dropna().unique()}
    if len(found) > 1:
        raise AsrError(f"results were scored with different normalisations: {sorted(found)}")
    return found.pop() if found else NORMALIZATION


def default_attributes(df: pd.DataFrame) -> list[str]:
    """Every metadata field present (manifest order), then other categorical columns with few values."""
    first = [c for c in METADATA_FIELDS if c in df.columns and c not in NON_ATTRIBUTES]
    rest = [
        c for c in df.columns
        if c not in first and c not in NON_ATTRIBUTES and not pd.api.types.is_numeric_dtype(df[c])
        and 1 <= _distinct(df, c) <= MAX_DEFAULT_GROUPS
    ]
    return first + rest


def _distinct(df: pd.DataFrame, name: str) -> int:
    """Distinct values of a column (of its list items, for a list-valued one)."""
    if is_list_attribute(df, name):
        return len({v for values in value_lists(df, name) for v in values} - {MISSING})
    try:
        return int(df[name].nunique(dropna=True))
    except TypeError:  # unhashable values (dicts): not a grouping attribute
        return 0


def check_attributes(df: pd.DataFrame, by: list[str], source: str = "results") -> None:
    """Raise :class:`AsrError` when an attribute asked for is not a column of the results."""
    for name in by:
        if name not in df.columns:
            present = ", ".join(default_attributes(df)) or "none"
            raise AsrError(f"{source}: no field {name!r} to group by (attributes present: {present})")
        if name in ("id", "ref", "hyp", *COUNT_FIELDS):
            raise AsrError(f"{source}: {name!r} is not a grouping attribute")


def group_labels(df: pd.DataFrame, name: str) -> pd.Categorical:
    """The string group label of every row for attribute ``name``; missing values are :data:`MISSING`.

    A list-valued attribute has no one label per row: see :func:`expanded_labels`.
    """
    col = df[name]
    if is_list_attribute(df, name):
        raise ValueError(f"{name!r} holds a list per utterance; use expanded_labels")
    if isinstance(col.dtype, pd.CategoricalDtype) and all(isinstance(c, str) for c in col.cat.categories):
        if col.isna().any():
            col = col.cat.add_categories([MISSING]).fillna(MISSING) if MISSING not in col.cat.categories else col.fillna(MISSING)
        return pd.Categorical(col)
    values = col.astype(object)
    labels = np.where(values.isna().to_numpy(), MISSING, values.astype(str).to_numpy())
    return pd.Categorical(labels)


def is_list_attribute(df: pd.DataFrame, name: str) -> bool:
    """Whether ``name`` holds a list of values per utterance: a :data:`~asr.manifest.records.LIST_FIELDS`
    field, or a column (an extra) whose values are lists."""
    if name not in df.columns:
        return False
    if name in LIST_FIELDS:
        return True
    col = df[name]
    if col.dtype != object:
        return False
    present = col.dropna()
    return len(present) > 0 and isinstance(present.iat[0], list)


def value_lists(df: pd.DataFrame, name: str) -> list[list[str]]:
    """Each row's distinct values of a list-valued attribute, sorted, as strings; ``[MISSING]`` when
    the list is missing or empty."""
    return [sorted({str(x) for x in v}) if isinstance(v, list) and v else [MISSING] for v in df[name]]


def expanded_labels(df: pd.DataFrame, keys: list[str] | tuple[str, ...]) -> tuple[list[pd.Categorical], np.ndarray | None]:
    """Group labels of ``keys`` with one row per utterance and combination of its values.

    An utterance is in the group of each value of a list-valued attribute (:func:`is_list_attribute`),
    so it gives one row per value (per pair of values for two such attributes). Returns the
    labels of each key (one Categorical per key, aligned) and ``rows``: (R,) the utterance
    (row position in ``df``) of each expanded row, or ``None`` when no key is list-valued
    (then the labels are :func:`group_labels`, one per utterance).
    """
    rows: np.ndarray | None = None
    codes: list[np.ndarray] = []
    categories: list[pd.Index] = []
    for key in keys:
        if not is_list_attribute(df, key):
            cat = group_labels(df, key)
            codes.append(np.asarray(cat.codes) if rows is None else np.asarray(cat.codes)[rows])
            categories.append(cat.categories)
            continue
        lists = value_lists(df, key)
        flat = pd.Categorical([v for values in lists for v in values])
        lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
        starts = np.cumsum(lengths) - lengths
        current = np.arange(len(df)) if rows is None else rows
        per_row = lengths[current]
        expand = np.repeat(np.arange(len(current)), per_row)  # each new row's old row
        within = np.arange(len(expand)) - np.repeat(np.cumsum(per_row) - per_row, per_row)
        codes = [c[expand] for c in codes] + [np.asarray(flat.codes)[starts[current][expand] + within]]
        categories.append(flat.categories)
        rows = current[expand]
    labels = [pd.Categorical.from_codes(c, categories=cats) for c, cats in zip(codes, categories)]
    return labels, rows


def missing_count(df: pd.DataFrame, name: str) -> int:
    """Utterances with no value of ``name`` (a missing value, or an empty list)."""
    if is_list_attribute(df, name):
        return sum(values == [MISSING] for values in value_lists(df, name))
    return int((np.asarray(group_labels(df, name)) == MISSING).sum())


# ----------------------------------------------------------------------------- parsing


def _read_one(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise AsrError(f"{path}: results file not found (expected asr decode's results-*.jsonl)")
    keys, rows, dicts = _parse(path)
    if not rows and not dicts:
        raise AsrError(f"{path}: results file has no utterances")
    if dicts is None:
        columns = dict(zip(keys, map(list, zip(*rows))))
    else:
        columns = {}
        for i, row in enumerate(dicts):
            for k, v in row.items():
                columns.setdefault(k, [None] * i).append(v)
            for k in columns.keys() - row.keys():
                columns[k].append(None)
    del rows, dicts
    df = pd.DataFrame({k: _column(k, v, path) for k, v in columns.items()}, copy=False)
    return _validate(df, path)


def _parse(path: Path) -> tuple[tuple, list, list | None]:
    """Rows as value tuples while every line has the same keys in the same order, else as dicts."""
    keys: tuple | None = None
    rows: list[tuple] = []
    dicts: list[dict] | None = None
    opener = open_text if path.suffix == ".gz" else (lambda p: open(p, "rb"))
    with opener(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = _loads(line)
            except ValueError as e:
                raise AsrError(f"{path}:{lineno}: malformed results line ({e}); expected one JSON object per line") from None
            if type(row) is not dict:
                raise AsrError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            if dicts is not None:
                dicts.append(row)
                continue
            k = tuple(row)
            if keys is None:
                keys = k
            elif k != keys:
                dicts = [dict(zip(keys, r)) for r in rows]
                rows = []
                dicts.append(row)
                continue
            rows.append(tuple(row.values()))
    return keys or (), rows, dicts


def _column(name: str, values: list, path: Path):
    if name in COUNT_FIELDS:
        try:
            return np.array(values, dtype=float)  # None -> nan: scored later
        except (TypeError, ValueError):
            bad = next(v for v in values if v is not None and not isinstance(v, (int, float)))
            raise AsrError(f"{path}: field {name!r} must be a number, got {bad!r}") from None
    if name in LIST_FIELDS:
        return pd.Series(values, dtype=object)
    if name in _CATEGORICAL:
        return pd.Categorical([v if v is None or isinstance(v, str) else str(v) for v in values]) \
            if any(v is not None and not isinstance(v, str) for v in values) else pd.Categorical(values)
    if name in _TEXT:
        return np.array(values, dtype=object)
    return pd.Series(values)


def _validate(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    if "speaker" not in df and "id" in df:
        raise AsrError(f"{path}: results rows have no 'speaker' field (as asr score --per-utt writes them); "
                       "join the hypotheses with the manifest: asr score --manifest M --hyp H --output "
                       "results-x.jsonl, or asr audit --manifest M --hyp H")
    for name in ("id", "speaker"):
        if name not in df:
            raise AsrError(f"{path}: results rows have no {name!r} field")
        missing = df[name].isna()
        if missing.any():
            raise AsrError(f"{path}: row {int(np.flatnonzero(missing.to_numpy())[0]) + 1}: missing {name!r}")
    df["id"] = df["id"].astype(str).astype(object)
    for name in (n for n in LIST_FIELDS if n in df):
        bad = df[name].map(lambda v: v is not None and not (isinstance(v, list) and all(isinstance(x, str) for x in v)))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise AsrError(f"{path}: utterance {df['id'].iat[i]}: field {name!r} must be a list of strings, "
                           f"got {df[name].iat[i]!r}")
    counts_missing = np.zeros(len(df), dtype=bool)
    for name in COUNT_FIELDS:
        if name not in df:
            df[name] = np.nan
        counts_missing |= np.isnan(df[name].to_numpy())
    if counts_missing.any():
        _score_missing(df, counts_missing, path)
    counts = df[list(COUNT_FIELDS)].to_numpy()
    bad = (counts < 0).any(axis=1) | (counts != np.floor(counts)).any(axis=1) | (counts[:, 0] + counts[:, 1] > counts[:, 3])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        row = dict(zip(COUNT_FIELDS, counts[i]))
        raise AsrError(
            f"{path}: utterance {df['id'].iat[i]}: impossible edit counts {row} "
            "(expected non-negative integers with sub + del <= ref_len)"
        )
    for name in COUNT_FIELDS:
        df[name] = df[name].astype(np.int64)
    if "duration" in df:
        df["duration"] = pd.to_numeric(df["duration"], errors="coerce")
    if "snr_db" in df:
        df["snr_db"] = pd.to_numeric(df["snr_db"], errors="coerce")
    return df


def _score_missing(df: pd.DataFrame, rows: np.ndarray, path: Path) -> None:
    if "ref" not in df or "hyp" not in df:
        i = int(np.flatnonzero(rows)[0])
        raise AsrError(f"{path}: utterance {df['id'].iat[i]}: no edit counts (sub, del, ins, ref_len) and no ref/hyp to score")
    unit = str(df["unit"].dropna().iloc[0]) if "unit" in df and df["unit"].notna().any() else "char"
    if unit not in ("char", "word"):
        raise AsrError(f"{path}: unknown scoring unit {unit!r} (expected char or word)")
    recorded = df["normalization"].dropna().astype(str) if "normalization" in df else []
    normalization = Normalization.from_description(recorded.iloc[0]) if len(recorded) else DEFAULT
    out = np.empty((int(rows.sum()), 4))
    for j, i in enumerate(np.flatnonzero(rows)):
        ref, hyp = df["ref"].iat[i], df["hyp"].iat[i]
        if not isinstance(ref, str) or not isinstance(hyp, str):
            raise AsrError(f"{path}: utterance {df['id'].iat[i]}: ref and hyp must be strings to score")
        c = score_pair(ref, hyp, unit, normalization)
        out[j] = (c.sub, c.dele, c.ins, c.ref_len)
    for k, name in enumerate(COUNT_FIELDS):
        values = df[name].to_numpy(copy=True)
        values[rows] = out[:, k]
        df[name] = values
    if "unit" not in df:
        df["unit"] = pd.Categorical([unit] * len(df))
    df.attrs["scored_here"] = int(rows.sum())
