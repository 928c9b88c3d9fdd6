"""Model configuration: one frozen dataclass per encoder, chosen by ``encoder``.

In YAML (``model:`` section of a train config)::

    encoder: conformer            # conformer | transformer | tdnn | wav2vec2 | whisper
    conformer: {d_model: 144, num_layers: 6}
    wav2vec2:
      init: /models/wav2vec2-large-xlsr-53-chinese   # any local Hugging Face checkpoint dir
      freeze_feature_encoder: true
      unfreeze_layers: 4          # only the top 4 transformer layers train
      lora: {rank: 8, alpha: 16, targets: [q_proj, v_proj]}

Unknown keys are rejected by :func:`asr.config.from_dict`. Only the sub-config named by
``encoder`` is used; the others keep their defaults and are saved for the record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from asr.errors import AsrError

EncoderName = Literal["conformer", "transformer", "tdnn", "wav2vec2", "whisper"]


@dataclass(frozen=True)
class ConformerConfig:
    """Convolutional subsampling (x4), sinusoidal positions, then ``torchaudio.models.Conformer``;
    sizes in model dimensions.

    ``subsampling``: ``conv2d`` or ``conv1d`` (see :mod:`asr.models.subsampling`), with
    ``subsampling_channels`` channels between its two layers.
    ``positions``: ``sinusoidal`` adds absolute sinusoidal position encodings to the
    subsampled frames (scaled by ``sqrt(d_model)`` first, as ESPnet's ``PositionalEncoding``);
    ``none`` leaves the encoder to infer position from its convolutions alone (torchaudio's
    Conformer has no position encoding of its own).
    """

    d_model: int = 144
    num_layers: int = 6
    num_heads: int = 4
    ffn_dim: int = 576
    conv_kernel: int = 15
    dropout: float = 0.1
    subsampling_channels: int = 144
    subsampling: Literal["conv2d", "conv1d"] = "conv2d"
    positions: Literal["sinusoidal", "none"] = "sinusoidal"

    def __post_init__(self) -> None:
        if self.positions not in ("sinusoidal", "none"):
            raise AsrError(f"model.conformer.positions must be 'sinusoidal' or 'none', got {self.positions!r}")


@dataclass(frozen=True)
class TransformerConfig:
    """Convolutional subsampling (x4, ``conv2d`` or ``conv1d``), sinusoidal positions, then
    ``torch.nn.TransformerEncoder`` (pre-norm)."""

    d_model: int = 144
    num_layers: int = 6
    num_heads: int = 4
    ffn_dim: int = 576
    dropout: float = 0.1
    subsampling_channels: int = 144
    subsampling: Literal["conv2d", "conv1d"] = "conv2d"


@dataclass(frozen=True)
class TdnnConfig:
    """``tdnn`` (:mod:`asr.models.tdnn`): ``num_layers`` residual convolutions of ``kernel`` frames
    (40 ms each, after the x4 subsampling) over ``d_model`` channels. Each output frame sees
    ``num_layers * (kernel // 2)`` frames on each side, plus the subsampling's 3 input frames:
    6 layers of kernel 3 see 240 + 30 ms either way."""

    d_model: int = 256
    num_layers: int = 6
    kernel: int = 3
    dropout: float = 0.1
    subsampling_channels: int = 256
    subsampling: Literal["conv2d", "conv1d"] = "conv1d"


@dataclass(frozen=True)
class LoraConfig:
    """Low-rank adapters on the ``nn.Linear`` layers whose names end with one of ``targets``.

    ``rank: 0`` disables them. With adapters, every pretrained weight is frozen and only
    the adapters and the CTC head train. The update is ``alpha / rank * B @ A``.
    """

    rank: int = 0
    alpha: float = 16.0
    dropout: float = 0.0
    targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "out_proj")


@dataclass(frozen=True)
class PretrainedConfig:
    """A Hugging Face encoder (wav2vec2 family or Whisper) with a new CTC head.

    ``init``: a local checkpoint directory (``config.json`` + weights) to fine-tune from;
    ``None`` builds a randomly initialised encoder from ``model_type`` and ``hf_config``.
    ``hf_config``: Hugging Face config keys applied over the checkpoint's (or the small
    built-in defaults when ``init`` is None), e.g. ``{mask_time_prob: 0.05, layerdrop: 0.0}``.
    ``freeze_feature_encoder``: keep the convolutional front end fixed (the usual choice).
    ``unfreeze_layers``: train only the top N transformer layers (``None``: all of them).
    ``unfreeze_schedule``: ``{step: N}``: from training step ``step`` on, the top N
    layers train (the trainer calls ``network.set_train_step(step)``); overrides
    ``unfreeze_layers`` once the first step in it is reached.
    ``normalize_input`` (wav2vec2 only): zero mean, unit variance per utterance over
    its valid samples, as ``Wav2Vec2FeatureExtractor(do_normalize=True)`` does.
    """

    init: str | None = None
    model_type: str = "wav2vec2"
    hf_config: dict[str, Any] = field(default_factory=dict)
    freeze_feature_encoder: bool = True
    unfreeze_layers: int | None = None
    unfreeze_schedule: dict[int, int] = field(default_factory=dict)
    lora: LoraConfig = field(default_factory=LoraConfig)
    normalize_input: bool = True
    head_dropout: float = 0.1


@dataclass(frozen=True)
class ModelConfig:
    """Which encoder, and its settings. See the module docstring for the YAML form."""

    encoder: EncoderName = "conformer"
    conformer: ConformerConfig = field(default_factory=ConformerConfig)
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    tdnn: TdnnConfig = field(default_factory=TdnnConfig)
    wav2vec2: PretrainedConfig = field(default_factory=PretrainedConfig)
    whisper: PretrainedConfig = field(default_factory=lambda: PretrainedConfig(model_type="whisper"))

    def __post_init__(self) -> None:
        for name in ("wav2vec2", "whisper"):
            sub: PretrainedConfig = getattr(self, name)
            if sub.lora.rank < 0:
                raise AsrError(f"model.{name}.lora.rank must be >= 0, got {sub.lora.rank}")
            if sub.lora.rank and (sub.unfreeze_layers is not None or sub.unfreeze_schedule):
                raise AsrError(f"model.{name}: use either lora or unfreeze_layers/unfreeze_schedule, not both")
            if sub.unfreeze_layers is not None and sub.unfreeze_layers < 0:
                raise AsrError(f"model.{name}.unfreeze_layers must be >= 0, got {sub.unfreeze_layers}")
