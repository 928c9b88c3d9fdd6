"""Recording conditions applied to clean synthetic speech at 16 kHz.

``clean``
    the speech with a faint white noise floor 60 dB below the speech level (so no
    frame is digital silence).
``noisy``
    plus additive noise at a given SNR in dB, measured against the speech's active
    level (frames within 40 dB of the loudest). The noise is ``white``, ``pink``
    (1/f) or ``car`` (1/f², road and engine rumble), shaped in the frequency domain.
``telephone``
    narrowband telephony: resampled to 8 kHz and back to 16 kHz with librosa (so
    nothing above 4 kHz survives), G.711 mu-law companding at 8 kHz, and a 300 Hz
    high-pass (4th-order Butterworth), i.e. the 300-3400 Hz telephone band.

All randomness comes from the caller's generator, so a condition is reproducible
from the utterance's seed.
"""

from __future__ import annotations

import numpy as np

from asr.audio import resample

CONDITIONS = ("clean", "noisy", "telephone")
NOISE_KINDS = ("white", "pink", "car")
NOISE_EXPONENT = {"white": 0.0, "pink": 1.0, "car": 2.0}  # power spectrum ~ 1 / f^exponent

SAMPLE_RATE = 16000
TELEPHONE_RATE = 8000
TELEPHONE_HIGHPASS_HZ = 300.0
NOISE_FLOOR_DB = -60.0  # relative to the active speech level
MU = 255  # G.711 mu-law


def active_rms(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, floor_db: float = -40.0) -> float:
    """RMS over 10 ms frames within ``floor_db`` of the loudest frame (the speech level)."""
    frame = sample_rate // 100
    n = len(audio) // frame
    if n == 0:
        return float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)) or 1e-9)
    power = np.mean(audio[: n * frame].astype(np.float64).reshape(n, frame) ** 2, axis=1)
    active = power[power >= power.max() * 10 ** (floor_db / 10)]
    return float(np.sqrt(active.mean())) or 1e-9


def colored_noise(num_samples: int, kind: str, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Unit-RMS noise of ``kind`` (white, pink, car), shape ``(num_samples,)``."""
    white = rng.standard_normal(num_samples)
    exponent = NOISE_EXPONENT[kind]
    if exponent:
        spectrum = np.fft.rfft(white)
        freqs = np.fft.rfftfreq(num_samples, d=1.0 / sample_rate)
        freqs[0] = freqs[1] if num_samples > 1 else 1.0
        spectrum *= np.maximum(freqs, 20.0) ** (-exponent / 2)  # below 20 Hz: flat
        white = np.fft.irfft(spectrum, n=num_samples)
    rms = np.sqrt(np.mean(white**2)) or 1.0
    return (white / rms).astype(np.float32)


def add_noise(audio: np.ndarray, snr_db: float, kind: str, rng: np.random.Generator, level: float | None = None) -> np.ndarray:
    """``audio`` plus ``kind`` noise at ``snr_db`` below the speech ``level`` (default: :func:`active_rms`)."""
    level = active_rms(audio) if level is None else level
    noise = colored_noise(len(audio), kind, rng) * (level * 10 ** (-snr_db / 20))
    return (audio + noise).astype(np.float32)


def telephone_band(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Resample to 8 kHz, mu-law compand, resample back, high-pass at 300 Hz; same length."""
    from scipy.signal import butter, sosfilt

    narrow = resample(audio, sample_rate, TELEPHONE_RATE)
    peak = float(np.max(np.abs(narrow))) or 1.0
    narrow = mu_law(narrow / peak) * peak
    wide = resample(narrow.astype(np.float32), TELEPHONE_RATE, sample_rate)
    wide = np.pad(wide, (0, max(0, len(audio) - len(wide))))[: len(audio)]
    sos = butter(4, TELEPHONE_HIGHPASS_HZ, btype="highpass", fs=sample_rate, output="sos")
    return sosfilt(sos, wide).astype(np.float32)


def mu_law(x: np.ndarray) -> np.ndarray:
    """G.711 mu-law encode to 8 bits and decode, for ``x`` in [-1, 1]."""
    encoded = np.sign(x) * np.log1p(MU * np.abs(x)) / np.log1p(MU)
    quantized = np.round((encoded + 1) / 2 * 255) / 255 * 2 - 1
    return np.sign(quantized) * np.expm1(np.abs(quantized) * np.log1p(MU)) / MU


def apply_condition(
    audio: np.ndarray, condition: str, rng: np.random.Generator, snr_db: float | None = None, noise: str | None = None,
) -> np.ndarray:
    """Return ``audio`` (float32, 16 kHz, ``(num_samples,)``) as recorded under ``condition``."""
    if condition not in CONDITIONS:
        raise ValueError(f"unknown recording condition {condition!r}; expected one of {', '.join(CONDITIONS)}")
    level = active_rms(audio)
    if condition == "noisy":
        if snr_db is None or noise is None:
            raise ValueError("a noisy condition needs snr_db and noise")
        audio = add_noise(audio, snr_db, noise, rng, level)
    elif condition == "telephone":
        audio = telephone_band(audio)
    return add_noise(audio, -NOISE_FLOOR_DB, "white", rng, level)
