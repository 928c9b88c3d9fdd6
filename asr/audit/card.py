"""The model card section of a fairness report (Mitchell et al., "Model Cards for Model Reporting").

Built from the model directory (``config.yaml``, ``data_summary.json``), the
results and the audit itself; caveats are derived from what the audit found
(small groups, missing values, sampled models, unbounded ratios), not boilerplate
alone.
"""

from __future__ import annotations

from asr.audit.formatting import ci_label
from asr.audit.schema import AttributeResult, Figures

INTENDED_USE = (
    "Transcribing Mandarin and Chinese dialect speech for research and for products whose owners "
    "have checked the per-group error rates below on their own users. Not for decisions about "
    "individuals (access to services, assessment, evidence) without human review: error rates "
    "differ by dialect and speaker group, and a group missing from the evaluation data is unmeasured."
)


def describe_system(metas: list[dict]) -> dict | None:
    """What the results' meta files say of the recognizer, or None when they say nothing.

    ``{"kind", "system", "engine", ...}``: ``kind`` ``external`` for hypotheses scored by ``asr score
    --manifest`` (with ``hypotheses``, ``hyp_format``, ``matched_by``, ``missing_hypotheses``,
    ``extra_hypotheses``, summed over the files), ``engine`` for another recognizer run by ``asr
    decode --engine`` (with its model directory, configuration digest and decoding options), ``asr``
    for an ``asr`` model.
    """
    metas = [m for m in metas if m]
    if not metas:
        return None
    first = metas[0]
    engine = first.get("engine")
    if engine == "external":
        return {
            "kind": "external", "system": first.get("system"), "engine": "external (asr score --manifest)",
            "hypotheses": ", ".join(str(m.get("hypotheses")) for m in metas),
            "hyp_format": first.get("hyp_format"), "matched_by": first.get("matched_by"),
            "missing_hypotheses": sum(int(m.get("missing_hypotheses") or 0) for m in metas),
            "extra_hypotheses": sum(int(m.get("extra_hypotheses") or 0) for m in metas),
            "utterances": sum(int(m.get("utterances") or 0) for m in metas),
        }
    if isinstance(engine, dict) and engine.get("engine") not in (None, "asr"):
        options = {k: v for k, v in engine.items() if k not in ("engine", "model") and v is not None}
        model = str(engine.get("model") or "")
        return {"kind": "engine", "system": first.get("system") or (model.rstrip("/").rsplit("/", 1)[-1] or None),
                "engine": engine["engine"], "model": model or None, **options}
    if isinstance(engine, dict) or first.get("model"):
        options = {k: v for k, v in (engine or {}).items() if k not in ("engine", "model") and v is not None}
        return {"kind": "asr", "system": first.get("system"), "engine": "asr", **options}
    return None


def model_card(overall: Figures, attributes: dict[str, AttributeResult], config, *, inputs: dict, unit: str,
               metric: str, normalization: str, provenance: dict | None, model_info: dict | None,
               summary: dict | None, system: dict | None = None) -> dict:
    """``{model, intended_use, training_data, evaluation_data, normalization, provenance, caveats}``.

    ``config``: the resolved :class:`~asr.audit.config.AuditConfig`; ``system``: :func:`describe_system`.
    Another recognizer's card describes what its results say (name, engine, options, the
    hypotheses file and how many utterances had none) and states, in one sentence, why it has no
    training data to show.
    """
    return {
        "model": _model(model_info, system),
        "intended_use": INTENDED_USE,
        "training_data": _training(summary, system),
        "evaluation_data": {
            "results": inputs.get("results", []),
            "manifests": inputs.get("manifests", []),
            "utterances": overall.utterances,
            "speakers": overall.speakers,
            "reference_tokens": overall.ref_len,
            "unit": unit,
            "attributes": {a: [g.group for g in block.groups] for a, block in attributes.items()},
        },
        "normalization": normalization,
        "provenance": provenance_summary(provenance or {}, system),
        "caveats": caveats(attributes, config, metric, summary, system),
    }


def _model(model_info: dict | None, system: dict | None) -> dict:
    """The card's model details: the system as its results describe it, and the model directory's details."""
    described = {k: v for k, v in (system or {}).items() if k != "kind"}
    if system and system["kind"] != "asr":
        return {**described, **({"path": model_info["path"]} if model_info else {})}
    if model_info:
        return {**{k: v for k, v in described.items() if v is not None and k != "engine"}, **model_info}
    return {"path": None, "note": "no model directory given (--model) or named in the results' meta.json"}


def provenance_summary(records: dict, system: dict | None = None) -> dict:
    """One readable line per stage (trained, decoded, audited): versions, precision, hardware.

    For another recognizer (``system`` of kind ``external`` or ``engine``) a stage asr did not run
    is left out rather than said to be "not recorded"; hypotheses from a file say how they were scored.
    """
    out = {}
    foreign = (system or {}).get("kind") in ("external", "engine")
    if (system or {}).get("kind") == "external":
        out["scored"] = f"hypotheses of {system.get('system')} from {system.get('hypotheses')} by asr score --manifest"
    for stage, verb in (("model", "trained"), ("decode", "decoded"), ("audit", "audited")):
        record = records.get(stage)
        if not isinstance(record, dict):
            if not foreign:
                out[verb] = "not recorded"
            continue
        packages = record.get("packages") or {}
        parts = [f"asr {record.get('asr')}" + (f" ({str(record['git_commit'])[:12]}"
                                               f"{'+dirty' if record.get('git_dirty') else ''})"
                                               if record.get("git_commit") else "")]
        parts += [f"{name} {packages[name]}" for name in ("torch", "torchaudio", "transformers", "numpy")
                  if packages.get(name)]
        if record.get("espeak_ng"):
            parts.append(f"eSpeak NG {record['espeak_ng']}")
        if record.get("precision"):
            parts.append(f"precision {record['precision']}")
        if record.get("device"):
            parts.append(f"on {record['device']}")
        parts.append(f"CPU {record.get('cpu')}" + (f" ({record['cpu_capability']})" if record.get("cpu_capability") else ""))
        if record.get("seed") is not None:
            parts.append(f"seed {record['seed']}")
        if record.get("threads"):
            parts.append(f"{record['threads']} thread(s)" + (f" x {record['processes']} process(es)"
                                                              if record.get("processes") else ""))
        out[verb] = ", ".join(parts)
    return out


def _training(summary: dict | None, system: dict | None = None) -> dict:
    if not isinstance(summary, dict):
        return {"available": False, "note": unknown_training(system)}
    total = summary.get("total") if isinstance(summary.get("total"), dict) else summary
    return {
        "available": True,
        "hours": total.get("hours"),
        "utterances": total.get("utterances"),
        "speakers": total.get("speakers"),
        "by": summary.get("by", {}),
    }


#: How each interval method is described in the caveats.
METHOD_TEXT = {
    "pooled_t": "t intervals over speakers (log scale; the larger of each group's own cluster-robust variance "
                "and a model's that pools the spread of speakers over all groups)",
    "cluster_t": "t intervals over speakers (log scale, cluster-robust variance)",
    "studentized": "studentized speaker-bootstrap intervals",
    "bca": "BCa speaker-bootstrap intervals",
    "percentile": "percentile speaker-bootstrap intervals",
}


def unknown_training(system: dict | None) -> str:
    """The one sentence that says why the card shows no training data."""
    name = (system or {}).get("system") or "this system"
    kind = (system or {}).get("kind")
    if kind == "external":
        return (f"{name}'s hypotheses were scored from a file (asr score --manifest): asr has no record of the data "
                "it was trained on, so this card does not describe it.")
    if kind == "engine":
        return (f"{name} was run by asr decode --engine {system['engine']} from a model directory that does not "
                "describe its training data, so this card does not either.")
    return "The model directory has no data_summary.json (asr train writes one), so the training data is unknown."


def caveats(attributes: dict[str, AttributeResult], config, metric: str, summary: dict | None,
            system: dict | None = None) -> list[str]:
    """What limits the conclusions of this report."""
    out = [
        f"Intervals are {ci_label(config.confidence)}s: {METHOD_TEXT[config.interval_method]}; they cover the "
        "sampling of speakers, not a shift in who uses the system. With few speakers per group they are wide, and "
        "benchmarks/bench_coverage.py measures how often they hold.",
        f"{metric} depends on the text normalisation stated below; figures computed with another "
        "normalisation are not comparable.",
    ]
    for attr, block in attributes.items():
        small = [g.group for g in block.groups if not g.eligible]
        if small:
            out.append(
                f"{attr}: {', '.join(small)} ha{'s' if len(small) == 1 else 've'} fewer than {config.min_speakers} "
                "speakers (or no reference tokens) and are left out of the disparity summary; their figures are shown but weak."
            )
        if block.missing:
            out.append(f"{attr}: {block.missing} utterances have no {attr}; reported as the group '(missing)'.")
        if block.adjusted.sampled:
            out.append(f"{attr}: the count models were fitted on a random sample of {block.adjusted.speakers} speakers "
                       f"({block.adjusted.utterances} utterances).")
        if block.disparity.ratio_note:
            out.append(f"{attr}: {block.disparity.ratio_note}.")
    if not isinstance(summary, dict):
        out.append("The training data's composition is unknown, so error rates cannot be set beside the amount "
                   "of training data per group.")
    if system and system.get("missing_hypotheses"):
        out.append(f"{system['missing_hypotheses']} utterance(s) had no hypothesis from {system.get('system')} and "
                   "are scored as all deletions.")
    out.append("Groups are the metadata recorded in the manifest (self-reported or corpus-assigned); "
               "other factors (microphone, topic, speaking style) may differ between groups too: see the adjusted "
               "and matched comparisons.")
    return out
