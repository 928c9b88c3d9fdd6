"""The installed stack loads together: torchaudio's compiled ops, ONNX Runtime, eSpeak NG.

These fail first, with the versions in the message, when pip resolves a torch and torchaudio
that do not load together (torchaudio 2.11.1 beside torch 2.11.0 dies with an undefined symbol),
instead of as a traceback deep in the recipe. ``.ci/run`` runs this file before the suite.
"""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest

from asr.provenance import package_version, version_report


def _stack() -> str:
    return version_report()


def test_torchaudio_compiled_ops_load_beside_torch():
    import torch

    try:
        import torchaudio
        import torchaudio.compliance.kaldi as kaldi
        import torchaudio.functional as F
    except OSError as e:  # the compiled extension does not match torch's ABI
        pytest.fail(f"torchaudio's compiled extension does not load with this torch ({_stack()}): {e}")
    assert torchaudio.__version__.split("+")[0] == torch.__version__.split("+")[0], (
        f"torch and torchaudio must be the same patch release ({_stack()})")
    wave = torch.from_numpy(np.sin(np.arange(16000) * 0.05).astype(np.float32))[None]
    assert kaldi.fbank(wave, num_mel_bins=80).shape == (98, 80)
    emissions = torch.randn(1, 20, 5).log_softmax(-1)
    alignment, scores = F.forced_align(emissions, torch.tensor([[1, 2, 3]], dtype=torch.int32), blank=0)
    assert alignment.shape == (1, 20) and scores.shape == (1, 20)
    assert [int(t) for t in torch.unique_consecutive(alignment[0]) if int(t) != 0] == [1, 2, 3]


def test_onnxruntime_session_runs():
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "two"], ["y"])], "double",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None])],
        initializer=[helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    try:
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime's own error types
        pytest.fail(f"ONNX Runtime cannot run an opset-17 model (onnx {onnx.__version__}, {_stack()}): {e}")
    (y,) = session.run(None, {"x": np.array([1.0, 2.5], dtype=np.float32)})
    assert y.tolist() == [2.0, 5.0]


def test_espeak_library_loads_and_speaks():
    from asr.corpus.synthetic.espeak import VoiceSettings, engine

    audio = engine().synthesize("ni3 hao3", VoiceSettings("cmn-latn-pinyin"))
    assert audio.dtype == np.int16 and audio.size > 2000 and np.abs(audio.astype(np.int32)).max() > 300, (
        f"eSpeak NG (espeakng-loader {package_version('espeakng-loader')}) produced no speech")


def test_espeak_version_is_recorded():
    from asr.provenance import espeak_version

    version = espeak_version()
    assert version and version[0].isdigit(), version


def test_version_report_names_the_stack():
    report = _stack()
    assert report.startswith("asr ")
    for name in ("torch", "torchaudio", "transformers", "onnxruntime"):
        assert f"{name} {importlib.metadata.version(name)}" in report
