"""Training-time augmentation: speed perturbation of waveforms and SpecAugment of features.

Both draw their randomness from an explicit :class:`torch.Generator` or from the torch
RNG of the training process (never from a data-loader worker's), so a resumed run repeats
an uninterrupted one exactly.
"""

from __future__ import annotations

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
