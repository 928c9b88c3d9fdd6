"""CTC encoders, chosen by ``ModelConfig.encoder`` through one registry.

>>> from asr.models import ModelConfig, build_model
>>> net = build_model(ModelConfig(encoder="conformer"), vocab_size=100, input_dim=80)  # doctest: +SKIP
>>> log_probs, out_lengths = net(features, lengths)                                      # doctest: +SKIP

=============  ==========  ===========================================================
encoder        input_kind  what
=============  ==========  ===========================================================
conformer      features    Conv2d subsampling x4 + ``torchaudio.models.Conformer``
transformer    features    Conv2d subsampling x4 + ``torch.nn.TransformerEncoder``
wav2vec2       waveform    any wav2vec2-family ``transformers`` encoder (wav2vec2,
                           XLS-R, HuBERT, WavLM, data2vec-audio) + new CTC head
whisper        waveform    ``transformers`` Whisper encoder on variable-length log-mel
                           + CTC head
=============  ==========  ===========================================================
"""

from __future__ import annotations

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
    "padding_mask",
]


def _conformer(config: ModelConfig, vocab_size: int, input_dim: int | None, hf_config: dict | None) -> CtcModel:
    from asr.models.conformer import ConformerCtc

    return ConformerCtc(config.conformer, vocab_size, _need_dim(input_dim, "conformer"))


def _transformer(config: ModelConfig, vocab_size: int, input_dim: int | None, hf_config: dict | None) -> CtcModel:
    from asr.models.transformer import TransformerCtc

    return TransformerCtc(config.transformer, vocab_size, _need_dim(input_dim, "transformer"))


def _wav2vec2(config: ModelConfig, vocab_size: int, input_dim: int | None, hf_config: dict | None) -> CtcModel:
    from asr.models.wav2vec2 import Wav2Vec2Ctc

    return Wav2Vec2Ctc(config.wav2vec2, vocab_size, hf_config=hf_config)


def _whisper(config: ModelConfig, vocab_size: int, input_dim: int | None, hf_config: dict | None) -> CtcModel:
    from asr.models.whisper import WhisperCtc

    return WhisperCtc(config.whisper, vocab_size, hf_config=hf_config)


#: The registry: encoder name -> builder.
ENCODERS: dict[str, Callable[[ModelConfig, int, int | None, dict | None], CtcModel]] = {
    "conformer": _conformer,
    "transformer": _transformer,
    "wav2vec2": _wav2vec2,
    "whisper": _whisper,
}


def build_model(
    config: ModelConfig, vocab_size: int, input_dim: int | None = None, hf_config: dict | None = None
) -> CtcModel:
    """Build the encoder named by ``config.encoder`` with a CTC head of ``vocab_size`` outputs.

    ``input_dim``: feature dimension, required by the feature encoders (conformer,
    transformer), ignored by the waveform ones. ``hf_config``: a saved Hugging Face
    config (from a model directory's ``hf_config.json``); when given, a pretrained
    encoder is rebuilt from it with random weights, without reading ``init``.
    """
    if config.encoder not in ENCODERS:
        raise AsrError(f"unknown encoder {config.encoder!r} (expected one of: {', '.join(ENCODERS)})")
    if vocab_size < 2:
        raise AsrError(f"vocabulary of {vocab_size} token(s) is too small for CTC (need <blank> and more)")
    return ENCODERS[config.encoder](config, vocab_size, input_dim, hf_config)


def _need_dim(input_dim: int | None, name: str) -> int:
    if not input_dim:
        raise AsrError(f"encoder {name!r} reads features: input_dim (the feature dimension) is required")
    return int(input_dim)
