"""Manifest metadata from a corpus's own names: which name fills which first-class field, normalised.

Shared by the importers that read free-form metadata (Kaldi ``utt2*``/``spk2*`` files, lhotse's
``custom``, Hugging Face columns): :data:`FIELD_ATTRIBUTES` maps each first-class field
(:data:`asr.manifest.records.METADATA_FIELDS`) to the names that fill it, its own name first, then
its aliases (``age`` for ``age_band``, ``subdialect`` for ``dialect``, ``snr`` for ``snr_db``);
:func:`split_metadata` sorts named values into fields and ``extra``; :func:`normalize_field`
normalises one field's value as :mod:`asr.corpus.common` does for every corpus.
"""

from __future__ import annotations

from typing import Any, Mapping

from asr.corpus.common import (
    age_band,
    normalize_age,
    normalize_dialect,
    normalize_gender,
    normalize_phase,
    split_values,
)
from asr.corpus.commonvoice import AGE_BANDS as COMMONVOICE_AGES
from asr.errors import AsrError
from asr.manifest.records import LIST_FIELDS, METADATA_FIELDS

#: Names that mean a first-class field besides the field's own name.
ALIASES: dict[str, tuple[str, ...]] = {"dialect": ("subdialect",), "age_band": ("age",), "snr_db": ("snr",)}
#: First-class manifest field -> the names that fill it, in priority order.
FIELD_ATTRIBUTES: dict[str, tuple[str, ...]] = {name: (name, *ALIASES.get(name, ())) for name in METADATA_FIELDS}
#: Every name that fills a first-class field when read (field names and their aliases).
FIELD_NAMES = frozenset(name for names in FIELD_ATTRIBUTES.values() for name in names)
#: Separator of the values of a list-valued field given as one string.
LIST_SEPARATOR = "|"
_DIALECT_FIELDS = ("dialect", "home_dialect", "reading_style")


def split_metadata(values: Mapping[str, Any], where: str,
                   preset: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Named metadata values as ``(first-class fields, extra)``.

    A name in :data:`FIELD_NAMES` fills its field (the field's own name before its
    aliases, see :data:`asr.corpus.kaldi.FIELD_ATTRIBUTES`), the value normalised by
    :func:`normalize_field`; ``preset`` (``{field: value}``, e.g. lhotse's own
    ``gender``) comes before any name. A name whose field is already filled, and any
    other name, goes into ``extra`` with its value unchanged. Blank values (``None``,
    ``""``) of field names are dropped; fields that normalise to ``None`` are left out.
    """
    fields: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for field_name, value in (preset or {}).items():
        if not _blank(value):
            fields[field_name] = normalize_field(field_name, value, f"{where}: {field_name}")
    for field_name, names in FIELD_ATTRIBUTES.items():
        for name in names:
            if name not in values or _blank(values[name]):
                continue
            if field_name in fields:
                extra[name] = values[name]
            else:
                fields[field_name] = normalize_field(field_name, values[name], f"{where}: {name}")
    for name, value in values.items():
        if name not in FIELD_NAMES:
            extra[name] = value
    return {k: v for k, v in fields.items() if v is not None}, extra


def normalize_field(field_name: str, value: Any, where: str) -> Any:
    """One first-class field's value, normalised as :mod:`asr.corpus.common` does for every corpus.

    Numbers stay numbers where the field is numeric (``phase``, ``snr_db``); an age
    in years becomes its band; a list-valued field takes a list or a ``|``-separated
    string. Anything else is an :class:`AsrError` naming ``where``.
    """
    if field_name in LIST_FIELDS:
        if not isinstance(value, list):
            return split_values(_scalar_text(value, where), LIST_SEPARATOR)
        items = [_scalar_text(v, where).strip() for v in value]
        return list(dict.fromkeys(item for item in items if item)) or None
    if field_name == "phase" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if field_name == "snr_db" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if field_name == "age_band" and isinstance(value, int) and not isinstance(value, bool):
        return age_band(value)
    text = _scalar_text(value, where)
    try:
        if field_name == "phase":
            return normalize_phase(text)
        if field_name == "snr_db":
            return float(text)
    except ValueError as e:
        expected = str(e) if field_name == "phase" else f"{text!r} is not a number (expected e.g. '12.5')"
        raise AsrError(f"{where}: {expected}") from None
    if field_name == "age_band":
        return COMMONVOICE_AGES.get(text.strip().lower()) or normalize_age(text)
    if field_name == "gender":
        return normalize_gender(text)
    if field_name in _DIALECT_FIELDS:
        return normalize_dialect(text)
    return text.strip() or None


def _scalar_text(value: Any, where: str) -> str:
    if isinstance(value, (list, dict)):
        raise AsrError(f"{where}: {value!r} is a {type(value).__name__} (expected a single value)")
    return str(value)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())
