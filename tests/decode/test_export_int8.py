"""The int8 ONNX model recognises as well as the float32 one (CER within 1 point absolute).

A tiny Conformer is trained in the test, for a few seconds on the CPU, on a synthetic
"language": each of five characters is a tone of its own pitch, an utterance is 2-4
of them separated by short pauses, with a little noise. It then transcribes unseen
utterances (other sequences, other noise) with greedy CTC through both exports.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from asr.config import from_dict
from asr.decode.export import export_onnx
from asr.errors import AsrError
from asr.features.frontend import Cmvn, CmvnStats, FeatureConfig
from asr.models.model_dir import data_summary_from_manifest, load_model, save_model
from asr.models import ModelConfig, build_model
from asr.decode.onnx_runtime import load_onnx_model
from asr.score import pooled, score_pair
from asr.decode.search import greedy_search
from asr.models.tokens import Vocabulary

RATE = 16000
CHARS = "一二三四五"
PITCH = dict(zip(CHARS, (300.0, 550.0, 900.0, 1500.0, 2400.0)))
TONE_SECONDS, GAP_SECONDS = 0.12, 0.06
MODEL = {"encoder": "conformer", "conformer": {"d_model": 48, "num_layers": 2, "num_heads": 2, "ffn_dim": 96,
                                               "conv_kernel": 7, "subsampling_channels": 16, "dropout": 0.0}}


def utterance(text: str, rng: np.random.Generator, noise: tuple[float, float]) -> np.ndarray:
    """``text`` as tones (random phase and loudness) between pauses, plus white noise of RMS in ``noise``."""
    t = np.arange(int(TONE_SECONDS * RATE)) / RATE
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)  # 10 ms fades, no clicks
    gap = np.zeros(int(GAP_SECONDS * RATE))
    parts = [gap]
    for ch in text:
        amp = rng.uniform(0.2, 0.5)
        parts += [amp * ramp * np.sin(2 * np.pi * PITCH[ch] * t + rng.uniform(0, 2 * np.pi)), gap]
    wave = np.concatenate(parts)
    return (wave + rng.uniform(*noise) * rng.standard_normal(wave.size)).astype(np.float32)


def corpus(n: int, seed: int, noise: tuple[float, float] = (0.003, 0.02)) -> tuple[list[str], list[np.ndarray]]:
    """``n`` utterances of 2-4 random characters."""
    rng = np.random.default_rng(seed)
    texts = ["".join(rng.choice(list(CHARS), size=rng.integers(2, 5))) for _ in range(n)]
    return texts, [utterance(text, rng, noise) for text in texts]


def train_tiny_model(directory, steps: int = 50) -> None:
    """Train the tiny Conformer with CTC on 32 synthetic utterances (full batch) and save it to ``directory``."""
    torch.manual_seed(0)
    texts, waves = corpus(32, seed=1)
    vocab = Vocabulary.build(texts)
    features = FeatureConfig(num_mel_bins=40)
    config = from_dict(ModelConfig, MODEL)
    network = build_model(config, len(vocab), features.dim)
    summary = data_summary_from_manifest([])
    save_model(directory, network, config, vocab, features, None, summary)  # to reuse its front end
    feats = [load_model(directory)._features(torch.as_tensor(w)) for w in waves]
    stats = CmvnStats(features.dim)
    for f in feats:
        stats.accumulate(f)
    cmvn = Cmvn.from_stats(stats)
    inputs = torch.nn.utils.rnn.pad_sequence([cmvn.apply(f) for f in feats], batch_first=True)
    lengths = torch.tensor([len(f) for f in feats])
    targets = [torch.tensor(vocab.encode(t)) for t in texts]
    target_lengths = torch.tensor([len(t) for t in targets])
    optimizer = torch.optim.AdamW(network.parameters(), lr=5e-3)
    network.train()
    for _ in range(steps):
        log_probs, out_lengths = network(inputs, lengths)
        loss = torch.nn.functional.ctc_loss(log_probs.transpose(0, 1), torch.cat(targets), out_lengths,
                                            target_lengths, blank=vocab.blank_id, zero_infinity=True)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    network.eval()
    save_model(directory, network, config, vocab, features, cmvn, summary)


def cer(model, texts: list[str], waves: list[np.ndarray]) -> float:
    """Pooled CER (fraction) of greedy CTC decoding with ``model`` (any object with ``.log_probs``)."""
    log_probs, lengths = model.log_probs(waves)
    hyps = greedy_search(log_probs, lengths, blank=model.vocab.blank_id)
    return pooled(score_pair(ref, model.vocab.decode(h.token_ids)) for ref, h in zip(texts, hyps)).error_rate


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    directory = tmp_path_factory.mktemp("int8") / "model"
    train_tiny_model(directory)
    export_onnx(directory, int8=True)
    return directory


def test_int8_cer_within_one_point_of_float32(trained):
    texts, waves = corpus(60, seed=2, noise=(0.02, 0.05))  # unseen sequences, louder noise than in training
    fp32 = cer(load_onnx_model(trained, threads=1), texts, waves)
    int8 = cer(load_onnx_model(trained, int8=True, threads=1), texts, waves)
    pytorch = cer(load_model(trained), texts, waves)
    assert pytorch < 0.1, f"the tiny model did not learn the tones (CER {pytorch:.3f}); the comparison would be empty"
    assert fp32 == pytest.approx(pytorch, abs=1e-9)  # the same hypotheses
    assert abs(int8 - fp32) <= 0.01, f"int8 CER {int8:.4f} vs float32 {fp32:.4f}"


def float32_and_int8_log_probs(directory) -> tuple[torch.Tensor, torch.Tensor]:
    """The two ONNX exports' log-probabilities on unseen utterances, valid frames only: ``(N, V)`` each."""
    _, waves = corpus(8, seed=3)
    a, a_len = load_onnx_model(directory, threads=1).log_probs(waves)
    b, b_len = load_onnx_model(directory, int8=True, threads=1).log_probs(waves)
    assert torch.equal(a_len, b_len) and a.shape == b.shape
    valid = torch.arange(a.shape[1])[None, :] < a_len[:, None]
    return a[valid], b[valid]


def test_int8_model_is_smaller_and_close(trained):
    fp32, int8 = (trained / "model.onnx").stat().st_size, (trained / "model.int8.onnx").stat().st_size
    assert int8 < fp32
    a, b = float32_and_int8_log_probs(trained)
    # int8 weights move the log-probabilities a little, not the decisions
    agree = (a.argmax(-1) == b.argmax(-1)).float().mean()
    assert 0 < (a - b).abs().max() < 1.0 and agree > 0.97


@pytest.mark.parametrize("machine, flags, saturates", [
    ("x86_64", "fpu sse2 avx2 avx512f avx512bw", True),            # AVX-512 without VNNI (e.g. AMD EPYC Rome)
    ("x86_64", "fpu avx2 avx_vnni", False),                        # AVX-VNNI
    ("x86_64", "fpu avx512f avx512_vnni amx_int8 amx_bf16", False),  # Sapphire Rapids
    ("aarch64", "fp asimd", False),                                # Arm accumulates in 32 bits
])
def test_int8_saturation_is_read_from_the_cpu_flags(monkeypatch, machine, flags, saturates):
    from asr.decode import onnx_format

    assert onnx_format.int8_saturates_on_this_cpu(frozenset(flags.split()), machine) is saturates
    monkeypatch.setattr(onnx_format.platform, "machine", lambda: machine)
    monkeypatch.setattr(onnx_format, "cpu_flags", lambda: None)  # /proc/cpuinfo unreadable or without flags
    assert onnx_format.int8_saturates_on_this_cpu() is (machine == "x86_64")  # unknown x86: the safe side
    assert onnx_format.int8_range_for_this_cpu() == ("reduced" if machine == "x86_64" else "full")


def test_int8_range_is_recorded_and_a_full_range_export_warns_where_it_saturates(trained, tmp_path, monkeypatch,
                                                                                caplog):
    import shutil

    from asr.decode import onnx_runtime
    from asr.decode.onnx_format import int8_saturates_on_this_cpu

    directory = shutil.copytree(trained, tmp_path / "model")
    saturates_here = int8_saturates_on_this_cpu()
    monkeypatch.setattr(onnx_runtime, "int8_saturates_on_this_cpu", lambda: True)  # the warning, on any CPU
    drift = {}
    for int8_range in ("full", "reduced"):
        result = export_onnx(directory, int8=True, int8_range=int8_range)
        assert result.int8_range == int8_range
        meta = onnx_runtime.make_session(result.int8_path, 1).get_modelmeta().custom_metadata_map
        assert meta["int8_range"] == int8_range and meta["precision"] == "int8"
        caplog.clear()
        a, b = float32_and_int8_log_probs(directory)
        warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        if int8_range == "full":
            assert warned == [f"{result.int8_path}: its int8 weights use the full 8-bit range, which saturates in "
                              "ONNX Runtime on this CPU (x86 without VNNI) and moves the model's outputs; re-run "
                              f"`asr export --model {directory} --format onnx --int8 --int8-range reduced`"]
        else:
            assert warned == []
        drift[int8_range] = float((a - b).abs().max())
    with pytest.raises(AsrError, match="--int8-range half: expected one of auto, full, reduced"):
        export_onnx(directory, int8=True, int8_range="half")
    if saturates_here:  # this machine's ONNX Runtime saturates: the reduced range is what fixes it
        assert drift["reduced"] < min(0.5, drift["full"]), drift
    else:
        assert drift["full"] < 1.0 and drift["reduced"] < 1.0, drift
