"""What the Hugging Face encoders share: loading, configs, and which parameters train."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from asr.errors import AsrError
from asr.models.config import PretrainedConfig
from asr.models.lora import apply_lora


def check_init_dir(init: str, kind: str) -> Path:
    """``init`` as a local checkpoint directory with a ``config.json``, or an :class:`AsrError`."""
    path = Path(init).expanduser()
    if not path.is_dir():
        raise AsrError(f"{kind}.init: {path} is not a directory (expected a local Hugging Face checkpoint)")
    if not (path / "config.json").is_file():
        raise AsrError(f"{kind}.init: {path} has no config.json (expected a Hugging Face checkpoint directory)")
    return path


def config_from_dict(data: dict[str, Any]):
    """Rebuild a ``transformers`` config from its ``to_dict()`` (as saved in ``hf_config.json``)."""
    from transformers import AutoConfig

    data = dict(data)
    model_type = data.pop("model_type", None)
    if not model_type:
        raise AsrError("hf_config.json has no model_type")
    try:
        return AutoConfig.for_model(model_type, **data)
    except (ValueError, KeyError) as e:
        raise AsrError(f"hf_config.json: cannot rebuild a {model_type!r} config ({e})") from None


def config_to_dict(config) -> dict[str, Any]:
    """A ``transformers`` config as a JSON-ready dict (what :func:`config_from_dict` reads)."""
    data = config.to_dict()
    data.pop("transformers_version", None)
    data.pop("dtype", None)
    data.pop("torch_dtype", None)
    return data


class Trainability:
    """Which parameters of a pretrained encoder train: front-end freezing, top-N layers, LoRA.

    ``backbone``: the whole pretrained encoder; ``front_end``: its convolutional feature
    encoder; ``layers``: its transformer layers, bottom first; ``top``: modules above the
    layers (a final layer norm) that train whenever any layer does; ``fixed``: parameters
    that never train (Whisper's sinusoidal positions; wav2vec2's mask embedding when
    masking is off, which would otherwise get no gradient and upset DDP).
    """

    def __init__(
        self,
        config: PretrainedConfig,
        backbone: nn.Module,
        front_end: nn.Module,
        layers: nn.ModuleList,
        top: list[nn.Module],
        fixed: list[nn.Parameter] | None = None,
    ):
        self.config = config
        self.fixed = list(fixed or [])
        self.backbone = backbone
        self.front_end = front_end
        self.layers = layers
        self.top = top
        self.current: int | None = -1
        if config.lora.rank:
            backbone.requires_grad_(False)
            apply_lora(layers, config.lora.targets, config.lora.rank, config.lora.alpha, config.lora.dropout)
            self._freeze_front_end()
        else:
            self.set_layers(config.unfreeze_layers)

    def set_layers(self, count: int | None) -> bool:
        """Train the top ``count`` layers (``None``: the whole encoder); True if anything changed."""
        if count == self.current:
            return False
        self.current = count
        if count is None:
            self.backbone.requires_grad_(True)
        else:
            self.backbone.requires_grad_(False)
            for layer in list(self.layers)[len(self.layers) - count :] if count else []:
                layer.requires_grad_(True)
            for module in self.top if count else []:
                module.requires_grad_(True)
        if self.config.freeze_feature_encoder or count is not None:
            self._freeze_front_end()
        elif hasattr(self.front_end, "_requires_grad"):
            self.front_end._requires_grad = True
        self._keep_fixed()
        return True

    def at_step(self, step: int) -> bool:
        """Apply ``unfreeze_schedule`` at ``step``; True if trainability changed."""
        if not self.config.unfreeze_schedule or self.config.lora.rank:
            return False
        reached = [s for s in self.config.unfreeze_schedule if s <= step]
        count = self.config.unfreeze_schedule[max(reached)] if reached else self.config.unfreeze_layers
        return self.set_layers(count)

    def _freeze_front_end(self) -> None:
        self.front_end.requires_grad_(False)
        if hasattr(self.front_end, "_requires_grad"):
            self.front_end._requires_grad = False

    def _keep_fixed(self) -> None:
        for param in self.fixed:
            param.requires_grad_(False)


def count_trainable(module: nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts."""
    total = sum(p.numel() for p in module.parameters())
    return sum(p.numel() for p in module.parameters() if p.requires_grad), total


def float32(model: nn.Module) -> nn.Module:
    """A loaded checkpoint in float32 (half-precision checkpoints train badly on CPU)."""
    return model.to(torch.float32)
