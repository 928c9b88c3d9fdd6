"""Kaldi-compatible filterbank and MFCC features, and global CMVN statistics.

:func:`compute_features` turns a ``(num_samples,)`` float waveform into ``(num_frames, dim)``
float32 features that match Kaldi's ``compute-fbank-feats`` / ``compute-mfcc-feats`` as
implemented by :mod:`torchaudio.compliance.kaldi`: each frame goes through the same float32
operations in the same order, so the windowed frames are bit-identical and the outputs differ
by float rounding only (max abs difference ~2e-6 for log fbank, ~2e-4 for MFCC in the tests).
It is several times faster (``benchmarks/bench_features.py``): frames are processed in
cache-sized blocks, elementwise steps run in place, and the mel filters multiply only the FFT
bins they cover.
:func:`compute_features_torchaudio` calls torchaudio directly and is the reference the tests
and ``benchmarks/bench_features.py`` compare against.

Input scaling: Kaldi reads 16-bit PCM as integers in [-32768, 32767]; our waveforms are
floats in [-1, 1] (``soundfile``'s ``x / 32768``), so they are multiplied by 32768 first.
For 16-bit audio this reproduces Kaldi's input exactly; it matters for the absolute value of
log energies and for ``dither``, which is in integer-sample units.

Option names and defaults are Kaldi's (``--frame-length`` becomes ``frame_length``). Where we
differ from Kaldi's defaults, and why:

* ``dither`` 0.0 (Kaldi 1.0): features are a deterministic function of the audio, so two runs
  give identical bytes. Silence then hits the log floor (``log(FLT_EPSILON)``) instead of
  noise; our audio is never digitally silent for long, and global CMVN follows.
* ``num_mel_bins`` 80 (Kaldi 23): the usual input of neural acoustic models.
* ``use_energy`` unset means Kaldi's default *for the kind*: false for fbank, true for MFCC
  (torchaudio's ``mfcc`` defaults to false; we follow Kaldi).
* ``energy_floor`` 0.0 is Kaldi's default (torchaudio's is 1.0; we follow Kaldi).
* Not offered (Kaldi's defaults always apply): VTLN (``vtln_warp`` 1.0), ``htk_compat`` false,
  ``subtract_mean`` false (use :class:`Cmvn`), ``min_duration`` 0.
* A waveform shorter than one window gives zero frames for either ``snip_edges`` (Kaldi
  outputs none with ``snip_edges`` true and torchaudio refuses such input).
* ``storage_dtype`` is ours: the dtype of features stored by ``asr features`` (see
  :mod:`asr.features.store`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import torch

from asr.config import to_dict
from asr.errors import AsrError
from asr.io import write_json

Milliseconds = float
Hertz = float

#: Kaldi reads 16-bit samples as integers; float waveforms in [-1, 1] are scaled by this.
INT16_SCALE = 32768.0
#: ``std::numeric_limits<float>::epsilon()``: Kaldi's floor before every log.
EPSILON = float(torch.finfo(torch.float32).eps)
#: Frames per block in :func:`compute_features` (about 1 MB of FFT input, fits in L2).
BLOCK_FRAMES = 512
#: Mel filters per matrix product; each block multiplies only the FFT bins its filters cover.
MEL_BLOCK = 16
#: Bumped when the computation changes in a way that invalidates stored features.
FEATURE_FORMAT = 1
WindowType = Literal["povey", "hanning", "hamming", "rectangular", "blackman"]


@dataclass(frozen=True)
class FeatureConfig:
    """Options of Kaldi's ``compute-fbank-feats`` / ``compute-mfcc-feats``, Kaldi's names.

    Times are in milliseconds, frequencies in Hz. See the module docstring for every
    divergence from Kaldi's defaults (``dither``, ``num_mel_bins``, ``use_energy`` for MFCC).
    """

    kind: Literal["fbank", "mfcc"] = "fbank"
    sample_frequency: Hertz = 16000.0
    frame_length: Milliseconds = 25.0
    frame_shift: Milliseconds = 10.0
    dither: float = 0.0  # Kaldi: 1.0
    preemphasis_coefficient: float = 0.97
    remove_dc_offset: bool = True
    window_type: WindowType = "povey"
    blackman_coeff: float = 0.42
    round_to_power_of_two: bool = True
    snip_edges: bool = True
    raw_energy: bool = True
    energy_floor: float = 0.0
    num_mel_bins: int = 80  # Kaldi: 23
    low_freq: Hertz = 20.0
    high_freq: Hertz = 0.0  # <= 0: offset from the Nyquist frequency
    use_energy: bool | None = None  # None: false for fbank, true for mfcc (Kaldi's defaults)
    use_log_fbank: bool = True  # fbank only
    use_power: bool = True  # fbank only
    num_ceps: int = 13  # mfcc only
    cepstral_lifter: float = 22.0  # mfcc only
    storage_dtype: Literal["float32", "float16"] = "float32"  # ours: dtype of stored features

    def __post_init__(self) -> None:
        if self.use_energy is None:
            object.__setattr__(self, "use_energy", self.kind == "mfcc")
        _validate(self)

    @property
    def dim(self) -> int:
        """Feature dimension: ``num_ceps`` for MFCC, ``num_mel_bins`` (+1 with energy) for fbank."""
        return self.num_ceps if self.kind == "mfcc" else self.num_mel_bins + int(self.use_energy)

    @property
    def sample_rate(self) -> int:
        """``sample_frequency`` as an integer number of Hz."""
        return int(round(self.sample_frequency))

    @property
    def window_size(self) -> int:
        """Samples per frame (Kaldi truncates ``frame_length`` to whole samples)."""
        return int(self.sample_frequency * self.frame_length * 0.001)

    @property
    def window_shift(self) -> int:
        """Samples between frame starts."""
        return int(self.sample_frequency * self.frame_shift * 0.001)

    @property
    def padded_window_size(self) -> int:
        """FFT length: the window size, rounded up to a power of two unless disabled."""
        n = self.window_size
        return 1 << (n - 1).bit_length() if self.round_to_power_of_two else n

    def digest(self) -> str:
        """A short hash of every option; stored features are recomputed when it changes."""
        text = json.dumps({"format": FEATURE_FORMAT, **to_dict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _validate(c: FeatureConfig) -> None:
    nyquist = 0.5 * c.sample_frequency
    high = c.high_freq if c.high_freq > 0 else c.high_freq + nyquist
    checks = [
        (c.sample_frequency > 0, f"sample_frequency must be positive, got {c.sample_frequency}"),
        (c.frame_shift > 0 and c.window_shift > 0, f"frame_shift {c.frame_shift} ms is shorter than one sample"),
        (c.window_size >= 2, f"frame_length {c.frame_length} ms gives fewer than 2 samples"),
        (c.padded_window_size % 2 == 0, "the FFT length must be even: set round_to_power_of_two or change frame_length"),
        (0.0 <= c.preemphasis_coefficient <= 1.0, "preemphasis_coefficient must be in [0, 1]"),
        (c.dither >= 0, f"dither must be >= 0, got {c.dither}"),
        (c.energy_floor >= 0, f"energy_floor must be >= 0, got {c.energy_floor}"),
        (c.num_mel_bins > 3, f"num_mel_bins must be at least 4, got {c.num_mel_bins}"),
        (0 <= c.low_freq < nyquist and 0 < high <= nyquist and c.low_freq < high,
         f"low_freq {c.low_freq} and high_freq {c.high_freq} must satisfy 0 <= low < high <= {nyquist:g} (Nyquist)"),
        (c.kind != "mfcc" or 1 <= c.num_ceps <= c.num_mel_bins,
         f"num_ceps {c.num_ceps} must be between 1 and num_mel_bins ({c.num_mel_bins})"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)


def num_frames(num_samples: int, config: FeatureConfig) -> int:
    """Frames :func:`compute_features` gives for ``num_samples`` samples (Kaldi's rule).

    With ``snip_edges`` only whole windows count: ``1 + (N - window_size) // window_shift``;
    without, ``(N + window_shift // 2) // window_shift``. Fewer samples than one window: 0.
    """
    size, shift = config.window_size, config.window_shift
    if num_samples < size:
        return 0
    if config.snip_edges:
        return 1 + (num_samples - size) // shift
    return (num_samples + shift // 2) // shift


class _Plan(NamedTuple):
    """Everything :func:`compute_features` derives from a config once, on one device."""

    window: torch.Tensor  # (window_size,)
    mel_blocks: tuple[tuple[int, int, int, int, torch.Tensor], ...]  # (first, last, lo, hi, (hi-lo, last-first))
    dct: torch.Tensor | None  # (num_mel_bins, num_ceps), liftering folded in


@functools.lru_cache(maxsize=32)
def _plan(config: FeatureConfig, device: torch.device) -> _Plan:
    from torchaudio.compliance.kaldi import get_mel_banks
    from torchaudio.functional import create_dct

    banks, _ = get_mel_banks(config.num_mel_bins, config.padded_window_size, config.sample_frequency,
                             config.low_freq, config.high_freq, 100.0, -500.0, 1.0)
    mel = torch.nn.functional.pad(banks, (0, 1)).T.contiguous()  # (fft bins, mel bins); Nyquist bin unused
    blocks = []
    for first in range(0, config.num_mel_bins, MEL_BLOCK):
        last = min(config.num_mel_bins, first + MEL_BLOCK)
        used = (mel[:, first:last] != 0).any(1).nonzero().flatten()
        lo, hi = (int(used.min()), int(used.max()) + 1) if len(used) else (0, 1)
        blocks.append((first, last, lo, hi, mel[lo:hi, first:last].contiguous().to(device)))
    dct = None
    if config.kind == "mfcc":
        # Kaldi's DCT: orthonormal type II with a flat first row, then liftering.
        matrix = create_dct(config.num_mel_bins, config.num_mel_bins, "ortho")
        matrix[:, 0] = math.sqrt(1.0 / config.num_mel_bins)
        dct = matrix[:, : config.num_ceps]
        if config.cepstral_lifter != 0.0:
            i = torch.arange(config.num_ceps)
            dct = dct * (1.0 + 0.5 * config.cepstral_lifter * torch.sin(math.pi * i / config.cepstral_lifter))
        dct = dct.contiguous().to(device)
    return _Plan(_window(config, device), tuple(blocks), dct)


def _window(config: FeatureConfig, device: torch.device) -> torch.Tensor:
    """Kaldi's window functions, computed exactly as torchaudio does (bit-identical frames)."""
    n, kind = config.window_size, config.window_type
    if kind in ("hanning", "povey"):
        w = torch.hann_window(n, periodic=False, device=device)
        return w.pow(0.85) if kind == "povey" else w
    if kind == "hamming":
        return torch.hamming_window(n, periodic=False, alpha=0.54, beta=0.46, device=device)
    if kind == "rectangular":
        return torch.ones(n, device=device)
    a = 2 * math.pi / (n - 1)
    i = torch.arange(n, device=device, dtype=torch.float32)
    c = config.blackman_coeff
    return c - 0.5 * torch.cos(a * i) + (0.5 - c) * torch.cos(2 * a * i)


def _as_waveform(waveform: torch.Tensor | np.ndarray) -> torch.Tensor:
    x = torch.as_tensor(waveform)
    if x.dim() != 1:
        raise ValueError(f"expected a (num_samples,) waveform, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"expected a float waveform in [-1, 1], got {x.dtype}")
    return x.to(torch.float32)


def _frames(x: torch.Tensor, config: FeatureConfig) -> torch.Tensor:
    """``(num_frames, window_size)`` strided view of ``x`` (reflected at the ends without snip_edges)."""
    size, shift = config.window_size, config.window_shift
    count = num_frames(x.numel(), config)
    if not config.snip_edges and count:
        pad = size // 2 - shift // 2
        reversed_x = torch.flip(x, [0])
        x = torch.cat((reversed_x[-pad:], x, reversed_x)) if pad > 0 else torch.cat((x[-pad:], reversed_x))
    return x.as_strided((count, size), (shift, 1))


def compute_features(waveform: torch.Tensor | np.ndarray, config: FeatureConfig = FeatureConfig()) -> torch.Tensor:
    """Kaldi fbank or MFCC features of one waveform.

    ``waveform``: ``(num_samples,)`` float samples in [-1, 1] at ``config.sample_frequency``
    (scaled by 32768 to Kaldi's integer range). Returns ``(num_frames(num_samples), dim)``
    float32 on the waveform's device. Matches :func:`compute_features_torchaudio` step by
    step (same operations in the same order on each frame), so they agree to float rounding.
    """
    x = _as_waveform(waveform) * INT16_SCALE
    frames = _frames(x, config)
    total = frames.shape[0]
    if total == 0:
        return x.new_zeros((0, config.dim))
    plan = _plan(config, x.device)
    mel = x.new_empty((total, config.num_mel_bins))
    energy = x.new_empty(total) if config.use_energy else None
    buffer = x.new_zeros((min(total, BLOCK_FRAMES), config.padded_window_size))
    for start in range(0, total, BLOCK_FRAMES):
        stop = min(total, start + BLOCK_FRAMES)
        _mel_block(frames[start:stop], buffer[: stop - start], mel[start:stop],
                   None if energy is None else energy[start:stop], plan, config)
    if config.kind == "fbank" and not config.use_log_fbank:
        features = mel
    else:
        features = mel.clamp_min_(EPSILON).log_()
    if config.kind == "mfcc":
        features = features @ plan.dct
    if energy is not None:
        energy = energy.clamp_min_(EPSILON).log_()
        if config.energy_floor > 0.0:
            energy.clamp_min_(math.log(config.energy_floor))
        if config.kind == "mfcc":
            features[:, 0] = energy
        else:
            features = torch.cat((energy[:, None], features), dim=1)
    return features


def _mel_block(frames: torch.Tensor, buffer: torch.Tensor, out: torch.Tensor,
               energy: torch.Tensor | None, plan: _Plan, config: FeatureConfig) -> None:
    """Mel energies of ``(B, window_size)`` frames into ``out`` ``(B, num_mel_bins)``.

    ``buffer`` ``(B, padded_window_size)`` is zero beyond ``window_size`` and reused.
    ``energy`` ``(B,)`` receives the (not yet logged) frame energies when wanted.
    """
    if config.dither != 0.0:
        frames = frames + torch.randn(frames.shape, device=frames.device) * config.dither
    size = config.window_size
    x = buffer[:, :size]
    if config.remove_dc_offset:
        torch.sub(frames, frames.mean(1, keepdim=True), out=x)
    else:
        x.copy_(frames)
    if energy is not None and config.raw_energy:
        torch.sum(x.pow(2), 1, out=energy)
    if config.preemphasis_coefficient != 0.0:
        # x[:, j] -= p * x[:, j - 1], with x[:, -1] taken as x[:, 0] (Kaldi); same rounding as torchaudio
        scaled = x * config.preemphasis_coefficient
        buffer[:, 1:size].sub_(scaled[:, :-1])
        buffer[:, 0].sub_(scaled[:, 0])
    x.mul_(plan.window)
    if energy is not None and not config.raw_energy:
        torch.sum(buffer.pow(2), 1, out=energy)
    spectrum = torch.view_as_real(torch.fft.rfft(buffer))
    power = spectrum[..., 0].square()
    power.addcmul_(spectrum[..., 1], spectrum[..., 1])
    if config.kind == "fbank" and not config.use_power:
        power.sqrt_()
    for first, last, lo, hi, weights in plan.mel_blocks:
        torch.mm(power[:, lo:hi], weights, out=out[:, first:last])


def compute_features_torchaudio(waveform: torch.Tensor | np.ndarray, config: FeatureConfig = FeatureConfig()
                                ) -> torch.Tensor:
    """The reference: :func:`torchaudio.compliance.kaldi.fbank` / ``mfcc`` called directly.

    Same input and output as :func:`compute_features` (slower).
    """
    import torchaudio.compliance.kaldi as kaldi

    x = _as_waveform(waveform) * INT16_SCALE
    if num_frames(x.numel(), config) == 0:
        return x.new_zeros((0, config.dim))
    common = dict(
        sample_frequency=config.sample_frequency, frame_length=config.frame_length, frame_shift=config.frame_shift,
        dither=config.dither, preemphasis_coefficient=config.preemphasis_coefficient,
        remove_dc_offset=config.remove_dc_offset, window_type=config.window_type, blackman_coeff=config.blackman_coeff,
        round_to_power_of_two=config.round_to_power_of_two, snip_edges=config.snip_edges,
        raw_energy=config.raw_energy, energy_floor=config.energy_floor, num_mel_bins=config.num_mel_bins,
        low_freq=config.low_freq, high_freq=config.high_freq, use_energy=config.use_energy,
    )
    if config.kind == "mfcc":
        return kaldi.mfcc(x[None], num_ceps=config.num_ceps, cepstral_lifter=config.cepstral_lifter, **common)
    return kaldi.fbank(x[None], use_log_fbank=config.use_log_fbank, use_power=config.use_power, **common)


# ----------------------------------------------------------------------------- CMVN


#: Floor on the standard deviation, so a constant dimension does not divide by zero.
STD_FLOOR = 1e-5


@dataclass
class CmvnStats:
    """Running per-dimension sums for global CMVN, in float64 (exact to ~1e-16 relative)."""

    dim: int
    count: int = 0
    sum: np.ndarray = field(default=None)  # type: ignore[assignment]
    sum_sq: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.sum = np.zeros(self.dim) if self.sum is None else np.asarray(self.sum, dtype=np.float64)
        self.sum_sq = np.zeros(self.dim) if self.sum_sq is None else np.asarray(self.sum_sq, dtype=np.float64)

    def accumulate(self, features: torch.Tensor | np.ndarray) -> None:
        """Add ``(num_frames, dim)`` features."""
        x = torch.as_tensor(features).to(torch.float64)
        self.count += x.shape[0]
        self.sum += x.sum(0).numpy()
        self.sum_sq += x.square().sum(0).numpy()

    def merge(self, other: CmvnStats) -> None:
        """Add another accumulator's sums (e.g. one per shard)."""
        self.count += other.count
        self.sum += other.sum
        self.sum_sq += other.sum_sq

    def to_dict(self) -> dict:
        return {"dim": self.dim, "count": self.count, "sum": self.sum.tolist(), "sum_sq": self.sum_sq.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> CmvnStats:
        return cls(dim=int(data["dim"]), count=int(data["count"]), sum=data["sum"], sum_sq=data["sum_sq"])


@dataclass(frozen=True, eq=False)
class Cmvn:
    """Global mean and variance normalisation: ``(features - mean) / std`` per dimension.

    ``mean`` and ``std`` are ``(dim,)`` float32 arrays; ``num_frames`` is how many frames
    the statistics came from. ``std`` is the population standard deviation, floored at
    :data:`STD_FLOOR`.
    """

    mean: np.ndarray
    std: np.ndarray
    num_frames: int = 0

    @classmethod
    def from_stats(cls, stats: CmvnStats) -> Cmvn:
        """Mean and standard deviation of everything accumulated into ``stats``."""
        if stats.count == 0:
            raise AsrError("cannot compute CMVN statistics from zero frames")
        mean = stats.sum / stats.count
        var = np.maximum(stats.sum_sq / stats.count - mean**2, 0.0)
        std = np.maximum(np.sqrt(var), STD_FLOOR)
        return cls(mean.astype(np.float32), std.astype(np.float32), stats.count)

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    def apply(self, features: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
        """Normalise ``(..., dim)`` features; returns the same type (Tensor or ndarray)."""
        if features.shape[-1] != self.dim:
            raise AsrError(f"CMVN statistics have dimension {self.dim} but the features have {features.shape[-1]}")
        if isinstance(features, torch.Tensor):
            mean = torch.as_tensor(self.mean, device=features.device)
            std = torch.as_tensor(self.std, device=features.device)
            return (features - mean) / std
        return (np.asarray(features, dtype=np.float32) - self.mean) / self.std

    def to_dict(self) -> dict:
        return {"dim": self.dim, "num_frames": self.num_frames, "mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data: dict, source: str = "CMVN statistics") -> Cmvn:
        try:
            mean = np.asarray(data["mean"], dtype=np.float32)
            std = np.asarray(data["std"], dtype=np.float32)
            frames = int(data.get("num_frames", 0))
        except (KeyError, TypeError, ValueError) as e:
            raise AsrError(f"{source}: expected {{'mean': [...], 'std': [...]}} ({e})") from None
        if mean.ndim != 1 or mean.shape != std.shape or (std <= 0).any():
            raise AsrError(f"{source}: mean and std must be lists of equal length with std > 0")
        return cls(mean, std, frames)

    def to_json(self, path: str | Path) -> None:
        """Write ``cmvn.json`` atomically."""
        write_json(path, self.to_dict())

    @classmethod
    def from_json(cls, path: str | Path) -> Cmvn:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise AsrError(f"{path}: CMVN file not found (run `asr features --cmvn-from train`)") from None
        except json.JSONDecodeError as e:
            raise AsrError(f"{path}: invalid JSON ({e.msg})") from None
        return cls.from_dict(data, source=str(path))
