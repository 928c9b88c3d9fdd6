import json

import numpy as np
import pytest
import torch
import yaml
from safetensors import safe_open

import asr
from asr.config import from_dict
from asr.errors import AsrError
from asr.features.frontend import Cmvn, FeatureConfig, compute_features
from asr.manifest.records import Utterance
from asr.models.model_dir import bundle_aligner, data_summary_from_manifest, load_model, save_model
from asr.models import ModelConfig, build_model
from asr.models.tokens import Vocabulary

TINY = {"encoder": "conformer", "conformer": {"d_model": 32, "num_layers": 1, "num_heads": 2, "ffn_dim": 64,
                                              "conv_kernel": 7, "subsampling_channels": 8}}


def waveforms():
    rng = np.random.default_rng(0)
    return [rng.standard_normal(n).astype(np.float32) * 0.1 for n in (16000, 9600)]


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    features = FeatureConfig(num_mel_bins=40)
    cmvn = Cmvn(np.full(40, 2.0, np.float32), np.full(40, 3.0, np.float32), 100)
    vocab = Vocabulary.build(["导航到 GPS 点", "你好"])
    config = from_dict(ModelConfig, TINY)
    network = build_model(config, len(vocab), features.dim).eval()
    summary = {"total": {"hours": 1.0, "utterances": 2, "speakers": 1}, "by": {}}
    save_model(tmp_path / "model", network, config, vocab, features, cmvn, summary, {"lr": 0.001})
    return tmp_path / "model", network, features, cmvn


def test_roundtrip_restores_identical_outputs(saved):
    path, network, features, cmvn = saved
    model = asr.load_model(path)
    assert sorted(p.name for p in path.iterdir()) == [
        "cmvn.json", "config.yaml", "data_summary.json", "model.safetensors", "tokens.txt"]
    assert model.frame_shift == pytest.approx(0.04) and model.sample_rate == 16000
    assert model.feature_config == features and model.train_config == {"lr": 0.001}
    assert model.data_summary["total"]["utterances"] == 2
    inputs, lengths = model.prepare(waveforms())
    assert inputs.shape == (2, 98, 40) and lengths.tolist() == [98, 58]
    expected = cmvn.apply(compute_features(waveforms()[1], features))
    assert torch.allclose(inputs[1, :58], expected) and not inputs[1, 58:].any()
    log_probs, out_lengths = model.log_probs(waveforms())
    with torch.inference_mode():
        reference, _ = network(inputs, lengths)
    assert torch.equal(log_probs, reference)
    assert out_lengths.tolist() == [23, 13] and log_probs.shape == (2, 23, len(model.vocab))


def test_directory_holds_no_pickle(saved):
    path = saved[0]
    with safe_open(str(path / "model.safetensors"), framework="pt") as f:
        assert f.metadata()["encoder"] == "conformer"
        assert any(k.startswith("encoder.") for k in f.keys())
    config = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8"))
    assert config["model"]["conformer"]["d_model"] == 32 and config["features"]["num_mel_bins"] == 40
    assert json.loads((path / "cmvn.json").read_text())["mean"][0] == 2.0
    for file in path.iterdir():
        assert not file.read_bytes().startswith(b"\x80")  # pickle protocol header


@pytest.mark.parametrize("name", ["config.yaml", "tokens.txt", "model.safetensors", "data_summary.json", "cmvn.json"])
def test_incomplete_directory_names_the_missing_file(saved, name):
    path = saved[0]
    (path / name).unlink()
    with pytest.raises(AsrError, match=f"missing {name}"):
        load_model(path)


def test_bad_directories(saved, tmp_path):
    with pytest.raises(AsrError, match="model directory not found"):
        load_model(tmp_path / "nowhere")
    path = saved[0]
    (path / "model.safetensors").write_bytes(b"truncated")
    with pytest.raises(AsrError, match="unreadable weights"):
        load_model(path)


def test_resave_replaces_files_and_keeps_others(saved):
    path, network, features, _ = saved
    (path / "checkpoint-1.safetensors").write_bytes(b"x")
    vocab = Vocabulary.load(path / "tokens.txt")
    save_model(path, network, from_dict(ModelConfig, TINY), vocab, features, None, {"total": {}}, None)
    assert not (path / "cmvn.json").exists() and (path / "checkpoint-1.safetensors").exists()
    assert load_model(path).cmvn is None


def save_aligner(directory, features, rate=16000, seed=1):
    """A tiny random tdnn model directory, with the vocabulary of :func:`saved`."""
    torch.manual_seed(seed)
    vocab = Vocabulary.build(["导航到 GPS 点", "你好"])
    config = from_dict(ModelConfig, {"encoder": "tdnn", "tdnn": {"d_model": 16, "num_layers": 2, "subsampling_channels": 8}})
    network = build_model(config, len(vocab), features.dim).eval()
    save_model(directory, network, config, vocab, features, None, {"total": {}})
    if rate != 16000:  # every front end here reads 16 kHz: another rate is another model's config
        saved_config = yaml.safe_load((directory / "config.yaml").read_text(encoding="utf-8"))
        (directory / "config.yaml").write_text(yaml.safe_dump({**saved_config, "sample_rate": rate}), encoding="utf-8")
    return directory, network


def test_bundled_aligner_is_loaded_with_the_model(saved, tmp_path):
    path, _, features, _ = saved
    aligner_dir, aligner_net = save_aligner(tmp_path / "aligner", features)
    other, _ = save_aligner(tmp_path / "other", features, seed=2)
    bundle_aligner(aligner_dir, other)  # an aligner's own aligner is not copied
    assert bundle_aligner(path, aligner_dir) == path / "aligner"
    assert sorted(p.name for p in (path / "aligner").iterdir()) == [
        "config.yaml", "data_summary.json", "model.safetensors", "tokens.txt"]
    assert not [p for p in path.iterdir() if p.name.startswith(".aligner")]  # no staging left behind
    model = load_model(path)
    # Loading the aligner draws nothing from the global generator: `asr train --init` from this model
    # trains exactly as from the same model without its aligner.
    def next_draw() -> torch.Tensor:
        torch.manual_seed(7)
        load_model(path)
        return torch.rand(3)

    with_aligner = next_draw()
    (path / "aligner").rename(path / "hidden")
    without = next_draw()
    (path / "hidden").rename(path / "aligner")
    assert torch.equal(with_aligner, without)
    assert model.aligner is not None and model.aligner.config.encoder == "tdnn" and model.aligner.aligner is None
    log_probs, _ = model.aligner.log_probs(waveforms())
    inputs, lengths = model.aligner.prepare(waveforms())
    with torch.inference_mode():
        assert torch.equal(log_probs, aligner_net(inputs, lengths)[0])

    # Bundled again from other weights: replaced whole.
    bundle_aligner(path, other)
    assert (path / "aligner/model.safetensors").read_bytes() == (other / "model.safetensors").read_bytes()
    # Saving the model again (new weights) drops the aligner bundled with the old ones.
    save_model(path, saved[1], from_dict(ModelConfig, TINY), Vocabulary.load(path / "tokens.txt"), features, None, {})
    assert not (path / "aligner").exists() and load_model(path).aligner is None


def test_bundling_refuses_what_cannot_align(saved, tmp_path):
    path, _, features, _ = saved
    with pytest.raises(AsrError, match="model directory not found"):
        bundle_aligner(path, tmp_path / "nowhere")
    other_rate, _ = save_aligner(tmp_path / "8k", features, rate=8000)
    with pytest.raises(AsrError, match="the aligner reads 8000 Hz audio, the model 16000 Hz"):
        bundle_aligner(path, other_rate)
    good, _ = save_aligner(tmp_path / "aligner", features)
    with pytest.raises(AsrError, match="not a model directory"):
        bundle_aligner(tmp_path, good)
    assert not (path / "aligner").exists()
    # A broken bundled aligner is an error naming it, not a model silently without times.
    bundle_aligner(path, good)
    (path / "aligner/tokens.txt").unlink()
    with pytest.raises(AsrError, match=r"aligner: missing tokens.txt"):
        load_model(path)


def test_data_summary_counts_hours_utterances_speakers_by_group():
    utts = [
        Utterance("a", "a.wav", 1800.0, 16000, "x", "s1", dialect="wu", gender="female", age_band="20-29"),
        Utterance("b", "b.wav", 1800.0, 16000, "x", "s1", dialect="wu", gender="female", age_band="20-29"),
        Utterance("c", "c.wav", 3600.0, 16000, "x", "s2", dialect="mandarin", condition="clean"),
    ]
    summary = data_summary_from_manifest(utts)
    assert summary["total"] == {"hours": 2.0, "utterances": 3, "speakers": 2}
    assert summary["by"]["dialect"] == {
        "mandarin": {"hours": 1.0, "utterances": 1, "speakers": 1},
        "wu": {"hours": 1.0, "utterances": 2, "speakers": 1},
    }
    assert summary["by"]["gender"]["unknown"]["utterances"] == 1
    assert set(summary["by"]) == {"dialect", "gender", "age_band", "condition"}
