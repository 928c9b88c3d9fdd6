"""Tiny random-weight models for decoding and transcription tests (built through the public API)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

TEXTS = ("打开空调", "关闭车窗", "导航到 GPS 点")
TINY_CONFORMER = {"d_model": 32, "num_layers": 1, "num_heads": 2, "ffn_dim": 64, "conv_kernel": 7,
                  "subsampling_channels": 8, "dropout": 0.0}


def make_tiny_model(directory: Path, seed: int = 0) -> Path:
    """Save a one-layer random Conformer CTC model with a vocabulary of :data:`TEXTS`."""
    from asr.config import from_dict
    from asr.features.frontend import FeatureConfig
    from asr.models.model_dir import data_summary_from_manifest, save_model
    from asr.models import ModelConfig, build_model
    from asr.models.tokens import Vocabulary

    torch.manual_seed(seed)
    vocab = Vocabulary.build(TEXTS)
    config = from_dict(ModelConfig, {"encoder": "conformer", "conformer": TINY_CONFORMER})
    features = FeatureConfig()
    network = build_model(config, len(vocab), features.num_mel_bins)
    with torch.no_grad():  # a random CTC head mostly emits blanks: make tokens likely, so outputs are non-empty
        head = [m for m in network.modules() if isinstance(m, torch.nn.Linear) and m.out_features == len(vocab)][-1]
        head.bias[vocab.blank_id] -= 4.0
    return save_model(directory, network, config, vocab, features, None, data_summary_from_manifest([]))


def make_tiny_aligner(directory: Path, seed: int = 1) -> Path:
    """Save a two-layer random ``tdnn`` model with the vocabulary of :data:`TEXTS` (an aligner)."""
    from asr.config import from_dict
    from asr.features.frontend import FeatureConfig
    from asr.models.model_dir import data_summary_from_manifest, save_model
    from asr.models import ModelConfig, build_model
    from asr.models.tokens import Vocabulary

    torch.manual_seed(seed)
    vocab = Vocabulary.build(TEXTS)
    config = from_dict(ModelConfig, {"encoder": "tdnn", "tdnn": {"d_model": 16, "num_layers": 2, "subsampling_channels": 8}})
    features = FeatureConfig()
    network = build_model(config, len(vocab), features.num_mel_bins)
    return save_model(directory, network, config, vocab, features, None, data_summary_from_manifest([]))


class EnergyModel:
    """A stand-in for :class:`asr.models.model_dir.AsrModel` with known output: every 40 ms frame whose
    mean square exceeds ``threshold`` emits "打" with
    posterior 0.9, every quiet frame the blank. Bursts of sound become one token each."""

    def __init__(self, threshold: float = 1e-3):
        from asr.models.tokens import Vocabulary

        self.vocab = Vocabulary.build(TEXTS)
        self.sample_rate = 16000
        self.frame_shift = 0.04
        self.network = SimpleNamespace(max_input_length=None, stride=4)
        self.threshold = threshold
        self.calls: list[list[int]] = []

    def log_probs(self, waveforms):
        hop = int(self.frame_shift * self.sample_rate)
        self.calls.append([len(w) for w in waveforms])
        lengths = [len(w) // hop for w in waveforms]
        V = len(self.vocab)
        out = torch.full((len(waveforms), max(lengths), V), 0.1 / (V - 1)).log()
        for b, w in enumerate(waveforms):
            energy = np.square(w[: lengths[b] * hop].reshape(-1, hop)).mean(axis=1)
            ids = np.where(energy > self.threshold, self.vocab.token_id("打"), self.vocab.blank_id)
            out[b, np.arange(lengths[b]), ids] = float(np.log(0.9))
        return out, torch.tensor(lengths)


class DelayedEnergyModel(EnergyModel):
    """An :class:`EnergyModel` that hears everything ``delay`` seconds late: an aligner whose spikes
    are known to differ from the model's. ``vocabulary`` replaces its tokens (other ids)."""

    def __init__(self, delay: float, vocabulary: tuple[str, ...] | None = None):
        from asr.models.tokens import Vocabulary

        super().__init__()
        self.delay = delay
        if vocabulary is not None:
            self.vocab = Vocabulary.build(vocabulary)

    def log_probs(self, waveforms):
        shift = int(self.delay * self.sample_rate)
        return super().log_probs([np.concatenate([np.zeros(shift, np.float32), w])[: len(w)] for w in waveforms])
