"""Why a group fails: training composition, confusions, worst utterances, length and condition.

:func:`explain` turns a results table (one row per utterance, the results-file
columns ``id ref hyp sub del ins ref_len unit speaker ...`` plus metadata) into a
JSON-able dict that the report renders beside the group metrics::

    {"by": "dialect",
     "normalization": "NFKC ...",
     "training_composition": [{"group", "train_hours", "train_utterances", "train_speakers",
                               "train_share", "cer", "utterances", "ref_len"}],
     "char_confusions":  {group: [{"op", "ref", "hyp", "count"}]},
     "pinyin_confusions": {group: {"initial": [{"ref", "hyp", "count"}], "final": [...], "tone": [...],
                                   "rate_per_100_ref_chars": {"initial", "final", "tone"},
                                   "han_substitutions", "homophones"}},
     "worst_utterances": {group: [{"id", "speaker", "cer", "errors", "ref_len",
                                   "ref_aligned", "hyp_aligned", "ops"}]},
     "by_length":    [{"bin", "utterances", "ref_len", "cer"}],
     "by_condition": [{"condition", "utterances", "ref_len", "cer"}],
     "alignment":    {group: {"errorful_utterances", "aligned_utterances", "sampled", "count_mismatches"}}}

Conventions:

- Group labels are ``str(value)``; a missing value (``None``/NaN) is the group
  :data:`MISSING`. Every group in the results appears in every per-group mapping.
  Every distinct value is a group, so bin a continuous attribute (``snr_db``) first.
- Rates are pooled from the results' own columns: a group's CER is its summed
  ``sub + del + ins`` over its summed ``ref_len`` (``None`` when that is infinite:
  insertions against an empty reference).
- ``char_confusions`` lists, in this order, the ``top_k`` most frequent substitutions
  (``op "S"``), deletions (``op "D"``, ``hyp ""``) and insertions (``op "I"``,
  ``ref ""``), each by count, ties by the tokens.
- Confusions need a token alignment (jiwer, through :mod:`asr.score`), recomputed from
  the raw ``ref``/``hyp`` texts with the scoring normalisation. Only utterances with
  errors are aligned; a group with more than ``max_aligned`` of them is represented by
  a fixed sample (the ``max_aligned`` smallest CRC32 hashes of their ids, so the
  choice is reproducible and independent of row order). Counts are those of the
  aligned utterances; the pinyin rates per 100 reference tokens scale them back to
  the whole group (``count * errorful / aligned / group ref_len``).
  ``count_mismatches`` counts aligned utterances whose recomputed edits differ from
  the results' columns (0 unless the results were scored with another normalisation
  or another of several equally cheap alignments was recorded). With the default
  :data:`MAX_ALIGNED`, 100k utterances in a handful of groups take a few seconds.
- ``worst_utterances``: the ``top_k`` by CER (empty references with insertions
  first), ties broken by the longer reference, then by id. Aligned strings use
  :data:`GAP` for gaps; ``ops`` has one of ``= S D I`` per aligned position. When
  every token is one character, the strings are plain concatenations, position for
  position; otherwise (Latin words, word units) tokens are separated by one space and
  each position padded to the display width of its wider side.
- ``by_length``: reference-length bins :data:`LENGTH_BINS` (in tokens), nonempty
  bins only, pooled CER.
"""

from __future__ import annotations

import math
import unicodedata
import zlib
from collections import Counter

import numpy as np

from asr.audit.pinyin_confusions import PinyinTally, top_items
from asr.errors import AsrError
from asr.score import alignment, units
from asr.text import DEFAULT, Normalization

#: The group label of rows whose attribute is missing: ``asr.models.model_dir.UNKNOWN``, so that
#: they join the training data summary's own count of missing values.
MISSING = "unknown"
#: The gap symbol in aligned strings.
GAP = "*"
#: Reference-length bins in tokens: (label, lowest, highest inclusive).
LENGTH_BINS = (
    ("0", 0, 0),
    ("1-5", 1, 5),
    ("6-10", 6, 10),
    ("11-15", 11, 15),
    ("16-20", 16, 20),
    ("21-30", 21, 30),
    ("31-50", 31, 50),
    ("51+", 51, math.inf),
)
#: Errorful utterances aligned per group for the confusion counts (see the module docstring).
MAX_ALIGNED = 2000

REQUIRED_COLUMNS = ("id", "ref", "hyp", "sub", "del", "ins", "ref_len")


def explain(results, by: str, data_summary: dict | None, top_k: int = 10, *,
            normalization: Normalization = DEFAULT, max_aligned: int = MAX_ALIGNED) -> dict:
    """Explanations of the error rates of the groups of ``by``; see the module docstring.

    ``results``: a pandas DataFrame, one row per utterance. ``data_summary``: the model
    directory's ``data_summary.json`` (or ``None``). ``normalization``: the one the edit
    counts were computed with (:func:`asr.audit.results.normalization_of`, read back with
    :meth:`~asr.text.Normalization.from_description`); the confusions are re-aligned with it.
    A list-valued ``by`` (``accents``) puts an utterance in the group of each of its values;
    the length and condition bins count every utterance once.
    """
    _check(results, by)
    df = results.copy()
    for col in ("sub", "del", "ins", "ref_len"):
        df[col] = df[col].fillna(0).astype("int64")
    df["_errors"] = df["sub"] + df["del"] + df["ins"]
    whole = df
    if _holds_lists(df[by]):  # one row per (utterance, value); an empty list is the missing group
        df = df.assign(**{by: df[by].map(lambda v: sorted(set(v)) if isinstance(v, list) and v else None)})
        df = df.explode(by, ignore_index=True)
    df["_group"] = group_labels(df[by])

    out = {
        "by": by,
        "normalization": normalization.describe(),
        "training_composition": training_composition(df, by, data_summary),
        "char_confusions": {},
        "pinyin_confusions": {},
        "worst_utterances": {},
        "by_length": by_length(whole),
        "by_condition": by_condition(whole),
        "alignment": {},
    }
    for g, sub in df.groupby("_group", sort=True):
        items, info = _align_group(sub, max_aligned, normalization)
        chars, tally = _confusions(items)
        ref_chars = float(sub["ref_len"].sum())
        if info["aligned_utterances"]:  # scale the sample's counts back to the whole group
            ref_chars *= info["aligned_utterances"] / info["errorful_utterances"]
        out["alignment"][g] = info
        out["char_confusions"][g] = chars.to_json(top_k)
        out["pinyin_confusions"][g] = tally.to_json(top_k, ref_chars)
        out["worst_utterances"][g] = worst_utterances(sub, top_k, normalization)
    return out


def group_label(value) -> str:
    """The JSON key of a group value: ``str(value)``, or :data:`MISSING` for None/NaN/NA."""
    import pandas as pd

    return MISSING if pd.api.types.is_scalar(value) and pd.isna(value) else str(value)


def group_labels(values):
    """:func:`group_label` of each value of a pandas Series, as a Series (vectorised)."""
    return values.astype(object).where(values.notna(), MISSING).map(str)


def pooled_cer(errors: int, ref_len: int) -> float | None:
    """Summed edits over summed reference length; 0.0 for 0/0, ``None`` for n/0."""
    if ref_len == 0:
        return 0.0 if errors == 0 else None
    return round(errors / ref_len, 6)


# --- training composition ---------------------------------------------------------------

def training_composition(df, by: str, data_summary: dict | None) -> list[dict]:
    """One row per group in the results or the training data, test CER beside training amounts."""
    train = _training_groups(data_summary, by)
    total_hours = sum(v["train_hours"] for v in train.values() if v["train_hours"] is not None)
    stats = df.groupby("_group")[["_errors", "ref_len"]].sum() if len(df) else None
    counts = df.groupby("_group").size() if len(df) else None
    rows = []
    for g in sorted(set(df["_group"]) | set(train)):
        t = train.get(g, {"train_hours": None, "train_utterances": None, "train_speakers": None})
        present = stats is not None and g in stats.index
        hours = t["train_hours"]
        rows.append({
            "group": g,
            "train_hours": hours,
            "train_utterances": t["train_utterances"],
            "train_speakers": t["train_speakers"],
            "train_share": round(hours / total_hours, 6) if hours is not None and total_hours > 0 else None,
            "cer": pooled_cer(int(stats.at[g, "_errors"]), int(stats.at[g, "ref_len"])) if present else None,
            "utterances": int(counts[g]) if present else 0,
            "ref_len": int(stats.at[g, "ref_len"]) if present else 0,
        })
    return rows


def _training_groups(summary: dict | None, by: str) -> dict[str, dict]:
    """``{group: {train_hours, train_utterances, train_speakers}}`` from a data summary.

    The schema is :func:`asr.models.model_dir.data_summary_from_manifest`'s: ``{"total": {...},
    "by": {field: {value: {"hours", "utterances", "speakers"}}}}``, missing values
    counted as ``"unknown"`` (= :data:`MISSING`). No summary, or none for ``by``: ``{}``.
    """
    if not isinstance(summary, dict) or not isinstance(summary.get("by"), dict):
        return {}
    table = summary["by"].get(by)
    if not isinstance(table, dict):
        return {}
    out = {}
    for value, rec in table.items():
        rec = rec if isinstance(rec, dict) else {}
        hours, utts, spks = (_number(rec.get(k)) for k in ("hours", "utterances", "speakers"))
        out[group_label(value)] = {
            "train_hours": hours,
            "train_utterances": int(utts) if utts is not None else None,
            "train_speakers": int(spks) if spks is not None else None,
        }
    return out


def _number(value) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


# --- length and condition ---------------------------------------------------------------

def by_length(df) -> list[dict]:
    """Pooled CER per reference-length bin (:data:`LENGTH_BINS`), nonempty bins only."""
    rows = []
    for label, lo, hi in LENGTH_BINS:
        sel = df[(df["ref_len"] >= lo) & (df["ref_len"] <= hi)]
        if len(sel):
            rows.append(_pooled_row("bin", label, sel))
    return rows


def by_condition(df) -> list[dict]:
    """Pooled CER per recording condition; ``[]`` without a ``condition`` column."""
    if "condition" not in df.columns:
        return []
    labels = group_labels(df["condition"])
    return [_pooled_row("condition", c, df[labels == c]) for c in sorted(labels.unique())]


def _pooled_row(key: str, label: str, sel) -> dict:
    ref_len = int(sel["ref_len"].sum())
    cer = pooled_cer(int(sel["_errors"].sum()), ref_len)
    return {key: label, "utterances": int(len(sel)), "ref_len": ref_len, "cer": cer}


# --- worst utterances -------------------------------------------------------------------

def worst_utterances(sub, top_k: int, normalization: Normalization = DEFAULT) -> list[dict]:
    """The ``top_k`` rows of one group by CER, ties by longer reference then id, aligned."""
    if not len(sub) or top_k <= 0:
        return []
    ref_len = sub["ref_len"].to_numpy()
    errors = sub["_errors"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        cer = np.where(ref_len > 0, errors / np.maximum(ref_len, 1), np.where(errors > 0, np.inf, 0.0))
    # Candidates: every row whose (CER, length) could reach the top k; then an exact sort with ids.
    cut = np.lexsort((-ref_len, -cer))[: max(top_k, 0)]
    last = cut[-1]
    cand = np.flatnonzero((cer > cer[last]) | ((cer == cer[last]) & (ref_len >= ref_len[last])))
    ids = sub["id"].astype(str).to_numpy()
    order = sorted(cand, key=lambda i: (-cer[i], -int(ref_len[i]), ids[i]))[:top_k]
    rows = []
    for i in order:
        row = sub.iloc[i]
        unit = _unit(row.get("unit"))
        ref = units(_text(row["ref"]), unit, normalization)
        ref_aligned, hyp_aligned, ops = aligned_strings(alignment(ref, units(_text(row["hyp"]), unit, normalization)))
        rows.append({
            "id": str(row["id"]),
            "speaker": group_label(row["speaker"]) if "speaker" in sub.columns else None,
            "cer": None if math.isinf(cer[i]) else round(float(cer[i]), 6),
            "errors": int(errors[i]),
            "ref_len": int(ref_len[i]),
            "ref_aligned": ref_aligned,
            "hyp_aligned": hyp_aligned,
            "ops": ops,
        })
    return rows


def aligned_strings(pairs: list[tuple[str, str | None, str | None]]) -> tuple[str, str, str]:
    """Reference, hypothesis and ops strings of an alignment, gaps as :data:`GAP`.

    >>> aligned_strings([("=", "知", "知"), ("S", "道", "到"), ("D", "了", None)])
    ('知道了', '知到*', '=SD')
    """
    refs = [r if r is not None else GAP for _, r, _ in pairs]
    hyps = [h if h is not None else GAP for _, _, h in pairs]
    ops = "".join(op for op, _, _ in pairs)
    if all(len(t) == 1 for t in refs + hyps):
        return "".join(refs), "".join(hyps), ops
    widths = [max(_width(r), _width(h)) for r, h in zip(refs, hyps)]
    pad = lambda toks: " ".join(t + " " * (w - _width(t)) for t, w in zip(toks, widths)).rstrip()  # noqa: E731
    return pad(refs), pad(hyps), ops


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


# --- confusions -------------------------------------------------------------------------

class _CharTally:
    def __init__(self):
        self.counts = {"S": Counter(), "D": Counter(), "I": Counter()}

    def to_json(self, top_k: int) -> list[dict]:
        rows = []
        for op in ("S", "D", "I"):
            for (r, h), n in top_items(self.counts[op], top_k):
                rows.append({"op": op, "ref": r, "hyp": h, "count": int(n)})
        return rows


def _confusions(items) -> tuple[_CharTally, PinyinTally]:
    chars, tally = _CharTally(), PinyinTally()
    for ref_tokens, hyp_tokens, pairs in items:
        indexed, i, j = [], 0, 0
        for op, r, h in pairs:
            if op != "=":
                chars.counts[op][(r or "", h or "")] += 1
            indexed.append((op, i, j))
            i += op != "I"
            j += op != "D"
        tally.add_pairs(ref_tokens, hyp_tokens, indexed)
    return chars, tally


def _align_group(sub, max_aligned: int, normalization: Normalization) -> tuple[list, dict]:
    """Align (a reproducible sample of) one group's errorful utterances.

    Returns ``[(ref_tokens, hyp_tokens, pairs)]`` and the group's ``alignment`` entry.
    """
    rows = sub[sub["_errors"] > 0]
    n = len(rows)
    if n > max_aligned:
        keys = [(zlib.crc32(str(x).encode("utf-8")), str(x)) for x in rows["id"]]
        rows = rows.iloc[sorted(range(n), key=keys.__getitem__)[:max_aligned]]
    items, mismatches = [], 0
    unit_col = rows["unit"] if "unit" in rows.columns else ["char"] * len(rows)
    edits = rows[["sub", "del", "ins"]].to_numpy()
    for ref, hyp, unit, counts in zip(rows["ref"], rows["hyp"], unit_col, edits):
        unit = _unit(unit)
        ref = units(_text(ref), unit, normalization)
        hyp = units(_text(hyp), unit, normalization)
        pairs = alignment(ref, hyp)
        ops = Counter(op for op, _, _ in pairs)
        mismatches += (ops["S"], ops["D"], ops["I"]) != tuple(int(c) for c in counts)
        items.append((ref, hyp, pairs))
    info = {"errorful_utterances": n, "aligned_utterances": len(rows), "sampled": n > max_aligned,
            "count_mismatches": mismatches}
    return items, info


# --- helpers ----------------------------------------------------------------------------

def _check(results, by: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in results.columns]
    if missing:
        raise AsrError(f"results: missing column(s) {', '.join(missing)}; expected the results-file columns")
    if by not in results.columns:
        raise AsrError(f"results: no column {by!r} to group by; columns are {', '.join(map(str, results.columns))}")


def _holds_lists(values) -> bool:
    """Whether a column holds lists (a list-valued field such as ``accents``)."""
    return values.dtype == object and any(isinstance(v, list) for v in values)


def _unit(value) -> str:
    """A row's scoring unit; anything but ``"word"`` (also a missing value) is ``"char"``."""
    return "word" if isinstance(value, str) and value == "word" else "char"


def _text(value) -> str:
    return value if isinstance(value, str) else ""
