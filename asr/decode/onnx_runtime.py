"""Inference with ONNX Runtime: :class:`OnnxModel`, a drop-in :class:`~asr.models.model_dir.AsrModel`.

>>> model = load_onnx_model("recipes/dialect/exp/baseline/model", int8=True, threads=1)  # doctest: +SKIP
>>> log_probs, lengths = model.log_probs([waveform])                                      # doctest: +SKIP
>>> model = load_backend("recipes/dialect/exp/baseline/model", "onnx-int8")               # doctest: +SKIP

:class:`OnnxModel` *is* an :class:`~asr.models.model_dir.AsrModel` (a subclass): the vocabulary,
configs, CMVN, data summary, :meth:`~asr.models.model_dir.AsrModel.prepare` (fbank/MFCC then
CMVN, on the CPU) and ``frame_shift`` come from the same model directory through
:func:`asr.models.model_dir.load_model`; only :meth:`OnnxModel.log_probs` differs, running
``model.onnx`` (or ``model.int8.onnx``, written by ``asr export``) with an
``onnxruntime.InferenceSession``. Its ``network`` keeps the attributes callers read
(``input_kind``, ``stride``, ``max_input_length``, ``vocab_size``, ``output_lengths``)
but its weights live on the ``meta`` device: it cannot be run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from asr.decode.onnx_format import META_FORMAT, ONNX_INT8_FILE, file_sha256, int8_saturates_on_this_cpu, onnx_path
from asr.errors import AsrError
from asr.models.model_dir import AsrModel, load_model

log = logging.getLogger(__name__)

#: What ``--backend`` accepts: the PyTorch network, or its float32 or int8 ONNX export.
BACKENDS = ("pytorch", "onnx", "onnx-int8")


@dataclass(frozen=True)
class OnnxModel(AsrModel):
    """An :class:`~asr.models.model_dir.AsrModel` whose network runs in ONNX Runtime (CPU).

    ``session``: the ``onnxruntime.InferenceSession``; ``onnx_path``: the file it runs;
    ``precision``: ``"float32"`` or ``"int8"``; ``threads``: intra-op threads (``None``:
    ONNX Runtime's default, one per physical core); ``min_input_length``: inputs shorter
    than this (feature frames or samples) are zero-padded, their lengths kept.
    """

    session: Any = None
    onnx_path: Path | None = None
    precision: str = "float32"
    threads: int | None = None
    min_input_length: int = 1

    @property
    def device(self) -> torch.device:
        """Features are computed on the CPU, where ONNX Runtime reads them."""
        return torch.device("cpu")

    def log_probs(self, waveforms: Sequence[np.ndarray] | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """CTC log-probabilities ``(B, T', V)`` float32 and output lengths ``(B,)`` int64, as CPU tensors."""
        with torch.inference_mode():
            inputs, lengths = self.prepare(waveforms)
        short = self.min_input_length - inputs.shape[1]
        if short > 0:
            pad = (0, 0, 0, short) if inputs.dim() == 3 else (0, short)
            inputs = torch.nn.functional.pad(inputs, pad)
        log_probs, out_lengths = self.session.run(
            ["log_probs", "out_lengths"], {"inputs": inputs.numpy(), "lengths": lengths.numpy()}
        )
        return torch.from_numpy(log_probs), torch.from_numpy(out_lengths)


def make_session(model: bytes | str | Path, threads: int | None = None):
    """An ``onnxruntime.InferenceSession`` on the CPU with ``threads`` intra-op threads (None: ORT's default).

    Inter-op parallelism is off (one operator at a time); all graph optimisations are on.
    Idle worker threads sleep instead of spinning: on a shared machine spinning takes cores
    from the other processes and, once descheduled, makes two threads slower than one.
    """
    import onnxruntime as ort

    if threads is not None and threads < 1:
        raise AsrError(f"threads must be >= 1, got {threads}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or 0
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])


def load_onnx_model(model_dir: str | Path, int8: bool = False, threads: int | None = None) -> OnnxModel:
    """Load ``model_dir``'s ONNX export (``model.int8.onnx`` with ``int8``) with its vocabulary and front end.

    Raises :class:`AsrError` when the export is missing, unreadable, not ours, or was
    made from other weights than ``model.safetensors`` (a stale export). Warns when a
    full-range int8 export runs on a CPU where it saturates (:mod:`asr.decode.export`).
    """
    model_dir = Path(model_dir)
    model = load_model(model_dir)
    path = onnx_path(model_dir, int8)
    export = f"`asr export --model {model_dir} --format onnx{' --int8' if int8 else ''}`"
    if not path.is_file():
        raise AsrError(f"{model_dir}: missing {path.name} (run {export} first)")
    try:
        session = make_session(path, threads)
    except Exception as e:  # onnxruntime raises InvalidProtobuf / Fail / NoSuchFile types of its own
        raise AsrError(f"{path}: not a loadable ONNX model ({str(e).splitlines()[0][:200]}); re-run {export}") from e
    meta = session.get_modelmeta().custom_metadata_map
    if meta.get("format") != META_FORMAT:
        raise AsrError(f"{path}: expected an {META_FORMAT} export, found format {meta.get('format')!r}; re-run {export}")
    if meta.get("weights_sha256") != file_sha256(model_dir):
        raise AsrError(f"{path}: exported from other weights than {model_dir}/model.safetensors (stale); re-run {export}")
    expected = "int8" if path.name == ONNX_INT8_FILE else "float32"
    if meta.get("precision") != expected:
        raise AsrError(f"{path}: holds a {meta.get('precision')} model, expected {expected}; re-run {export}")
    if expected == "int8" and meta.get("int8_range", "full") == "full" and int8_saturates_on_this_cpu():
        log.warning("%s: its int8 weights use the full 8-bit range, which saturates in ONNX Runtime on this CPU "
                    "(x86 without VNNI) and moves the model's outputs; re-run `asr export --model %s --format onnx "
                    "--int8 --int8-range reduced`", path, model_dir)
    network = model.network.to("meta")  # keep the attributes, drop the weights
    base = {f.name: getattr(model, f.name) for f in fields(AsrModel)}
    return OnnxModel(
        **{**base, "network": network},
        session=session,
        onnx_path=path,
        precision=expected,
        threads=threads,
        min_input_length=int(meta.get("min_input_length", 1)),
    )


def load_backend(model_dir: str | Path, backend: str = "pytorch", device: str = "cpu",
                 threads: int | None = None) -> AsrModel:
    """``model_dir`` loaded for ``backend`` (one of :data:`BACKENDS`): what ``--backend`` selects.

    ``pytorch`` is :func:`asr.models.model_dir.load_model` on ``device``; ``onnx`` and ``onnx-int8``
    are :func:`load_onnx_model` (CPU only) with ``threads`` intra-op threads.
    """
    if backend not in BACKENDS:
        raise AsrError(f"unknown backend {backend!r} (expected one of: {', '.join(BACKENDS)})")
    if backend == "pytorch":
        return load_model(model_dir, device=device)
    if str(device) != "cpu":
        raise AsrError(f"backend {backend!r} runs on the CPU only (ONNX Runtime); got device {device!r}")
    return load_onnx_model(model_dir, int8=backend == "onnx-int8", threads=threads)
