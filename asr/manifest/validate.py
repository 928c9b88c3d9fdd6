"""Manifest checks (``asr manifest validate``) and summaries (``asr manifest stats``).

Validation reports every problem with its utterance id, not only the first: audio
files exist and decode, durations agree with the audio, ids are unique, texts are
non-empty after normalisation.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from asr.audio import audio_info, count_nonfinite
from asr.errors import AsrError
from asr.io import open_text
from asr.manifest.records import LIST_FIELDS, METADATA_FIELDS, Manifest, Utterance, parse_utterance
from asr.text import normalize

#: Largest accepted gap between a manifest's duration and the audio's, in seconds.
DURATION_TOLERANCE = 0.05


@dataclass(frozen=True)
class Problem:
    """One validation finding: where (``path:line``), which utterance, what is wrong."""

    where: str
    utterance: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: utterance {self.utterance}: {self.message}"


def validate_manifest(path: str | Path, check_audio: bool = True) -> list[Problem]:
    """All problems found in a manifest; an empty list means it is valid."""
    manifest = Manifest(path)
    problems: list[Problem] = []
    first_line: dict[str, int] = {}

    with open_text(manifest.path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{manifest.path}:{lineno}"
            try:
                utt = parse_utterance(line, where)
            except AsrError as e:
                problems.append(_parse_problem(where, str(e).removeprefix(f"{where}: ")))
                continue
            if utt.id in first_line:
                problems.append(Problem(where, utt.id, f"duplicate id (first on line {first_line[utt.id]})"))
            else:
                first_line[utt.id] = lineno
            problems.extend(Problem(where, utt.id, m) for m in _check_utterance(manifest, utt, check_audio))
    if not first_line and not problems:
        problems.append(Problem(str(manifest.path), "-", "manifest has no utterances"))
    return problems


def _parse_problem(where: str, message: str) -> Problem:
    """A parse error as a Problem, its ``utterance X:`` prefix (when known) moved into the id."""
    match = re.match(r"utterance (\S+): (.*)", message)
    return Problem(where, match.group(1), match.group(2)) if match else Problem(where, "?", message)


def _check_utterance(manifest: Manifest, utt: Utterance, check_audio: bool) -> list[str]:
    messages = []
    if not utt.id:
        messages.append("empty id (expected a non-empty id without whitespace)")
    elif any(c.isspace() for c in utt.id):
        messages.append(f"id {utt.id!r} contains whitespace (ids are written into Kaldi and trn files, "
                        "where whitespace separates fields)")
    if not normalize(utt.text):
        messages.append("empty transcript (expected text after normalisation)")
    if not utt.speaker.strip():
        messages.append("empty speaker id")
    if not math.isfinite(utt.duration) or utt.duration <= 0:
        messages.append(f"duration {utt.duration} s (expected a finite number > 0)")
    if not math.isfinite(utt.start) or utt.start < 0:
        messages.append(f"start {utt.start} s (expected a finite number >= 0)")
    if not check_audio:
        return messages
    try:
        rate, frames = audio_info(manifest.audio_path(utt))
    except AsrError as e:
        return messages + [str(e)]
    audio_seconds = frames / rate
    if rate != utt.sample_rate:
        messages.append(f"audio is {rate} Hz but the manifest says {utt.sample_rate} Hz")
    if frames == 0:
        messages.append("audio file has no samples")
    elif utt.start + utt.duration > audio_seconds + DURATION_TOLERANCE:
        messages.append(
            f"segment ends at {utt.start + utt.duration:.3f} s but the audio lasts {audio_seconds:.3f} s"
        )
    elif utt.start == 0 and abs(audio_seconds - utt.duration) > DURATION_TOLERANCE and "segment" not in utt.extra:
        messages.append(f"duration {utt.duration:.3f} s but the audio lasts {audio_seconds:.3f} s")
    bad = count_nonfinite(manifest.audio_path(utt)) if frames else 0
    if bad:
        messages.append(f"{bad} audio samples are NaN or infinite (expected finite audio)")
    return messages


def manifest_stats(path: str | Path, by: list[str] | None = None):
    """Hours, utterances and speakers per group, as a pandas DataFrame (plus a total row)."""
    import pandas as pd

    df = Manifest(path).to_dataframe()
    if df.empty:
        raise AsrError(f"{path}: manifest has no utterances")
    if by is None:
        by = [c for c in ("dialect",) if c in df.columns]
    unknown = [c for c in by if c not in df.columns and c not in METADATA_FIELDS]
    if unknown:
        raise AsrError(f"{path}: no field {unknown[0]!r} in the manifest")
    for name in by:  # a metadata field no utterance has: every utterance is "(missing)"
        if name not in df.columns:
            df[name] = None

    def summarise(frame) -> pd.Series:
        return pd.Series(
            {
                "hours": frame["duration"].sum() / 3600.0,
                "utterances": len(frame),
                "speakers": frame["speaker"].nunique(),
            }
        )

    total = summarise(df).to_frame("total").T
    if not by:
        return total
    for name in (c for c in by if c in LIST_FIELDS):
        # a list field (accents): an utterance counts in the group of each of its values
        df = df.explode(name).assign(**{name: lambda d, n=name: d[n].where(d[n].astype(bool) & d[n].notna(), None)})
    groups = df.fillna({c: "(missing)" for c in by}).groupby(by, sort=True)
    table = groups.apply(summarise, include_groups=False)
    if len(by) == 1:
        table.index = table.index.astype(str)
    else:
        table.index = ["/".join(map(str, k)) for k in table.index]
    out = pd.concat([table, total])
    out["utterances"] = out["utterances"].astype(int)
    out["speakers"] = out["speakers"].astype(int)
    return out
