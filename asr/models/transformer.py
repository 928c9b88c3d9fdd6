"""``transformer``: the conformer's front end with a plain (pre-norm) Transformer encoder."""

from __future__ import annotations

import math

import torch
from torch import nn

from asr.models.base import CtcHead, CtcModel, padding_mask
from asr.models.config import TransformerConfig
from asr.models.conformer import subsample
from asr.models.subsampling import SUBSAMPLING_FACTOR, Conv2dSubsampling, conv2d_subsampling_lengths


def sinusoidal_positions(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """``(length, dim)`` sinusoidal position encodings (Vaswani et al. 2017), computed on the fly."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(position * freq)
    pe[:, 1::2] = torch.cos(position * freq[: dim // 2])
    return pe


class TransformerCtc(CtcModel):
    """Features ``(B, T, input_dim)`` -> CTC log-probabilities ``(B, T', V)``, ``T' ~ T / 4``."""

    input_kind = "features"
    stride = SUBSAMPLING_FACTOR

    def __init__(self, config: TransformerConfig, vocab_size: int, input_dim: int):
        super().__init__(vocab_size, input_dim)
        self.d_model = config.d_model
        self.subsampling = Conv2dSubsampling(input_dim, config.d_model, config.subsampling_channels)
        self.input_dropout = nn.Dropout(config.dropout)
        layer = nn.TransformerEncoderLayer(
            d_model=config.d_model,
            nhead=config.num_heads,
            dim_feedforward=config.ffn_dim,
            dropout=config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(
            layer, num_layers=config.num_layers, norm=nn.LayerNorm(config.d_model), enable_nested_tensor=False
        )
        self.head = CtcHead(config.d_model, vocab_size, config.dropout)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return conv2d_subsampling_lengths(lengths)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, out_lengths = subsample(self.subsampling, inputs, lengths)
        x = x * math.sqrt(self.d_model) + sinusoidal_positions(x.shape[1], self.d_model, x.device).to(x.dtype)
        x = self.input_dropout(x)
        x = self.encoder(x, src_key_padding_mask=padding_mask(out_lengths.clamp(min=1), x.shape[1]))
        return self.head(x), out_lengths
