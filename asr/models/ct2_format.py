"""CTranslate2's ``model.bin``, read without the ``ctranslate2`` package.

``model.bin`` is written by CTranslate2's ``ModelSpec._serialize``
(``python/ctranslate2/specs/model_spec.py``), little-endian::

    uint32 binary version (4 to 6 read here)     string spec name (e.g. "WhisperSpec")
    uint32 spec revision                         uint32 variable count, then per variable:
        string name, uint8 rank, uint32 x rank shape, uint8 dtype code, uint32 byte count, raw data
    uint32 alias count, then per alias: string alias, string name of the variable it stands for

where a string is a uint16 length (counting a closing NUL), the UTF-8 bytes and the NUL, and
the dtype codes are 0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16. Any duplicated
variable is stored once and aliased. Quantized weights (int8 with a per-row ``*_scale``, int16
with one scale) are dequantized as CTranslate2 does, ``value / scale`` (:func:`dequantized`).
The model's own layout (Whisper's: :mod:`asr.models.ct2_whisper`) is read on top of this.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import torch

from asr.errors import AsrError

#: ``model.bin`` dtype codes (``include/ctranslate2/types.h``'s ``DataType``).
DTYPES = {0: torch.float32, 1: torch.int8, 2: torch.int16, 3: torch.int32, 4: torch.float16, 5: torch.bfloat16}
#: Binary versions with dtype codes (4) up to the current one (6).
BINARY_VERSIONS = range(4, 7)

@dataclass(frozen=True)
class Ct2Model:
    """The contents of one ``model.bin``: variables (aliases resolved to the same tensor) by name."""

    path: Path
    binary_version: int
    spec: str
    revision: int
    variables: Mapping[str, torch.Tensor]


# ----------------------------------------------------------------------------- model.bin


class _Cursor:
    """Reads little-endian fields from ``data`` in order; a short read is an :class:`AsrError`."""

    def __init__(self, data: bytearray, path: Path):
        self.data, self.view, self.path, self.pos = data, memoryview(data), path, 0

    def take(self, size: int, what: str) -> memoryview:
        if self.pos + size > len(self.data):
            raise AsrError(f"{self.path}: truncated: {what} needs {size} bytes at offset {self.pos}, "
                           f"the file ends {len(self.data) - self.pos} bytes later")
        chunk = self.view[self.pos:self.pos + size]
        self.pos += size
        return chunk

    def uint(self, fmt: str, what: str) -> int:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what: str) -> str:
        raw = bytes(self.take(self.uint("H", f"the length of {what}"), what))
        try:
            if raw.endswith(b"\0"):
                return raw[:-1].decode("utf-8")
        except UnicodeDecodeError:
            pass
        raise AsrError(f"{self.path}: {what} at offset {self.pos - len(raw)} is not a NUL-terminated UTF-8 "
                       "string (not a CTranslate2 model.bin, or a corrupt one)")


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float16`` -> ``"float16"``."""
    return str(dtype).removeprefix("torch.")


def read_model_bin(path: str | os.PathLike) -> Ct2Model:
    """Parse a CTranslate2 ``model.bin`` into tensors (sharing the file's buffer) by name, aliases resolved."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = bytearray(os.fstat(f.fileno()).st_size)
            f.readinto(data)
    except OSError as e:
        raise AsrError(f"{path}: cannot read ({e.strerror})") from e
    cursor = _Cursor(data, path)
    version = cursor.uint("I", "the binary version")
    if version not in BINARY_VERSIONS:
        raise AsrError(f"{path}: binary version {version}, expected {BINARY_VERSIONS.start} to "
                       f"{BINARY_VERSIONS.stop - 1} (not a CTranslate2 model.bin, or one this converter does not read)")
    spec = cursor.string("the spec name")
    revision = cursor.uint("I", "the spec revision")
    variables = dict(_read_variable(cursor, index) for index in range(cursor.uint("I", "the variable count")))
    for index in range(cursor.uint("I", "the alias count")):
        alias = cursor.string(f"alias {index}")
        target = cursor.string(f"the target of alias {alias!r}")
        if target not in variables:
            raise AsrError(f"{path}: alias {alias!r} names {target!r}, which is not a variable of the file")
        variables[alias] = variables[target]
        if target + "_scale" in variables:  # CTranslate2 aliases a quantized weight's scale too
            variables[alias + "_scale"] = variables[target + "_scale"]
    if cursor.pos != len(data):
        raise AsrError(f"{path}: {len(data) - cursor.pos} bytes after the last alias "
                       "(expected the file to end there: concatenated twice, or not a model.bin?)")
    return Ct2Model(path, version, spec, revision, MappingProxyType(variables))


def _read_variable(cursor: _Cursor, index: int) -> tuple[str, torch.Tensor]:
    name = cursor.string(f"the name of variable {index}")
    rank = cursor.uint("B", f"the rank of {name!r}")
    shape = [cursor.uint("I", f"the shape of {name!r}") for _ in range(rank)]
    code = cursor.uint("B", f"the dtype of {name!r}")
    if code not in DTYPES:
        codes = ", ".join(f"{c} ({dtype_name(t)})" for c, t in DTYPES.items())
        raise AsrError(f"{cursor.path}: variable {name!r} has dtype code {code}, expected one of {codes}")
    dtype = DTYPES[code]
    size = cursor.uint("I", f"the byte count of {name!r}")
    count = math.prod(shape)
    if size != count * dtype.itemsize:
        raise AsrError(f"{cursor.path}: variable {name!r} of shape {shape} and dtype {dtype_name(dtype)} "
                       f"should have {count * dtype.itemsize} bytes, the file says {size}")
    start = cursor.pos
    cursor.take(size, f"the data of {name!r}")
    if count == 0:
        return name, torch.empty(shape, dtype=dtype)
    return name, torch.frombuffer(cursor.data, dtype=dtype, count=count, offset=start).reshape(shape)



def dequantized(model: Ct2Model, dtype: torch.dtype) -> Ct2Model:
    """``model`` with every int8/int16 weight (not the scalar flags) as ``dtype``: ``value / scale``,
    as CTranslate2 dequantizes.

    An int8 weight ``(rows, ...)`` has a ``(rows,)`` float ``*_scale``; an int16 one a scalar.
    Quantization with zero points (AWQ's ``*_zero``) is refused.
    """
    variables = dict(model.variables)
    for name, value in model.variables.items():
        if name.endswith("_zero"):
            raise AsrError(f"{model.path}: {name!r} is an AWQ zero point; AWQ-quantized models are not supported "
                           "(convert the original model with ctranslate2 without AWQ)")
        if value.dtype not in (torch.int8, torch.int16) or value.dim() == 0 or name.endswith("_scale"):
            continue
        if name + "_scale" not in variables:
            raise AsrError(f"{model.path}: {name!r} is {dtype_name(value.dtype)} without "
                           f"{name + '_scale'!r} (expected the quantization scale beside it)")
        scale = variables.pop(name + "_scale").float()
        if scale.numel() != (value.shape[0] if value.dtype == torch.int8 else 1):
            raise AsrError(f"{model.path}: {name + '_scale'!r} has {scale.numel()} values for {name!r} of shape "
                           f"{list(value.shape)} (expected one per row for int8, one for int16)")
        rows = scale.reshape(-1, *[1] * (value.dim() - 1)) if value.dtype == torch.int8 else scale
        variables[name] = (value.float() / rows).to(dtype)
    return Ct2Model(model.path, model.binary_version, model.spec, model.revision, MappingProxyType(variables))
