"""How a training run starts, and what happens to an experiment directory that holds one already.

``asr train`` decides here, in Python, what recipes used to decide in bash:

* **the launcher** (:func:`plan_launch`): one process, or ``torchrun`` with N processes: N GPUs
  when CUDA is visible (``--gpus N``), else N CPU processes (``--cpu-procs N``, DDP over gloo,
  one thread each). ``asr train`` then runs ``python -m torch.distributed.run --standalone`` on
  itself (:func:`run_torchrun`); the workers die with it, and it with its parent.
* **an existing directory** (:func:`prepare_exp_dir`): ``--if-exists error`` (default) refuses
  checkpoints left by another run; ``resume`` continues from the newest; ``auto`` resumes an
  unfinished run of the same settings (:func:`run_digest`: config, inputs, processes) and moves
  any other run (a finished one, or one of other settings or inputs) aside to
  ``<exp_dir>.<date>-<time>``, never deleting it.
* **one run per directory** (:class:`ExperimentLock`): an exclusive ``flock`` on
  ``<exp_dir>/.lock``, held for the whole run and released by the kernel when the process dies
  (even by ``kill -9``); a second run there is refused with the holder's pid.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Literal, Sequence

from asr.errors import AsrError
from asr.io import die_with_parent, write_json

log = logging.getLogger(__name__)

IfExists = Literal["error", "resume", "auto"]
IF_EXISTS = ("error", "resume", "auto")
RUN_FILE = "run.json"
LOCK_FILE = ".lock"
RESULT_FILE = "result.json"
#: Set in the environment of the workers ``asr train`` launches itself: they neither lock nor move.
LAUNCHED_ENV = "ASR_TRAIN_LAUNCHED"


@dataclass(frozen=True)
class Launch:
    """Where and how many: ``device`` (``cpu``, ``cuda``, ``cuda:N``) and training ``processes``."""

    device: str
    processes: int

    @property
    def distributed(self) -> bool:
        return self.processes > 1


def plan_launch(device: str | None, gpus: int, cpu_procs: int, cuda_available: bool | None = None) -> Launch:
    """The launch for ``--device``, ``--gpus`` and ``--cpu-procs``.

    ``device`` None or ``auto``: CUDA when a GPU is visible and ``gpus`` >= 1, else the CPU.
    On CUDA, ``gpus`` processes (one per GPU); on the CPU, ``cpu_procs`` processes.
    """
    if gpus < 0 or cpu_procs < 1:
        raise AsrError(f"--gpus must be >= 0 and --cpu-procs >= 1, got {gpus} and {cpu_procs}")
    if cuda_available is None:
        import torch

        cuda_available = torch.cuda.is_available()
    if device in (None, "auto"):
        device = "cuda" if cuda_available and gpus >= 1 else "cpu"
    if device.startswith("cuda"):
        if not cuda_available:
            raise AsrError(f"--device {device}: no CUDA device is visible (use --device cpu)")
        return Launch(device, max(gpus, 1))
    if device != "cpu":
        raise AsrError(f"--device {device!r}: expected auto, cpu, cuda or cuda:N")
    return Launch("cpu", cpu_procs)


# ----------------------------------------------------------------------------- processes


def torchrun_command(launch: Launch, worker_args: Sequence[str]) -> list[str]:
    """``python -m torch.distributed.run --standalone --nproc_per_node N -m asr train ARGS``."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
            str(launch.processes), "-m", "asr", "train", *worker_args]


def run_torchrun(launch: Launch, worker_args: Sequence[str]) -> int:
    """Run ``asr train`` under ``torchrun`` with ``launch.processes`` workers; its exit status.

    ``torchrun`` dies with this process (parent-death signal), its workers with it (they call
    :func:`die_with_parent`), and SIGINT/SIGTERM are passed on, so that stopping ``asr train``
    stops the whole run.
    """
    env = {**os.environ, LAUNCHED_ENV: "1"}
    if launch.device == "cpu":
        env.setdefault("OMP_NUM_THREADS", "1")  # one thread per CPU process (torchrun's default, without its warning)
    command = torchrun_command(launch, worker_args)
    log.info("launching %d training processes on %s: %s", launch.processes, launch.device, " ".join(command[1:6]))
    child = subprocess.Popen(command, env=env, preexec_fn=die_with_parent)
    previous = {s: signal.signal(s, lambda signum, frame: child.send_signal(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if child.poll() is None:
            child.kill()
            child.wait()


def is_launched_worker() -> bool:
    """Whether this process is a worker ``asr train`` started under ``torchrun`` itself."""
    return os.environ.get(LAUNCHED_ENV) == "1"


def under_torchrun() -> bool:
    """Whether this process runs under any ``torchrun`` (ours or the user's)."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


# ----------------------------------------------------------------------------- the directory


class ExperimentLock:
    """An exclusive lock on ``exp_dir`` for one training run (see the module docstring).

    >>> with ExperimentLock("exp/baseline"):     # doctest: +SKIP
    ...     train(...)
    """

    def __init__(self, exp_dir: str | Path):
        self.exp_dir = Path(exp_dir)
        self.handle = None

    def __enter__(self) -> "ExperimentLock":
        self.exp_dir.mkdir(parents=True, exist_ok=True)
        path = self.exp_dir / LOCK_FILE
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise AsrError(f"{self.exp_dir}: another training run (pid {holder}) is using this experiment "
                           "directory; wait for it to finish, stop it, or choose another --exp-dir") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self.handle = handle
        return self

    def __exit__(self, *exc: Any) -> None:
        self._release()

    def _release(self) -> None:
        if self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None

    def move_aside(self) -> Path:
        """Rename the (locked) directory to ``<exp_dir>.<date>-<time>`` and lock a new, empty one."""
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        target = self.exp_dir.with_name(f"{self.exp_dir.name}.{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.exp_dir.with_name(f"{self.exp_dir.name}.{stamp}-{n}")
        self.exp_dir.rename(target)
        self._release()
        self.__enter__()
        return target


def run_digest(config: dict, manifests: Iterable[str | Path], init: str | None, launch: Launch) -> str:
    """What makes two runs "the same settings": the resolved config, the inputs and the launch.

    Inputs are identified by path, size and modification time of each manifest and of the
    ``cmvn.json`` and ``features.yaml`` beside it, so data written again by an earlier stage
    counts as other inputs; ``init`` by its ``model.safetensors`` likewise.
    """
    files = []
    for manifest in manifests:
        path = Path(manifest)
        files += [path, path.parent / "cmvn.json", path.parent / "features.yaml"]
    if init:
        files.append(Path(init) / "model.safetensors")
    stamps = sorted({(str(p.resolve()), *_stamp(p)) for p in files})
    record = {"config": config, "inputs": stamps, "processes": launch.processes, "device": launch.device.split(":")[0]}
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (-1, -1)
    return (st.st_size, st.st_mtime_ns)


def has_checkpoints(exp_dir: Path) -> bool:
    return any((exp_dir / "checkpoints").glob("step-*"))


def prepare_exp_dir(lock: ExperimentLock, digest: str, if_exists: IfExists) -> bool:
    """Decide what to do with the locked experiment directory; returns whether to resume.

    Records ``digest`` in ``<exp_dir>/run.json`` for the run that starts.
    """
    exp_dir = lock.exp_dir
    if if_exists not in IF_EXISTS:
        raise AsrError(f"--if-exists {if_exists!r}: expected one of {', '.join(IF_EXISTS)}")
    resume = False
    if has_checkpoints(exp_dir):
        if if_exists == "resume":
            resume = True
        elif if_exists == "auto":
            previous = _read_run(exp_dir)
            if not (exp_dir / RESULT_FILE).is_file() and previous.get("digest") == digest:
                log.info("%s: resuming the unfinished training run from its newest checkpoint", exp_dir)
                resume = True
            else:
                moved = lock.move_aside()
                log.info("%s held a finished run, or one of other settings or inputs: moved it to %s", exp_dir, moved)
        # "error": the trainer refuses the checkpoints with its own message
    write_json(exp_dir / RUN_FILE, {"digest": digest, "started": _now(), "pid": os.getpid()})
    return resume


def forget_run_that_never_started(exp_dir: Path, existed: bool) -> None:
    """After a run that failed before its first checkpoint: remove its ``run.json`` and ``.lock``
    (and the directory, if this run created it and nothing else is there), so nothing looks begun."""
    if has_checkpoints(exp_dir):
        return
    for name in (RUN_FILE, LOCK_FILE):
        (exp_dir / name).unlink(missing_ok=True)
    if not existed and exp_dir.is_dir() and not any(exp_dir.iterdir()):
        exp_dir.rmdir()


def _read_run(exp_dir: Path) -> dict:
    try:
        data = json.loads((exp_dir / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
