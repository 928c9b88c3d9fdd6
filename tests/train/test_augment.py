"""Speed perturbation and SpecAugment."""

from __future__ import annotations

import pytest
import torch

from asr.train.augment import SpecAugment, SpecAugmentConfig, choose_speed, speed_perturb

RATE = 16000


def _tone(freq: float, seconds: float = 1.0) -> torch.Tensor:
    t = torch.arange(int(seconds * RATE)) / RATE
    return torch.sin(2 * torch.pi * freq * t)


def _peak_hz(x: torch.Tensor) -> float:
    spectrum = torch.fft.rfft(x * torch.hann_window(len(x))).abs()
    return float(spectrum.argmax()) * RATE / len(x)


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_perturbation_changes_duration_and_pitch_by_the_factor(factor):
    x = _tone(1000.0)
    y = speed_perturb(x, RATE, factor)
    assert abs(len(y) - len(x) / factor) <= 1
    assert _peak_hz(y) == pytest.approx(1000.0 * factor, abs=3.0)


def test_speed_one_is_the_identity():
    x = _tone(440.0, 0.2)
    assert speed_perturb(x, RATE, 1.0) is x


def test_choose_speed_is_uniform_and_seeded():
    factors = (0.9, 1.0, 1.1)
    draws = [choose_speed(factors, torch.Generator().manual_seed(s)) for s in range(3000)]
    counts = {f: draws.count(f) for f in factors}
    assert all(900 < c < 1100 for c in counts.values())
    assert choose_speed(factors, torch.Generator().manual_seed(42)) == choose_speed(factors, torch.Generator().manual_seed(42))
    assert choose_speed((), torch.Generator()) == 1.0


def test_spec_augment_masks_whole_bands_and_spans_inside_valid_frames_only():
    torch.manual_seed(0)
    feats = torch.ones(2, 100, 40)
    lengths = torch.tensor([100, 60])
    config = SpecAugmentConfig(freq_masks=2, freq_width=8, time_masks=2, time_width=20, time_ratio=0.2)
    out = SpecAugment(config)(feats, lengths)
    assert torch.equal(feats, torch.ones(2, 100, 40))  # the input is not modified
    assert torch.all(out[1, 60:] == 1)  # padding untouched
    for i, n in enumerate(lengths.tolist()):
        x = out[i, :n]
        masked_bins = (x == 0).all(dim=0)
        masked_frames = (x == 0).all(dim=1)
        assert 0 < int(masked_bins.sum()) <= 2 * 8
        assert 0 < int(masked_frames.sum()) <= 2 * int(0.2 * n)
        # everything zero lies in a masked band or a masked span
        zeros = x == 0
        assert torch.equal(zeros, masked_bins[None, :] | masked_frames[:, None])


def test_spec_augment_follows_the_torch_rng_and_can_be_disabled():
    feats, lengths = torch.randn(3, 80, 20), torch.tensor([80, 70, 50])
    aug = SpecAugment(SpecAugmentConfig())
    torch.manual_seed(1)
    a = aug(feats, lengths)
    torch.manual_seed(1)
    b = aug(feats, lengths)
    assert torch.equal(a, b)
    assert not torch.equal(a, feats)
    off = SpecAugment(SpecAugmentConfig(enabled=False))
    assert off(feats, lengths) is feats
