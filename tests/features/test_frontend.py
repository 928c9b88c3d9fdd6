"""Kaldi features: parity with torchaudio.compliance.kaldi, the frame rule, config and CMVN."""

import math

import numpy as np
import pytest
import torch
import torchaudio.compliance.kaldi as kaldi

from asr.config import from_dict, load_config
from asr.errors import AsrError
from asr.features.frontend import (
    Cmvn,
    CmvnStats,
    FeatureConfig,
    compute_features,
    compute_features_torchaudio,
    num_frames,
)


def speech_like(seconds: float = 3.3, rate: int = 16000, seed: int = 0) -> torch.Tensor:
    """A chirp with harmonics, noise and a stretch of digital silence: (num_samples,) float32."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * rate), dtype=torch.float64) / rate
    phase = 2 * math.pi * (150 * t + 40 * t**2)
    x = 0.3 * torch.sin(phase) + 0.1 * torch.sin(3 * phase) + 0.03 * torch.randn(t.numel(), generator=g, dtype=torch.float64)
    x[rate // 2 : rate // 2 + 4000] = 0.0
    return x.float()


PARITY_CONFIGS = {
    "fbank80": FeatureConfig(),
    "mfcc13": FeatureConfig(kind="mfcc"),
    "mfcc40": FeatureConfig(kind="mfcc", num_ceps=40),
    "mfcc40-hires": FeatureConfig(kind="mfcc", num_mel_bins=40, num_ceps=40, high_freq=-400.0, use_energy=False),
    "fbank-energy": FeatureConfig(use_energy=True),
    "no-snip-edges": FeatureConfig(snip_edges=False),
    "hamming-windowed-energy": FeatureConfig(window_type="hamming", raw_energy=False, use_energy=True, energy_floor=1.0),
    "blackman-magnitude-23": FeatureConfig(window_type="blackman", num_mel_bins=23, use_power=False),
    "no-dc-no-preemphasis": FeatureConfig(remove_dc_offset=False, preemphasis_coefficient=0.0),
    "8khz": FeatureConfig(sample_frequency=8000, num_mel_bins=40),
}


@pytest.mark.parametrize("name", PARITY_CONFIGS)
def test_parity_with_torchaudio_kaldi(name):
    config = PARITY_CONFIGS[name]
    x = speech_like(rate=config.sample_rate)
    ours = compute_features(x, config)
    reference = compute_features_torchaudio(x, config)
    assert ours.dtype == torch.float32 and ours.shape == reference.shape == (num_frames(x.numel(), config), config.dim)
    assert (ours - reference).abs().max() <= 1e-3


def test_reference_is_torchaudio_called_directly_with_kaldi_options():
    x = speech_like(seconds=1.0)
    fbank = kaldi.fbank(x[None] * 32768, num_mel_bins=80, dither=0.0, energy_floor=0.0)
    mfcc = kaldi.mfcc(x[None] * 32768, num_ceps=13, num_mel_bins=80, dither=0.0, energy_floor=0.0, use_energy=True)
    assert torch.equal(compute_features_torchaudio(x), fbank)
    assert torch.equal(compute_features_torchaudio(x, FeatureConfig(kind="mfcc")), mfcc)
    assert (compute_features(x) - fbank).abs().max() <= 1e-3


def test_long_input_spanning_several_blocks_matches():
    x = speech_like(seconds=12.0, seed=3)  # 1198 frames: three blocks of 512
    assert (compute_features(x) - compute_features_torchaudio(x)).abs().max() <= 1e-3


@pytest.mark.parametrize("snip_edges", [True, False])
def test_frame_count_rule(snip_edges):
    config = FeatureConfig(snip_edges=snip_edges)
    assert (config.window_size, config.window_shift, config.padded_window_size) == (400, 160, 512)
    for n in (0, 1, 399, 400, 401, 559, 560, 16000, 16001, 16080):
        expected = 0 if n < 400 else (1 + (n - 400) // 160 if snip_edges else (n + 80) // 160)
        assert num_frames(n, config) == expected
        assert compute_features(torch.zeros(n), config).shape == (expected, 80)
        if n >= 400:
            assert compute_features_torchaudio(torch.zeros(n), config).shape[0] == expected
    assert num_frames(16000, config) == (98 if snip_edges else 100)


def test_defaults_follow_kaldi_except_the_documented_ones():
    fbank, mfcc = FeatureConfig(), FeatureConfig(kind="mfcc")
    assert (fbank.dither, fbank.num_mel_bins, fbank.energy_floor, fbank.use_energy) == (0.0, 80, 0.0, False)
    assert (mfcc.use_energy, mfcc.num_ceps, mfcc.cepstral_lifter, mfcc.dim) == (True, 13, 22.0, 13)
    assert FeatureConfig(use_energy=True).dim == 81 and fbank.dim == 80
    assert FeatureConfig(kind="mfcc", num_ceps=40).dim == 40


def test_dither_is_random_and_off_by_default():
    x = speech_like(seconds=0.5)
    assert torch.equal(compute_features(x), compute_features(x))
    dithered = FeatureConfig(dither=1.0)
    assert not torch.equal(compute_features(x, dithered), compute_features(x, dithered))


def test_accepts_numpy_and_rejects_bad_shapes_and_integer_samples():
    x = speech_like(seconds=0.5)
    assert torch.equal(compute_features(x.numpy().astype(np.float64)), compute_features(x))
    with pytest.raises(ValueError, match=r"expected a \(num_samples,\) waveform, got shape \(1, 8000\)"):
        compute_features(x[None])
    with pytest.raises(TypeError, match="expected a float waveform"):
        compute_features((x.numpy() * 32767).astype(np.int16))


def test_unknown_config_key_is_an_error_naming_file_and_key(tmp_path):
    path = tmp_path / "features.yaml"
    path.write_text("kind: fbank\nnum_mel_bin: 80\n")
    with pytest.raises(AsrError, match=r"features\.yaml: unknown config key 'num_mel_bin' for FeatureConfig"):
        load_config(FeatureConfig, path)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"kind": "mfcc", "num_ceps": 40, "num_mel_bins": 23}, "num_ceps 40 must be between 1 and num_mel_bins"),
        ({"high_freq": 9000}, "must satisfy 0 <= low < high <= 8000"),
        ({"kind": "plp"}, "kind: expected one of 'fbank', 'mfcc'"),
        ({"window_type": "hann"}, "window_type: expected one of"),
    ],
)
def test_invalid_values_are_clear_errors(values, message):
    with pytest.raises(AsrError, match=message):
        from_dict(FeatureConfig, values, source="features.yaml")


def test_cmvn_statistics_match_numpy_on_known_data():
    rng = np.random.default_rng(0)
    data = rng.normal(loc=[1.0, -5.0, 20.0], scale=[0.5, 2.0, 3.0], size=(1000, 3)).astype(np.float32)
    data[:, 2] += 1e4  # large offset: float64 sums keep the variance exact
    stats, second = CmvnStats(3), CmvnStats(3)
    stats.accumulate(torch.from_numpy(data[:300]))
    second.accumulate(data[300:])
    stats.merge(second)
    cmvn = Cmvn.from_stats(stats)
    assert cmvn.num_frames == 1000
    np.testing.assert_allclose(cmvn.mean, data.astype(np.float64).mean(0), rtol=1e-6)
    np.testing.assert_allclose(cmvn.std, data.astype(np.float64).std(0), rtol=1e-5)
    normalised = cmvn.apply(torch.from_numpy(data)).double()
    np.testing.assert_allclose(normalised.mean(0), 0.0, atol=1e-3)
    np.testing.assert_allclose(normalised.std(0, unbiased=False), 1.0, atol=1e-3)
    assert isinstance(cmvn.apply(data), np.ndarray)


def test_cmvn_json_round_trip_floor_and_errors(tmp_path):
    stats = CmvnStats(2)
    stats.accumulate(torch.tensor([[1.0, 3.0], [1.0, 5.0]]))
    cmvn = Cmvn.from_stats(stats)
    assert cmvn.std[0] == pytest.approx(1e-5) and cmvn.std[1] == pytest.approx(1.0)
    cmvn.to_json(tmp_path / "cmvn.json")
    back = Cmvn.from_json(tmp_path / "cmvn.json")
    np.testing.assert_array_equal(back.mean, cmvn.mean)
    np.testing.assert_array_equal(back.std, cmvn.std)
    assert back.num_frames == 2 and Cmvn.from_dict(cmvn.to_dict()).dim == 2
    with pytest.raises(AsrError, match="CMVN statistics have dimension 2 but the features have 3"):
        cmvn.apply(torch.zeros(4, 3))
    with pytest.raises(AsrError, match="cmvn.json: CMVN file not found"):
        Cmvn.from_json(tmp_path / "missing" / "cmvn.json")
    with pytest.raises(AsrError, match="zero frames"):
        Cmvn.from_stats(CmvnStats(2))
