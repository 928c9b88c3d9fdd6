"""The model card section of a fairness report (Mitchell et al., "Model Cards for Model Reporting").

Built from the model directory (``config.yaml``, ``data_summary.json``), the
results and the audit itself; caveats are derived from what the audit found
(small groups, missing values, sampled models, unbounded ratios), not boilerplate
alone.
"""

from __future__ import annotations

INTENDED_USE = (
    "Transcribing Mandarin and Chinese dialect speech for research and for products whose owners "
    "have checked the per-group error rates below on their own users. Not for decisions about "
    "individuals (access to services, assessment, evidence) without human review: error rates "
    "differ by dialect and speaker group, and a group missing from the evaluation data is unmeasured."
)


def model_card(fairness: dict, model_info: dict | None, summary: dict | None) -> dict:
    """``{model, intended_use, training_data, evaluation_data, normalization, provenance, caveats}``."""
    overall = fairness["overall"] or {}
    by = fairness["config"]["by"]
    return {
        "model": model_info or {"path": None, "note": "no model directory given (--model) or named in the results' meta.json"},
        "intended_use": INTENDED_USE,
        "training_data": _training(summary),
        "evaluation_data": {
            "results": fairness["inputs"].get("results", []),
            "manifests": fairness["inputs"].get("manifests", []),
            "utterances": overall.get("utterances"),
            "speakers": overall.get("speakers"),
            "reference_tokens": overall.get("ref_len"),
            "unit": fairness["unit"],
            "attributes": {a: [g["group"] for g in fairness["attributes"][a]["groups"]] for a in by},
        },
        "normalization": fairness["normalization"],
        "provenance": provenance_summary(fairness.get("provenance") or {}),
        "caveats": caveats(fairness, summary),
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


def caveats(fairness: dict, summary: dict | None) -> list[str]:
    """What limits the conclusions of this report."""
    cfg = fairness["config"]
    out = [
        f"Intervals are {int(100 * cfg['confidence'])}% percentile intervals from {cfg['replicates']} "
        "speaker-bootstrap replicates (speakers resampled within each group); they cover sampling of "
        "speakers, not a shift in who uses the system.",
        f"{fairness['metric']} depends on the text normalisation stated below; figures computed with another "
        "normalisation are not comparable.",
    ]
    for attr, block in fairness["attributes"].items():
        small = [g["group"] for g in block["groups"] if not g["eligible"]]
        if small:
            out.append(
                f"{attr}: {', '.join(small)} ha{'s' if len(small) == 1 else 've'} fewer than {cfg['min_speakers']} "
                "speakers (or no reference tokens) and are left out of the disparity summary; their figures are shown but weak."
            )
        if block["missing"]:
            out.append(f"{attr}: {block['missing']} utterances have no {attr}; reported as the group '(missing)'.")
        adj = block.get("adjusted") or {}
        if adj.get("sampled"):
            out.append(f"{attr}: the count models were fitted on a random sample of {adj['speakers']} speakers "
                       f"({adj['utterances']} utterances).")
        disp = block["disparity"]
        if disp.get("ratio_note"):
            out.append(f"{attr}: {disp['ratio_note']}.")
    if not isinstance(summary, dict):
        out.append("The training data's composition is unknown (no data_summary.json), so error rates cannot be "
                   "set beside the amount of training data per group.")
    out.append("Groups are the metadata recorded in the manifest (self-reported or corpus-assigned); "
               "other factors (microphone, topic, speaking style) may differ between groups too: see the adjusted "
               "and matched comparisons.")
    return out
