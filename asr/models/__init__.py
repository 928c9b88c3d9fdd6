"""CTC encoders, chosen by ``ModelConfig.encoder`` through one registry.

>>> from asr.models import ModelConfig, build_model
>>> net = build_model(ModelConfig(encoder="conformer"), vocab_size=100, input_dim=80)  # doctest: +SKIP
>>> log_probs, out_lengths = net(features, lengths)                                      # doctest: +SKIP

=============  ==========  ===========================================================
encoder        input_kind  what
=============  ==========  ===========================================================
conformer      features    conv subsampling x4 + ``torchaudio.models.Conformer``
transformer    features    conv subsampling x4 + ``torch.nn.TransformerEncoder``
tdnn           features    conv subsampling x4 + residual 1-D convolutions: a bounded
                           context, so its CTC spikes stay on the sounds (an aligner)
wav2vec2       waveform    any wav2vec2-family ``transformers`` encoder (wav2vec2,
                           XLS-R, HuBERT, WavLM, data2vec-audio) + new CTC head
whisper        waveform    ``transformers`` Whisper encoder on variable-length log-mel
                           + CTC head
=============  ==========  ===========================================================
"""

from __future__ import annotations

import importlib
from typing import Callable

from asr.errors import AsrError
from asr.models.base import CtcHead, CtcModel, InputKind, padding_mask
from asr.models.config import (
    ConformerConfig,
    EncoderName,
    LoraConfig,
    ModelConfig,
    PretrainedConfig,
    TransformerConfig,
)
from asr.models.subsampling import conv2d_subsampling_lengths

__all__ = [
    "ConformerConfig",
    "CtcHead",
    "CtcModel",
    "ENCODERS",
    "EncoderName",
    "InputKind",
    "LoraConfig",
    "ModelConfig",
    "PretrainedConfig",
    "TransformerConfig",
    "build_model",
    "conv2d_subsampling_lengths",
    "encoder_class",
    "input_kind",
    "padding_mask",
]


def _encoder_class(module: str, name: str) -> Callable[[], type[CtcModel]]:
    """A loader of an encoder class. The import waits until the encoder is used: the pretrained
    encoders import ``transformers`` (seconds), which a conformer run never needs."""

    def load() -> type[CtcModel]:
        return getattr(importlib.import_module(module), name)

    return load


#: The registry: encoder name -> its class (loaded on first use). The class is the one source of
#: what the encoder reads (:attr:`CtcModel.input_kind`) and how it is built (``from_config``).
ENCODERS: dict[str, Callable[[], type[CtcModel]]] = {
    "conformer": _encoder_class("asr.models.conformer", "ConformerCtc"),
    "transformer": _encoder_class("asr.models.transformer", "TransformerCtc"),
    "tdnn": _encoder_class("asr.models.tdnn", "TdnnCtc"),
    "wav2vec2": _encoder_class("asr.models.wav2vec2", "Wav2Vec2Ctc"),
    "whisper": _encoder_class("asr.models.whisper", "WhisperCtc"),
}


def encoder_class(encoder: str) -> type[CtcModel]:
    """The :class:`CtcModel` subclass registered as ``encoder``; an unknown name is an :class:`AsrError`."""
    if encoder not in ENCODERS:
        raise AsrError(f"unknown encoder {encoder!r} (expected one of: {', '.join(ENCODERS)})")
    return ENCODERS[encoder]()


def input_kind(encoder: str) -> InputKind:
    """What ``encoder`` reads: ``"features"`` (fbank/MFCC) or ``"waveform"`` (16 kHz samples)."""
    return encoder_class(encoder).input_kind


def build_model(
    config: ModelConfig, vocab_size: int, input_dim: int | None = None, hf_config: dict | None = None
) -> CtcModel:
    """Build the encoder named by ``config.encoder`` with a CTC head of ``vocab_size`` outputs.

    ``input_dim``: feature dimension, required by the feature encoders (conformer,
    transformer), ignored by the waveform ones. ``hf_config``: a saved Hugging Face
    config (from a model directory's ``hf_config.json``); when given, a pretrained
    encoder is rebuilt from it with random weights, without reading ``init``.
    """
    cls = encoder_class(config.encoder)
    if vocab_size < 2:
        raise AsrError(f"vocabulary of {vocab_size} token(s) is too small for CTC (need <blank> and more)")
    return cls.from_config(config, vocab_size, input_dim, hf_config)
