"""``wav2vec2``: a wav2vec2-family ``transformers`` encoder on raw 16 kHz audio, with a new CTC head.

Any checkpoint ``transformers.AutoModel`` loads as an encoder with a convolutional
feature encoder and transformer layers works: wav2vec2, XLS-R, HuBERT, WavLM,
data2vec-audio; fine-tuned CTC checkpoints too (their ``lm_head`` is dropped: our
vocabulary gets a new head, :class:`~asr.models.base.CtcHead`).

Input normalisation (``normalize_input``, default on): each utterance is shifted to zero
mean and scaled to unit variance over its valid samples, ``(x - mean) / sqrt(var + 1e-7)``,
and padding is set to 0, exactly as ``Wav2Vec2FeatureExtractor(do_normalize=True)``
does, but inside the network so callers pass plain waveforms. An attention mask is
passed only to checkpoints with ``feat_extract_norm == "layer"``; group-norm ones
(wav2vec2-base) get zero padding and no mask, as their feature extractors specify.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from asr.errors import AsrError
from asr.models.base import CtcHead, CtcModel, padding_mask
from asr.models.config import PretrainedConfig
from asr.models.hf import Trainability, check_init_dir, config_from_dict, config_to_dict

#: A small encoder for ``init: null`` (about 7 M parameters); ``hf_config`` keys override it.
SMALL_CONFIG: dict[str, Any] = {
    "hidden_size": 256,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "intermediate_size": 1024,
    "conv_dim": (128, 128, 128, 128, 128, 128, 128),
    "feat_extract_norm": "layer",
    "do_stable_layer_norm": True,
    "num_conv_pos_embeddings": 64,
    "num_conv_pos_embedding_groups": 16,
}
#: Receptive field of the standard feature encoder, in samples; shorter inputs are zero-padded.
MIN_SAMPLES = 400


def normalize_waveforms(waveforms: torch.Tensor, lengths: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Zero mean, unit variance per utterance over its valid samples; padding set to 0. ``(B, S)``."""
    valid = ~padding_mask(lengths, waveforms.shape[1])
    n = lengths.clamp(min=1).to(waveforms.dtype)[:, None]
    x = waveforms * valid
    mean = x.sum(1, keepdim=True) / n
    var = ((x - mean) ** 2 * valid).sum(1, keepdim=True) / n
    return ((waveforms - mean) / torch.sqrt(var + eps)) * valid


class Wav2Vec2Ctc(CtcModel):
    """Waveforms ``(B, S)`` at 16 kHz -> CTC log-probabilities ``(B, T', V)``, one frame per 20 ms."""

    config_section = "wav2vec2"

    input_kind = "waveform"

    def __init__(self, config: PretrainedConfig, vocab_size: int, hf_config: dict | None = None):
        super().__init__(vocab_size, None)
        self.config = config
        self.backbone = load_backbone(config, hf_config)
        for name in ("feature_extractor", "encoder", "_get_feat_extract_output_lengths"):
            if not hasattr(self.backbone, name):
                kind = getattr(self.backbone.config, "model_type", type(self.backbone).__name__)
                raise AsrError(f"wav2vec2: a {kind!r} checkpoint is not a wav2vec2-family audio encoder")
        hf = self.backbone.config
        self.stride = int(torch.tensor(hf.conv_stride).prod()) if hasattr(hf, "conv_stride") else 320
        self.use_attention_mask = getattr(hf, "feat_extract_norm", "layer") == "layer"
        encoder = self.backbone.encoder
        top = [encoder.layer_norm] if getattr(hf, "do_stable_layer_norm", False) else []
        masking = getattr(hf, "mask_time_prob", 0) > 0 or getattr(hf, "mask_feature_prob", 0) > 0
        fixed = [] if masking or not hasattr(self.backbone, "masked_spec_embed") else [self.backbone.masked_spec_embed]
        self.trainability = Trainability(config, self.backbone, self.backbone.feature_extractor, encoder.layers, top, fixed)
        self.head = CtcHead(hf.hidden_size, vocab_size, config.head_dropout)


    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        out = self.backbone._get_feat_extract_output_lengths(lengths.clamp(min=MIN_SAMPLES))
        return torch.where(lengths > 0, out, torch.zeros_like(out)).long()

    def hf_config(self) -> dict:
        return config_to_dict(self.backbone.config)

    def set_train_step(self, step: int) -> bool:
        return self.trainability.at_step(step)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = inputs.float()
        if self.config.normalize_input:
            x = normalize_waveforms(x, lengths)
        if x.shape[1] < MIN_SAMPLES:
            x = F.pad(x, (0, MIN_SAMPLES - x.shape[1]))
        kwargs = {}
        if self.use_attention_mask:
            kwargs["attention_mask"] = (~padding_mask(lengths.clamp(min=1), x.shape[1])).long()
        hidden = self.backbone(x, **kwargs).last_hidden_state
        out_lengths = self.output_lengths(lengths).clamp(max=hidden.shape[1])
        return self.head(hidden), out_lengths


def load_backbone(config: PretrainedConfig, hf_config: dict | None):
    """The pretrained encoder: rebuilt from a saved config, loaded from ``init``, or built small."""
    from transformers import AutoConfig, AutoModel

    if hf_config is not None:
        return AutoModel.from_config(config_from_dict(hf_config))
    if config.init:
        path = check_init_dir(config.init, "wav2vec2")
        try:
            model = AutoModel.from_pretrained(path, local_files_only=True, dtype=torch.float32, **config.hf_config)
        except (OSError, ValueError, TypeError) as e:
            raise AsrError(f"wav2vec2.init: cannot load {path} ({e})") from e
        return model.float()
    try:
        hf = AutoConfig.for_model(config.model_type, **{**SMALL_CONFIG, **config.hf_config})
    except ValueError as e:
        raise AsrError(f"wav2vec2.model_type: {e}") from None
    return AutoModel.from_config(hf)
