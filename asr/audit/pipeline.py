"""``asr audit`` end to end: results files in, ``reports/<release>/`` out.

:func:`audit` computes the ``fairness.json`` dict from a results table;
:func:`run_audit` reads the inputs, calls it, writes ``fairness.json``,
``fairness.html`` and ``results.jsonl`` into ``<output_dir>/<release>/`` and
refreshes ``<output_dir>/index.html``, then evaluates the release gates.

``fairness.json`` (schema ``asr-fairness/1``), top level::

    schema, release, created, asr_version, inputs {results, model, baseline},
    config (resolved), metric ("CER"/"WER"), unit, normalization,
    overall {utterances, speakers, ref_len, errors, sub, del, ins, cer, cer_low, cer_high, *_rate},
    headline {attribute, estimable, worst_group, best_group, worst_cer, best_cer, ratio, difference, text},
    attributes {attr: {missing, groups [...], disparity {...}, tests [...], adjusted {...}, matched {...}}},
    intersections [{attributes [a, b], cells [...]}],
    explanations (asr.audit.explain.explain of the headline attribute),
    baseline (asr.audit.release.compare_with_baseline, or null),
    gates [{gate, attribute, metric, op, threshold, value, failed, message}],
    model_card {model, intended_use, training_data, evaluation_data, normalization, provenance, caveats},
    provenance {audit, decode, model} (asr.provenance records: what audited, decoded, trained),
    warnings [...], timings {step: seconds}
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from asr.audit import gates as gates_mod
from asr.audit.adjusted import adjusted_disparity
from asr.audit.bootstrap import bootstrap, make_cells
from asr.audit.card import model_card
from asr.audit.config import AuditConfig
from asr.audit.disparity import group_tests, summarize
from asr.audit.explain import explain
from asr.audit.groups import group_rows, overall_row
from asr.audit.matched import matched_comparison
from asr.audit.release import compare_with_baseline, release_summaries, render_index
from asr.audit.report import render_report
from asr.audit.results import (
    MISSING, check_attributes, default_attributes, group_labels, normalization_of, read_meta, read_results,
)
from asr.manifest.records import METADATA_FIELDS
from asr.config import to_dict
from asr.errors import AsrError
from asr.io import atomic_write, open_text, write_json
from asr.provenance import differences as provenance_differences
from asr.provenance import provenance as provenance_record

log = logging.getLogger(__name__)
SCHEMA = "asr-fairness/1"
HTML_FILE, JSON_FILE, RESULTS_FILE, INDEX_FILE = "fairness.html", "fairness.json", "results.jsonl", "index.html"
MODEL_SUMMARY_FILE = "data_summary.json"


@dataclass(frozen=True)
class AuditOutput:
    """What :func:`run_audit` wrote and whether a gate failed."""

    fairness: dict
    directory: Path
    index: Path
    failed_gates: list[dict]


def audit(
    results: pd.DataFrame,
    config: AuditConfig,
    release: str = "release",
    normalization: str | None = None,
    data_summary: dict | None = None,
    model_info: dict | None = None,
    baseline: str | Path | None = None,
    inputs: dict | None = None,
    provenance: dict | None = None,
) -> dict:
    """The ``fairness.json`` dict of a results table (see the module docstring).

    ``provenance``: ``{"audit", "decode", "model"}`` records (:mod:`asr.provenance`), or None.
    """
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    warnings: list[str] = []
    by = list(config.by) or default_attributes(results)
    # A known metadata field that no utterance has (a Common Voice split without accents) is
    # skipped with a warning; any other unknown name is an error (a typo in --by).
    absent = [a for a in by if a in METADATA_FIELDS and a not in results.columns]
    warnings += [f"{a}: no utterance has this field; not audited" for a in absent]
    by = [a for a in by if a not in absent]
    if absent and not by:
        present = ", ".join(default_attributes(results)) or "none"
        raise AsrError(f"results: no utterance has {', '.join(absent)} (attributes present: {present})")
    if not by:
        raise AsrError("results have no metadata field to group by (expected e.g. dialect, gender); pass --by")
    check_attributes(results, by)
    config = dataclasses.replace(config, by=by)
    unit = str(results["unit"].dropna().iloc[0]) if "unit" in results and results["unit"].notna().any() else "char"
    attributes = {}
    overall = None
    explaining = _start_explain(results, by[0], data_summary, config)
    for attr in by:
        cells = make_cells(results, [attr])
        reps = bootstrap(cells, config.replicates, config.seed)
        rows = group_rows(cells, reps, config.min_speakers, config.confidence)
        if overall is None:
            overall = overall_row(cells, reps, config.confidence)
        missing = int((np.asarray(group_labels(results, attr)) == MISSING).sum())
        if missing:
            warnings.append(f"{attr}: {missing} utterance(s) have no value; they form the group {MISSING}")
        attributes[attr] = {
            "missing": missing,
            "groups": rows,
            "disparity": summarize(cells, rows, reps, config.confidence),
            "tests": group_tests(cells, rows, config.permutations, config.seed, 1 - config.confidence),
        }
        lap(f"groups:{attr}")
        attributes[attr]["adjusted"] = adjusted_disparity(results, attr, config)
        lap(f"adjusted:{attr}")
        attributes[attr]["matched"] = matched_comparison(results, attr, config)
        lap(f"matched:{attr}")
    intersections = []
    if config.intersections:
        for a, b in itertools.combinations(by, 2):
            cells = make_cells(results, [a, b])
            reps = bootstrap(cells, config.replicates, config.seed)
            rows = group_rows(cells, reps, config.min_speakers, config.confidence)
            intersections.append({"attributes": [a, b], "cells": rows,
                                  "flagged": sum(not r["eligible"] for r in rows)})
        lap("intersections")
    headline = _headline(by[0], attributes[by[0]]["disparity"], unit)
    try:
        explanations = explaining()
    except AsrError as e:  # e.g. results with counts but no texts: the rest of the audit stands
        explanations = None
        warnings.append(f"explanations not computed: {e}")
    lap("explanations (wait)")
    comparison = compare_with_baseline(results, baseline, by, config) if baseline else None
    lap("baseline")
    fairness = {
        "schema": SCHEMA,
        "release": release,
        "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "asr_version": _version(),
        "inputs": inputs or {},
        "config": to_dict(config),
        "metric": "CER" if unit == "char" else "WER",
        "unit": unit,
        "normalization": normalization or normalization_of(results, []),
        "overall": overall,
        "headline": headline,
        "attributes": attributes,
        "intersections": intersections,
        "explanations": explanations,
        "baseline": comparison,
        "gates": [],
        "provenance": provenance,
        "warnings": warnings,
    }
    fairness["model_card"] = model_card(fairness, model_info, data_summary)
    fairness["timings"] = timings
    return fairness


#: From this many utterances on, the explanations (pure Python) run in a forked process beside
#: the group statistics (numpy), so a two-core machine uses both cores.
PARALLEL_EXPLAIN_MIN = 100_000


def _start_explain(results: pd.DataFrame, by: str, data_summary: dict | None, config: AuditConfig):
    """Start :func:`asr.audit.explain.explain`; returns a function that waits for its result.

    Large inputs on platforms with ``fork`` compute it in a child process (it inherits the
    table without copying it); otherwise it is computed when asked for.
    """
    import multiprocessing as mp

    kwargs = {"top_k": config.explain_top_k, "max_aligned": config.explain_max_aligned}
    if len(results) < PARALLEL_EXPLAIN_MIN or "fork" not in mp.get_all_start_methods():
        return lambda: explain(results, by, data_summary, **kwargs)
    from concurrent.futures import ProcessPoolExecutor

    _FORKED["results"] = results  # read by the child, forked on submit: set first
    pool = ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("fork"))
    future = pool.submit(_explain_forked, by, data_summary, kwargs)

    def wait() -> dict:
        try:
            return future.result()
        finally:
            pool.shutdown()
            _FORKED.clear()

    return wait


_FORKED: dict = {}


def _explain_forked(by: str, data_summary: dict | None, kwargs: dict) -> dict:
    return explain(_FORKED["results"], by, data_summary, **kwargs)


def run_audit(
    results_paths: list[str | Path],
    release: str,
    output_dir: str | Path = "reports",
    config: AuditConfig = AuditConfig(),
    baseline: str | Path | None = None,
    model: str | Path | None = None,
) -> AuditOutput:
    """Audit results files into ``<output_dir>/<release>/``; see the module docstring."""
    if not release or any(c in release for c in "/\\") or release in (".", ".."):
        raise AsrError(f"--release {release!r}: expected a plain directory name such as 'baseline'")
    gates = [gates_mod.parse_gate(g) for g in config.fail_if]
    if any(g.needs_baseline for g in gates) and baseline is None:
        needs = next(g for g in gates if g.needs_baseline)
        raise AsrError(f"--fail-if {needs.text!r} compares with a baseline: pass --baseline")
    if baseline is not None:
        from asr.audit.release import resolve_baseline

        resolve_baseline(baseline)  # a missing baseline fails now, not after the whole audit
    started = time.perf_counter()
    paths = [Path(p) for p in results_paths]
    results = read_results(paths)
    read_seconds = time.perf_counter() - started
    metas = [read_meta(p) for p in paths]
    model_dir = Path(model) if model else next((Path(m["model"]) for m in metas if m.get("model")), None)
    model_info, data_summary = _read_model(model_dir)
    records = _provenance(metas, model_dir)
    out_dir = Path(output_dir) / release
    fairness = audit(
        results, config, release=release, normalization=normalization_of(results, metas),
        data_summary=data_summary, model_info=model_info, baseline=baseline,
        inputs={"results": [str(p) for p in paths], "model": str(model_dir) if model_dir else None,
                "baseline": str(baseline) if baseline else None,
                "manifests": sorted({str(m["manifest"]) for m in metas if m.get("manifest")}),
                "decoding": next((m["decoding"] for m in metas if m.get("decoding")), None)},
        provenance=records,
    )
    if baseline is not None:
        for warning in baseline_provenance_warnings(records, baseline):
            log.warning("%s", warning)
            fairness["warnings"].append(warning)
    fairness["timings"] = {"read": round(read_seconds, 3), **fairness["timings"]}
    fairness["gates"] = gates_mod.evaluate(gates, fairness)
    _write_results(paths, results, out_dir / RESULTS_FILE)
    write_json(out_dir / JSON_FILE, _jsonable(fairness))
    with atomic_write(out_dir / HTML_FILE) as f:
        f.write(render_report(fairness))
    index = Path(output_dir) / INDEX_FILE
    with atomic_write(index) as f:
        f.write(render_index(release_summaries(output_dir)))
    return AuditOutput(fairness, out_dir, index, [g for g in fairness["gates"] if g["failed"]])


def _provenance(metas: list[dict], model_dir: Path | None) -> dict:
    """What audited (now), decoded (the results' meta files) and trained (the model directory)."""
    decode = next((m["provenance"] for m in metas if isinstance(m.get("provenance"), dict)), None)
    model = next((m["model_provenance"] for m in metas if isinstance(m.get("model_provenance"), dict)), None)
    if model is None and model_dir is not None and (model_dir / "provenance.json").is_file():
        try:
            model = json.loads((model_dir / "provenance.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise AsrError(f"{model_dir / 'provenance.json'}: invalid JSON ({e.msg})") from None
    return {"audit": provenance_record(), "decode": decode, "model": model}


def baseline_provenance_warnings(records: dict, baseline: str | Path) -> list[str]:
    """Warnings when the baseline release was trained or decoded under another precision or stack."""
    path = Path(baseline)
    fairness_file = path / JSON_FILE if path.is_dir() else path.with_name(JSON_FILE)
    if not fairness_file.is_file():
        return []
    try:
        old = (json.loads(fairness_file.read_text(encoding="utf-8")).get("provenance") or {})
    except (json.JSONDecodeError, AttributeError):
        return [f"{fairness_file}: unreadable; the baseline's provenance was not compared"]
    if not old.get("model") and not old.get("decode"):
        return [f"{fairness_file}: the baseline records no provenance (made by asr < 0.2); "
                "whether it ran under the same precision and packages is unknown"]
    warnings = []
    for stage, verb in (("model", "trained"), ("decode", "decoded")):
        found = provenance_differences(old.get(stage), records.get(stage))
        if found:
            warnings.append(f"the baseline and this release were {verb} under different settings "
                            f"({'; '.join(found)}): part of a difference may come from that, not the model")
    return warnings


def _headline(attr: str, disparity: dict, unit: str) -> dict:
    metric = "CER" if unit == "char" else "WER"
    if not disparity.get("estimable"):
        return {"attribute": attr, "estimable": False, "text": f"No {attr} disparity: {disparity.get('reason')}."}
    w, r, d = disparity["worst_cer"], disparity["ratio"], disparity["difference"]
    if disparity["worst_group"] == disparity["best_group"] or d["value"] == 0:
        return {
            "attribute": attr, "estimable": True, "worst_group": disparity["worst_group"],
            "best_group": disparity["best_group"], "worst_cer": w, "best_cer": disparity["best_cer"],
            "ratio": r, "difference": d,
            "text": f"By {attr}, no gap: every group has the same {metric}, {_pct(w['value'])}.",
        }
    text = (
        f"By {attr}, {disparity['worst_group']} has the highest {metric}: {_pct(w['value'])} "
        f"(95% CI {_pct(w['low'])}–{_pct(w['high'])}), {_pts(d['value'])} points above "
        f"{disparity['best_group']} ({_pct(disparity['best_cer']['value'])}; difference CI "
        f"{_pts(d['low'])}–{_pts(d['high'])} points)"
    )
    if r["value"] is not None:
        text += f", {r['value']:.2f}× its rate (CI {_num(r['low'])}–{_num(r['high'])}×)"
    return {
        "attribute": attr, "estimable": True, "worst_group": disparity["worst_group"],
        "best_group": disparity["best_group"], "worst_cer": w, "best_cer": disparity["best_cer"],
        "ratio": r, "difference": d, "text": text + ".",
    }


def _read_model(model_dir: Path | None) -> tuple[dict | None, dict | None]:
    """Model details (config.yaml) and the training-data summary, read without loading weights."""
    if model_dir is None:
        return None, None
    if not model_dir.is_dir():
        raise AsrError(f"{model_dir}: model directory not found (pass --model DIR or fix 'model' in the results' meta.json)")
    info: dict = {"path": str(model_dir)}
    config_file = model_dir / "config.yaml"
    if config_file.is_file():
        from asr.config import load_yaml

        cfg = load_yaml(config_file)
        model_cfg = cfg.get("model") if isinstance(cfg.get("model"), dict) else {}
        info.update({k: cfg[k] for k in ("format", "encoder", "vocab_size", "sample_rate", "input_dim") if k in cfg})
        info["architecture"] = {k: v for k, v in model_cfg.items() if isinstance(v, (int, float, str, bool))}
    weights = model_dir / "model.safetensors"
    if weights.is_file():
        info["weights_bytes"] = weights.stat().st_size
    summary_file = model_dir / MODEL_SUMMARY_FILE
    summary = None
    if summary_file.is_file():
        try:
            summary = json.loads(summary_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise AsrError(f"{summary_file}: invalid JSON ({e.msg})") from None
    return info, summary


def _write_results(paths: list[Path], results: pd.DataFrame, target: Path) -> None:
    """The per-utterance rows: the input lines verbatim when they were complete, else re-serialised."""
    if results.attrs.get("scored_here"):
        from asr.io import write_jsonl

        cols = list(results.columns)
        write_jsonl(target, ({k: _plain(v) for k, v in zip(cols, row)} for row in results.itertuples(index=False)))
        return
    with atomic_write(target) as out:
        for path in paths:
            with open_text(path) as f:
                shutil.copyfileobj(f, out, 1 << 20)


def _plain(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if np.isnan(v) else float(v)
    return None if v is pd.NA else v


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def _version() -> str:
    from asr import __version__

    return __version__


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _pts(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def _num(x) -> str:
    return "–" if x is None else f"{x:.2f}"
