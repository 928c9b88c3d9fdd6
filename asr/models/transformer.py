"""``transformer``: the conformer's front end with a plain (pre-norm) Transformer encoder."""

from __future__ import annotations

import torch
from torch import nn

from asr.models.base import CtcHead
from asr.models.config import TransformerConfig
from asr.models.feature_encoder import FeatureEncoderCtc
from asr.models.subsampling import make_subsampling


class TransformerCtc(FeatureEncoderCtc):
    """Features ``(B, T, input_dim)`` -> CTC log-probabilities ``(B, T', V)``, ``T' ~ T / 4``."""

    config_section = "transformer"

    positions = "sinusoidal"

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


    @property
    def num_layers(self) -> int:
        return len(self.encoder.layers)

    def run_layers(self, x: torch.Tensor, mask: torch.Tensor, layer: int | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        hidden = None
        for index, encoder_layer in enumerate(self.encoder.layers, 1):
            x = encoder_layer(x, src_key_padding_mask=mask)
            if index == layer:
                hidden = x
        if self.encoder.norm is not None:
            x = self.encoder.norm(x)
        return x, hidden
