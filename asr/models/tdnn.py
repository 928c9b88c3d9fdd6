"""``tdnn``: conv subsampling x4 + residual 1-D convolutions over time, a bounded context.

A time-delay network (Kaldi's TDNN, here as pre-norm residual blocks): every output frame
sees a fixed window of input, :attr:`TdnnCtc.context_frames` feature frames on each side of its
centre, and nothing beyond it. That is
what makes it an aligner (``asr transcribe``'s character times, :mod:`asr.decode.transcription`):
a CTC model with full self-attention may emit a character's spike anywhere in the utterance,
and the recipe's Conformer emits half of them outside the character's sound; a TDNN can only
emit a spike where its window holds the sound.

Block ``i``: ``x + Dropout(GELU(Conv1d(LayerNorm(x), kernel, padding=kernel // 2)))``, padded
frames zeroed before each convolution; a final LayerNorm and the CTC head.
"""

from __future__ import annotations

import torch
from torch import nn

from asr.models.base import CtcHead
from asr.models.config import TdnnConfig
from asr.models.feature_encoder import FeatureEncoderCtc
from asr.models.subsampling import SUBSAMPLING_FACTOR, make_subsampling

#: Input frames seen by one output frame of the two stride-2, kernel-3 subsampling convolutions.
SUBSAMPLING_FIELD = 7


class TdnnBlock(nn.Module):
    """``(B, T', d) -> (B, T', d)``: one residual convolution over time."""

    def __init__(self, dim: int, kernel: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.conv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2)
        self.activation = nn.GELU()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        y = self.norm(x).masked_fill(mask[..., None], 0.0)
        y = self.conv(y.transpose(1, 2)).transpose(1, 2)
        return x + self.dropout(self.activation(y))


class TdnnCtc(FeatureEncoderCtc):
    """Features ``(B, T, input_dim)`` -> CTC log-probabilities ``(B, T', V)``, ``T' ~ T / 4``."""

    config_section = "tdnn"

    def __init__(self, config: TdnnConfig, vocab_size: int, input_dim: int):
        super().__init__(vocab_size, input_dim)
        if config.kernel < 1 or config.kernel % 2 == 0:
            raise ValueError(f"tdnn.kernel must be odd and positive (a centred window), got {config.kernel}")
        self.subsampling = make_subsampling(config.subsampling, input_dim, config.d_model, config.subsampling_channels)
        self.positions = "none"  # a bounded window has no use for absolute positions
        self.input_dropout = nn.Dropout(config.dropout)
        self.encoder = nn.ModuleList(TdnnBlock(config.d_model, config.kernel, config.dropout)
                                     for _ in range(config.num_layers))
        self.norm = nn.LayerNorm(config.d_model)
        self.head = CtcHead(config.d_model, vocab_size, config.dropout)
        self.context_frames = config.num_layers * (config.kernel // 2) * SUBSAMPLING_FACTOR + SUBSAMPLING_FIELD // 2

    @property
    def num_layers(self) -> int:
        return len(self.encoder)

    def run_layers(self, x: torch.Tensor, mask: torch.Tensor, layer: int | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        hidden = None
        for index, block in enumerate(self.encoder, 1):
            x = block(x, mask)
            if index == layer:
                hidden = x
        return self.norm(x), hidden
