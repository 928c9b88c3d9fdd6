"""``asr audit`` end to end: results files in, ``reports/<release>/`` out.

:func:`audit` computes an :class:`~asr.audit.schema.AuditResult` from a results table;
:func:`run_audit` reads the inputs, calls it, evaluates the release gates, writes
``fairness.json`` (:func:`asr.audit.schema.to_json`; its schema is documented in
:mod:`asr.audit.schema`), ``fairness.html`` and ``results.jsonl`` into
``<output_dir>/<release>/`` and refreshes ``<output_dir>/index.html``.
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
from asr.audit.bootstrap import make_cells
from asr.audit.card import model_card
from asr.audit.config import AuditConfig
from asr.audit.disparity import choose_reference, group_tests, summarize
from asr.audit.explain import explain
from asr.audit.groups import group_rows, overall_row, sample_of
from asr.audit.headline import headline
from asr.audit.matched import matched_comparison
from asr.audit.release import compare_with_baseline, release_summaries, render_index, resolve_baseline
from asr.audit.report import render_report
from asr.audit.results import (
    MISSING, check_attributes, default_attributes, group_labels, normalization_of, read_meta, read_results,
)
from asr.audit.schema import AttributeResult, AuditResult, Figures, GateResult, Intersection, frozen_map, to_json
from asr.manifest.records import METADATA_FIELDS
from asr.errors import AsrError
from asr.io import atomic_write, open_text, write_json
from asr.provenance import differences as provenance_differences
from asr.provenance import provenance as provenance_record

log = logging.getLogger(__name__)
HTML_FILE, JSON_FILE, RESULTS_FILE, INDEX_FILE = "fairness.html", "fairness.json", "results.jsonl", "index.html"
MODEL_SUMMARY_FILE = "data_summary.json"


@dataclass(frozen=True)
class AuditOutput:
    """What :func:`run_audit` computed and wrote, and the gates that failed."""

    result: AuditResult
    directory: Path
    index: Path
    failed_gates: tuple[GateResult, ...]


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
) -> AuditResult:
    """The audit of a results table (one row per utterance, the results-file columns).

    ``provenance``: ``{"audit", "decode", "model"}`` records (:mod:`asr.provenance`), or None.
    """
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    by, warnings = _attributes_to_audit(results, config)
    config = dataclasses.replace(config, by=by)
    unit = str(results["unit"].dropna().iloc[0]) if "unit" in results and results["unit"].notna().any() else "char"
    metric = "CER" if unit == "char" else "WER"
    attributes: dict[str, AttributeResult] = {}
    overall: Figures | None = None
    explaining = _start_explain(results, by[0], data_summary, config)
    for attr in by:
        block, whole = _audit_attribute(results, attr, config, lap, with_overall=overall is None)
        attributes[attr] = block
        overall = overall or whole
        if block.missing:
            warnings.append(f"{attr}: {block.missing} utterance(s) have no value; they form the group {MISSING}")
    intersections = []
    if config.intersections:
        for a, b in itertools.combinations(by, 2):
            cells = make_cells(results, [a, b])
            rows = group_rows(cells, sample_of(cells, config), config)
            intersections.append(Intersection((a, b), rows, sum(not r.eligible for r in rows)))
        lap("intersections")
    try:
        explanations = explaining()
    except AsrError as e:  # e.g. results with counts but no texts: the rest of the audit stands
        explanations = None
        warnings.append(f"explanations not computed: {e}")
    lap("explanations (wait)")
    references = {a: block.disparity.reference_group for a, block in attributes.items()}
    comparison = compare_with_baseline(results, baseline, by, config, references) if baseline else None
    lap("baseline")
    inputs = inputs or {}
    normalization = normalization or normalization_of(results, [])
    card = model_card(overall, attributes, config, inputs=inputs, unit=unit, metric=metric, normalization=normalization,
                      provenance=provenance, model_info=model_info, summary=data_summary)
    return AuditResult(
        release=release, created=dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        asr_version=_version(), inputs=frozen_map(inputs), config=config, metric=metric, unit=unit,
        normalization=normalization, overall=overall,
        headline=headline(by[0], attributes[by[0]].disparity, metric, config.confidence),
        attributes=frozen_map(attributes), intersections=tuple(intersections), explanations=explanations,
        baseline=comparison, model_card=card, provenance=provenance, warnings=tuple(warnings),
        timings=frozen_map(timings),
    )


def _attributes_to_audit(results: pd.DataFrame, config: AuditConfig) -> tuple[list[str], list[str]]:
    """The attributes to audit and warnings about those skipped.

    A known metadata field that no utterance has (a Common Voice split without accents) is
    skipped with a warning; any other unknown name is an error (a typo in ``--by``).
    """
    by = list(config.by) or default_attributes(results)
    absent = [a for a in by if a in METADATA_FIELDS and a not in results.columns]
    warnings = [f"{a}: no utterance has this field; not audited" for a in absent]
    by = [a for a in by if a not in absent]
    if absent and not by:
        present = ", ".join(default_attributes(results)) or "none"
        raise AsrError(f"results: no utterance has {', '.join(absent)} (attributes present: {present})")
    if not by:
        raise AsrError("results have no metadata field to group by (expected e.g. dialect, gender); pass --by")
    check_attributes(results, by)
    return by, warnings


def _audit_attribute(results: pd.DataFrame, attr: str, config: AuditConfig, lap,
                     with_overall: bool) -> tuple[AttributeResult, Figures | None]:
    """Groups, reference, tests, disparity, adjusted and matched comparisons of one attribute."""
    cells = make_cells(results, [attr])
    sample = sample_of(cells, config)
    rows = group_rows(cells, sample, config)
    overall = overall_row(cells, sample, config) if with_overall else None
    reference = choose_reference(attr, {r.group: r.ref_len for r in rows}, config, {r.group for r in rows if r.eligible})
    tests = group_tests(cells, rows, config.permutations, config.seed, 1 - config.confidence)
    disparity = summarize(cells, rows, sample, config, reference, tests)
    lap(f"groups:{attr}")
    adjusted = adjusted_disparity(results, attr, config, reference[0])
    lap(f"adjusted:{attr}")
    matched = matched_comparison(results, attr, config, reference)
    lap(f"matched:{attr}")
    missing = int((np.asarray(group_labels(results, attr)) == MISSING).sum())
    return AttributeResult(missing, rows, disparity, tests, adjusted, matched), overall


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
    result = audit(
        results, config, release=release, normalization=normalization_of(results, metas),
        data_summary=data_summary, model_info=model_info, baseline=baseline,
        inputs={"results": [str(p) for p in paths], "model": str(model_dir) if model_dir else None,
                "baseline": str(baseline) if baseline else None,
                "manifests": sorted({str(m["manifest"]) for m in metas if m.get("manifest")}),
                "decoding": next((m["decoding"] for m in metas if m.get("decoding")), None)},
        provenance=records,
    )
    warnings = list(result.warnings)
    if baseline is not None:
        for warning in baseline_provenance_warnings(records, baseline):
            log.warning("%s", warning)
            warnings.append(warning)
    result = dataclasses.replace(result, warnings=tuple(warnings),
                                 timings=frozen_map({"read": round(read_seconds, 3), **result.timings}))
    result = dataclasses.replace(result, gates=gates_mod.evaluate(gates, result))
    _write_results(paths, results, out_dir / RESULTS_FILE)
    write_json(out_dir / JSON_FILE, to_json(result))
    with atomic_write(out_dir / HTML_FILE) as f:
        f.write(render_report(result))
    index = Path(output_dir) / INDEX_FILE
    with atomic_write(index) as f:
        f.write(render_index(release_summaries(output_dir)))
    return AuditOutput(result, out_dir, index, tuple(g for g in result.gates if g.failed))


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


def _version() -> str:
    from asr import __version__

    return __version__
