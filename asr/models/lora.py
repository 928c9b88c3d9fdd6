"""Low-rank adapters (LoRA, Hu et al. 2021) for ``nn.Linear`` layers, without extra dependencies.

``y = W x + b + (alpha / rank) * B (A dropout(x))`` with ``A`` ``(rank, in)`` initialised
like a linear layer and ``B`` ``(out, rank)`` zero, so a wrapped layer starts out exactly
equal to the pretrained one. Only ``A`` and ``B`` train; ``W`` and ``b`` are frozen.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from asr.errors import AsrError


class LoraLinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0):
        super().__init__()
        if rank < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {rank}")
        self.base = base
        self.base.requires_grad_(False)
        self.rank = rank
        self.scaling = alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features, dtype=base.weight.dtype))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank, dtype=base.weight.dtype))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout)

    @property
    def weight(self) -> torch.Tensor:
        """The frozen base weight (for code that inspects ``.weight``, e.g. its dtype)."""
        return self.base.weight

    @property
    def bias(self) -> torch.Tensor | None:
        return self.base.bias

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., in_features)`` -> ``(..., out_features)``."""
        update = nn.functional.linear(nn.functional.linear(self.dropout(x), self.lora_a), self.lora_b)
        return self.base(x) + update * self.scaling

    def merged(self) -> nn.Linear:
        """A plain ``nn.Linear`` with the update folded into its weight."""
        linear = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None)
        with torch.no_grad():
            linear.weight.copy_(self.base.weight + self.scaling * self.lora_b @ self.lora_a)
            if self.bias is not None:
                linear.bias.copy_(self.bias)
        return linear.to(self.base.weight.device)


def apply_lora(root: nn.Module, targets: tuple[str, ...] | list[str], rank: int, alpha: float, dropout: float = 0.0) -> list[str]:
    """Wrap every ``nn.Linear`` under ``root`` whose attribute name is in ``targets``; returns their names.

    Raises :class:`AsrError` listing the available linear layer names when none matches.
    """
    targets = set(targets)
    wrapped = []
    for name, module in list(root.named_modules()):
        for child_name, child in list(module.named_children()):
            if child_name in targets and isinstance(child, nn.Linear):
                setattr(module, child_name, LoraLinear(child, rank, alpha, dropout))
                wrapped.append(f"{name}.{child_name}" if name else child_name)
    if not wrapped:
        names = sorted({n.rsplit(".", 1)[-1] for n, m in root.named_modules() if isinstance(m, nn.Linear)})
        raise AsrError(f"lora.targets {sorted(targets)} match no linear layer (available: {', '.join(names)})")
    return wrapped


def merge_lora(root: nn.Module) -> int:
    """Replace every :class:`LoraLinear` under ``root`` by its merged ``nn.Linear``; returns how many."""
    count = 0
    for module in list(root.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, LoraLinear):
                setattr(module, child_name, child.merged())
                count += 1
    return count
