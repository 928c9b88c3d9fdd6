"""Training-time augmentation: speed perturbation and pauses on waveforms, SpecAugment on features.

What one utterance gets (an :class:`Augmentation`) is drawn by :func:`draw_augmentation` from
an explicit :class:`torch.Generator` seeded by the sampler, and SpecAugment uses the torch RNG
of the training process (never a data-loader worker's), so a resumed run repeats an
uninterrupted one exactly.

Pauses (:class:`PauseAugmentConfig`): corpus utterances are cut at the speech edges, but real
recordings have silence and room noise around (and under) the speech. A model that has never
seen them invents text in silence and stamps the last characters late; so a share of training
utterances gets random leading and trailing pauses, and a background noise floor (or digital
silence) under the whole padded utterance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

Hertz = int


def speed_perturb(audio: torch.Tensor, sample_rate: Hertz, factor: float) -> torch.Tensor:
    """Play ``audio`` (shape ``(num_samples,)``) ``factor`` times faster, changing pitch too.

    Like Kaldi's ``sox speed``: the signal is resampled from ``sample_rate * factor`` to
    ``sample_rate``, so the result has ``num_samples / factor`` samples.
    """
    if factor == 1.0:
        return audio
    import torchaudio.functional as F

    return F.resample(audio, orig_freq=int(round(sample_rate * factor)), new_freq=sample_rate)


def choose_speed(factors: tuple[float, ...], generator: torch.Generator) -> float:
    """One of ``factors``, uniformly, drawn from ``generator`` (1.0 when empty)."""
    if not factors:
        return 1.0
    return float(factors[int(torch.randint(len(factors), (1,), generator=generator))])


@dataclass(frozen=True)
class PauseAugmentConfig:
    """Random pauses around training utterances (see the module docstring).

    A share ``probability`` of utterances gets a leading and a trailing pause, each drawn
    uniformly from 0 to ``max_seconds``; under the whole padded utterance goes white noise at a
    level drawn uniformly from ``noise_dbfs`` (dB relative to full scale, RMS), or, for a share
    ``silence_share`` of them, digital silence. ``probability: 0`` turns it off.
    """

    probability: float = 0.0
    max_seconds: float = 2.0
    noise_dbfs: tuple[float, float] = (-70.0, -40.0)
    silence_share: float = 0.25


@dataclass(frozen=True)
class Augmentation:
    """What one training utterance gets: a speed factor, pauses (seconds) and a noise floor (dBFS, None: none)."""

    speed: float = 1.0
    before: float = 0.0
    after: float = 0.0
    noise_dbfs: float | None = None
    noise_seed: int = 0

    @property
    def pauses(self) -> bool:
        return self.before > 0 or self.after > 0

    def duration(self, seconds: float) -> float:
        """Seconds of audio after this augmentation of ``seconds`` of speech."""
        return seconds / self.speed + self.before + self.after


NONE = Augmentation()


def draw_augmentation(speeds: tuple[float, ...], pause: PauseAugmentConfig | None, generator: torch.Generator) -> Augmentation:
    """One utterance's :class:`Augmentation`, drawn from ``generator``."""
    speed = choose_speed(speeds, generator)
    if pause is None or pause.probability <= 0:
        return Augmentation(speed)
    u = torch.rand(5, generator=generator, dtype=torch.float64).tolist()
    if u[0] >= pause.probability:
        return Augmentation(speed)
    low, high = pause.noise_dbfs
    noise = None if u[3] < pause.silence_share else low + (high - low) * u[4]
    seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
    return Augmentation(speed, pause.max_seconds * u[1], pause.max_seconds * u[2], noise, seed)


def add_pauses(audio: torch.Tensor, sample_rate: Hertz, augmentation: Augmentation) -> torch.Tensor:
    """``(S,)`` samples with the augmentation's pauses around them and its noise floor under them."""
    if not augmentation.pauses:
        return audio
    before = int(round(augmentation.before * sample_rate))
    after = int(round(augmentation.after * sample_rate))
    out = torch.nn.functional.pad(audio, (before, after))
    if augmentation.noise_dbfs is not None:
        generator = torch.Generator().manual_seed(augmentation.noise_seed)
        rms = math.pow(10.0, augmentation.noise_dbfs / 20.0)
        out = out + rms * torch.randn(out.shape, generator=generator, dtype=out.dtype)
    return out


@dataclass(frozen=True)
class SpecAugmentConfig:
    """SpecAugment (Park et al., 2019) without time warping.

    ``freq_masks`` bands of up to ``freq_width`` bins and ``time_masks`` spans of up to
    ``time_width`` frames, each time span also at most ``time_ratio`` of the utterance.
    Zero masks (or ``enabled: false``) turn it off.
    """

    enabled: bool = True
    freq_masks: int = 2
    freq_width: int = 15
    time_masks: int = 2
    time_width: int = 40
    time_ratio: float = 0.05


class SpecAugment(torch.nn.Module):
    """Masks ``(batch, frames, bins)`` features in place of each utterance's valid frames.

    Built on :class:`torchaudio.transforms.FrequencyMasking` and ``TimeMasking``; masked
    values are set to 0, the mean of normalised (CMVN) features. Uses the torch RNG.
    """

    def __init__(self, config: SpecAugmentConfig):
        super().__init__()
        import torchaudio.transforms as T

        self.config = config
        self.freq = T.FrequencyMasking(config.freq_width) if config.freq_width > 0 else None
        self.time_width = config.time_width

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``feats``: ``(B, T, F)``; ``lengths``: ``(B,)`` valid frames. Returns a masked copy."""
        import torchaudio.transforms as T

        cfg = self.config
        if not cfg.enabled or (cfg.freq_masks <= 0 and cfg.time_masks <= 0):
            return feats
        out = feats.clone()
        for i, n in enumerate(lengths.tolist()):
            x = out[i, :n].transpose(0, 1).unsqueeze(0)  # (1, F, T)
            if self.freq is not None:
                for _ in range(cfg.freq_masks):
                    x = self.freq(x)
            width = min(self.time_width, int(cfg.time_ratio * n))
            if width > 0:
                mask = T.TimeMasking(width)
                for _ in range(cfg.time_masks):
                    x = mask(x)
            out[i, :n] = x.squeeze(0).transpose(0, 1)
        return out
