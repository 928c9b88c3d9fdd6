"""Audio input: every file is read through ``soundfile`` and resampled with ``librosa``.

Waveforms are ``float32`` numpy arrays of shape ``(num_samples,)`` in [-1, 1],
mono (channels are averaged), at the requested sample rate in Hz.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import numpy as np

from asr.errors import AsrError

Hertz = int
Seconds = float

SAMPLE_RATE: Hertz = 16000
MIN_SAMPLE_RATE: Hertz = 8000
#: What to do with NaN or infinite samples: refuse the file (default), or replace them with silence.
NonFinite = Literal["error", "zero"]
#: soundfile subtypes that can hold NaN or infinity (integer PCM cannot).
FLOAT_SUBTYPES = frozenset({"FLOAT", "DOUBLE", "VORBIS", "OPUS", "MPEG_LAYER_III", "MPEG_LAYER_II", "MPEG_LAYER_I"})

log = logging.getLogger(__name__)


def audio_info(path: str | Path) -> tuple[Hertz, int]:
    """``(sample_rate, num_frames)`` of an audio file, without decoding it all."""
    import soundfile as sf

    path = _existing(path)
    try:
        info = sf.info(str(path))
    except Exception as e:  # soundfile raises LibsndfileError / RuntimeError for any bad file
        raise AsrError(f"{path}: not a readable audio file (expected wav/flac/ogg/mp3): {_reason(e)}") from e
    _check_rate(path, int(info.samplerate))
    return int(info.samplerate), int(info.frames)


def load_audio(
    path: str | Path,
    sample_rate: Hertz | None = SAMPLE_RATE,
    start: Seconds = 0.0,
    duration: Seconds | None = None,
    nonfinite: NonFinite = "error",
) -> np.ndarray:
    """Read ``path`` as mono float32, resampled to ``sample_rate`` (``None`` keeps the file's rate).

    ``start`` and ``duration`` select a segment in seconds. Raises :class:`AsrError` for a
    missing, empty, corrupt or non-audio file, a sample rate below 8 kHz, or NaN or infinite
    samples (``nonfinite="zero"``: replaced with silence, with a warning saying how many).
    Returns shape ``(num_samples,)``.
    """
    audio, file_rate = read_audio(path, start=start, duration=duration, nonfinite=nonfinite)
    return resample(audio, file_rate, sample_rate, source=path) if sample_rate else audio


def read_audio(path: str | Path, start: Seconds = 0.0, duration: Seconds | None = None,
               nonfinite: NonFinite = "error") -> tuple[np.ndarray, Hertz]:
    """Read ``path`` (or a segment of it) as mono float32 at its own rate: ``(samples, rate)``.

    NaN or infinite samples are an :class:`AsrError` naming the file, or, with ``nonfinite="zero"``,
    replaced with zeros and counted in a warning: never silently passed on to a model.
    """
    import soundfile as sf

    path = _existing(path)
    try:
        with sf.SoundFile(str(path)) as f:
            rate = int(f.samplerate)
            first = int(round(start * rate))
            if first:
                f.seek(min(first, f.frames))
            count = -1 if duration is None else int(round(duration * rate))
            audio = f.read(frames=count, dtype="float32", always_2d=True)
    except Exception as e:
        raise AsrError(f"{path}: not a readable audio file (expected wav/flac/ogg/mp3): {_reason(e)}") from e
    _check_rate(path, rate)
    if audio.shape[0] == 0:
        raise AsrError(f"{path}: audio file has no samples (expected speech)")
    audio = replace_nonfinite(audio, path, nonfinite)
    return audio.mean(axis=1, dtype=np.float32) if audio.shape[1] > 1 else audio[:, 0], rate


def replace_nonfinite(audio: np.ndarray, source: str | Path, nonfinite: NonFinite = "error") -> np.ndarray:
    """``audio`` unchanged when every sample is finite; else an error, or zeros in place of the bad samples."""
    bad = ~np.isfinite(audio)
    if not bad.any():
        return audio
    count = int(bad.sum())
    if nonfinite != "zero":
        raise AsrError(f"{source}: {count} of {audio.size} samples are NaN or infinite (expected finite audio; "
                       "--nonfinite zero replaces them with silence)")
    log.warning("%s: %d of %d samples were NaN or infinite; replaced with 0", source, count, audio.size)
    return np.where(bad, np.float32(0.0), audio)


def count_nonfinite(path: str | Path) -> int:
    """How many samples of ``path`` are NaN or infinite (0 for integer PCM, which cannot hold them)."""
    import soundfile as sf

    path = _existing(path)
    try:
        subtype = sf.info(str(path)).subtype
    except Exception as e:  # soundfile raises LibsndfileError / RuntimeError for any bad file
        raise AsrError(f"{path}: not a readable audio file (expected wav/flac/ogg/mp3): {_reason(e)}") from e
    if subtype not in FLOAT_SUBTYPES:
        return 0
    total = 0
    with sf.SoundFile(str(path)) as f:
        for block in f.blocks(blocksize=1 << 18, dtype="float32", always_2d=True):
            total += int((~np.isfinite(block)).sum())
    return total


def resample(audio: np.ndarray, orig_rate: Hertz, target_rate: Hertz, source: str | Path = "audio") -> np.ndarray:
    """Resample ``(num_samples,)`` float32 audio with librosa's soxr backend."""
    if orig_rate == target_rate:
        return audio
    _check_rate(source, orig_rate)
    import librosa

    return librosa.resample(audio, orig_sr=orig_rate, target_sr=target_rate, res_type="soxr_hq").astype(np.float32)


def _check_rate(source: str | Path, rate: Hertz) -> None:
    if rate < MIN_SAMPLE_RATE:
        raise AsrError(f"{source}: unsupported sample rate {rate} Hz (expected at least {MIN_SAMPLE_RATE} Hz)")


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise AsrError(f"{path}: no such audio file")
    if path.is_dir():
        raise AsrError(f"{path}: is a directory (expected an audio file)")
    if path.stat().st_size == 0:
        raise AsrError(f"{path}: empty file (expected audio)")
    return path


def _reason(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__
