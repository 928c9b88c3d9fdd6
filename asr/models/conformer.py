"""``conformer``: convolutional subsampling (x4) over fbank/MFCC, sinusoidal positions, ``torchaudio.models.Conformer``, CTC head."""

from __future__ import annotations

import torch
from torchaudio.models import Conformer

from asr.models.base import CtcHead
from asr.models.config import ConformerConfig
from asr.models.feature_encoder import FeatureEncoderCtc
from asr.models.subsampling import make_subsampling


class ConformerCtc(FeatureEncoderCtc):
    """Features ``(B, T, input_dim)`` -> CTC log-probabilities ``(B, T', V)``, ``T' ~ T / 4``."""

    config_section = "conformer"

    def __init__(self, config: ConformerConfig, vocab_size: int, input_dim: int):
        super().__init__(vocab_size, input_dim)
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


    @property
    def num_layers(self) -> int:
        return len(self.encoder.conformer_layers)

    def run_layers(self, x: torch.Tensor, mask: torch.Tensor, layer: int | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = x.transpose(0, 1)  # torchaudio's layers are time-major, (T', B, d_model)
        hidden = None
        for index, conformer_layer in enumerate(self.encoder.conformer_layers, 1):
            x = conformer_layer(x, mask)
            if index == layer:
                hidden = x.transpose(0, 1)
        return x.transpose(0, 1), hidden
