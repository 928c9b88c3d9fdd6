"""``conformer``: convolutional subsampling (x4) over fbank/MFCC, sinusoidal positions, ``torchaudio.models.Conformer``, CTC head."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from asr.models.base import CtcHead, CtcModel, padding_mask
from asr.models.config import ConformerConfig
from asr.models.subsampling import (
    MIN_INPUT_FRAMES,
    SUBSAMPLING_FACTOR,
    conv2d_subsampling_lengths,
    make_subsampling,
    with_positions,
)


class ConformerCtc(CtcModel):
    """Features ``(B, T, input_dim)`` -> CTC log-probabilities ``(B, T', V)``, ``T' ~ T / 4``."""

    input_kind = "features"
    stride = SUBSAMPLING_FACTOR

    def __init__(self, config: ConformerConfig, vocab_size: int, input_dim: int):
        super().__init__(vocab_size, input_dim)
        from torchaudio.models import Conformer

        self.subsampling = make_subsampling(config.subsampling, input_dim, config.d_model, config.subsampling_channels)
        self.positions = config.positions
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

    @property
    def num_layers(self) -> int:
        return len(self.encoder.conformer_layers)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_probs, out_lengths, _ = self.forward_with_hidden(inputs, lengths, None)
        return log_probs, out_lengths

    def forward_with_hidden(
        self, inputs: torch.Tensor, lengths: torch.Tensor, layer: int | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """:meth:`forward` plus the output ``(B, T', d_model)`` of Conformer layer ``layer`` (1-based; None: none)."""
        x, out_lengths = subsample(self.subsampling, inputs, lengths)
        if self.positions == "sinusoidal":
            x = with_positions(x)
        x = self.input_dropout(x)
        mask = padding_mask(out_lengths.clamp(min=1), x.shape[1])
        x = x.transpose(0, 1)  # torchaudio's layers are time-major, (T', B, d_model)
        hidden = None
        for index, conformer_layer in enumerate(self.encoder.conformer_layers, 1):
            x = conformer_layer(x, mask)
            if index == layer:
                hidden = x.transpose(0, 1)
        return self.head(x.transpose(0, 1)), out_lengths, hidden


def subsample(module: torch.nn.Module, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
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
