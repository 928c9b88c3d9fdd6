"""Transcripts as text, JSON, SubRip (``srt``), WebVTT (``vtt``) or tab-separated rows (``tsv``).

:func:`format_transcript` renders one :class:`~asr.decode.transcription.Transcript`. A transcript
in which no speech was detected says so in every format: an empty line (``text``), ``"note"``
(``json``), a cue ``[no speech detected]`` spanning the file (``srt``), a ``NOTE`` block (``vtt``)
and a row with that text and confidence 0 (``tsv``).
"""

from __future__ import annotations

import json

from asr.decode.transcription import Transcript
from asr.errors import AsrError

Seconds = float
#: Output formats, and the file extension each is written with.
FORMATS = {"text": "txt", "json": "json", "srt": "srt", "vtt": "vtt", "tsv": "tsv"}


def srt_time(seconds: Seconds, separator: str = ",") -> str:
    """``HH:MM:SS,mmm`` (SubRip; WebVTT writes ``HH:MM:SS.mmm``: ``separator="."``)."""
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{separator}{ms:03d}"


def _cues(transcript: Transcript, timestamps: str) -> list[tuple[Seconds, Seconds, str, float]]:
    if transcript.note and not transcript.segments:
        return [(0.0, transcript.duration, f"[{transcript.note}]", 0.0)]
    if timestamps == "token":
        return [(t.start, t.end, t.text, t.confidence) for t in transcript.tokens]
    return [(s.start, s.end, s.text, s.confidence) for s in transcript.segments]


TSV_HEADER = "file\tstart\tend\tconfidence\ttext"


def format_transcript(transcript: Transcript, fmt: str = "text", timestamps: str = "token") -> str:
    """The transcript as ``text`` (one line), ``json`` (one object: segments, each with its
    tokens' times and confidences), ``srt`` or ``vtt`` (a cue per token, or per segment with
    ``timestamps="segment"``) or ``tsv`` (rows of file, start, end, confidence, text, per
    token or per segment; no header: see :data:`TSV_HEADER`).
    Every returned string ends with a newline.
    """
    if fmt == "text":
        return transcript.text + "\n"
    if fmt == "json":
        return json.dumps(transcript.to_json(), ensure_ascii=False) + "\n"
    cues = _cues(transcript, timestamps)
    if fmt == "srt":
        return "".join(
            f"{i}\n{srt_time(start)} --> {srt_time(end)}\n{text}\n\n" for i, (start, end, text, _) in enumerate(cues, 1)
        )
    if fmt == "vtt":
        if transcript.note and not transcript.segments:
            return f"WEBVTT\n\nNOTE {transcript.note} ({transcript.duration:.3f} s)\n\n"
        return "WEBVTT\n\n" + "".join(
            f"{srt_time(start, '.')} --> {srt_time(end, '.')}\n{text}\n\n" for start, end, text, _ in cues
        )
    if fmt == "tsv":
        name = transcript.source or "-"
        return "".join(f"{name}\t{start:.3f}\t{end:.3f}\t{conf:.4f}\t{text}\n" for start, end, text, conf in cues)
    raise AsrError(f"unknown output format {fmt!r} (expected one of: {', '.join(FORMATS)})")
