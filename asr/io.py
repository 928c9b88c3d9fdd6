"""What every stage needs of the operating system.

Atomic file writes (an interrupted stage never leaves a file that looks complete), byte-reproducible
safetensors, child processes that die with their parent (:func:`die_with_parent`), and progress
that is a bar on a terminal and a plain log line now and then in a log file (:func:`progress`).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import signal
import sys
import gzip
import json
import os
import struct
import tempfile
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

PathLike = str | os.PathLike


@contextlib.contextmanager
def atomic_write(path: PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside ``path``; rename it onto ``path`` only on success.

    ``.gz`` paths are gzip-compressed (with mtime 0, so output is byte-reproducible).
    On any exception the temporary file is removed and ``path`` is left untouched. The file
    gets the mode a plain ``open`` would give it (0666 minus the umask), not ``mkstemp``'s 0600,
    so reports and manifests can be served and shared.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~current_umask())
    binary = "b" in mode
    try:
        with os.fdopen(fd, "wb") as raw:
            if path.suffix == ".gz":
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
                    if binary:
                        yield gz
                    else:
                        with _text(gz, encoding) as handle:
                            yield handle
            elif binary:
                yield raw
            else:
                with _text(raw, encoding) as handle:
                    yield handle
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def current_umask() -> int:
    """This process's umask, read without changing it where the OS tells (Linux), else set and restored."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _text(binary: IO[bytes], encoding: str | None) -> Iterator[IO[str]]:
    import io

    wrapper = io.TextIOWrapper(binary, encoding=encoding or "utf-8", newline="\n")
    try:
        yield wrapper
    finally:
        wrapper.flush()
        wrapper.detach()


def open_text(path: PathLike) -> IO[str]:
    """Open a text file for reading, transparently decompressing ``.gz``."""
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def write_json(path: PathLike, obj: Any) -> None:
    """Write ``obj`` as pretty, key-sorted UTF-8 JSON, atomically."""
    with atomic_write(path) as f:
        json.dump(obj, f, ensure_ascii=False, indent=2, sort_keys=True)
        f.write("\n")


def write_jsonl(path: PathLike, rows: Iterable[dict]) -> int:
    """Write one JSON object per line, atomically; returns the number of rows."""
    n = 0
    with atomic_write(path) as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=False))
            f.write("\n")
            n += 1
    return n


def canonical_safetensors(data: bytes) -> bytes:
    """A safetensors file's bytes with its JSON header's keys sorted, so equal tensors give equal bytes.

    ``safetensors`` writes the ``__metadata__`` map in hash order, which differs from one process
    to the next; the header is re-serialised compactly with sorted keys and padded with spaces to
    8 bytes, as the format requires. Tensor offsets are relative to the data, which is unchanged.
    """
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    text = json.dumps(header, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data[8 + length :]


def write_safetensors(path: PathLike, tensors: dict, metadata: dict[str, str] | None = None) -> None:
    """Save torch ``tensors`` (contiguous, on the CPU) as safetensors, atomically, in canonical bytes."""
    from safetensors.torch import save  # torch is not needed to import this module

    with atomic_write(path, "wb") as f:
        f.write(canonical_safetensors(save(tensors, metadata=metadata)))


# ----------------------------------------------------------------------------- child processes

PR_SET_PDEATHSIG = 1
log = logging.getLogger(__name__)


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux; elsewhere nothing).

    Used as a child's ``preexec_fn`` and by workers at start-up, so that no worker outlives a
    ``kill -9`` of the command that started it.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        log.debug("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    elif os.getppid() == 1:  # the parent died before the request took effect
        os.kill(os.getpid(), sig)


# ----------------------------------------------------------------------------- progress


def progress(total: int | float | None, desc: str, unit: str = "it", enabled: bool = True, initial: int = 0,
             every: float = 30.0):
    """Progress of a long step: a ``tqdm`` bar when stderr is a terminal, else a :class:`LogProgress`
    writing one plain log line every ``every`` seconds (log files get no carriage returns).

    Nothing is shown when ``enabled`` is False or logging is quieter than INFO (``asr -q``).
    Either way the result has ``update``, ``set_postfix``, ``close`` and works as a context manager.
    """
    if not enabled or not logging.getLogger().isEnabledFor(logging.INFO):
        return LogProgress(total, desc, unit, initial, every, silent=True)
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True, file=sys.stderr)
    return LogProgress(total, desc, unit, initial, every)


class LogProgress:
    """Progress as log lines: ``desc: 120/1658 step (7%), 2.3 step/s, loss=0.81`` every ``every`` seconds."""

    def __init__(self, total, desc: str, unit: str = "it", initial: int = 0, every: float = 30.0, silent: bool = False):
        import time

        self.total, self.desc, self.unit, self.n, self.every, self.silent = total, desc, unit, initial, every, silent
        self.started = self.last = time.monotonic()
        self.initial = initial
        self.logged = initial
        self.postfix: dict = {}
        self._time = time.monotonic

    def update(self, n: int | float = 1) -> None:
        self.n += n
        if not self.silent and self._time() - self.last >= self.every:
            self._log()

    def set_postfix(self, **values) -> None:
        self.postfix = values

    def set_description(self, desc: str) -> None:
        self.desc = desc

    def close(self) -> None:
        if not self.silent and self.n > self.logged:
            self._log()
        self.silent = True

    def _log(self) -> None:
        self.last, self.logged = self._time(), self.n
        elapsed = max(self.last - self.started, 1e-9)
        done = f"{self.n:g}/{self.total:g}" if self.total else f"{self.n:g}"
        share = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        rate = (self.n - self.initial) / elapsed
        extra = "".join(f", {k}={v}" for k, v in self.postfix.items())
        log.info("%s: %s %s%s, %.3g %s/s%s", self.desc, done, self.unit, share, rate, self.unit, extra)

    def __enter__(self) -> "LogProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
