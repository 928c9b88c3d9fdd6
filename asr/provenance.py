"""What produced a result: package versions, git commit, precision, device, CPU, seed, threads.

Every model directory (``provenance.json``), decode ``.meta.json``, ``fairness.json`` and the
report's model card carry one :func:`provenance` record, so a figure can be traced to the
stack and hardware that made it::

    {"asr": "0.2.0", "git_commit": "db29688…", "git_dirty": false,
     "packages": {"torch": "2.11.0", "torchaudio": "2.11.0", "numpy": "2.4.6", ...},
     "espeak_ng": "1.52.0", "python": "3.11.7", "platform": "Linux-…-x86_64",
     "cpu": "AMD EPYC", "cpu_capability": "AVX512",
     "device": "cpu", "precision": "fp32", "seed": 1234, "threads": 2, "processes": 2}

Package versions come from installed metadata (:mod:`importlib.metadata`), so recording them
imports nothing heavy. :func:`differences` names what two records disagree on, for
``asr audit --baseline``.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

#: Distributions whose versions change figures (``asr --version`` prints the first five).
TRACKED_PACKAGES = ("torch", "torchaudio", "transformers", "onnxruntime", "numpy", "pandas", "statsmodels",
                    "espeakng-loader", "soundfile", "librosa")
#: The fields :func:`differences` compares: those that can move a figure.
COMPARED = ("precision", "packages", "espeak_ng", "cpu_capability", "device")


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None when it is not installed."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def asr_version() -> str:
    """This package's version (the single source: ``asr.__version__``)."""
    from asr import __version__

    return __version__


def version_report() -> str:
    """``asr --version``: the version of asr and of the stack it runs on, one line."""
    parts = [f"asr {asr_version()}"]
    for name in ("torch", "torchaudio", "transformers", "onnxruntime"):
        parts.append(f"{name} {package_version(name) or 'not installed'}")
    commit = git_commit()
    if commit:
        parts.append(f"git {commit[:12]}{'+dirty' if git_dirty() else ''}")
    return ", ".join(parts)


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the checkout this package runs from, or None outside a git checkout."""
    return _git("rev-parse", "HEAD")


@functools.lru_cache(maxsize=1)
def git_dirty() -> bool | None:
    """Whether the checkout has uncommitted changes to tracked files (None outside a checkout)."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status)


def _git(*args: str) -> str | None:
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _cpuinfo_value(key: str) -> str | None:
    """The first ``key : value`` of /proc/cpuinfo (None where there is no such line or file)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key:
                return value.strip()
    except OSError:
        pass
    return None


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    return _cpuinfo_value("model name") or platform.processor() or "unknown"


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str] | None:
    """The x86 CPU's feature flags (``avx2``, ``avx512_vnni``, ...) from /proc/cpuinfo; None where unknown."""
    flags = _cpuinfo_value("flags")
    return None if flags is None else frozenset(flags.split())


def cpu_capability() -> str | None:
    """The instruction set torch's CPU kernels use here (``AVX512``, ``AVX2``, ...), if torch is loaded."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        return None
    query = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", None)
    return str(query()) if query else None


@functools.lru_cache(maxsize=1)
def espeak_version() -> str | None:
    """The eSpeak NG library's own version (``espeak_Info``), when the wheel is installed."""
    try:
        import ctypes

        import espeakng_loader

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        raw = lib.espeak_Info(None)
    except (ImportError, OSError, AttributeError):
        return None
    return raw.decode("utf-8", "replace").split()[0] if raw else None


def provenance(
    precision: str | None = None,
    device: str | None = None,
    seed: int | None = None,
    threads: int | None = None,
    processes: int | None = None,
) -> dict[str, Any]:
    """The record of what is producing a result now (see the module docstring).

    ``precision`` is the resolved one (``fp32``, ``bf16``), never ``auto``; ``threads`` the
    intra-op threads of one process; ``processes`` how many processes shared the work.
    """
    if precision == "auto":
        raise ValueError("provenance needs the resolved precision (fp32 or bf16), not 'auto'")
    return {
        "asr": asr_version(),
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "packages": {name: package_version(name) for name in TRACKED_PACKAGES},
        "espeak_ng": espeak_version(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_capability": cpu_capability(),
        "cpu_count": os.cpu_count(),
        "device": device,
        "precision": precision,
        "seed": seed,
        "threads": threads,
        "processes": processes,
    }


def differences(a: dict | None, b: dict | None) -> list[str]:
    """What two provenance records disagree on that can move a figure, as readable phrases.

    Fields missing from either record (an older release) are not compared.
    """
    if not a or not b:
        return []
    found = []
    for key in COMPARED:
        if key not in a or key not in b:
            continue
        if key == "packages":
            for name in sorted(set(a[key] or {}) & set(b[key] or {})):
                if (a[key] or {}).get(name) != (b[key] or {}).get(name):
                    found.append(f"{name} {a[key][name]} vs {b[key][name]}")
        elif a[key] != b[key]:
            found.append(f"{key.replace('_', ' ')} {a[key]} vs {b[key]}")
    return found
