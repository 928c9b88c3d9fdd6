"""Voice-activity detection, and the decoding segments of a long recording cut at its pauses.

:func:`speech_activity` (an array) and :func:`file_speech_activity` (a file, read
block by block) give a :class:`SpeechActivity`: one speech probability and one
level in dB per 32 ms frame, and the speech :class:`Region` s found, in seconds.
:func:`plan_segments` turns the regions into decoding :class:`Segment` s of at most
``max_seconds``, cut in pauses and padded with a little context.

The detector is Silero VAD (the ``silero-vad`` wheel, MIT licence, its ONNX files
inside), run by ONNX Runtime on one CPU thread. Why this one:

* it is a trained network giving a speech probability per 32 ms frame, thresholded
  with hysteresis; on steady white, pink and car noise at -50 to -20 dBFS its
  probability stays under 0.1. WebRTC VAD (``webrtcvad``: last release 2.0.10 in
  2017, without binary wheels; a ``webrtcvad-wheels`` fork builds them) is a Gaussian
  mixture on six sub-band energies that answers only yes or no per 10, 20 or 30 ms
  frame, in four fixed aggressiveness modes: nothing to threshold or tune.
* it runs offline on CPU from files installed by pip, through ``onnxruntime``, which
  the ``[speech]`` stack already requires.

Why not the package's Python API: ``import silero_vad`` imports torch and calls
``torch.set_num_threads(1)`` for the whole process (``silero_vad/model.py``), which
would slow the recogniser running beside it, and its ``get_speech_timestamps`` wants
the whole recording as one tensor. So this module locates the package's ONNX file
without importing the package (:func:`model_path`), runs its "sequence" export
(``silero_vad_16k_sequence.onnx``: one ONNX call per block of up to
:data:`BLOCK_FRAMES` frames, bit-exact with the streaming model per the package's
``sequence_vad.py``) with the same state handling (LSTM state ``h``, ``c`` carried
from block to block; every 512-sample frame prefixed by the previous frame's last 64
samples, zeros before the first), and applies the same rules as the package's
``get_speech_timestamps_from_probs`` without a maximum speech duration
(:func:`regions_from_probabilities`; tested for parity against the package). Memory
is bounded: audio is consumed block by block, and only the probabilities and levels
(8 bytes per 32 ms, 900 kB an hour) are kept.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf
import soxr

from asr.audio import NonFinite, audio_info, replace_nonfinite, resample
from asr.errors import AsrError

Seconds = float
Hertz = int

SAMPLE_RATE: Hertz = 16000
FRAME_SAMPLES = 512  # the model's frame at 16 kHz
CONTEXT_SAMPLES = 64  # samples of the previous frame prepended to each frame
FRAME_SECONDS: Seconds = FRAME_SAMPLES / SAMPLE_RATE  # 0.032
#: Frames per ONNX call (16.4 s of audio).
BLOCK_FRAMES = 512
#: Audio read from a file at once by :func:`file_speech_activity`.
FILE_BLOCK_SECONDS: Seconds = 60.0
MODEL_FILE = "silero_vad_16k_sequence.onnx"
STATE_SHAPE = (1, 1, 128)


@dataclass(frozen=True)
class VadOptions:
    """How frame probabilities become speech regions (Silero's names and defaults, in seconds).

    ``threshold``: a frame at or above it is speech. ``neg_threshold``: inside speech,
    a frame below it starts a candidate pause (default ``threshold - 0.15``, at least
    0.01). ``min_silence``: a candidate pause ends the region once it lasts this long.
    ``min_speech``: shorter regions are dropped. ``speech_pad``: added at each side of
    a region (half the gap where two regions are closer than twice this).
    """

    threshold: float = 0.5
    neg_threshold: float | None = None
    min_speech: Seconds = 0.25
    min_silence: Seconds = 0.1
    speech_pad: Seconds = 0.03

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise AsrError(f"VAD threshold must lie between 0 and 1, got {self.threshold}")
        if self.neg_threshold is not None and not 0.0 < self.neg_threshold <= self.threshold:
            raise AsrError(f"VAD neg_threshold must lie in (0, threshold={self.threshold}], got {self.neg_threshold}")
        for name in ("min_speech", "min_silence", "speech_pad"):
            if getattr(self, name) < 0:
                raise AsrError(f"VAD {name} must be >= 0 seconds, got {getattr(self, name)}")

    @property
    def exit_threshold(self) -> float:
        return self.neg_threshold if self.neg_threshold is not None else max(self.threshold - 0.15, 0.01)


@dataclass(frozen=True)
class Region:
    """An interval of a recording in seconds, ``start <= end``."""

    start: Seconds
    end: Seconds

    @property
    def duration(self) -> Seconds:
        return self.end - self.start


@dataclass(frozen=True)
class SpeechActivity:
    """What the detector found in a recording of ``duration`` seconds.

    ``probabilities``: float32 ``(num_frames,)``, frame ``i`` covering
    ``[i, i + 1) * FRAME_SECONDS`` (the last frame zero-padded); ``levels``: each
    frame's mean power in dB relative to full scale, float32 ``(num_frames,)``;
    ``regions``: speech, sorted, not overlapping, within ``[0, duration]``.
    """

    probabilities: np.ndarray
    levels: np.ndarray
    regions: tuple[Region, ...]
    duration: Seconds


# ------------------------------------------------------------------------------ the model


def model_path() -> Path:
    """The ONNX file inside the installed ``silero-vad`` wheel (found without importing the package)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise AsrError("voice-activity detection needs the 'silero-vad' package (pip install silero-vad)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / MODEL_FILE
    if not path.is_file():
        raise AsrError(f"{path}: Silero VAD model missing from the installed silero-vad package (expected {MODEL_FILE})")
    return path


@lru_cache(maxsize=1)
def _session():
    """One ONNX Runtime session per process, on one CPU thread (the model is tiny; threads only add overhead)."""
    import onnxruntime  # heavy and only needed once detection runs: imported here, not at module load

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(model_path()), sess_options=options, providers=["CPUExecutionProvider"])


class ProbabilityStream:
    """Speech probabilities of 16 kHz audio fed in pieces of any length.

    >>> stream = ProbabilityStream()
    >>> for block in blocks: stream.feed(block)      # doctest: +SKIP
    >>> probabilities, levels = stream.finish()      # doctest: +SKIP
    """

    def __init__(self) -> None:
        self._session = _session()
        self._h = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)
        self._probabilities: list[np.ndarray] = []
        self._levels: list[np.ndarray] = []
        self.num_samples = 0

    def feed(self, samples: np.ndarray) -> None:
        """Add float32 samples ``(n,)`` at 16 kHz; whole frames are scored now, the rest waits."""
        self.num_samples += len(samples)
        buffer = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32)])
        whole = len(buffer) // FRAME_SAMPLES * FRAME_SAMPLES
        for start in range(0, whole, BLOCK_FRAMES * FRAME_SAMPLES):
            block = buffer[start : min(whole, start + BLOCK_FRAMES * FRAME_SAMPLES)]
            self._score(block.reshape(-1, FRAME_SAMPLES))
        self._pending = buffer[whole:]

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """Score the last, zero-padded frame; returns ``(probabilities, levels)``, float32 ``(num_frames,)`` each."""
        if len(self._pending):
            frame = np.zeros(FRAME_SAMPLES, dtype=np.float32)
            frame[: len(self._pending)] = self._pending
            self._score(frame.reshape(1, -1))
            self._pending = np.zeros(0, dtype=np.float32)
        if not self._probabilities:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32)
        return np.concatenate(self._probabilities), np.concatenate(self._levels)

    def _score(self, frames: np.ndarray) -> None:
        contexts = np.concatenate([self._context[None, :], frames[:-1, -CONTEXT_SAMPLES:]])
        inputs = np.ascontiguousarray(np.concatenate([contexts, frames], axis=1), dtype=np.float32)
        feeds = {"input": inputs, "h": self._h, "c": self._c}
        probs, self._h, self._c = self._session.run(["speech_probs", "hn", "cn"], feeds)
        self._context = frames[-1, -CONTEXT_SAMPLES:].copy()
        self._probabilities.append(np.asarray(probs, dtype=np.float32).reshape(-1))
        power = np.mean(np.square(frames, dtype=np.float64), axis=1)
        self._levels.append((10 * np.log10(power + 1e-12)).astype(np.float32))


# ------------------------------------------------------------------------------ detection


def speech_activity(
    audio: np.ndarray, sample_rate: Hertz = SAMPLE_RATE, options: VadOptions = VadOptions()
) -> SpeechActivity:
    """Speech in a mono float32 waveform ``(num_samples,)`` at ``sample_rate`` (resampled to 16 kHz)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise AsrError(f"voice-activity detection expects mono audio of shape (num_samples,), got shape {audio.shape}")
    audio = resample(audio, sample_rate, SAMPLE_RATE)
    stream = ProbabilityStream()
    stream.feed(audio)
    probabilities, levels = stream.finish()
    regions = regions_from_probabilities(probabilities, len(audio), options)
    return SpeechActivity(probabilities, levels, tuple(regions), len(audio) / SAMPLE_RATE)


def speech_regions(audio: np.ndarray, sample_rate: Hertz = SAMPLE_RATE, options: VadOptions = VadOptions()) -> list[Region]:
    """The speech regions of a waveform, in seconds (see :func:`speech_activity`)."""
    return list(speech_activity(audio, sample_rate, options).regions)


def file_speech_activity(path: str | Path, options: VadOptions = VadOptions(),
                         nonfinite: NonFinite = "error") -> SpeechActivity:
    """Speech in an audio file, read :data:`FILE_BLOCK_SECONDS` at a time (channels averaged).

    Other rates are resampled to 16 kHz block by block with soxr's streaming resampler
    (the HQ quality :func:`asr.audio.resample` uses). Raises :class:`AsrError` naming
    the file when it cannot be read, or has NaN or infinite samples (``nonfinite="zero"``:
    they count as silence).
    """
    rate, _ = audio_info(path)  # missing, empty, unreadable or below 8 kHz: one clear AsrError
    stream = ProbabilityStream()
    resampler = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ") if rate != SAMPLE_RATE else None
    read, block_frames = 0, int(FILE_BLOCK_SECONDS * rate)
    with sf.SoundFile(str(path)) as f:
        while True:
            try:
                block = f.read(frames=block_frames, dtype="float32", always_2d=True)
            except RuntimeError as e:  # soundfile's LibsndfileError is one
                raise AsrError(f"{path}: audio data is corrupt after {read / rate:.1f} s: {e}") from e
            read += len(block)
            mono = replace_nonfinite(block.mean(axis=1, dtype=np.float32), path, nonfinite)
            last = len(block) < block_frames
            stream.feed(resampler.resample_chunk(mono, last=last) if resampler else mono)
            if last:
                break
    probabilities, levels = stream.finish()
    duration = read / rate
    num_samples = min(stream.num_samples, int(round(duration * SAMPLE_RATE)))
    regions = regions_from_probabilities(probabilities, num_samples, options)
    return SpeechActivity(probabilities, levels, tuple(regions), duration)


def regions_from_probabilities(
    probabilities: np.ndarray, num_samples: int, options: VadOptions = VadOptions()
) -> list[Region]:
    """Speech regions, in seconds, of ``num_samples`` 16 kHz samples scored ``(num_frames,)``.

    A region starts at the first frame at or above ``threshold`` and ends where a run
    of frames below ``exit_threshold`` began, once that run has lasted ``min_silence``;
    a frame back above ``threshold`` cancels the run. Regions not longer than
    ``min_speech`` are dropped, then each is padded (see :class:`VadOptions`).
    """
    min_speech = options.min_speech * SAMPLE_RATE
    min_silence = options.min_silence * SAMPLE_RATE
    spans: list[list[int]] = []
    start, pause = None, None
    for i, p in enumerate(np.asarray(probabilities, dtype=np.float64)):
        sample = i * FRAME_SAMPLES
        if p >= options.threshold:
            pause = None
            if start is None:
                start = sample
                continue
        if start is not None and p < options.exit_threshold:
            pause = sample if pause is None else pause
            if sample - pause >= min_silence:
                if pause - start > min_speech:
                    spans.append([start, pause])
                start, pause = None, None
    if start is not None and num_samples - start > min_speech:
        spans.append([start, num_samples])
    _pad(spans, int(options.speech_pad * SAMPLE_RATE), num_samples)
    return [Region(a / SAMPLE_RATE, b / SAMPLE_RATE) for a, b in spans]


def _pad(spans: list[list[int]], pad: int, num_samples: int) -> None:
    """Widen sample spans by ``pad`` in place, splitting gaps shorter than ``2 * pad`` in half."""
    for i, span in enumerate(spans):
        if i == 0:
            span[0] = max(0, span[0] - pad)
        if i + 1 < len(spans):
            gap = spans[i + 1][0] - span[1]
            share = gap // 2 if gap < 2 * pad else pad
            span[1] += share
            spans[i + 1][0] = max(0, spans[i + 1][0] - share)
        else:
            span[1] = min(num_samples, span[1] + pad)


# ------------------------------------------------------------------------------ planning


@dataclass(frozen=True)
class Segment:
    """A stretch of a recording to decode at once: ``[start, end)`` in seconds and the ``speech`` in it."""

    start: Seconds
    end: Seconds
    speech: tuple[Region, ...]

    @property
    def duration(self) -> Seconds:
        return self.end - self.start


def plan_segments(
    regions: Sequence[Region],
    duration: Seconds,
    max_seconds: Seconds = 30.0,
    pad: Seconds = 0.2,
    merge_gap: Seconds = 0.3,
    levels: np.ndarray | None = None,
) -> list[Segment]:
    """Decoding segments of at most ``max_seconds`` covering every speech region once.

    Regions closer than ``merge_gap`` (pauses shorter than the longest the training
    data keeps, 0.3 s) are decoded together while the speech fits in ``max_seconds -
    2 * pad``. A region longer than that is first cut, at the quietest frame (lowest of
    ``levels``, :attr:`SpeechActivity.levels`) in the second half of each allowed
    stretch, or into equal pieces without levels. (Inside a region the speech
    probability is near 1 everywhere, but the level dips between syllables.) Each
    segment then gets ``pad`` seconds of context at both ends, never past the middle
    of the pause to its neighbour (so segments do not overlap, and none reaches into
    another's speech) nor outside ``[0, duration]``.
    """
    longest = max_seconds - 2 * pad
    if pad < 0 or longest <= 0:
        raise AsrError(f"segments of at most {max_seconds} s cannot hold {pad} s of padding at each end")
    _check_regions(regions, duration)
    pieces = [p for r in regions for p in _split_region(r, longest, levels)]
    groups: list[list[Region]] = []
    for piece in pieces:
        last = groups[-1] if groups else None
        if last and piece.start - last[-1].end < merge_gap and piece.end - last[0].start <= longest:
            last.append(piece)
        else:
            groups.append([piece])
    segments = []
    for i, group in enumerate(groups):
        before = groups[i - 1][-1].end if i else 0.0
        after = groups[i + 1][0].start if i + 1 < len(groups) else duration
        start = max(group[0].start - pad, (before + group[0].start) / 2 if i else 0.0)
        end = min(group[-1].end + pad, (group[-1].end + after) / 2 if i + 1 < len(groups) else duration)
        segments.append(Segment(start, end, tuple(group)))
    return segments


def _check_regions(regions: Sequence[Region], duration: Seconds) -> None:
    previous_end = 0.0
    for region in regions:
        if region.start < previous_end or region.end < region.start or region.end > duration + 1e-9:
            raise AsrError(f"speech regions must be sorted, not overlapping and within 0-{duration} s; got {region}")
        previous_end = region.end


def _split_region(region: Region, longest: Seconds, levels: np.ndarray | None) -> list[Region]:
    """``region`` cut into pieces of at most ``longest`` seconds (see :func:`plan_segments`)."""
    if region.duration <= longest:
        return [region]
    if levels is None or len(levels) == 0:
        n = math.ceil(region.duration / longest)
        bounds = np.linspace(region.start, region.end, n + 1)
        return [Region(float(a), float(b)) for a, b in zip(bounds[:-1], bounds[1:])]
    pieces, start = [], region.start
    while region.end - start > longest:
        cut = _quietest(levels, start + longest / 2, start + longest)
        pieces.append(Region(start, cut))
        start = cut
    pieces.append(Region(start, region.end))
    return pieces


def _quietest(levels: np.ndarray, earliest: Seconds, latest: Seconds) -> Seconds:
    """The middle of the quietest frame lying wholly inside ``[earliest, latest]``."""
    first = math.ceil(earliest / FRAME_SECONDS)
    last = max(first + 1, min(len(levels), math.floor(latest / FRAME_SECONDS)))
    window = levels[first:last]
    if len(window) == 0:
        return latest
    return (first + int(np.argmin(window)) + 0.5) * FRAME_SECONDS
