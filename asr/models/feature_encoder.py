"""The shared front end of the feature encoders (``conformer``, ``transformer``).

Fbank/MFCC ``(B, T, input_dim)`` -> convolutional subsampling x4 (:mod:`asr.models.subsampling`)
-> optional sinusoidal positions -> dropout -> the encoder's layers -> CTC head. A subclass
builds ``self.subsampling``, ``self.input_dropout``, ``self.encoder`` and ``self.head`` and
implements :meth:`FeatureEncoderCtc.run_layers`; :meth:`forward`, :meth:`forward_with_hidden`
and :meth:`output_lengths` are written once, here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from asr.models.base import CtcModel, padding_mask
from asr.models.subsampling import MIN_INPUT_FRAMES, SUBSAMPLING_FACTOR, conv2d_subsampling_lengths, with_positions


class FeatureEncoderCtc(CtcModel):
    """Features ``(B, T, input_dim)`` -> CTC log-probabilities ``(B, T', V)``, ``T' ~ T / 4``."""

    input_kind = "features"
    stride = SUBSAMPLING_FACTOR
    #: Whether sinusoidal positions are added after subsampling (a subclass may set it per instance).
    positions: str = "sinusoidal"

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return conv2d_subsampling_lengths(lengths)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_probs, out_lengths, _ = self.forward_with_hidden(inputs, lengths, None)
        return log_probs, out_lengths

    def forward_with_hidden(
        self, inputs: torch.Tensor, lengths: torch.Tensor, layer: int | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """:meth:`forward` plus the output ``(B, T', d_model)`` of encoder layer ``layer`` (1-based; None: none)."""
        x, out_lengths = subsample(self.subsampling, inputs, lengths)
        if self.positions == "sinusoidal":
            x = with_positions(x)
        x = self.input_dropout(x)
        mask = padding_mask(out_lengths.clamp(min=1), x.shape[1])
        x, hidden = self.run_layers(x, mask, layer)
        return self.head(x), out_lengths, hidden

    def run_layers(
        self, x: torch.Tensor, mask: torch.Tensor, layer: int | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The encoder's layers on ``(B, T', d_model)`` with ``(B, T')`` padding ``mask`` (True: padded).

        Returns the final ``(B, T', d_model)`` output and that of layer ``layer`` (1-based), or None.
        """
        raise NotImplementedError


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
