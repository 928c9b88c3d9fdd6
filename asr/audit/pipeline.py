"""``asr audit`` end to end: results files in, ``reports/<release>/`` out.

:func:`audit` computes an :class:`~asr.audit.schema.AuditResult` from a results table;
:func:`run_audit` reads the inputs, calls it, evaluates the release gates, writes
``fairness.json`` (:func:`asr.audit.schema.to_json`; its schema is documented in
:mod:`asr.audit.schema`), ``fairness.html`` and ``results.jsonl`` into
``<output_dir>/<release>/`` and refreshes ``<output_dir>/index.html``.
:func:`run_audit_hypotheses` first scores another recognizer's hypotheses against a manifest
(:func:`asr.decode.external.score_hypotheses`) into ``<output_dir>/<release>/hypotheses/``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from asr.audit import gates as gates_mod
from asr.audit import progress as progress_mod
from asr.audit.adjusted import adjusted_disparity
from asr.audit.bootstrap import make_cells
from asr.audit.card import describe_system, model_card
from asr.audit.config import AuditConfig
from asr.audit.disparity import choose_reference, group_tests, summarize
from asr.audit.explain import explain
from asr.audit.groups import group_rows, overall_row, sample_of
from asr.audit.headline import headline
from asr.audit.matched import matched_comparison
from asr.audit.multivalued import Membership, membership_gaps, membership_tests
from asr.audit.paired import within_speaker
from asr.audit.release import compare_with_baseline, release_summaries, render_index, resolve_baseline
from asr.audit.report import render_report
from asr.audit.results import (
    MISSING, check_attributes, default_attributes, is_list_attribute, missing_count, normalization_of, read_meta,
    read_results,
)
from asr.audit.schema import (
    Adjusted, AttributeResult, AuditResult, Figures, GateResult, Intersection, SystemInfo, frozen_map, to_json,
)
from asr.audit.sources import (
    baseline_provenance_warnings, model_directory, provenance_records, read_model,
)
from asr.audit.systems import compare_systems
from asr.decode.external import score_hypotheses
from asr.errors import AsrError
from asr.io import atomic_write, open_text, write_json
from asr.manifest.records import METADATA_FIELDS
from asr.text import DEFAULT, Normalization

log = logging.getLogger(__name__)
HTML_FILE, JSON_FILE, RESULTS_FILE, INDEX_FILE = "fairness.html", "fairness.json", "results.jsonl", "index.html"
#: Where :func:`run_audit_hypotheses` writes the scored hypotheses, inside the release directory.
HYPOTHESES_DIR = "hypotheses"


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
    system: dict | None = None,
    compare: list[str | Path] | tuple = (),
) -> AuditResult:
    """The audit of a results table (one row per utterance, the results-file columns).

    ``provenance``: ``{"audit", "decode", "model"}`` records (:mod:`asr.provenance`), or None;
    ``system``: :func:`asr.audit.card.describe_system` of the results' meta; ``compare``: other
    systems' report directories or results files (:mod:`asr.audit.systems`).
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
    normalization = normalization or normalization_of(results, [])
    attributes: dict[str, AttributeResult] = {}
    overall: Figures | None = None
    explaining = _start_explain(results, by[0], data_summary, config, Normalization.from_description(normalization))
    for attr in by:
        with progress_mod.labelled(f"audit {attr}"):
            block, whole = _audit_attribute(results, attr, config, lap, with_overall=overall is None)
        attributes[attr] = block
        overall = overall or whole
        if block.missing:
            warnings.append(f"{attr}: {block.missing} utterance(s) have no value; they form the group {MISSING}")
    overall = overall or _overall(results, config)
    intersections = []
    if config.intersections:
        for a, b in itertools.combinations(by, 2):
            cells = make_cells(results, [a, b])
            rows = group_rows(cells, sample_of(cells, config), config)
            intersections.append(Intersection((a, b), rows, sum(not r.eligible for r in rows)))
        lap("intersections")
    paired = within_speaker(results, by, config) if config.paired_by else None
    lap("within speakers")
    try:
        explanations = explaining()
    except AsrError as e:  # e.g. results with counts but no texts: the rest of the audit stands
        explanations = None
        warnings.append(f"explanations not computed: {e}")
    lap("explanations (wait)")
    references = {a: block.disparity.reference_group for a, block in attributes.items()}
    with progress_mod.labelled(f"audit baseline {Path(str(baseline)).name}"):
        comparison = compare_with_baseline(results, baseline, by, config, references) if baseline else None
    lap("baseline")
    inputs = inputs or {}
    systems = None
    if compare:
        me = SystemInfo(release, ", ".join(inputs.get("results") or []), (system or {}).get("system"),
                        (system or {}).get("engine"), len(results), normalization)
        systems = compare_systems(results, me, list(compare), by, config)
        warnings += list(systems.notes)
    lap("systems")
    if system and system.get("missing_hypotheses"):
        warnings.append(f"{system['missing_hypotheses']} of {system.get('utterances') or len(results)} utterances have "
                        f"no hypothesis from {system.get('system')}: they are scored as all deletions")
    card = model_card(overall, attributes, config, inputs=inputs, unit=unit, metric=metric, normalization=normalization,
                      provenance=provenance, model_info=model_info, summary=data_summary, system=system)
    return AuditResult(
        release=release, created=dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        asr_version=_version(), inputs=frozen_map(inputs), config=config, metric=metric, unit=unit,
        normalization=normalization, overall=overall,
        headline=headline(by[0], attributes[by[0]].disparity, metric, config.confidence),
        attributes=frozen_map(attributes), intersections=tuple(intersections), explanations=explanations,
        baseline=comparison, model_card=card, provenance=provenance, warnings=tuple(warnings),
        timings=frozen_map(timings), within_speaker=paired, systems=systems,
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
    """Groups, reference, tests, disparity, adjusted and matched comparisons of one attribute.

    A list-valued attribute (:mod:`asr.audit.multivalued`) tests and measures gaps member against
    non-member, fits no count model, and gives no overall figures (its cells count an utterance
    once per value).
    """
    multi = is_list_attribute(results, attr)
    cells = make_cells(results, [attr])
    sample = sample_of(cells, config)
    rows = group_rows(cells, sample, config)
    overall = overall_row(cells, sample, config) if with_overall and not multi else None
    reference = choose_reference(attr, {r.group: r.ref_len for r in rows}, config, {r.group for r in rows if r.eligible})
    gaps = None
    if multi:
        membership = Membership(results, attr)
        tests = membership_tests(membership, rows, config)
        gaps = membership_gaps(membership, rows, config)
    else:
        tests = group_tests(cells, rows, config.permutations, config.seed, 1 - config.confidence)
    disparity = summarize(cells, rows, sample, config, reference, tests, gaps=gaps)
    lap(f"groups:{attr}")
    if multi:
        adjusted = Adjusted(estimable=False, reference=reference[0], model="", cov_struct=config.cov_struct,
                            reason=f"{attr} holds several values per utterance, so its groups overlap; the count "
                                   "model needs one group per utterance and is not fitted")
    else:
        adjusted = adjusted_disparity(results, attr, config, reference[0])
    lap(f"adjusted:{attr}")
    matched = matched_comparison(results, attr, config, reference)
    lap(f"matched:{attr}")
    block = AttributeResult(missing_count(results, attr), rows, disparity, tests, adjusted, matched, multivalued=multi)
    return block, overall


def _overall(results: pd.DataFrame, config: AuditConfig) -> Figures:
    """The whole set, every utterance once (when every audited attribute is list-valued)."""
    cells = make_cells(results, [])
    return overall_row(cells, sample_of(cells, config), config)


#: From this many utterances on, the explanations (pure Python) run in a forked process beside
#: the group statistics (numpy), so a two-core machine uses both cores.
PARALLEL_EXPLAIN_MIN = 100_000


def _start_explain(results: pd.DataFrame, by: str, data_summary: dict | None, config: AuditConfig,
                   normalization: Normalization = DEFAULT):
    """Start :func:`asr.audit.explain.explain`; returns a function that waits for its result.

    Large inputs on platforms with ``fork`` compute it in a child process (it inherits the
    table without copying it); otherwise it is computed when asked for.
    """
    import multiprocessing as mp

    kwargs = {"top_k": config.explain_top_k, "max_aligned": config.explain_max_aligned,
              "normalization": normalization}
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
    compare: list[str | Path] | tuple = (),
    progress: bool = False,
) -> AuditOutput:
    """Audit results files into ``<output_dir>/<release>/``; see the module docstring.

    ``compare``: other systems (report directories or results files) to set side by side;
    ``progress``: show the bootstrap and permutation phases (:mod:`asr.audit.progress`).
    """
    _check_release(release)
    gates = [gates_mod.parse_gate(g) for g in config.fail_if]
    if any(g.needs_baseline for g in gates) and baseline is None:
        needs = next(g for g in gates if g.needs_baseline)
        raise AsrError(f"--fail-if {needs.text!r} compares with a baseline: pass --baseline")
    if baseline is not None:
        resolve_baseline(baseline)  # a missing baseline or system fails now, not after the whole audit
    for other in compare:
        resolve_baseline(other, "--compare")
    started = time.perf_counter()
    paths = [Path(p) for p in results_paths]
    results = read_results(paths)
    read_seconds = time.perf_counter() - started
    metas = [read_meta(p) for p in paths]
    model_dir = model_directory(metas, model)
    model_info, data_summary = read_model(model_dir)
    records = provenance_records(metas, model_dir)
    out_dir = Path(output_dir) / release
    with progress_mod.showing(progress):
        result = audit(
            results, config, release=release, normalization=normalization_of(results, metas),
            data_summary=data_summary, model_info=model_info, baseline=baseline,
            inputs={"results": [str(p) for p in paths], "model": str(model_dir) if model_dir else None,
                    "baseline": str(baseline) if baseline else None,
                    "manifests": sorted({str(m["manifest"]) for m in metas if m.get("manifest")}),
                    "decoding": next((m["decoding"] for m in metas if m.get("decoding")), None),
                    "compare": [str(c) for c in compare]},
            provenance=records, system=describe_system(metas), compare=compare,
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


def run_audit_hypotheses(
    manifest: str | Path,
    hypotheses: str | Path,
    release: str,
    output_dir: str | Path = "reports",
    config: AuditConfig = AuditConfig(),
    *,
    hyp_format: str = "auto",
    key: str = "auto",
    system: str | None = None,
    normalization: Normalization = DEFAULT,
    **audit_options,
) -> AuditOutput:
    """Score another recognizer's hypotheses against ``manifest``, then audit them.

    The results go to ``<output_dir>/<release>/hypotheses/results-<manifest stem>.jsonl`` and its
    ``.meta.json`` (:func:`asr.decode.external.score_hypotheses`, with ``hyp_format``, ``key``,
    ``system`` and ``normalization`` as ``asr score --manifest`` takes them); ``audit_options``
    are :func:`run_audit`'s (``baseline``, ``compare``, ``progress``, ...).
    """
    _check_release(release)
    target = Path(output_dir) / release / HYPOTHESES_DIR / f"results-{_manifest_stem(manifest)}.jsonl"
    path, _ = score_hypotheses(manifest, hypotheses, target, hyp_format, key, normalization, system or release)
    return run_audit([path], release, output_dir, config, **audit_options)


def _check_release(release: str) -> None:
    if not release or any(c in release for c in "/\\") or release in (".", ".."):
        raise AsrError(f"--release {release!r}: expected a plain directory name such as 'baseline'")


def _manifest_stem(manifest: str | Path) -> str:
    """``test`` for ``.../test.jsonl[.gz]``: the stem ``asr decode`` names its results after."""
    name = Path(manifest).name
    for suffix in (".jsonl.gz", ".jsonl", ".json"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


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
