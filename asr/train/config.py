"""The training configuration: one frozen dataclass per concern, loaded from YAML.

``recipes/dialect/conf/train.yaml`` is the reference; every key is optional and unknown
keys are refused (:func:`asr.config.from_dict`). Steps are optimizer steps (one per
``optimizer.accum_grad`` batches).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

import torch

from asr.config import load_config
from asr.errors import AsrError
from asr.features.frontend import FeatureConfig
from asr.models import ModelConfig
from asr.train.augment import PauseAugmentConfig, SpecAugmentConfig
from asr.train.dataset import allowed_values

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InputConfig:
    """Where feature encoders get their inputs (waveform encoders always read the audio).

    ``source``: ``stored`` reads the features ``asr features`` wrote (the train and dev
    manifests are then feature manifests, with ``features.yaml`` and ``cmvn.json`` beside
    them); ``audio`` computes them on the fly, which speed perturbation needs.
    ``features``: the feature options for ``audio`` (``None``: the ``features.yaml`` beside
    the manifest when there is one, else the defaults). ``cmvn``: normalise with global
    mean and variance (from ``cmvn.json`` beside the manifest, else estimated on at most
    ``cmvn_utterances`` training utterances).
    """

    source: Literal["stored", "audio"] = "stored"
    features: FeatureConfig | None = None
    cmvn: bool = True
    cmvn_utterances: int = 1000


@dataclass(frozen=True)
class OptimizerConfig:
    """AdamW. ``grad_clip``: max global gradient norm (0: off). ``accum_grad``: batches per step.

    ``head_lr``: peak learning rate of the CTC head (None: ``lr``, as every other parameter). A
    pretrained encoder (wav2vec2, Whisper) fine-tunes with a small ``lr`` while its new, randomly
    initialised head needs a larger one (SpeechBrain's Whisper-encoder CTC recipe: 1e-4 and 8e-4).
    The schedule scales both alike.
    """

    lr: float = 1e-3
    head_lr: float | None = None
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-9
    weight_decay: float = 1e-3
    grad_clip: float = 5.0
    accum_grad: int = 1


@dataclass(frozen=True)
class ScheduleConfig:
    """Learning rate: linear warmup over ``warmup_steps`` to ``optimizer.lr``, then decay.

    ``cosine``: to ``min_lr_ratio * lr`` at the last step; ``noam``: ``lr * sqrt(warmup /
    step)`` (never below ``min_lr_ratio * lr``); ``constant``: no decay.
    """

    kind: Literal["cosine", "noam", "constant"] = "cosine"
    warmup_steps: int = 500
    min_lr_ratio: float = 0.02


@dataclass(frozen=True)
class BatchingConfig:
    """Length-bucketed batches of padded size ``batch_size * longest <= max_frames``.

    Frames are input frames (feature frames, or samples for waveform encoders).
    ``max_batch_size`` caps utterances per batch (0: no cap). ``num_workers``: data-loader
    processes (0 loads in the training process).
    """

    max_frames: int = 20000
    max_batch_size: int = 0
    num_workers: int = 0


@dataclass(frozen=True)
class AugmentConfig:
    """``speed_perturb``: factors drawn uniformly per utterance (e.g. ``[0.9, 1.0, 1.1]``;
    needs ``inputs.source: audio`` or a waveform encoder). ``pauses``: random pauses and a noise
    floor around utterances (:class:`asr.train.augment.PauseAugmentConfig`; likewise). ``spec_augment``:
    feature masking."""

    speed_perturb: tuple[float, ...] = ()
    pauses: PauseAugmentConfig = field(default_factory=PauseAugmentConfig)
    spec_augment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)


@dataclass(frozen=True)
class EarlyStoppingConfig:
    """Stop after ``patience`` dev evaluations without a CER improvement of ``min_delta`` (0: never)."""

    patience: int = 0
    min_delta: float = 0.0


@dataclass(frozen=True)
class AveragingConfig:
    """The final model: the element-wise mean of ``num`` checkpoints, the ``last`` ones or the
    ``best`` by dev CER (``num: 1`` with ``best``: the best checkpoint). When a dev set is
    given and the best single checkpoint has a lower dev CER than the average, it wins."""

    mode: Literal["last", "best"] = "best"
    num: int = 5


@dataclass(frozen=True)
class IntermediateCtcConfig:
    """An auxiliary CTC loss on pinyin units from an intermediate encoder layer.

    ``units``: ``none`` (off) or ``pinyin`` (:mod:`asr.phonetic`: initials and toned
    finals, dense where characters are sparse, so the lower layers learn the sounds
    early). ``layer``: the 1-based encoder layer it reads (0: half the layers).
    ``weight``: the loss is ``(1 - weight) * character CTC + weight * pinyin CTC``, each
    averaged over its own target tokens. Feature encoders (conformer, transformer) only.
    ``only_where``: manifest fields and their allowed values (one or a list), e.g.
    ``{dialect: mandarin}``: only those utterances get the pinyin loss (pinyin spells
    standard Mandarin, not what a Cantonese or accented speaker says); empty: all of them.
    The pinyin head is used in training only: checkpoints hold it (for ``--resume``), the
    model directory does not. The logged ``loss`` stays the character CTC loss.
    """

    units: Literal["none", "pinyin"] = "none"
    layer: int = 0
    weight: float = 0.3
    only_where: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainConfig:
    """Everything ``asr train`` needs besides the data (see the module docstring)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    inputs: InputConfig = field(default_factory=InputConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    average: AveragingConfig = field(default_factory=AveragingConfig)
    intermediate_ctc: IntermediateCtcConfig = field(default_factory=IntermediateCtcConfig)
    #: An ``asr`` model directory to start from (fine-tuning; ``asr train --init`` sets it).
    init: str | None = None
    #: Sample utterances by this manifest field with temperature (None: natural order).
    balance_by: str | None = None
    #: 1: natural group shares; larger flattens them; ``.inf``: every group equally often.
    balance_temperature: float = 1.0
    max_epochs: int = 30
    #: Stop after this many optimizer steps (0: after ``max_epochs``); also sets the schedule's length.
    max_steps: int = 0
    seed: int = 1234
    #: ``bf16``: bfloat16 autocast; ``auto``: bf16 where native (CUDA, AVX512-BF16/AMX CPUs), else fp32.
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    #: Intra-op CPU threads per process (0: PyTorch's default, one per core).
    num_threads: int = 0
    log_every: int = 20
    valid_every: int = 500
    checkpoint_every: int = 500
    keep_checkpoints: int = 5
    min_vocab_count: int = 1

    def __post_init__(self) -> None:
        positive = {
            "max_epochs": self.max_epochs, "log_every": self.log_every, "valid_every": self.valid_every,
            "checkpoint_every": self.checkpoint_every, "keep_checkpoints": self.keep_checkpoints,
            "optimizer.accum_grad": self.optimizer.accum_grad, "batching.max_frames": self.batching.max_frames,
            "average.num": self.average.num, "min_vocab_count": self.min_vocab_count,
        }
        for name, value in positive.items():
            if value < 1:
                raise AsrError(f"{name} must be at least 1, got {value}")
        if self.num_threads < 0:
            raise AsrError(f"num_threads must be >= 0 (0: one per core), got {self.num_threads}")
        if self.max_steps < 0 or self.schedule.warmup_steps < 0:
            raise AsrError("max_steps and schedule.warmup_steps must be >= 0")
        for name, lr in (("lr", self.optimizer.lr), ("head_lr", self.optimizer.head_lr)):
            if lr is not None and not lr > 0:
                raise AsrError(f"optimizer.{name} must be positive, got {lr}")
        if not self.balance_temperature > 0 or math.isnan(self.balance_temperature):
            raise AsrError(f"balance_temperature must be > 0 (1 = natural, .inf = uniform), got {self.balance_temperature}")
        inter = self.intermediate_ctc
        if inter.units != "none":
            if self.model.encoder not in ("conformer", "transformer", "tdnn"):
                raise AsrError(f"intermediate_ctc needs a conformer, transformer or tdnn encoder, not {self.model.encoder!r}")
            layers = getattr(self.model, self.model.encoder).num_layers
            if not 0 <= inter.layer < layers:
                raise AsrError(f"intermediate_ctc.layer must be in 0..{layers - 1} (0: half of the "
                               f"{layers} layers), got {inter.layer}")
            if not 0 < inter.weight < 1:
                raise AsrError(f"intermediate_ctc.weight must be between 0 and 1, got {inter.weight}")
            for name, allowed in inter.only_where.items():
                values = allowed_values(allowed)
                if not values or not all(isinstance(v, str) for v in values):
                    raise AsrError(f"intermediate_ctc.only_where.{name} must be a value or a list of values "
                                   f"(strings), got {allowed!r}")
        if any(not f > 0 for f in self.augment.speed_perturb):
            raise AsrError(f"augment.speed_perturb factors must be positive, got {list(self.augment.speed_perturb)}")


def load_train_config(path: str | Path | None, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """Read a train config YAML (None: all defaults) with optional top-level overrides."""
    return load_config(TrainConfig, path, overrides)


def lr_factor(step: int, schedule: ScheduleConfig, total_steps: int) -> float:
    """Multiplier of the peak learning rate at optimizer step ``step`` (0-based)."""
    warmup = schedule.warmup_steps
    s = step + 1
    if warmup and s <= warmup:
        return s / warmup
    floor = schedule.min_lr_ratio
    if schedule.kind == "constant":
        return 1.0
    if schedule.kind == "noam":
        return max(floor, math.sqrt(max(warmup, 1) / s))
    span = max(1, total_steps - warmup)
    progress = min(1.0, (s - warmup) / span)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def resolve_precision(precision: str, device: torch.device) -> str:
    """The precision a run computes in, ``fp32`` or ``bf16`` (what provenance records).

    ``auto`` is bf16 on CUDA GPUs that support it and fp32 on every CPU: bf16 autocast is
    about 1.2x faster on CPUs with AVX512-BF16 or AMX, but then the figures depend on the CPU
    model, and the recipe's figures must be what a rerun gives on any CPU with the same stack.
    ``bf16`` on a CPU is honoured (and slow where the CPU has no native bfloat16).
    """
    if precision in ("fp32", "bf16"):
        if precision == "bf16" and device.type == "cpu" and not native_cpu_bf16():
            log.warning("precision: bf16 on a CPU without native bfloat16 (AVX512-BF16/AMX) is slow")
        return precision
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


def native_cpu_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX)."""
    return any(getattr(torch.cpu, f, lambda: False)() for f in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
