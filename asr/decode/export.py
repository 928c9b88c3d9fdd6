"""Export a model directory's network to ONNX, optionally with int8 weights, for ONNX Runtime.

:func:`export_onnx` writes, next to ``model.safetensors``:

``model.onnx``
    the network in float32: inputs ``inputs`` (``(B, T, D)`` features or ``(B, S)``
    samples) and ``lengths`` (``(B,)`` int64), outputs ``log_probs`` (``(B, T', V)``
    float32) and ``out_lengths`` (``(B,)`` int64); batch and time axes are dynamic.
``model.int8.onnx`` (``int8=True``)
    the same graph with int8 weights and dynamically quantised activations in every
    ``MatMul`` (:func:`onnxruntime.quantization.quantize_dynamic`); convolutions,
    layer norms and the softmax stay float32. ``int8_range`` (recorded in the file):
    ``full`` 8-bit weights, or ``reduced`` 7-bit ones for x86 CPUs without VNNI, where
    full-range weights saturate ONNX Runtime's 16-bit pair sums (on such a CPU the
    tests' tiny Conformer moved log-probabilities by up to 1.4 with full range, 0.1 with
    reduced); ``auto`` picks by the CPU that exports
    (:func:`asr.decode.onnx_format.int8_range_for_this_cpu`).

The front end (fbank/MFCC and CMVN) is not in the graph: :class:`asr.decode.onnx_runtime.OnnxModel`
computes it with the PyTorch model's own code. Both files carry metadata
(:data:`asr.decode.onnx_format.META_FORMAT`, the SHA-256 of the weights they came from, the encoder, the
shortest input) so a stale export is refused when loaded.

The export uses the TorchScript tracer (``torch.onnx.export(dynamo=False)``). Two
things in the PyTorch forward passes are not traceable with dynamic shapes, so the
feature encoders are exported through :class:`FeatureEncoderExport`, which computes
the same function with traceable operations:

* :func:`asr.models.conformer.subsample` and ``torchaudio``'s ``Conformer`` turn the
  longest length into a Python ``int`` (frozen into the trace as a constant); here the
  padding mask is built from the tensor's own time axis (the same when the batch is
  padded to its longest utterance, as :func:`asr.models.model_dir.pad_batch` does).
* ``torch.nn.MultiheadAttention``'s traced reshapes keep the export's batch size; here
  attention is written out with ``unflatten``/``flatten`` (the same weights and math).

The ``whisper`` encoder goes through :class:`WhisperExport` for the same reason (its
output length is a Python ``int``) and because its log-mel front end, which is in the
graph, uses a complex STFT that ONNX cannot represent. ``wav2vec2`` traces as it is.

Every export is checked before it is written: ONNX Runtime runs it on a batch of a
different size and length than the one traced, and the float32 model must match
PyTorch within :data:`PARITY_TOLERANCE` on every valid output frame. An encoder whose
trace does not generalise (any not listed in :data:`TRACEABLE`) fails there with an
:class:`AsrError` instead of writing a wrong model.
"""

from __future__ import annotations

import io
import logging
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from asr.decode.onnx_format import INT8_RANGES, META_FORMAT, file_sha256, int8_range_for_this_cpu, onnx_path
from asr.decode.onnx_runtime import make_session
from asr.errors import AsrError
from asr.io import atomic_write
from asr.models.base import padding_mask
from asr.models.model_dir import load_model
from asr.models.whisper import HOP_LENGTH, N_FFT
from asr.models.subsampling import MIN_INPUT_FRAMES, with_positions

log = logging.getLogger(__name__)

DEFAULT_OPSET = 17
MIN_OPSET = 17
INPUT_NAMES = ("inputs", "lengths")
OUTPUT_NAMES = ("log_probs", "out_lengths")
#: Largest |ONNX - PyTorch| allowed on valid frames of the float32 export's log-probabilities.
PARITY_TOLERANCE = 1e-3
#: Encoders exported through :class:`FeatureEncoderExport` (``whisper``: :class:`WhisperExport`);
#: others are traced as they are.
TRACEABLE = ("conformer", "transformer")
#: Shortest input (samples) a waveform encoder's export is run on: 25 ms.
MIN_WAVEFORM_SAMPLES = 400


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_onnx` wrote and how closely it matches PyTorch.

    ``max_abs_diff``: largest |ONNX - PyTorch| log-probability on valid frames of the
    check batch; ``int8_max_abs_diff`` the same for the int8 model (not bounded: int8
    is judged by its error rate). Sizes in bytes, time in seconds.
    """

    path: Path
    opset: int
    max_abs_diff: float
    size: int
    int8_path: Path | None = None
    int8_max_abs_diff: float | None = None
    int8_size: int | None = None
    int8_range: str | None = None
    seconds: float = 0.0


def min_input_length(network: nn.Module) -> int:
    """Shortest time axis the export accepts: 7 feature frames, or 25 ms of samples."""
    return MIN_INPUT_FRAMES if network.input_kind == "features" else MIN_WAVEFORM_SAMPLES


# ----------------------------------------------------------------------------- traceable forward


def attention_bias(key_padding_mask: torch.Tensor) -> torch.Tensor:
    """``(B, 1, 1, T)`` float: ``-inf`` at padded keys, 0 elsewhere, added to attention scores.

    Adding a bias broadcast over heads and queries costs less than a ``Where`` over every
    ``(B, H, T, T)`` score in ONNX Runtime.
    """
    zero = torch.zeros_like(key_padding_mask, dtype=torch.float32)
    return zero.masked_fill(key_padding_mask, float("-inf"))[:, None, None, :]


def attention(mha: nn.MultiheadAttention, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``mha``'s self-attention on batch-first ``(B, T, D)`` ``x``, written to trace with dynamic shapes.

    ``bias``: :func:`attention_bias` of the ``(B, T)`` key padding mask (each row needs one
    valid key). Same weights and math as ``mha(x, x, x, key_padding_mask=...)`` in eval mode.
    """
    if not mha._qkv_same_embed_dim or mha.bias_k is not None or mha.add_zero_attn:
        raise AsrError("ONNX export: only plain self-attention (packed q/k/v, no bias_k, no add_zero_attn) is supported")
    q, k, v = F.linear(x, mha.in_proj_weight, mha.in_proj_bias).chunk(3, dim=-1)
    q, k, v = (t.unflatten(-1, (mha.num_heads, -1)).transpose(1, 2) for t in (q, k, v))  # (B, H, T, d_head)
    scores = torch.matmul(q * (mha.head_dim ** -0.5), k.transpose(-1, -2)) + bias
    out = torch.matmul(scores.softmax(dim=-1), v).transpose(1, 2).flatten(2)
    return mha.out_proj(out)


def conformer_layer(layer: nn.Module, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``torchaudio.models.conformer.ConformerLayer.forward`` in eval mode, batch-first ``(B, T, D)``."""
    x = layer.ffn1(x) * 0.5 + x
    if layer.convolution_first:
        x = x + layer.conv_module(x)
    x = x + attention(layer.self_attn, layer.self_attn_layer_norm(x), bias)
    if not layer.convolution_first:
        x = x + layer.conv_module(x)
    x = layer.ffn2(x) * 0.5 + x
    return layer.final_layer_norm(x)


def transformer_layer(layer: nn.TransformerEncoderLayer, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``torch.nn.TransformerEncoderLayer.forward`` (batch-first) in eval mode."""
    def feed_forward(y: torch.Tensor) -> torch.Tensor:
        return layer.linear2(layer.activation(layer.linear1(y)))

    if layer.norm_first:
        x = x + attention(layer.self_attn, layer.norm1(x), bias)
        return x + feed_forward(layer.norm2(x))
    x = layer.norm1(x + attention(layer.self_attn, x, bias))
    return layer.norm2(x + feed_forward(x))


class FeatureEncoderExport(nn.Module):
    """The forward pass of a ``conformer`` or ``transformer`` CTC model, traceable with dynamic shapes.

    ``(inputs (B, T, D), lengths (B,))`` -> ``(log_probs (B, T', V), out_lengths (B,))``,
    ``T' = conv2d_subsampling_lengths(T)``, for ``T >= 7``. Equal to the network's own
    forward in eval mode when ``T`` is the longest length (see the module docstring).
    """

    def __init__(self, network: nn.Module, encoder: str):
        super().__init__()
        if encoder not in TRACEABLE:
            raise ValueError(f"no traceable forward for encoder {encoder!r}")
        self.network = network
        self.encoder = encoder

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        net = self.network
        x, out_lengths = net.subsampling(inputs, lengths)
        x = x.masked_fill(padding_mask(out_lengths, x.shape[1])[..., None], 0.0)
        bias = attention_bias(padding_mask(out_lengths.clamp(min=1), x.shape[1]))
        if self.encoder == "conformer":
            if net.positions == "sinusoidal":
                x = with_positions(x)
            for layer in net.encoder.conformer_layers:
                x = conformer_layer(layer, x, bias)
        else:
            x = with_positions(x)
            for layer in net.encoder.layers:
                x = transformer_layer(layer, x, bias)
            if net.encoder.norm is not None:
                x = net.encoder.norm(x)
        return net.head(x), out_lengths


def real_power_spectrum(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """:func:`asr.models.whisper.power_spectrum` without complex tensors, which ONNX lacks.

    A strided convolution with the windowed DFT basis (computed in float64, stored as float32) over
    the reflect-padded samples, as ``torch.stft(center=True)`` frames them. Not ONNX's ``STFT``
    operator: ONNX Runtime's float32 implementation errs by up to 0.03 in log10 power (7%) on quiet
    frames beside loud ones (measured on tones with 80 dB of range), which a fine-tuned encoder
    amplifies to 0.05 in its log-probabilities; the basis keeps the error at torch.stft's (2e-4).
    """
    n = np.arange(N_FFT)
    angle = 2 * np.pi * np.arange(N_FFT // 2 + 1)[:, None] * n / N_FFT
    basis = np.concatenate([np.cos(angle), -np.sin(angle)]) * window.double().cpu().numpy()
    kernel = torch.tensor(basis, dtype=torch.float32, device=x.device)[:, None, :]  # (2F, 1, N_FFT)
    frames = F.conv1d(F.pad(x[:, None, :], (N_FFT // 2, N_FFT // 2), mode="reflect"), kernel, stride=HOP_LENGTH)
    real, imag = frames[:, : N_FFT // 2 + 1], frames[:, N_FFT // 2 + 1 :]
    return real**2 + imag**2


class WhisperExport(nn.Module):
    """The forward pass of a ``whisper`` CTC model, traceable with dynamic shapes.

    ``(inputs (B, S), lengths (B,))`` -> ``(log_probs (B, T', V), out_lengths (B,))`` for
    ``S >= 400``. The spectrum is :func:`real_power_spectrum`, and the output frames kept
    come from the log-mel's own time axis (``M = S // 160 + 2`` frames give
    ``(M - 1) // 2`` = the longest output length) instead of a Python ``int``.
    """

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        net = self.network
        mel = net.log_mel(inputs, lengths, extra=2, spectrum=real_power_spectrum)
        out_lengths = net.output_lengths(lengths)
        return net.encode(mel, out_lengths, (mel.shape[2] - 1) // 2), out_lengths


def exportable(network: nn.Module, encoder: str) -> nn.Module:
    """The module to trace for ``network``: an export wrapper (see :data:`TRACEABLE`) or the network itself."""
    if encoder == "whisper":
        return WhisperExport(network).eval()
    return FeatureEncoderExport(network, encoder).eval() if encoder in TRACEABLE else network.eval()


# ----------------------------------------------------------------------------- export


def example_batch(network: nn.Module, lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A zero-padded random batch for tracing or checking: unit-variance features or 0.1-scaled noise."""
    g = torch.Generator().manual_seed(seed)
    longest = max(lengths)
    if network.input_kind == "features":
        x = torch.randn(len(lengths), longest, network.input_dim, generator=g)
    else:
        x = 0.1 * torch.randn(len(lengths), longest, generator=g)
    lens = torch.tensor(lengths, dtype=torch.long)
    x = x.masked_fill(padding_mask(lens, longest).unsqueeze(-1) if x.dim() == 3 else padding_mask(lens, longest), 0.0)
    return x, lens


def _trace_lengths(network: nn.Module) -> tuple[list[int], list[int]]:
    """Lengths of the traced batch and of the (different) check batch, in frames or samples."""
    if network.input_kind == "features":
        return [64, 41], [157, 90, MIN_INPUT_FRAMES + 2]
    return [16000, 11200], [27200, 8000, 4800]


def _to_onnx(module: nn.Module, args: tuple[torch.Tensor, torch.Tensor], opset: int) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the tracer's TracerWarnings and the legacy exporter's deprecation notice
        torch.onnx.export(
            module,
            args,
            buffer,
            dynamo=False,
            opset_version=opset,
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_axes={
                "inputs": {0: "batch", 1: "time"},
                "lengths": {0: "batch"},
                "log_probs": {0: "batch", 1: "frames"},
                "out_lengths": {0: "batch"},
            },
            do_constant_folding=True,
        )
    return buffer.getvalue()


def _with_metadata(model_bytes: bytes, metadata: dict[str, str]) -> bytes:
    import onnx

    proto = onnx.load_from_string(model_bytes)
    del proto.metadata_props[:]
    for key, value in sorted(metadata.items()):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    return proto.SerializeToString()


def run_onnx(model_bytes_or_path: bytes | str | Path, inputs: torch.Tensor, lengths: torch.Tensor,
             threads: int | None = 1) -> tuple[np.ndarray, np.ndarray]:
    """Run an exported model once with ONNX Runtime (CPU): ``(log_probs, out_lengths)`` as numpy arrays."""
    session = make_session(model_bytes_or_path, threads)
    log_probs, out_lengths = session.run(list(OUTPUT_NAMES), {"inputs": inputs.numpy(), "lengths": lengths.numpy()})
    return log_probs, out_lengths


def max_valid_diff(a: np.ndarray, b: np.ndarray, lengths: np.ndarray) -> float:
    """Largest |a - b| over the first ``lengths[i]`` frames of each ``(B, T, V)`` row (nan if shapes differ)."""
    if a.shape != b.shape:
        return float("nan")
    valid = ~padding_mask(torch.as_tensor(lengths), a.shape[1]).numpy()
    return float(np.abs(a - b)[valid].max()) if valid.any() else 0.0


def _check(model_bytes: bytes, network: nn.Module, encoder: str, what: str) -> float:
    """Run ``model_bytes`` on the check batch; the max |ONNX - PyTorch| on valid frames."""
    inputs, lengths = example_batch(network, _trace_lengths(network)[1], seed=1)
    with torch.inference_mode():
        ref, ref_lengths = network(inputs, lengths)
    try:
        got, got_lengths = run_onnx(model_bytes, inputs, lengths)
    except Exception as e:  # onnxruntime raises its own Fail/InvalidArgument types
        raise AsrError(
            f"encoder {encoder!r} cannot be exported to ONNX: the {what} model fails on a batch of another "
            f"size or length ({str(e).splitlines()[0][:200]})"
        ) from e
    if not np.array_equal(got_lengths, ref_lengths.numpy()) or got.shape != tuple(ref.shape):
        raise AsrError(
            f"encoder {encoder!r} cannot be exported to ONNX: on a batch of another size or length the {what} "
            f"model gives shape {got.shape} and lengths {got_lengths.tolist()}, PyTorch {tuple(ref.shape)} and "
            f"{ref_lengths.tolist()} (its forward pass is not traceable with dynamic shapes)"
        )
    return max_valid_diff(got, ref.numpy(), ref_lengths.numpy())


def quantize_int8(model_bytes: bytes, reduce_range: bool = False) -> bytes:
    """Dynamic int8 quantisation of every ``MatMul`` (per-tensor int8 weights), via ONNX Runtime.

    ``reduce_range``: 7-bit weights (for x86 CPUs without VNNI, see the module docstring).
    """
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="asr-int8-") as tmp:
        source, target = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        source.write_bytes(model_bytes)
        previous = logging.root.manager.disable
        logging.disable(logging.WARNING)  # the quantiser logs every tensor it skips on the root logger
        try:
            quantize_dynamic(source, target, op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8,
                             reduce_range=reduce_range)
        finally:
            logging.disable(previous)
        return target.read_bytes()


def export_onnx(model_dir: str | Path, int8: bool = False, opset: int = DEFAULT_OPSET,
                int8_range: str = "auto") -> ExportResult:
    """Export ``model_dir``'s network to ``model.onnx`` (and ``model.int8.onnx`` with ``int8``).

    ``int8_range``: one of :data:`~asr.decode.onnx_format.INT8_RANGES` (see the module docstring).
    Raises :class:`AsrError` for a missing or incomplete model directory, an opset below
    :data:`MIN_OPSET`, or an encoder whose export does not match PyTorch on a batch of
    another shape (nothing is written then).
    """
    started = time.perf_counter()
    if opset < MIN_OPSET:
        raise AsrError(f"--opset {opset}: ONNX opset {MIN_OPSET} or newer is required")
    if int8_range not in INT8_RANGES:
        raise AsrError(f"--int8-range {int8_range}: expected one of {', '.join(INT8_RANGES)}")
    if int8_range == "auto":
        int8_range = int8_range_for_this_cpu()
    model_dir = Path(model_dir)
    model = load_model(model_dir)
    network, encoder = model.network.eval(), model.config.encoder
    module = exportable(network, encoder)
    try:
        model_bytes = _to_onnx(module, example_batch(network, _trace_lengths(network)[0]), opset)
    except (RuntimeError, torch.onnx.errors.OnnxExporterError, TypeError, ValueError) as e:
        raise AsrError(f"encoder {encoder!r} cannot be exported to ONNX ({str(e).splitlines()[0][:200]})") from e
    diff = _check(model_bytes, network, encoder, "float32")
    if not diff <= PARITY_TOLERANCE:
        raise AsrError(
            f"encoder {encoder!r} cannot be exported to ONNX: log-probabilities differ from PyTorch by {diff:.3g} "
            f"(allowed {PARITY_TOLERANCE:g}) on a batch of another size or length"
        )
    metadata = {
        "format": META_FORMAT,
        "encoder": encoder,
        "input_kind": network.input_kind,
        "min_input_length": str(min_input_length(network)),
        "weights_sha256": file_sha256(model_dir),
        "opset": str(opset),
        "precision": "float32",
        "torch": torch.__version__,
    }
    path = onnx_path(model_dir)
    data = _with_metadata(model_bytes, metadata)
    with atomic_write(path, "wb") as f:
        f.write(data)
    result = ExportResult(path=path, opset=opset, max_abs_diff=diff, size=len(data))
    if int8:
        quantized = quantize_int8(model_bytes, reduce_range=int8_range == "reduced")
        int8_diff = _check(quantized, network, encoder, "int8")
        int8_data = _with_metadata(quantized, {**metadata, "precision": "int8", "int8_range": int8_range})
        int8_path = onnx_path(model_dir, int8=True)
        with atomic_write(int8_path, "wb") as f:
            f.write(int8_data)
        result = replace(result, int8_path=int8_path, int8_max_abs_diff=int8_diff, int8_size=len(int8_data),
                         int8_range=int8_range)
    return replace(result, seconds=round(time.perf_counter() - started, 3))
