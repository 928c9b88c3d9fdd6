"""What the audit reads besides the results: the model directory, provenance records, the system.

:func:`read_model` reads a model directory's details and training-data summary without
loading weights; :func:`provenance_records` gathers what audited, decoded and trained;
:func:`baseline_provenance_warnings` says when a baseline ran under other settings.
"""

from __future__ import annotations

import json
from pathlib import Path

from asr.errors import AsrError
from asr.provenance import differences as provenance_differences
from asr.provenance import provenance as provenance_record

JSON_FILE = "fairness.json"
MODEL_SUMMARY_FILE = "data_summary.json"


def model_directory(metas: list[dict], model: str | Path | None) -> Path | None:
    """The model directory to describe: ``--model``, else the results' meta ``model`` of an ``asr`` model.

    Another engine's model (``asr decode --engine faster-whisper``) is described from the meta
    alone: its directory need not exist where the audit runs.
    """
    if model:
        return Path(model)
    for meta in metas:
        engine = meta.get("engine")
        foreign = engine == "external" or (isinstance(engine, dict) and engine.get("engine") not in (None, "asr"))
        if meta.get("model") and not foreign:
            return Path(meta["model"])
    return None


def provenance_records(metas: list[dict], model_dir: Path | None) -> dict:
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


def read_model(model_dir: Path | None) -> tuple[dict | None, dict | None]:
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
