"""The training dataset: reproducible per-utterance augmentation, and padding into batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from asr.manifest.records import Utterance
from asr.train.augment import speed_perturb
from asr.train.dataset import SpeechDataset, collate

RATE = 16000


def _tone(freq: float, seconds: float = 1.0) -> torch.Tensor:
    t = torch.arange(int(seconds * RATE)) / RATE
    return torch.sin(2 * torch.pi * freq * t)


def _dataset(speeds=(0.9, 1.0, 1.1)) -> SpeechDataset:
    utts = [Utterance(id=f"u{i}", audio=f"{i}.wav", duration=1.0, sample_rate=RATE, text="好", speaker="s")
            for i in range(4)]

    def loader(index: int, augmentation) -> torch.Tensor:
        return speed_perturb(_tone(300.0 + 100 * index, 0.5), RATE, augmentation.speed)

    return SpeechDataset(utts, [[2, 3]] * 4, loader, [50] * 4, speeds)


def test_dataset_augmentation_depends_only_on_the_key():
    ds = _dataset()
    first = ds[(2, 12345)]
    again = ds[(2, 12345)]
    assert torch.equal(first.inputs, again.inputs)
    lengths = {len(ds[(2, seed)].inputs) for seed in range(30)}
    assert lengths == {int(np.ceil(8000 / 1.1)), 8000, int(np.ceil(8000 / 0.9))}  # all three factors drawn
    item = ds[(1, 7)]
    assert item.duration == pytest.approx(1.0 * len(item.inputs) / 8000, rel=1e-3)


def test_collate_pads_inputs_and_targets():
    ds = SpeechDataset(
        [Utterance(id=f"u{i}", audio="a.wav", duration=0.1 * (i + 1), sample_rate=RATE, text="好", speaker="s")
         for i in range(2)],
        [[5], [6, 7, 8]],
        lambda index, augmentation: torch.ones(10 * (index + 1), 4),
        [10, 20],
    )
    batch = collate([ds[0], ds[1]])
    assert batch.inputs.shape == (2, 20, 4)
    assert batch.input_lengths.tolist() == [10, 20]
    assert torch.all(batch.inputs[0, 10:] == 0)
    assert batch.targets.tolist() == [[5, 0, 0], [6, 7, 8]]
    assert batch.target_lengths.tolist() == [1, 3]
    assert batch.seconds == pytest.approx(0.3)
    assert len(batch) == 2


def test_pauses_pad_a_share_of_utterances_with_silence_or_a_noise_floor():
    from asr.train.augment import PauseAugmentConfig, add_pauses

    utts = [Utterance(id="u", audio="u.wav", duration=0.5, sample_rate=RATE, text="好", speaker="s")]
    pauses = PauseAugmentConfig(probability=0.5, max_seconds=1.0, noise_dbfs=(-60.0, -40.0), silence_share=0.25)
    ds = SpeechDataset(utts, [[2]], lambda i, a: add_pauses(_tone(440.0, 0.5), RATE, a), [50], pauses=pauses)
    items = [ds[(0, seed)] for seed in range(400)]
    padded = [it for it in items if len(it.inputs) > 8000]
    assert 0.4 < len(padded) / len(items) < 0.6  # the share asked for
    assert max(len(it.inputs) for it in padded) <= 8000 + 2 * RATE and all(it.duration >= 0.5 for it in items)
    assert all(it.duration == pytest.approx(len(it.inputs) / RATE, abs=1e-3) for it in items)
    from asr.train.augment import draw_augmentation

    silent = noisy = 0
    for seed in range(400):
        aug = draw_augmentation((), pauses, torch.Generator().manual_seed(seed))
        lead = ds[(0, seed)].inputs[: int(aug.before * RATE)]
        if len(lead) < 1600:
            continue
        rms = float(lead.pow(2).mean().sqrt())
        if aug.noise_dbfs is None:
            silent += rms == 0.0
        else:
            noisy += 1
            assert 20 * np.log10(rms) == pytest.approx(aug.noise_dbfs, abs=0.5)  # the level drawn, in dBFS
    assert silent > 0 and noisy > 3 * silent / 2
    assert torch.equal(ds[(0, 7)].inputs, ds[(0, 7)].inputs)  # a function of the key alone
