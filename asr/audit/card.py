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


def model_card(overall: Figures, attributes: dict[str, AttributeResult], config, *, inputs: dict, unit: str,
               metric: str, normalization: str, provenance: dict | None, model_info: dict | None,
               summary: dict | None) -> dict:
    """``{model, intended_use, training_data, evaluation_data, normalization, provenance, caveats}``.

    ``config``: the resolved :class:`~asr.audit.config.AuditConfig`.
    """
    return {
        "model": model_info or {"path": None, "note": "no model directory given (--model) or named in the results' meta.json"},
        "intended_use": INTENDED_USE,
        "training_data": _training(summary),
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
        "provenance": provenance_summary(provenance or {}),
        "caveats": caveats(attributes, config, metric, summary),
    }


def provenance_summary(records: dict) -> dict:
    """One readable line per stage (trained, decoded, audited): versions, precision, hardware."""
    out = {}
    for stage, verb in (("model", "trained"), ("decode", "decoded"), ("audit", "audited")):
        record = records.get(stage)
        if not isinstance(record, dict):
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


def _training(summary: dict | None) -> dict:
    if not isinstance(summary, dict):
        return {"available": False, "note": "no data_summary.json in the model directory"}
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


def caveats(attributes: dict[str, AttributeResult], config, metric: str, summary: dict | None) -> list[str]:
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
        out.append("The training data's composition is unknown (no data_summary.json), so error rates cannot be "
                   "set beside the amount of training data per group.")
    out.append("Groups are the metadata recorded in the manifest (self-reported or corpus-assigned); "
               "other factors (microphone, topic, speaking style) may differ between groups too: see the adjusted "
               "and matched comparisons.")
    return out
