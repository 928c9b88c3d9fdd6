"""Training checkpoints without pickle: tensors in safetensors, everything else in JSON.

A checkpoint is a directory ``<exp-dir>/checkpoints/step-<N>/`` holding

* ``model.safetensors``: the model's state dict;
* ``optimizer.safetensors``: the optimizer's per-parameter tensors (``state.<param>.<name>``);
* ``state.json``: the optimizer's hyper-parameters and scalar state, the LR scheduler,
  the sampler position, early-stopping bookkeeping and every rank's RNG states
  (Python, NumPy, torch CPU and CUDA, the latter two base64 of their uint8 tensors).

It is written into a hidden temporary directory and renamed into place, so a ``kill -9``
never leaves a directory named ``step-<N>`` that is incomplete. Loading uses
``safetensors`` and ``json`` only, so a checkpoint cannot execute code.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from asr.errors import AsrError
from asr.io import atomic_write, write_safetensors

MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "state.json"
_STEP_DIR = re.compile(r"^step-(\d+)$")


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: tensors on CPU, ``state`` as written (see :func:`save_checkpoint`)."""

    path: Path
    step: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    state: dict[str, Any]


def checkpoint_dir(exp_dir: str | Path) -> Path:
    return Path(exp_dir) / "checkpoints"


def step_path(exp_dir: str | Path, step: int) -> Path:
    return checkpoint_dir(exp_dir) / f"step-{step:08d}"


def list_checkpoints(exp_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints of an experiment as ``(step, path)``, oldest first."""
    root = checkpoint_dir(exp_dir)
    found = []
    if root.is_dir():
        for p in root.iterdir():
            m = _STEP_DIR.match(p.name)
            if m and (p / STATE_FILE).is_file():
                found.append((int(m.group(1)), p))
    return sorted(found)


def save_checkpoint(
    exp_dir: str | Path,
    step: int,
    model_state: dict[str, torch.Tensor],
    optimizer_state: dict[str, Any],
    state: dict[str, Any],
) -> Path:
    """Write checkpoint ``step`` atomically and return its directory.

    ``state`` must be JSON-ready (the scheduler's state dict, sampler position, RNG
    states from :func:`capture_rng`, ...). The optimizer's ``param_groups`` and
    non-tensor per-parameter values go into ``state.json`` under ``"optimizer"``.
    """
    final = step_path(exp_dir, step)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        write_safetensors(tmp / MODEL_FILE, _cpu_tensors(model_state))
        opt_tensors, opt_json = split_optimizer_state(optimizer_state)
        write_safetensors(tmp / OPTIMIZER_FILE, opt_tensors)
        with atomic_write(tmp / STATE_FILE) as f:
            json.dump({"step": step, "optimizer": opt_json, **state}, f, indent=1, sort_keys=True)
        _fsync_dir(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint directory written by :func:`save_checkpoint`."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    for name in (STATE_FILE, MODEL_FILE, OPTIMIZER_FILE):
        if not (path / name).is_file():
            raise AsrError(f"{path}: incomplete checkpoint (missing {name})")
    try:
        state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
        model = load_file(str(path / MODEL_FILE))
        opt_tensors = load_file(str(path / OPTIMIZER_FILE))
    except (json.JSONDecodeError, OSError, SafetensorError) as e:
        raise AsrError(f"{path}: unreadable checkpoint ({e})") from None
    optimizer = join_optimizer_state(opt_tensors, state.pop("optimizer"))
    return Checkpoint(path=path, step=int(state["step"]), model=model, optimizer=optimizer, state=state)


def load_model_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Only the model tensors of a checkpoint directory."""
    from safetensors.torch import load_file

    return load_file(str(Path(path) / MODEL_FILE))


def average_state_dicts(paths: list[Path]) -> dict[str, torch.Tensor]:
    """Element-wise mean of the model weights of several checkpoints.

    Floating-point tensors are averaged in float64 and cast back; integer tensors (e.g.
    batch-norm counters) are taken from the last checkpoint.
    """
    if not paths:
        raise AsrError("no checkpoints to average")
    last = load_model_weights(paths[-1])
    sums = {k: v.double() for k, v in last.items() if v.is_floating_point()}
    for p in paths[:-1]:
        weights = load_model_weights(p)
        for k in sums:
            sums[k] += weights[k].double()
    return {k: (sums[k] / len(paths)).to(v.dtype) if k in sums else v for k, v in last.items()}


def prune_checkpoints(exp_dir: str | Path, keep: int, protect: set[int] = frozenset()) -> None:
    """Delete all but the newest ``keep`` checkpoints, never those whose step is in ``protect``."""
    found = list_checkpoints(exp_dir)
    for step, path in found[: max(0, len(found) - keep)]:
        if step not in protect:
            shutil.rmtree(path, ignore_errors=True)


# --- optimizer state <-> (tensors, JSON) ---------------------------------------------------


def split_optimizer_state(sd: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into safetensors-ready tensors and a JSON-ready rest."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, pstate in sd["state"].items():
        for name, value in pstate.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{pid}.{name}"] = value
            else:
                scalars.setdefault(str(pid), {})[name] = value
    return _cpu_tensors(tensors), {"param_groups": _jsonable(sd["param_groups"]), "scalars": scalars}


def join_optimizer_state(tensors: dict[str, torch.Tensor], rest: dict[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`split_optimizer_state`."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, pid, name = key.split(".", 2)
        state.setdefault(int(pid), {})[name] = value
    for pid, values in rest.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(values)
    groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()} for g in rest["param_groups"]]
    return {"state": state, "param_groups": groups}


# --- RNG states ------------------------------------------------------------------------------


def capture_rng() -> dict[str, Any]:
    """This process's RNG states (Python, NumPy, torch CPU and CUDA) as JSON-ready data."""
    version, py_state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    rng = {
        "python": [version, list(py_state), gauss],
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
        "torch": _b64(torch.get_rng_state()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["cuda"] = [_b64(s) for s in torch.cuda.get_rng_state_all()]
    return rng


def restore_rng(rng: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    version, py_state, gauss = rng["python"]
    random.setstate((version, tuple(py_state), gauss))
    kind, keys, pos, has_gauss, cached = rng["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(_unb64(rng["torch"]))
    if "cuda" in rng and torch.cuda.is_available():
        states = [_unb64(s) for s in rng["cuda"]]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)


def _b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.cpu().numpy().tobytes()).decode("ascii")


def _unb64(s: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(s)), dtype=torch.uint8).clone()


# --- helpers -------------------------------------------------------------------------------------


def _cpu_tensors(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached, contiguous CPU copies; tensors sharing storage are cloned (safetensors refuses them)."""
    out, seen = {}, set()
    for k, v in sd.items():
        v = v.detach().cpu().contiguous()
        ptr = (v.untyped_storage().data_ptr(), v.storage_offset()) if v.numel() else None
        if ptr in seen or (ptr and v.untyped_storage().nbytes() != v.numel() * v.element_size()):
            v = v.clone()
        if ptr:
            seen.add(ptr)
        out[k] = v
    return out


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return obj.item()
    return obj


def _fsync_dir(path: Path) -> None:
    for p in [*path.iterdir(), path] if path.is_dir() else [path]:
        try:
            fd = os.open(p, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)


def state_digest(network: torch.nn.Module) -> str:
    """A short SHA-256 of every tensor of the network's state, to check that ranks agree.

    (:func:`asr.decode.onnx_format.file_sha256` hashes a weights *file*, to tie an export to it.)
    """
    h = hashlib.sha256()
    for name, tensor in sorted(network.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().flatten().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def _by_dev_cer(history: list[dict]) -> list[int]:
    """The steps of ``history`` (``{"step", "dev_cer"}``), best dev CER first, the later step first among ties."""
    return [h["step"] for h in sorted(history, key=lambda h: (h["dev_cer"], -h["step"]))]


def best_steps(average, history: list[dict]) -> set[int]:
    """Checkpoints averaging may still need: the best ``average.num`` by dev CER (``average.mode`` best)."""
    return set(_by_dev_cer(history)[: average.num]) if average.mode == "best" else set()


def steps_to_average(average, history: list[dict], available: set[int]) -> tuple[int, ...]:
    """The checkpoint steps whose weights the final model averages, among ``available`` ones.

    ``average`` is :class:`asr.train.config.AveragingConfig`: the ``num`` best by dev CER
    (``history`` of ``{"step", "dev_cer"}``), or the last ``num``.
    """
    if average.mode == "best" and history:
        chosen = [step for step in _by_dev_cer(history) if step in available][: average.num]
    else:
        chosen = sorted(available)[-average.num :]
    return tuple(sorted(chosen))
