"""``conformer``: Conv2d subsampling (x4) over fbank/MFCC, ``torchaudio.models.Conformer``, CTC head."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from asr.models.base import CtcHead, CtcModel, padding_mask
from asr.models.config import ConformerConfig
from asr.models.subsampling import MIN_INPUT_FRAMES, SUBSAMPLING_FACTOR, Conv2dSubsampling, conv2d_subsampling_lengths


class ConformerCtc(CtcModel):
    """Features ``(B, T, input_dim)`` -> CTC log-probabilities ``(B, T', V)``, ``T' ~ T / 4``."""

    input_kind = "features"
    stride = SUBSAMPLING_FACTOR

    def __init__(self, config: ConformerConfig, vocab_size: int, input_dim: int):
        super().__init__(vocab_size, input_dim)
        from torchaudio.models import Conformer

        self.subsampling = Conv2dSubsampling(input_dim, config.d_model, config.subsampling_channels)
        self.input_dropout = torch.nn.Dropout(config.dropout)
        self.encoder = Conformer(
            input_dim=config.d_model,
            num_heads=config.num_heads,
            ffn_dim=config.ffn_dim,
            num_layers=config.num_layers,
            depthwise_conv_kernel_size=config.conv_kernel,
            dropout=config.dropout,
        )
        self.head = CtcHead(config.d_model, vocab_size, config.dropout)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return conv2d_subsampling_lengths(lengths)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, out_lengths = subsample(self.subsampling, inputs, lengths)
        x = self.input_dropout(x)
        x, _ = self.encoder(x, out_lengths.clamp(min=1))
        return self.head(x), out_lengths


def subsample(module: Conv2dSubsampling, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Subsample, trimmed to the longest output and zeroed past each length.

    Inputs shorter than :data:`MIN_INPUT_FRAMES` are zero-padded so one frame comes
    out; their output length stays 0.
    """
    if inputs.shape[1] < MIN_INPUT_FRAMES:
        inputs = F.pad(inputs, (0, 0, 0, MIN_INPUT_FRAMES - inputs.shape[1]))
    x, out_lengths = module(inputs, lengths)
    longest = max(int(out_lengths.max()), 1) if len(out_lengths) else 1
    x = x[:, :longest]
    x = x.masked_fill(padding_mask(out_lengths, x.shape[1])[..., None], 0.0)
    return x, out_lengths
