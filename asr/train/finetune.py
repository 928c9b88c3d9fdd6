"""Start training from an ``asr`` model directory (``asr train --init MODEL_DIR``).

Fine-tuning a trained model, e.g. continuing the baseline on group-balanced batches (the
dialect recipe's mitigation), instead of training the mitigated model from scratch:

>>> base = load_model("exp/baseline/model")                          # doctest: +SKIP
>>> vocab = extend_vocabulary(base.vocab, Vocabulary.build(texts))  # doctest: +SKIP
>>> load_initial_weights(network, base, vocab)                      # doctest: +SKIP

The vocabulary keeps the initial model's token ids and appends the training texts'
new tokens, whose output rows keep their fresh initialisation. Every other weight must
match in name and shape: the config's ``model`` section may change dropout, not the
architecture. The features must be computed as the initial model's were.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from asr.errors import AsrError
from asr.models.tokens import Vocabulary
from asr.train.config import TrainConfig

#: The CTC output projection, whose rows follow the vocabulary.
HEAD_PARAMETERS = ("head.linear.weight", "head.linear.bias")


def is_model_dir(path: str | Path) -> bool:
    """True for a directory written by :func:`asr.models.model_dir.save_model` (not a Hugging Face one)."""
    path = Path(path)
    return (path / "config.yaml").is_file() and (path / "model.safetensors").is_file()


def extend_vocabulary(base: Vocabulary, built: Vocabulary) -> Vocabulary:
    """``base``'s tokens (same ids), then those of ``built`` that ``base`` lacks, in ``built``'s order."""
    known = set(base.tokens)
    return Vocabulary([*base.tokens, *(t for t in built.tokens if t not in known)])


def load_initial_weights(network: torch.nn.Module, base: Any, vocab: Vocabulary) -> int:
    """Copy ``base.network``'s weights into ``network`` (whose output layer has ``len(vocab)`` rows).

    ``vocab`` must start with ``base.vocab`` (see :func:`extend_vocabulary`); rows of new
    tokens are left as initialised. Returns how many tokens are new. Raises
    :class:`AsrError` naming the first parameter whose name or shape differs.
    """
    old = len(base.vocab)
    if tuple(vocab.tokens[:old]) != tuple(base.vocab.tokens):
        raise AsrError(f"--init {base.path}: the vocabulary must start with the initial model's {old} tokens")
    source = base.network.state_dict()
    target = network.state_dict()
    missing = sorted(set(target) - set(source))
    unexpected = sorted(set(source) - set(target))
    if missing or unexpected:
        what = f"the config's model has {missing[0]}" if missing else f"the initial model has {unexpected[0]}"
        raise AsrError(f"--init {base.path}: not the same architecture as the config's model section ({what})")
    merged = {}
    for name, tensor in target.items():
        value = source[name]
        if name in HEAD_PARAMETERS:
            value = torch.cat([value, tensor[old:]])
        if value.shape != tensor.shape:
            raise AsrError(f"--init {base.path}: {name} has shape {tuple(value.shape)}, the config's model "
                           f"{tuple(tensor.shape)} (the model section must describe the initial model)")
        merged[name] = value
    network.load_state_dict(merged)
    return len(vocab) - old


def with_init(config: TrainConfig, init: str | Path) -> TrainConfig:
    """``--init``: an ``asr`` model directory (any encoder) or a Hugging Face checkpoint (wav2vec2, whisper)."""
    if is_model_dir(init):
        return dataclasses.replace(config, init=str(init))
    encoder = config.model.encoder
    if encoder not in ("wav2vec2", "whisper"):
        raise AsrError(f"--init {init}: not an asr model directory (config.yaml, model.safetensors), and a Hugging "
                       f"Face checkpoint needs model.encoder wav2vec2 or whisper, not {encoder!r}")
    sub = dataclasses.replace(getattr(config.model, encoder), init=str(init))
    return dataclasses.replace(config, model=dataclasses.replace(config.model, **{encoder: sub}))
