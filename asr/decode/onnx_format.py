"""The on-disk contract between ``asr export`` (:mod:`asr.decode.export`) and the ONNX Runtime
backend (:mod:`asr.decode.onnx_runtime`): file names, the metadata format, and the digest that
ties an export to the weights it came from. Both sides import it; neither imports the other.
"""

from __future__ import annotations

import hashlib
import platform
from pathlib import Path

from asr.models.model_dir import WEIGHTS_FILE
from asr.provenance import cpu_flags

ONNX_FILE = "model.onnx"
ONNX_INT8_FILE = "model.int8.onnx"
#: Written into every exported file's metadata; the backend refuses other formats.
META_FORMAT = "asr-onnx/1"
#: How an int8 export's weights use their bits (``asr export --int8-range``): ``full`` (8 bits)
#: or ``reduced`` (7 bits); ``auto`` picks :func:`int8_range_for_this_cpu`.
INT8_RANGES = ("auto", "full", "reduced")
#: x86 CPU flags of an int8 dot-product instruction (VNNI, AMX): with one, ONNX Runtime's int8
#: ``MatMul`` accumulates exactly; without, it sums pairs of u8 x s8 products in 16 bits, which
#: saturate with full-range weights.
X86_INT8_DOT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
#: What :func:`platform.machine` says on x86.
X86_MACHINES = frozenset({"x86_64", "amd64", "i386", "i686", "x86"})


def onnx_path(model_dir: str | Path, int8: bool = False) -> Path:
    """Where the (int8) ONNX export of ``model_dir`` lives."""
    return Path(model_dir) / (ONNX_INT8_FILE if int8 else ONNX_FILE)


def file_sha256(model_dir: str | Path) -> str:
    """SHA-256 of ``model_dir/model.safetensors``, recorded in each export to detect stale ones.

    (:func:`asr.train.checkpoint.state_digest` hashes a network's tensors in memory instead.)
    """
    digest = hashlib.sha256()
    with open(Path(model_dir) / WEIGHTS_FILE, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def int8_saturates_on_this_cpu(flags: frozenset[str] | None = None, machine: str | None = None) -> bool:
    """Whether ONNX Runtime's int8 ``MatMul`` can saturate here with full-range int8 weights.

    On x86-64 without VNNI/AMX it multiplies u8 activations by s8 weights with ``vpmaddubsw``,
    which adds each pair of products in a saturating 16-bit integer (ONNX Runtime's
    quantization docs: use ``reduce_range`` there). Other architectures accumulate in 32 bits.
    ``flags`` and ``machine``: this CPU's (:func:`asr.provenance.cpu_flags`,
    :func:`platform.machine`) when None; an x86 CPU whose flags are unknown counts as
    saturating (the safe side).
    """
    if (machine or platform.machine()).lower() not in X86_MACHINES:
        return False
    flags = cpu_flags() if flags is None else flags
    return flags is None or not X86_INT8_DOT_FLAGS & flags


def int8_range_for_this_cpu() -> str:
    """``reduced`` where :func:`int8_saturates_on_this_cpu`, else ``full``: what ``auto`` means."""
    return "reduced" if int8_saturates_on_this_cpu() else "full"
