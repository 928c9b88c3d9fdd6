"""Several recognizers side by side: ``asr audit --compare OTHER [...]``.

The audited release's results are joined with each other system's on utterance ``id`` (only
utterances every system has count; how many is reported), and the groups come from the audited
release's metadata. Per attribute and group, and for everyone: each system's pooled CER with its
interval over speakers, and each other system's paired difference to the audited release (a
speaker's cell holds every system's sums, so the differences are paired, as in the release
comparison of :mod:`asr.audit.release`). Intervals by the configured method
(:mod:`asr.audit.intervals`).

An ``OTHER`` is a report directory of ``asr audit`` (its ``results.jsonl``; named after the
directory) or a results file (named by its meta's ``system``, else its engine's model, else the
file's directory). Systems scored with different text normalisations are compared all the same,
with a note: their CERs are not strictly comparable.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd

from asr.audit.bootstrap import Cells, make_cells
from asr.audit.config import AuditConfig
from asr.audit.estimands import Term, difference, rate_of
from asr.audit.groups import sample_of
from asr.audit.intervals import estimate
from asr.audit.release import FAIRNESS_FILE, resolve_baseline
from asr.audit.results import MISSING, normalization_of, read_meta, read_results
from asr.audit.schema import Estimate, SystemFigure, SystemInfo, Systems, SystemsGroup, frozen_map
from asr.errors import AsrError
from asr.results import COUNT_FIELDS


def system_name(meta: dict, fallback: str) -> str:
    """A results file's system name: its meta's ``system``, else its engine's model directory name, else ``fallback``."""
    if isinstance(meta.get("system"), str) and meta["system"]:
        return meta["system"]
    engine = meta.get("engine")
    if isinstance(engine, dict) and engine.get("engine") not in (None, "asr") and engine.get("model"):
        return f"{Path(str(engine['model'])).name} ({engine['engine']})"
    return fallback


def engine_name(meta: dict) -> str | None:
    """``external`` (asr score --manifest), an engine's name (``faster-whisper``), ``asr``, or None if unknown."""
    engine = meta.get("engine")
    if isinstance(engine, dict):
        return str(engine.get("engine")) if engine.get("engine") else None
    if engine == "external":
        return "external (asr score --manifest)"
    return str(engine) if engine else ("asr" if meta.get("model") else None)


def compare_systems(current: pd.DataFrame, current_info: SystemInfo, others: list[str | Path], by: list[str],
                    config: AuditConfig) -> Systems:
    """The comparison described in the module docstring; ``current_info`` describes the audited release."""
    infos, frames = [current_info], []
    for other in others:
        info, frame = _read_other(other)
        infos.append(info)
        frames.append(frame)
    infos = _distinct_names(infos)
    joined = current[["id", "speaker", *by, *COUNT_FIELDS]]
    for s, frame in enumerate(frames, start=1):
        joined = joined.merge(frame.rename(columns={c: f"{c}_{s}" for c in COUNT_FIELDS}), on="id")
    if joined.empty:
        raise AsrError(f"{infos[1].results}: no utterance id in common with the audited results; nothing to compare")
    values = np.column_stack([col for s in range(len(infos)) for col in _edits_and_ref(joined, "" if s == 0 else f"_{s}")])
    values = np.column_stack([values, np.ones(len(joined))])
    overall = _groups(make_cells(joined, [], values), infos, config, everyone=True)[0]
    attributes = {attr: _groups(make_cells(joined, [attr], values), infos, config) for attr in by}
    norms = {i.normalization for i in infos if i.normalization}
    notes = ([f"the systems' results were scored with different text normalisations ({len(norms)}); their CERs "
              "are not strictly comparable"] if len(norms) > 1 else [])
    return Systems(tuple(infos), len(joined), int(len(current) - len(joined)), overall, frozen_map(attributes),
                   tuple(notes))


def _read_other(source: str | Path) -> tuple[SystemInfo, pd.DataFrame]:
    results_path, name = resolve_baseline(source, "--compare")
    frame = read_results(results_path)
    meta = read_meta(results_path)
    fairness = results_path.with_name(FAIRNESS_FILE) if results_path.name == "results.jsonl" else None
    card_model, normalization = {}, None
    if fairness is not None and fairness.is_file():
        try:
            data = json.loads(fairness.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise AsrError(f"{fairness}: invalid JSON ({e.msg})") from None
        card_model = ((data.get("model_card") or {}).get("model") or {})
        normalization = data.get("normalization")
    else:
        name = system_name(meta, Path(results_path).parent.name or name)
        normalization = normalization_of(frame, [meta])
    engine = card_model.get("engine") if isinstance(card_model.get("engine"), str) else engine_name(meta)
    info = SystemInfo(name=name, results=str(results_path), system=card_model.get("system") or meta.get("system"),
                      engine=engine, utterances=len(frame), normalization=normalization)
    return info, frame[["id", *COUNT_FIELDS]]


def _distinct_names(infos: list[SystemInfo]) -> list[SystemInfo]:
    """Number repeated names (``whisper``, ``whisper #2``), so every column of the table is told apart."""
    seen: dict[str, int] = {}
    out = []
    for info in infos:
        seen[info.name] = seen.get(info.name, 0) + 1
        out.append(info if seen[info.name] == 1 else dataclasses.replace(info, name=f"{info.name} #{seen[info.name]}"))
    return out


def _edits_and_ref(joined: pd.DataFrame, suffix: str) -> list[np.ndarray]:
    edits = sum(joined[f"{c}{suffix}"].to_numpy(np.float64) for c in ("sub", "del", "ins"))
    return [edits, joined[f"ref_len{suffix}"].to_numpy(np.float64)]


def _groups(cells: Cells, infos: list[SystemInfo], config: AuditConfig, everyone: bool = False) -> tuple[SystemsGroup, ...]:
    k = 2 * len(infos)
    sample = sample_of(cells, config, values=cells.values[:, :k])
    sums = cells.group_sums()
    speakers = cells.speakers_per_group()
    method, level = config.interval_method, config.confidence
    out = []
    for g in range(cells.n_groups):
        figures = []
        for s, info in enumerate(infos):
            cer = Estimate(*estimate(rate_of(g, 2 * s, 2 * s + 1), sample, method, level))
            diff = None if s == 0 else Estimate(*estimate(
                difference(Term((g,), 2 * s, 2 * s + 1), Term((g,), 0, 1)), sample, method, level))
            figures.append(SystemFigure(info.name, cer, diff))
        eligible = int(speakers[g]) >= config.min_speakers and (everyone or MISSING not in cells.labels[g])
        out.append(SystemsGroup("everyone" if everyone else cells.label_text(g), int(speakers[g]), int(sums[g, k]),
                                eligible, tuple(figures)))
    return tuple(out)
