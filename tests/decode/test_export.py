"""ONNX export: parity with PyTorch at other batch sizes and lengths, the files written, errors."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from asr.cli import main
from asr.config import from_dict
from asr.errors import AsrError
from asr.decode.export import PARITY_TOLERANCE, export_onnx, max_valid_diff
from asr.features.frontend import Cmvn, FeatureConfig
from asr.models.model_dir import load_model, save_model
from asr.models import ModelConfig, build_model
from asr.decode.onnx_runtime import OnnxModel, load_backend, load_onnx_model
from asr.models.tokens import Vocabulary

SIZES = {"d_model": 32, "num_layers": 2, "num_heads": 4, "ffn_dim": 64, "subsampling_channels": 8}
CONFIGS = {
    "conformer": {"encoder": "conformer", "conformer": {**SIZES, "conv_kernel": 7}},
    "transformer": {"encoder": "transformer", "transformer": SIZES},
}


def save_random_model(directory, encoder: str = "conformer", seed: int = 0):
    """A random-weight model with 40-dim fbank and CMVN (weights need not be trained for parity)."""
    torch.manual_seed(seed)
    features = FeatureConfig(num_mel_bins=40)
    cmvn = Cmvn(np.full(40, 9.0, np.float32), np.full(40, 2.5, np.float32), 100)
    vocab = Vocabulary.build(["打开空调", "关闭车窗", "导航到 GPS 点"])
    config = from_dict(ModelConfig, CONFIGS[encoder])
    network = build_model(config, len(vocab), features.dim)
    summary = {"total": {"hours": 0.0, "utterances": 0, "speakers": 0}, "by": {}}
    return save_model(directory, network, config, vocab, features, cmvn, summary)


def waveforms(seconds=(1.37, 0.52, 2.05)) -> list[np.ndarray]:
    """Noise bursts of other lengths than the export traced (64 and 41 frames)."""
    rng = np.random.default_rng(7)
    return [(0.05 * rng.standard_normal(int(s * 16000))).astype(np.float32) for s in seconds]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def exported(request, tmp_path_factory):
    directory = save_random_model(tmp_path_factory.mktemp(request.param) / "model", request.param)
    result = export_onnx(directory, int8=True)
    return request.param, directory, result


def test_onnx_log_probs_match_pytorch_on_a_batch_of_other_lengths(exported):
    _, directory, result = exported
    assert result.max_abs_diff <= PARITY_TOLERANCE
    reference = load_model(directory)
    model = load_onnx_model(directory, threads=1)
    waves = waveforms()
    expected, expected_lengths = reference.log_probs(waves)
    got, got_lengths = model.log_probs(waves)
    assert got_lengths.tolist() == expected_lengths.tolist() == [33, 11, 50]
    assert got.shape == expected.shape == (3, 50, len(reference.vocab)) and got.dtype == torch.float32
    diff = max_valid_diff(got.numpy(), expected.numpy(), expected_lengths.numpy())
    assert diff <= PARITY_TOLERANCE
    # one utterance alone, and one shorter than the 7 frames subsampling needs (padded, length 0)
    alone, alone_lengths = model.log_probs(waves[1])
    alone_expected, _ = reference.log_probs(waves[1])
    assert alone_lengths.tolist() == [11] and torch.allclose(alone, alone_expected, atol=PARITY_TOLERANCE)
    tiny = np.zeros(800, np.float32)  # 50 ms: 3 frames
    got_tiny, tiny_lengths = model.log_probs([tiny])
    ref_tiny, _ = reference.log_probs([tiny])
    assert tiny_lengths.tolist() == [0] and got_tiny.shape == ref_tiny.shape == (1, 1, len(reference.vocab))


def test_onnx_model_is_an_asr_model_with_the_same_front_end(exported):
    _, directory, _ = exported
    reference = load_model(directory)
    model = load_onnx_model(directory, int8=True)
    assert isinstance(model, OnnxModel) and model.precision == "int8" and model.onnx_path.name == "model.int8.onnx"
    assert model.vocab.tokens == reference.vocab.tokens and model.frame_shift == reference.frame_shift
    assert model.sample_rate == 16000 and model.data_summary == reference.data_summary
    assert model.network.stride == 4 and model.network.input_kind == "features"
    assert next(model.network.parameters()).is_meta  # no second copy of the weights
    inputs, lengths = model.prepare(waveforms())
    expected, expected_lengths = reference.prepare(waveforms())
    assert torch.equal(inputs, expected) and torch.equal(lengths, expected_lengths)


def test_load_backend_selects_the_runtime(exported):
    _, directory, _ = exported
    assert type(load_backend(directory)).__name__ == "AsrModel"
    assert load_backend(directory, "onnx", threads=1).precision == "float32"
    assert load_backend(directory, "onnx-int8").precision == "int8"
    with pytest.raises(AsrError, match=r"^unknown backend 'tensorrt' \(expected one of: pytorch, onnx, onnx-int8\)$"):
        load_backend(directory, "tensorrt")
    with pytest.raises(AsrError, match=r"^backend 'onnx' runs on the CPU only \(ONNX Runtime\); got device 'cuda'$"):
        load_backend(directory, "onnx", device="cuda")


def test_export_has_dynamic_axes_and_provenance(exported):
    encoder, directory, result = exported
    assert result.path == directory / "model.onnx" and result.int8_path == directory / "model.int8.onnx"
    proto = onnx.load(str(result.path))
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input}
    assert dims == {"inputs": ["batch", "time", 40], "lengths": ["batch"]}
    outputs = {o.name: [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim] for o in proto.graph.output}
    assert outputs["log_probs"][:2] == ["batch", "frames"] and outputs["out_lengths"] == ["batch"]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["encoder"] == encoder and meta["precision"] == "float32" and meta["opset"] == "17"
    assert len(meta["weights_sha256"]) == 64 and meta["min_input_length"] == "7"
    assert any(n.op_type == "DynamicQuantizeLinear" or n.op_type.startswith("DynamicQuantize")
               for n in onnx.load(str(result.int8_path)).graph.node)


def test_stale_or_missing_export_is_refused(tmp_path):
    directory = save_random_model(tmp_path / "model")
    with pytest.raises(AsrError, match=r"missing model\.onnx \(run `asr export --model .* --format onnx` first\)"):
        load_onnx_model(directory)
    export_onnx(directory)
    with pytest.raises(AsrError, match=r"missing model\.int8\.onnx \(run `asr export .* --int8`"):
        load_onnx_model(directory, int8=True)
    save_random_model(directory, seed=1)  # retrained: new weights, old export
    with pytest.raises(AsrError, match=r"model\.onnx: exported from other weights than .*model\.safetensors \(stale\)"):
        load_onnx_model(directory)
    (directory / "model.onnx").write_bytes(b"not onnx")
    with pytest.raises(AsrError, match=r"model\.onnx: not a loadable ONNX model"):
        load_onnx_model(directory)


def test_untraceable_forward_is_refused_without_writing(tmp_path, monkeypatch):
    # Traced as it is, the PyTorch Conformer freezes its batch size into the graph
    # (torch.nn.MultiheadAttention's reshapes): the check on another batch must catch it.
    monkeypatch.setattr("asr.decode.export.TRACEABLE", ())
    directory = save_random_model(tmp_path / "model")
    with pytest.raises(AsrError, match=r"^encoder 'conformer' cannot be exported to ONNX: .*batch of another size"):
        export_onnx(directory)
    assert not (directory / "model.onnx").exists()


def test_cli_export_and_errors(tmp_path, capsys):
    directory = save_random_model(tmp_path / "model", "transformer")
    assert main(["export", "--model", str(directory), "--format", "onnx", "--int8", "--opset", "18",
                 "--int8-range", "reduced"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {directory / 'model.onnx'}" in out and f"wrote {directory / 'model.int8.onnx'}" in out
    assert "int8 with reduced range; max |int8 - PyTorch|" in out
    assert load_onnx_model(directory, int8=True).precision == "int8"
    assert main(["export", "--model", str(tmp_path / "absent")]) == 1
    assert capsys.readouterr().err.strip() == f"asr export: error: {tmp_path / 'absent'}: model directory not found"
    assert main(["export", "--model", str(directory), "--opset", "13"]) == 1
    assert capsys.readouterr().err.strip() == "asr export: error: --opset 13: ONNX opset 17 or newer is required"


def test_transcribe_and_decode_run_on_the_onnx_backend(exported, tmp_path, capsys):
    """`asr transcribe/decode --backend onnx` give the PyTorch transcript (random weights: same argmax)."""
    import json

    import soundfile as sf

    from asr.cli import main
    from asr.manifest.records import Utterance, write_manifest

    _, directory, _ = exported
    audio = tmp_path / "a.wav"
    sf.write(str(audio), waveforms((1.37,))[0], 16000)
    texts = {}
    for backend in ("pytorch", "onnx", "onnx-int8"):
        assert main(["transcribe", str(audio), "--vad", "off", "--model", str(directory), "--backend", backend,
                     "--threads", "1", "--format", "json"]) == 0
        texts[backend] = json.loads(capsys.readouterr().out)
    assert texts["onnx"]["text"] == texts["pytorch"]["text"]
    assert texts["onnx-int8"]["duration"] == texts["pytorch"]["duration"]

    write_manifest(tmp_path / "test.jsonl", [Utterance("u1", "a.wav", 1.37, 16000, "打开空调", "s1", dialect="wu")])
    assert main(["decode", "--model", str(directory), "--manifests", str(tmp_path / "test.jsonl"),
                 "--output-dir", str(tmp_path / "dec"), "--backend", "onnx", "--threads", "1"]) == 0
    row = json.loads((tmp_path / "dec" / "results-test.jsonl").read_text())
    assert row["hyp"] == texts["pytorch"]["text"] and row["ref_len"] == 4 and row["dialect"] == "wu"


WAVEFORM_ENCODERS = {
    "whisper": {"encoder": "whisper", "whisper": {"head_dropout": 0.0, "hf_config": {
        "d_model": 32, "encoder_layers": 2, "encoder_attention_heads": 2, "encoder_ffn_dim": 64,
        "decoder_layers": 1, "decoder_attention_heads": 2, "decoder_ffn_dim": 32, "num_mel_bins": 80,
        "dropout": 0.0, "attention_dropout": 0.0, "activation_dropout": 0.0}}},
    "wav2vec2": {"encoder": "wav2vec2", "wav2vec2": {"head_dropout": 0.0, "hf_config": {
        "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
        "conv_dim": [16, 16], "conv_kernel": [10, 3], "conv_stride": [5, 2],
        "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2}}},
}


@pytest.mark.parametrize("encoder", sorted(WAVEFORM_ENCODERS))
def test_waveform_encoders_export_with_parity(encoder, tmp_path):
    """Whisper (log-mel and STFT inside the graph) and wav2vec2 export with dynamic batch and length."""
    torch.manual_seed(0)
    vocab = Vocabulary.build(["打开空调", "关闭车窗"])
    config = from_dict(ModelConfig, WAVEFORM_ENCODERS[encoder])
    summary = {"total": {"hours": 0.0, "utterances": 0, "speakers": 0}, "by": {}}
    directory = save_model(tmp_path / "model", build_model(config, len(vocab)), config, vocab, None, None, summary)
    result = export_onnx(directory, int8=True)
    assert result.max_abs_diff <= PARITY_TOLERANCE
    proto = onnx.load(str(result.path))
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input}
    assert dims == {"inputs": ["batch", "time"], "lengths": ["batch"]}
    assert {p.key: p.value for p in proto.metadata_props}["min_input_length"] == "400"

    reference, model = load_model(directory), load_onnx_model(directory, threads=1)
    waves = waveforms((1.37, 0.52, 2.05, 0.02))  # the last, 320 samples, is shorter than one STFT window
    expected, expected_lengths = reference.log_probs(waves)
    got, got_lengths = model.log_probs(waves)
    assert got_lengths.tolist() == expected_lengths.tolist()
    # 21,920 samples: whisper 137 mel frames -> (137 - 1) // 2 + 1; wav2vec2 kernels 10, 3, strides 5, 2
    assert expected_lengths[0] == (69 if encoder == "whisper" else ((21920 - 10) // 5 + 1 - 3) // 2 + 1)
    assert got.shape == expected.shape
    assert max_valid_diff(got.numpy(), expected.numpy(), expected_lengths.numpy()) <= PARITY_TOLERANCE
    alone, alone_lengths = model.log_probs(waves[2])
    assert alone_lengths.tolist() == [expected_lengths[2]]
    assert torch.allclose(alone[0, : alone_lengths[0]], expected[2, : alone_lengths[0]], atol=PARITY_TOLERANCE)
    assert load_onnx_model(directory, int8=True).log_probs(waves)[1].tolist() == expected_lengths.tolist()
