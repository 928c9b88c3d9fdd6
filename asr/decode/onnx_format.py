"""The on-disk contract between ``asr export`` (:mod:`asr.decode.export`) and the ONNX Runtime
backend (:mod:`asr.decode.onnx_runtime`): file names, the metadata format, and the digest that
ties an export to the weights it came from. Both sides import it; neither imports the other.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from asr.models.model_dir import WEIGHTS_FILE

ONNX_FILE = "model.onnx"
ONNX_INT8_FILE = "model.int8.onnx"
#: Written into every exported file's metadata; the backend refuses other formats.
META_FORMAT = "asr-onnx/1"


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
