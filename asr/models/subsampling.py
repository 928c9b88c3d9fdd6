"""Convolutional subsampling (x4 in time) in front of the feature encoders.

Two ``Conv2d(kernel=3, stride=2)`` layers without padding, each followed by ReLU, over
``(B, 1, T, D)`` features, then a linear projection to ``d_model``. The output length
rule is :func:`conv2d_subsampling_lengths`, the one place it is written down.
"""

from __future__ import annotations

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
