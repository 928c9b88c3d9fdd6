"""``transformer``: the conformer's front end with a plain (pre-norm) Transformer encoder."""

from __future__ import annotations

import torch
from torch import nn

from asr.models.base import CtcHead, CtcModel, padding_mask
from asr.models.config import TransformerConfig
from asr.models.conformer import subsample
from asr.models.subsampling import SUBSAMPLING_FACTOR, conv2d_subsampling_lengths, make_subsampling, with_positions


class TransformerCtc(CtcModel):
    """Features ``(B, T, input_dim)`` -> CTC log-probabilities ``(B, T', V)``, ``T' ~ T / 4``."""

    input_kind = "features"
    stride = SUBSAMPLING_FACTOR

    def __init__(self, config: TransformerConfig, vocab_size: int, input_dim: int):
        super().__init__(vocab_size, input_dim)
        self.subsampling = make_subsampling(config.subsampling, input_dim, config.d_model, config.subsampling_channels)
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

    @property
    def num_layers(self) -> int:
        return len(self.encoder.layers)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_probs, out_lengths, _ = self.forward_with_hidden(inputs, lengths, None)
        return log_probs, out_lengths

    def forward_with_hidden(
        self, inputs: torch.Tensor, lengths: torch.Tensor, layer: int | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """:meth:`forward` plus the output ``(B, T', d_model)`` of encoder layer ``layer`` (1-based; None: none)."""
        x, out_lengths = subsample(self.subsampling, inputs, lengths)
        x = self.input_dropout(with_positions(x))
        mask = padding_mask(out_lengths.clamp(min=1), x.shape[1])
        hidden = None
        for index, encoder_layer in enumerate(self.encoder.layers, 1):
            x = encoder_layer(x, src_key_padding_mask=mask)
            if index == layer:
                hidden = x
        if self.encoder.norm is not None:
            x = self.encoder.norm(x)
        return self.head(x), out_lengths, hidden
