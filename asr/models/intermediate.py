"""A second CTC head on an intermediate encoder layer, for training (``intermediate_ctc``)."""

from __future__ import annotations

import torch
from torch import nn

from asr.models.base import CtcHead, CtcModel


class IntermediateCtc(nn.Module):
    """Wraps a feature encoder: ``forward`` returns its ``(log_probs, out_lengths)`` and the
    log-probabilities ``(B, T', units)`` of a CTC head on the output of encoder layer ``layer``.

    The encoder must have ``forward_with_hidden(inputs, lengths, layer)`` and ``num_layers``
    (the conformer and transformer do). ``layer`` is 1-based; 0 picks half the layers.
    The trainer optimises and checkpoints this module and saves only ``network``.
    """

    def __init__(self, network: CtcModel, layer: int, num_units: int, dropout: float = 0.1):
        super().__init__()
        if not hasattr(network, "forward_with_hidden"):
            raise ValueError(f"{type(network).__name__} has no intermediate layers to attach a CTC head to")
        self.network = network
        self.layer = layer or max(1, network.num_layers // 2)
        dim = network.head.linear.in_features
        self.norm = nn.LayerNorm(dim)
        self.head = CtcHead(dim, num_units, dropout)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        log_probs, out_lengths, hidden = self.network.forward_with_hidden(inputs, lengths, self.layer)
        return log_probs, out_lengths, self.head(self.norm(hidden))
