"""The interface every encoder implements: :class:`CtcModel`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import torch
from torch import nn

from asr.errors import AsrError

if TYPE_CHECKING:  # the config module imports nothing of ours; this keeps base.py import-light
    from asr.models.config import ModelConfig

InputKind = Literal["features", "waveform"]


class CtcModel(nn.Module):
    """An encoder with a CTC head.

    ``forward(inputs, lengths) -> (log_probs, out_lengths)``:

    * ``inputs``: ``(B, T, D)`` float features when :attr:`input_kind` is ``"features"``,
      or ``(B, S)`` float 16 kHz samples when it is ``"waveform"``; zero-padded.
    * ``lengths``: ``(B,)`` int64 valid frames (or samples) per utterance.
    * ``log_probs``: ``(B, T', V)`` float32 ``log_softmax`` over the vocabulary
      (id 0 is the CTC blank), ``T' = output_lengths(T)``.
    * ``out_lengths``: ``(B,)`` int64, ``output_lengths(lengths)``.

    Attributes: :attr:`input_kind`; :attr:`vocab_size`; :attr:`input_dim` (feature
    dimension, ``None`` for waveforms); :attr:`stride`, input frames (or samples) per
    output frame, so an output frame lasts ``stride * input frame shift`` seconds;
    :attr:`max_input_length`, the longest input in frames or samples (``None``: no limit).
    """

    input_kind: InputKind = "features"
    stride: int = 4
    max_input_length: int | None = None

    def __init__(self, vocab_size: int, input_dim: int | None):
        super().__init__()
        self.vocab_size = vocab_size
        self.input_dim = input_dim

    #: The :class:`~asr.models.config.ModelConfig` field that holds this encoder's options.
    config_section: str = ""

    @classmethod
    def from_config(cls, config: "ModelConfig", vocab_size: int, input_dim: int | None,
                    hf_config: dict | None = None) -> "CtcModel":
        """Build from a model config: what :func:`asr.models.build_model` calls for this encoder.

        A feature encoder is built as ``cls(options, vocab_size, input_dim)``, a waveform encoder
        as ``cls(options, vocab_size, hf_config=hf_config)``.
        """
        options = getattr(config, cls.config_section)
        if cls.input_kind == "features":
            return cls(options, vocab_size, cls.need_input_dim(input_dim, cls.config_section))
        return cls(options, vocab_size, hf_config=hf_config)

    @staticmethod
    def need_input_dim(input_dim: int | None, name: str) -> int:
        """``input_dim`` as an int; a feature encoder without one is an :class:`AsrError`."""
        if not input_dim:
            raise AsrError(f"encoder {name!r} reads features: input_dim (the feature dimension) is required")
        return int(input_dim)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Output frames for inputs of ``lengths`` frames (or samples): ``(B,)`` int64."""
        raise NotImplementedError

    def hf_config(self) -> dict | None:
        """The Hugging Face config of a pretrained encoder (saved as ``hf_config.json``), else None."""
        return None

    def set_train_step(self, step: int) -> bool:
        """Apply a layer-unfreezing schedule at optimizer step ``step``; True if trainability changed.

        The trainer calls it before each step; encoders without a schedule ignore it.
        Build the optimizer over all parameters: frozen ones receive no gradient and
        AdamW leaves them untouched.
        """
        return False


class CtcHead(nn.Module):
    """Dropout then a linear projection to the vocabulary; returns float32 log-probabilities."""

    def __init__(self, dim: int, vocab_size: int, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(dim, vocab_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, dim)`` -> ``(B, T, vocab_size)`` float32 log-probabilities."""
        return self.linear(self.dropout(x)).float().log_softmax(dim=-1)


def padding_mask(lengths: torch.Tensor, max_length: int) -> torch.Tensor:
    """``(B, max_length)`` bool, True at padded positions (the PyTorch ``key_padding_mask`` convention)."""
    return torch.arange(max_length, device=lengths.device)[None, :] >= lengths[:, None]
