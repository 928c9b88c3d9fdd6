"""Speaker cells and the vectorised speaker bootstrap.

Utterances of one speaker are not independent, so the bootstrap resamples
*speakers* within each group (a stratified cluster bootstrap), never utterances; it
serves the bootstrap interval methods of :mod:`asr.audit.intervals` and the release
comparison's probabilities. The work is done on per-(group, speaker) sums, the
:class:`Cells` (which every interval method starts from): a replicate of a
group draws ``k`` of its ``k`` speakers with replacement and sums their edits and
reference lengths; all replicates of a block are one array of draws and one
gather-and-sum per column; there is no Python loop over replicates.

Random draws are made group by group in label order with
``rng.integers(0, k, size=(replicates, k))`` from ``numpy.random.default_rng(seed)``,
so a straightforward loop over the same draws gives the same figures (tested).
Only what is needed is resampled (by default each cell's summed edits and reference
length), gathered with ``numpy.take`` from blocks of draws (faster than building the
count matrix ``W`` and multiplying).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from asr.audit.progress import advance, phase
from asr.audit.results import expanded_labels

#: Columns of :attr:`Cells.values`.
VALUE_COLUMNS = ("sub", "del", "ins", "ref_len", "utterances")
SUB, DEL, INS, REF, UTT = range(len(VALUE_COLUMNS))
#: Replicates drawn per block.
BLOCK = 100


@dataclass(frozen=True)
class Cells:
    """Per-(group, speaker) sums of one grouping.

    keys: the attribute names the groups are made of (one, or two for an intersection).
    labels: ``labels[g]`` is the tuple of attribute values of group ``g`` (sorted).
    group: (C,) group index of each cell.
    speaker: (C,) speaker label of each cell.
    values: (C, 5) summed sub, del, ins, ref_len and utterance count (:data:`VALUE_COLUMNS`).
    """

    keys: tuple[str, ...]
    labels: list[tuple[str, ...]]
    group: np.ndarray
    speaker: np.ndarray
    values: np.ndarray

    @property
    def n_groups(self) -> int:
        return len(self.labels)

    def speakers_per_group(self) -> np.ndarray:
        return np.bincount(self.group, minlength=self.n_groups)

    def group_sums(self) -> np.ndarray:
        """(G, 5) summed values of each group."""
        return _sum_by(self.group, self.values, self.n_groups)

    def errors_and_ref(self) -> np.ndarray:
        """(C, 2): summed edits and summed reference length of each cell (what intervals resample)."""
        v = self.values
        return np.column_stack([v[:, SUB] + v[:, DEL] + v[:, INS], v[:, REF]])

    def label_text(self, g: int) -> str:
        return " × ".join(self.labels[g])


def make_cells(df: pd.DataFrame, keys: list[str] | tuple[str, ...], values: np.ndarray | None = None) -> Cells:
    """Sum ``df``'s rows into (group, speaker) cells for the attributes ``keys``.

    ``values``: (n, K) per-row values to sum instead of :data:`VALUE_COLUMNS` (the
    baseline comparison sums two releases' counts side by side). A list-valued attribute
    (``accents``) puts an utterance in the cell of each of its values
    (:func:`asr.audit.results.expanded_labels`), so its groups overlap. No keys: one group
    of every utterance.
    """
    keys = tuple(keys)
    cats, rows = expanded_labels(df, keys)
    spk = df["speaker"]
    spk_codes, spk_names = pd.factorize(spk.astype(object) if not isinstance(spk.dtype, pd.CategoricalDtype) else spk)
    if values is None:
        values = row_values(df)
    if rows is not None:
        spk_codes, values = spk_codes[rows], np.asarray(values)[rows]
    combined = np.zeros(len(spk_codes), dtype=np.int64)
    for cat in cats:
        combined = combined * len(cat.categories) + cat.codes
    sizes = [len(cat.categories) for cat in cats]
    names = [cat.categories for cat in cats]

    def label(k: int) -> tuple[str, ...]:
        parts = []
        for size, cats_k in zip(reversed(sizes), reversed(names)):
            k, code = divmod(k, size)
            parts.append(str(cats_k[code]))
        return tuple(reversed(parts))

    return cells_from_codes(keys, combined, label, spk_codes, np.asarray(spk_names, dtype=object), values)


def row_values(df: pd.DataFrame) -> np.ndarray:
    """(n, 5): each utterance's :data:`VALUE_COLUMNS` (its counts and 1)."""
    return np.column_stack([df[c].to_numpy(np.float64) for c in VALUE_COLUMNS[:-1]] + [np.ones(len(df))])


def cells_from_codes(keys: tuple[str, ...], group_code: np.ndarray, label, speaker_code: np.ndarray,
                     speaker_names: np.ndarray, values: np.ndarray) -> Cells:
    """:class:`Cells` of rows with integer group codes (n,), speaker codes (n,) and ``values`` (n, K).

    ``label(code)`` gives a group code's tuple of attribute values; groups are ordered by code.
    """
    n_spk = max(len(speaker_names), 1)
    key = group_code.astype(np.int64) * n_spk + speaker_code
    cell_key, inverse = np.unique(key, return_inverse=True)
    cell_values = _sum_by(inverse.ravel(), np.asarray(values, dtype=np.float64), len(cell_key))
    cell_group_key, cell_speaker = np.divmod(cell_key, n_spk)
    present, group = np.unique(cell_group_key, return_inverse=True)
    labels = [label(int(k)) for k in present]
    return Cells(keys, labels, group.ravel().astype(np.int64), speaker_names[cell_speaker], cell_values)


def bootstrap(cells: Cells, replicates: int, seed: int, values: np.ndarray | None = None) -> np.ndarray:
    """Speaker-bootstrap replicates of every group's sums: (replicates, G, K).

    ``values``: (C, K) cell values to resample; default :meth:`Cells.errors_and_ref`
    (K = 2: summed edits, summed reference length). See :func:`resample_sums`.
    """
    values = cells.errors_and_ref() if values is None else values
    return resample_sums(cells.group, cells.n_groups, values, replicates, seed)


def resample_sums(group: np.ndarray, n_groups: int, values: np.ndarray, replicates: int, seed: int) -> np.ndarray:
    """(replicates, G, K): sums of ``values`` (C, K) over each group's cells drawn with replacement.

    Groups are resampled independently (stratified), each from its own cells (``group``:
    (C,) group index of each cell), in blocks of :data:`BLOCK` replicates (memory:
    ``BLOCK`` x the largest group's cell count).
    """
    values = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    out = np.empty((replicates, n_groups, values.shape[1]))
    with phase("speaker bootstrap", replicates * n_groups, "replicate"):
        for g, idx in enumerate(members(group, n_groups)):  # a loop over groups; replicates are vectorised
            columns = [np.ascontiguousarray(values[idx, j]) for j in range(values.shape[1])]
            for start, draws in speaker_draws(rng, len(idx), replicates):
                for j, col in enumerate(columns):
                    out[start : start + len(draws), g, j] = np.take(col, draws).sum(axis=1)
                advance(len(draws))
    return out


def speaker_draws(rng: np.random.Generator, k: int, replicates: int):
    """Yield ``(first_replicate, draws)``: blocks of ``k`` draws with replacement from ``range(k)`` per replicate."""
    for start in range(0, replicates, BLOCK):
        yield start, rng.integers(0, k, size=(min(BLOCK, replicates - start), k), dtype=np.int32 if k < 2**31 else np.int64)


def group_members(cells: Cells) -> list[np.ndarray]:
    """Indices of each group's cells, in the order :func:`bootstrap` draws from."""
    return members(cells.group, cells.n_groups)


def members(group: np.ndarray, n_groups: int) -> list[np.ndarray]:
    """Indices of each group's cells (``group``: (C,) group index), in cell order."""
    order = np.argsort(group, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(group, minlength=n_groups))])
    return [order[bounds[g] : bounds[g + 1]] for g in range(n_groups)]


def rate(errors: np.ndarray, ref_len: np.ndarray) -> np.ndarray:
    """Pooled error rate, elementwise; ``nan`` where there is no reference (0/0) and ``inf`` for x/0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(errors, dtype=float) / np.asarray(ref_len, dtype=float)


def error_rates(sums: np.ndarray) -> np.ndarray:
    """Error rates from (..., 2) bootstrap sums (edits, reference length)."""
    return rate(sums[..., 0], sums[..., 1])


def interval(samples: np.ndarray, confidence: float) -> tuple[float | None, float | None]:
    """Percentile interval of bootstrap replicates along axis 0; ``None`` bounds when most are not finite."""
    samples = np.asarray(samples, dtype=float)
    finite = samples[np.isfinite(samples)]
    if finite.size < max(2, samples.size // 2):
        return None, None
    alpha = (1 - confidence) / 2
    low, high = np.quantile(finite, [alpha, 1 - alpha])
    return float(low), float(high)


def _sum_by(index: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    return np.column_stack([np.bincount(index, weights=values[:, j], minlength=n) for j in range(values.shape[1])])
