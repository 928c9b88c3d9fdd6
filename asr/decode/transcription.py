"""Transcribe audio of any length: ``asr.transcribe(model, audio) -> Transcript``.

Speech comes first: a voice-activity detector (:mod:`asr.decode.vad`, Silero VAD through ONNX
Runtime) finds the speech in the recording, and only that is decoded. A recording without
speech (silence, noise, a click) gives an empty transcript with the note
:data:`NO_SPEECH`, never invented text. The speech is decoded in windows of at most
:data:`CHUNK_SECONDS` cut in its pauses, each with a little context at both ends
(:func:`asr.decode.vad.plan_segments`), so no word is cut at a window's edge. A file is read
block by block, twice (once to find the speech, then window by window), and only one batch of
windows is in memory at a time, so an hour-long file needs no more memory than a minute.

With ``vad=False`` the whole recording is decoded, in chunks of at most :data:`CHUNK_SECONDS`
cut at the quietest point (lowest short-time energy) of the last third of each chunk.

Each window is resampled to 16 kHz (:func:`asr.audio.resample`), decoded (greedy or beam,
:mod:`asr.decode.search`), and its hypothesis aligned to the window's log-probs with CTC forced
alignment (``torchaudio.functional.forced_align`` and ``merge_tokens``): every token gets a
confidence, its mean posterior over its frames, and times in seconds (:func:`fit_times`). NaN or
infinite samples are an error naming the file (``nonfinite="zero"``: silence in their place,
counted).

Times: a CTC model emits each token as a spike of one or two frames. Whose spikes: the model's
aligner when its directory bundles one (``aligner/``, :func:`asr.models.model_dir.bundle_aligner`;
or ``aligner=`` a model directory), else the model's own. The recognised tokens are force-aligned
to the aligner's log-probs of the same window, so the text is the model's and the times the
aligner's. An aligner with a bounded context (``tdnn``, :mod:`asr.models.tdnn`) can only spike
where the sound is, at its start; a model with full self-attention spikes anywhere nearby (the
dialect recipe's Conformer puts half its spikes outside their characters, up to a character
early or late). A token starts at its spike and ends where the next one starts (if that is at
most :data:`MAX_TOKEN_SECONDS` later; before a pause, where its aligned frames end). Where the
detector found the speech, the first token of a speech region starts no earlier than the region,
and the last starts no later than one typical token duration (the median gap between the
region's spikes) before the region's end, and ends one typical duration after its start or with
the region, whichever is first (the detector's region runs on past the speech by its hangover).
A window whose tokens the aligner cannot place (too few frames) keeps the model's own times.

Tokens are grouped into segments (subtitle cues) at pauses of at least
:data:`SEGMENT_GAP` seconds, at window boundaries, and when a segment reaches
:data:`SEGMENT_MAX_TOKENS` tokens. Output formats: :mod:`asr.decode.formats`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

import numpy as np

from asr.audio import MIN_SAMPLE_RATE, SAMPLE_RATE, NonFinite, audio_info, load_audio, replace_nonfinite, resample
from asr.decode.lm import load_lm
from asr.decode.search import SearchOptions, align, search
from asr.decode.vad import Region, SpeechActivity, VadOptions, file_speech_activity, plan_segments, speech_activity
from asr.errors import AsrError
from asr.models.model_dir import load_model
from asr.models.tokens import join_tokens

if TYPE_CHECKING:  # pragma: no cover
    from asr.decode.lm import NgramLM
    from asr.models.model_dir import AsrModel

Seconds = float
#: Longest chunk given to the network at once.
CHUNK_SECONDS: Seconds = 30.0
#: The cut is placed in the last ``CUT_WINDOW`` fraction of a full chunk.
CUT_WINDOW = 1 / 3
#: Audio read from a file at once.
BLOCK_SECONDS: Seconds = 10.0
#: Energy frame for choosing cut points.
ENERGY_FRAME: Seconds = 0.025
#: Chunks shorter than this are zero-padded to it (the network needs a few frames).
MIN_CHUNK_SECONDS: Seconds = 0.5
SEGMENT_GAP: Seconds = 0.8
#: A token's end is the next token's start, at most this much after its own (a pause follows).
MAX_TOKEN_SECONDS: Seconds = 0.6
#: A token's duration when none can be measured from its neighbours.
DEFAULT_TOKEN_SECONDS: Seconds = 0.25
SEGMENT_MAX_TOKENS = 30
#: The note of a transcript in which the detector found no speech.
NO_SPEECH = "no speech detected"


@dataclass(frozen=True)
class Token:
    """One recognised token (a Han character or a Latin word) with times in seconds."""

    text: str
    start: Seconds
    end: Seconds
    confidence: float


@dataclass(frozen=True)
class Segment:
    """A run of tokens between pauses: one subtitle cue."""

    text: str
    start: Seconds
    end: Seconds
    confidence: float
    tokens: tuple[Token, ...]


@dataclass(frozen=True)
class Transcript:
    """What :func:`transcribe` returns.

    ``text``: the whole transcript; ``segments``: the cues, each with its tokens;
    ``duration``: seconds of audio; ``confidence``: mean token confidence (0 when no
    token was recognised); ``source``: the file path, or ``None`` for an array.
    """

    text: str
    segments: tuple[Segment, ...]
    duration: Seconds
    confidence: float
    source: str | None = None
    chunks: int = 1
    decoding: dict = field(default_factory=dict)
    #: What the reader should know (:data:`NO_SPEECH`), or None.
    note: str | None = None
    #: Seconds of speech the detector found (None: detection was off).
    speech_seconds: Seconds | None = None
    #: The ``(start, end)`` seconds of each window decoded, in order.
    windows: tuple[tuple[Seconds, Seconds], ...] = ()
    #: Whose CTC spikes gave the times: ``"aligner"`` or ``"model"`` (see the module docstring).
    times_from: str = "model"

    @property
    def tokens(self) -> tuple[Token, ...]:
        return tuple(t for s in self.segments for t in s.tokens)

    def to_json(self) -> dict:
        out = {
            "file": self.source,
            "text": self.text,
            "duration": round(self.duration, 3),
            "confidence": round(self.confidence, 4),
            "segments": [
                {
                    "start": s.start, "end": s.end, "text": s.text, "confidence": round(s.confidence, 4),
                    "tokens": [
                        {"token": t.text, "start": t.start, "end": t.end, "confidence": round(t.confidence, 4)}
                        for t in s.tokens
                    ],
                }
                for s in self.segments
            ],
        }
        out["times_from"] = self.times_from
        if self.speech_seconds is not None:
            out["speech_seconds"] = round(self.speech_seconds, 3)
        if self.note:
            out["note"] = self.note
        return out


# ------------------------------------------------------------------------------ chunking


def quietest_point(audio: np.ndarray, rate: int) -> int:
    """Sample index at the centre of the lowest-energy region (100 ms smoothing) of ``audio``."""
    frame = max(1, int(ENERGY_FRAME * rate))
    n = len(audio) // frame
    if n < 2:
        return len(audio) // 2
    energy = np.square(audio[: n * frame].astype(np.float64)).reshape(n, frame).mean(axis=1)
    width = min(4, n)
    smooth = np.convolve(energy, np.ones(width) / width, mode="same")
    return int(np.argmin(smooth)) * frame + frame // 2


def split_points(buffer: np.ndarray, rate: int, max_seconds: Seconds) -> int:
    """Where to cut a buffer of at least ``max_seconds``: the quietest point of its last third."""
    max_len = int(max_seconds * rate)
    lo = int(max_len * (1 - CUT_WINDOW))
    return lo + quietest_point(buffer[lo:max_len], rate)


def chunk_array(audio: np.ndarray, rate: int, max_seconds: Seconds = CHUNK_SECONDS) -> Iterator[tuple[Seconds, np.ndarray]]:
    """Yield ``(start_seconds, samples)`` chunks of a waveform at ``rate``."""
    offset = 0
    max_len = int(max_seconds * rate)
    while len(audio) - offset > max_len:
        cut = split_points(audio[offset : offset + max_len], rate, max_seconds)
        yield offset / rate, audio[offset : offset + cut]
        offset += cut
    if offset < len(audio):
        yield offset / rate, audio[offset:]


def chunk_file(path: str | Path, max_seconds: Seconds = CHUNK_SECONDS) -> Iterator[tuple[Seconds, np.ndarray, int]]:
    """Yield ``(start_seconds, mono samples, rate)`` chunks of a file, reading it block by block.

    Raises :class:`AsrError` naming the file when it cannot be read (also mid-way).
    """
    import soundfile as sf

    audio_info(path)  # missing / empty / unreadable files: one clear AsrError
    try:
        f = sf.SoundFile(str(path))
    except Exception as e:
        raise AsrError(f"{path}: not a readable audio file (expected wav/flac/ogg/mp3): {e}") from e
    with f:
        rate = int(f.samplerate)
        if rate < MIN_SAMPLE_RATE:
            raise AsrError(f"{path}: unsupported sample rate {rate} Hz (expected at least {MIN_SAMPLE_RATE} Hz)")
        max_len = int(max_seconds * rate)
        block = max(int(BLOCK_SECONDS * rate), max_len)
        buffer = np.zeros(0, dtype=np.float32)
        consumed = 0  # samples of the file already yielded
        total = 0
        while True:
            try:
                data = f.read(frames=block, dtype="float32", always_2d=True)
            except Exception as e:
                raise AsrError(f"{path}: audio data is corrupt after {total / rate:.1f} s: {e}") from e
            total += len(data)
            if len(data):
                buffer = np.concatenate([buffer, data.mean(axis=1, dtype=np.float32)])
            while len(buffer) > max_len:
                cut = split_points(buffer, rate, max_seconds)
                yield consumed / rate, buffer[:cut], rate
                consumed += cut
                buffer = buffer[cut:]
            if len(data) < block:
                break
        if total == 0:
            raise AsrError(f"{path}: audio file has no samples (expected speech)")
        if len(buffer):
            yield consumed / rate, buffer, rate


# ------------------------------------------------------------------------------ decoding


def _max_chunk_seconds(model: "AsrModel", chunk_seconds: Seconds) -> Seconds:
    limit = getattr(model.network, "max_input_length", None)
    if limit:
        input_shift = model.frame_shift / max(1, model.network.stride)
        chunk_seconds = min(chunk_seconds, 0.98 * limit * input_shift)
    return chunk_seconds


def _batched(items: Iterable, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def transcribe(
    model: "AsrModel | str | Path",
    audio: "str | Path | np.ndarray",
    *,
    beam_size: int = 1,
    lm: "NgramLM | str | Path | None" = None,
    lm_weight: float = 0.3,
    insertion_bonus: float = 0.0,
    chunk_seconds: Seconds = CHUNK_SECONDS,
    batch_size: int = 4,
    vad: bool = True,
    vad_options: VadOptions = VadOptions(),
    nonfinite: NonFinite = "error",
    aligner: "AsrModel | str | Path | bool" = True,
) -> Transcript:
    """Transcribe a file (any format libsndfile reads, any rate, any channels) or a waveform.

    ``audio``: a path, or a float32 ``(num_samples,)`` array at 16 kHz. ``model``: an
    :class:`~asr.models.model_dir.AsrModel` or a model directory. ``beam_size`` 1 without an
    LM decodes greedily; ``lm`` (an :class:`~asr.decode.lm.NgramLM` or its file) is fused with
    ``lm_weight``. ``vad``: decode only the speech the detector finds (see the module
    docstring), in windows of at most ``chunk_seconds``, ``batch_size`` at a time.
    ``nonfinite``: NaN or infinite samples are an error (``"error"``) or silence (``"zero"``).
    ``aligner``: whose spikes time the tokens: True, the model's bundled aligner if it has one;
    False, the model's own; or an aligner (a model or its directory).
    """
    if isinstance(model, (str, Path)):
        model = load_model(model)
    aligner = resolve_aligner(model, aligner)
    if isinstance(lm, (str, Path)):
        lm = load_lm(lm)
    options = SearchOptions(beam_size=beam_size, lm_weight=lm_weight if lm is not None else 0.0,
                            insertion_bonus=insertion_bonus)
    max_seconds = _max_chunk_seconds(model, chunk_seconds)
    rate = model.sample_rate
    source = str(audio) if isinstance(audio, (str, Path)) else None
    times_from = "aligner" if aligner is not None else "model"
    decoding = {"beam_size": beam_size, "lm_weight": options.lm_weight, "insertion_bonus": insertion_bonus, "vad": vad,
                "times_from": times_from}
    if vad:
        activity, chunks = _speech_windows(audio, rate, max_seconds, vad_options, nonfinite)
        speech = sum(r.duration for r in activity.regions)
        if not activity.regions:
            return Transcript("", (), round(activity.duration, 3), 0.0, source, 0, decoding, NO_SPEECH, 0.0,
                              times_from=times_from)
    else:
        activity, speech = None, None
        chunks = _whole_chunks(audio, rate, max_seconds, nonfinite)
    segments: list[Segment] = []
    duration = activity.duration if activity else 0.0
    windows: list[tuple[Seconds, Seconds]] = []
    for batch in _batched(chunks, batch_size):
        for (start, samples), tokens in zip(batch, _decode_chunks(model, [c[1] for c in batch], options, lm, aligner)):
            chunk_end = start + len(samples) / rate
            regions = None if activity is None else [r for r in activity.regions if r.end > start and r.start < chunk_end]
            segments += make_segments(fit_times([_shift(t, start, chunk_end) for t in tokens], regions, chunk_end))
            duration = max(duration, chunk_end)
            windows.append((round(start, 3), round(chunk_end, 3)))
    tokens = [t for s in segments for t in s.tokens]
    return Transcript(
        text=_join_segments(segments),
        segments=tuple(segments),
        duration=round(duration, 3),
        confidence=float(np.mean([t.confidence for t in tokens])) if tokens else 0.0,
        source=source,
        chunks=len(windows),
        decoding=decoding,
        speech_seconds=speech,
        windows=tuple(windows),
        times_from=times_from,
    )


def resolve_aligner(model: "AsrModel", aligner: "AsrModel | str | Path | bool") -> "AsrModel | None":
    """The aligner ``transcribe(aligner=...)`` names (see its docstring), checked against ``model``."""
    if aligner is True:
        return getattr(model, "aligner", None)
    if aligner is False or aligner is None:
        return None
    if isinstance(aligner, (str, Path)):
        aligner = load_model(aligner, device=model.device)
    if aligner.sample_rate != model.sample_rate:
        raise AsrError(f"{aligner.path or 'aligner'}: reads {aligner.sample_rate} Hz audio, the model {model.sample_rate} Hz")
    return aligner


def _speech_windows(audio, rate: int, max_seconds: Seconds, options: VadOptions,
                    nonfinite: NonFinite) -> tuple[SpeechActivity, Iterator[tuple[Seconds, np.ndarray]]]:
    """The detector's findings, and ``(start, samples at rate)`` of each window to decode, lazily."""
    if isinstance(audio, (str, Path)):
        activity = file_speech_activity(audio, options, nonfinite)
        windows = plan_segments(activity.regions, activity.duration, max_seconds, levels=activity.levels)
        return activity, ((w.start, load_audio(audio, rate, start=w.start, duration=w.duration, nonfinite=nonfinite))
                          for w in windows)
    array = replace_nonfinite(_as_waveform(audio), "audio", nonfinite)
    activity = speech_activity(array, rate, options)
    windows = plan_segments(activity.regions, activity.duration, max_seconds, levels=activity.levels)
    return activity, ((w.start, array[int(round(w.start * rate)):int(round(w.end * rate))]) for w in windows)


def _whole_chunks(audio, rate: int, max_seconds: Seconds, nonfinite: NonFinite) -> Iterator[tuple[Seconds, np.ndarray]]:
    """``(start, samples at rate)`` chunks of the whole recording (``vad=False``)."""
    if isinstance(audio, (str, Path)):
        return (
            (start, resample(replace_nonfinite(samples, audio, nonfinite), file_rate, rate, source=audio))
            for start, samples, file_rate in chunk_file(audio, max_seconds)
        )
    return chunk_array(replace_nonfinite(_as_waveform(audio), "audio", nonfinite), rate, max_seconds)


def _as_waveform(audio) -> np.ndarray:
    array = audio.detach().cpu().numpy() if hasattr(audio, "detach") else np.asarray(audio)
    if array.ndim != 1 or array.size == 0 or not np.issubdtype(array.dtype, np.floating):
        raise AsrError(
            f"audio: expected a non-empty float (num_samples,) waveform at {SAMPLE_RATE} Hz, "
            f"got {array.dtype} of shape {array.shape}"
        )
    return array.astype(np.float32, copy=False)


def _decode_chunks(model: "AsrModel", waves: Sequence[np.ndarray], options: SearchOptions, lm,
                   aligner: "AsrModel | None" = None) -> list[list[Token]]:
    """Tokens with times relative to each chunk's start (the aligner's spikes when there is one)."""
    min_len = int(MIN_CHUNK_SECONDS * model.sample_rate)
    padded = [w if len(w) >= min_len else np.pad(w, (0, min_len - len(w))) for w in waves]
    log_probs, lengths = model.log_probs(padded)
    log_probs = log_probs.float().cpu()
    hyps = search(log_probs, lengths, options, lm=lm, token_strings=model.vocab.tokens, blank=model.vocab.blank_id)
    spans = [
        hyp.spans if options.beam_size > 1 or options.lm_weight else align(log_probs[b, :int(lengths[b])], hyp.token_ids)
        for b, hyp in enumerate(hyps)
    ]
    times = [[(s.start * model.frame_shift, s.end * model.frame_shift) for s in row] for row in spans]
    if aligner is not None:
        times = _aligner_times(aligner, padded, [[model.vocab.tokens[s.token] for s in row] for row in spans], times)
    return [
        [Token(model.vocab.tokens[s.token], start, end, s.confidence)
         for s, (start, end) in zip(row, row_times) if s.token != model.vocab.unk_id]
        for row, row_times in zip(spans, times)
    ]


def _aligner_times(aligner: "AsrModel", waves: Sequence[np.ndarray], tokens: Sequence[Sequence[str]],
                   fallback: list[list[tuple[Seconds, Seconds]]]) -> list[list[tuple[Seconds, Seconds]]]:
    """``(start, end)`` seconds of each recognised token, force-aligned to the aligner's log-probs.

    A token outside the aligner's vocabulary is aligned as its ``<unk>``; a window whose tokens
    need more aligner frames than it has keeps ``fallback`` (the model's own times).
    """
    log_probs, lengths = aligner.log_probs(waves)
    log_probs = log_probs.float().cpu()
    out = []
    for b, row in enumerate(tokens):
        ids = [aligner.vocab.token_id(t) for t in row]
        try:
            spans = align(log_probs[b, :int(lengths[b])], ids, blank=aligner.vocab.blank_id)
        except ValueError:
            out.append(fallback[b])
            continue
        out.append([(s.start * aligner.frame_shift, s.end * aligner.frame_shift) for s in spans])
    return out


def _shift(token: Token, offset: Seconds, chunk_end: Seconds) -> Token:
    start = min(offset + token.start, chunk_end)
    end = min(max(offset + token.end, start), chunk_end)
    return Token(token.text, round(start, 3), round(end, 3), token.confidence)


def fit_times(tokens: Sequence[Token], regions: Sequence[Region] | None, end: Seconds) -> list[Token]:
    """Start and end times of a window's ``tokens`` (sorted, absolute, at their CTC spikes; see the module docstring).

    ``regions``: the speech the detector found in the window (None: not known, ``vad=False``);
    ``end``: the window's end in seconds.
    """
    if not tokens:
        return []
    starts = [t.start for t in tokens]
    groups = _by_region(starts, regions) if regions else [(list(range(len(tokens))), None)]
    ends = [t.end for t in tokens]  # the aligned frames' end, kept before a pause
    for members, region in groups:
        if region is not None:
            typical = min(_typical_duration([starts[i] for i in members]), region.duration / len(members))
            first, last = members[0], members[-1]
            starts[first] = min(max(starts[first], region.start), region.end)
            starts[last] = max(min(starts[last], region.end - typical), starts[first] if last != first else region.start)
            for i in members[1:-1]:  # keep the order the spikes give
                starts[i] = min(max(starts[i], starts[first]), starts[last])
        for i, j in zip(members, members[1:]):
            if starts[i] < starts[j] <= starts[i] + MAX_TOKEN_SECONDS:
                ends[i] = starts[j]
        if region is not None:
            ends[members[-1]] = min(region.end, starts[members[-1]] + typical)
    return [
        Token(t.text, round(s, 3), round(min(max(e, s), end), 3), t.confidence)
        for t, s, e in zip(tokens, starts, ends)
    ]


def _typical_duration(starts: Sequence[Seconds]) -> Seconds:
    """The median gap between consecutive spikes less than :data:`MAX_TOKEN_SECONDS` apart (else the default)."""
    gaps = [b - a for a, b in zip(starts, starts[1:]) if 0 < b - a <= MAX_TOKEN_SECONDS]
    return float(np.median(gaps)) if gaps else DEFAULT_TOKEN_SECONDS


def _by_region(starts: Sequence[Seconds], regions: Sequence[Region]) -> list[tuple[list[int], Region]]:
    """The token indices of each speech region, a token going to the region nearest its start."""
    def distance(t: Seconds, r: Region) -> Seconds:
        return max(r.start - t, t - r.end, 0.0)

    members: dict[int, list[int]] = {}
    for i, t in enumerate(starts):
        members.setdefault(min(range(len(regions)), key=lambda k: distance(t, regions[k])), []).append(i)
    return [(members[k], regions[k]) for k in sorted(members)]


def make_segments(tokens: Sequence[Token]) -> list[Segment]:
    """Group tokens into segments at pauses and length limits (see the module docstring)."""
    groups: list[list[Token]] = []
    for token in tokens:
        if groups and token.start - groups[-1][-1].end < SEGMENT_GAP and len(groups[-1]) < SEGMENT_MAX_TOKENS:
            groups[-1].append(token)
        else:
            groups.append([token])
    return [
        Segment(
            text=join_tokens([t.text for t in g]),
            start=g[0].start,
            end=g[-1].end,
            confidence=float(np.mean([t.confidence for t in g])),
            tokens=tuple(g),
        )
        for g in groups
    ]


def _join_segments(segments: Sequence[Segment]) -> str:
    return join_tokens([t.text for s in segments for t in s.tokens])
