"""What the trainer leans on: process groups, dev evaluation, and the run's logs.

* :func:`setup_distributed` reads ``torchrun``'s environment (``RANK``, ``WORLD_SIZE``,
  ``LOCAL_RANK``) and starts a process group: NCCL on CUDA, gloo on CPU.
* :func:`evaluate` decodes a dev set greedily and pools CER over every rank's shard.
* :class:`RunLog` writes ``log/train.csv``, ``log/valid.csv`` and TensorBoard events; on
  resume it drops rows logged after the checkpoint, so the logs read as one run.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from asr.decode.search import greedy_search
from asr.io import atomic_write, progress
from asr.score import EditCounts, score_pair
from asr.train.dataset import collate
from asr.train.launch import plan_launch
from asr.train.sampler import BucketingSampler

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- distributed


@dataclass
class Distributed:
    """This process's place in the job. ``enabled`` is False for a single process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    enabled: bool = False

    def wrap(self, network: torch.nn.Module) -> torch.nn.Module:
        """``network`` in DistributedDataParallel when distributed, else unchanged."""
        if not self.enabled:
            return network
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        frozen = any(not p.requires_grad for p in network.parameters())
        return DistributedDataParallel(network, device_ids=ids, find_unused_parameters=frozen)

    def all_reduce(self, values: Sequence[float]) -> list[float]:
        """Element-wise sum over ranks (float64)."""
        if not self.enabled:
            return [float(v) for v in values]
        t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(t)
        return t.tolist()

    def sync_buffers(self, network: torch.nn.Module) -> None:
        """Copy rank 0's buffers (batch-norm statistics) to every rank.

        DDP broadcasts them before each forward, so after the last forward of a step each
        rank holds its own; call this before evaluating or comparing weights.
        """
        if self.enabled:
            for buffer in network.buffers():
                torch.distributed.broadcast(buffer, src=0)

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    def no_sync(self, model: torch.nn.Module, skip: bool):
        """DDP's ``no_sync`` (no gradient all-reduce) when ``skip``, else a no-op context."""
        return model.no_sync() if self.enabled and skip else contextlib.nullcontext()

    def close(self) -> None:
        if self.enabled and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def setup_distributed(device: str | None = None) -> Distributed:
    """Join the ``torchrun`` process group if there is one; pick this process's device.

    ``device``: ``cpu``, ``cuda`` or ``cuda:N`` (None: CUDA when available). Under torchrun
    with CUDA, each process takes GPU ``LOCAL_RANK``.
    """
    device = plan_launch(device, gpus=1, cpu_procs=1).device  # checks it, and picks one for None
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed(device=torch.device(device))
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        torch.cuda.set_device(local)
        dev, backend = torch.device("cuda", local), "nccl"
    else:
        dev, backend = torch.device("cpu"), "gloo"
    torch.distributed.init_process_group(backend=backend)
    log.info("rank %d of %d on %s (%s)", rank, world, dev, backend)
    return Distributed(rank, world, local, dev, True)


def gather_json(obj: Any, dist: Distributed) -> list[Any]:
    """Every rank's JSON-ready ``obj``, in rank order (a collective: all ranks must call it)."""
    if not dist.enabled:
        return [obj]
    data = torch.tensor(list(json.dumps(obj).encode()), dtype=torch.uint8, device=dist.device)
    sizes = [torch.zeros(1, dtype=torch.long, device=dist.device) for _ in range(dist.world_size)]
    torch.distributed.all_gather(sizes, torch.tensor([len(data)], device=dist.device))
    longest = int(max(s.item() for s in sizes))
    padded = torch.zeros(longest, dtype=torch.uint8, device=dist.device)
    padded[: len(data)] = data
    parts = [torch.zeros(longest, dtype=torch.uint8, device=dist.device) for _ in range(dist.world_size)]
    torch.distributed.all_gather(parts, padded)
    return [json.loads(bytes(p[: int(s.item())].cpu().tolist()).decode()) for p, s in zip(parts, sizes)]


# ----------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class EvalResult:
    """Dev-set CTC loss per target token and pooled character edit counts."""

    loss: float
    counts: EditCounts

    @property
    def cer(self) -> float:
        return self.counts.error_rate


def ctc_loss_sum(
    log_probs: torch.Tensor, out_lengths: torch.Tensor, targets: torch.Tensor, target_lengths: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Summed CTC loss of a batch: ``log_probs`` ``(B, T, V)``; infeasible utterances count 0,
    and so do those where ``mask`` ``(B,)`` (if given) is False."""
    per_utterance = F.ctc_loss(log_probs.transpose(0, 1).float(), targets, out_lengths, target_lengths,
                               blank=0, reduction="none", zero_infinity=True)
    return (per_utterance if mask is None else per_utterance * mask).sum()


def evaluate(network: torch.nn.Module, data: Any, vocab: Any, dist: Distributed, max_frames: int,
             autocast: Any = contextlib.nullcontext) -> EvalResult:
    """Greedy-decode ``data`` (an :class:`asr.train.dataset.OpenedData`) and pool loss and edits over ranks.

    Each rank decodes every ``world_size``-th batch; uses no global RNG, so evaluating does
    not change what training does next.
    """
    dataset = data.dataset
    sampler = BucketingSampler(dataset.lengths, max_frames, shuffle=False)
    batches = sampler.epoch_batches(0)[dist.rank :: dist.world_size]
    was_training = network.training
    network.eval()
    loss, tokens, counts = 0.0, 0, EditCounts()
    with torch.inference_mode():
        for indices in batches:
            batch = collate([dataset[(i, 0)] for i in indices]).to(dist.device)
            with autocast():
                log_probs, out_lengths = network(batch.inputs, batch.input_lengths)
            loss += float(ctc_loss_sum(log_probs, out_lengths, batch.targets, batch.target_lengths))
            tokens += int(batch.target_lengths.sum())
            for i, hyp in zip(batch.indices, greedy_search(log_probs, out_lengths)):
                counts = counts + score_pair(dataset.utterances[i].text, vocab.decode(hyp.token_ids))
    network.train(was_training)
    total = dist.all_reduce([loss, tokens, counts.sub, counts.dele, counts.ins, counts.ref_len])
    pooled = EditCounts(*(int(v) for v in total[2:]))
    return EvalResult(total[0] / max(total[1], 1.0), pooled)


# ----------------------------------------------------------------------------- logs

TRAIN_FIELDS = ("step", "epoch", "loss", "lr", "grad_norm", "audio_seconds_per_second", "elapsed_seconds")
VALID_FIELDS = ("step", "epoch", "dev_loss", "dev_cer", "best_cer", "best_step")


class RunLog:
    """CSV and TensorBoard logs under ``exp_dir`` (rank 0 only; a no-op when disabled)."""

    def __init__(self, exp_dir: Path, resume_step: int, enabled: bool = True):
        self.enabled = enabled
        self.writer = None
        self.files: dict[str, tuple[Any, csv.DictWriter]] = {}
        if not enabled:
            return
        log_dir = exp_dir / "log"
        for name, fields in (("train", TRAIN_FIELDS), ("valid", VALID_FIELDS)):
            path = log_dir / f"{name}.csv"
            _truncate_csv(path, fields, resume_step)
            handle = open(path, "a", newline="", encoding="utf-8")
            self.files[name] = (handle, csv.DictWriter(handle, fieldnames=fields, lineterminator="\n"))
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is a dependency, but logging must not stop training
            log.warning("tensorboard is not installed; logging to CSV only")
        else:
            self.writer = SummaryWriter(str(exp_dir / "tensorboard"), purge_step=resume_step + 1 if resume_step else None)

    def write(self, name: str, row: dict) -> None:
        if not self.enabled:
            return
        handle, writer = self.files[name]
        writer.writerow({k: _fmt(row.get(k)) for k in writer.fieldnames})
        handle.flush()
        if self.writer is not None:
            for key, value in row.items():
                if key not in ("step", "epoch") and isinstance(value, (int, float)) and value is not None:
                    self.writer.add_scalar(f"{name}/{key}", value, row["step"])

    def close(self) -> None:
        for handle, _ in self.files.values():
            handle.close()
        if self.writer is not None:
            self.writer.close()


def _truncate_csv(path: Path, fields: Sequence[str], keep_until: int) -> None:
    """Rewrite ``path`` with its header and the rows of steps <= ``keep_until``."""
    rows = []
    if keep_until and path.is_file():
        with open(path, newline="", encoding="utf-8") as f:
            rows = [r for r in csv.DictReader(f) if r.get("step", "").isdigit() and int(r["step"]) <= keep_until]
    with atomic_write(path) as f:
        writer = csv.DictWriter(f, fieldnames=list(fields), lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: r.get(k, "") for k in fields} for r in rows)


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else value


class StepWindow:
    """Loss, tokens and audio seconds since the last log line."""

    def __init__(self):
        self.reset()
        self.grad_norm = 0.0

    def reset(self) -> None:
        self.loss_sum, self.tokens, self.seconds = 0.0, 0, 0.0
        self.started = time.time()

    def add(self, loss_sum: float, tokens: int, seconds: float) -> None:
        self.loss_sum += loss_sum
        self.tokens += tokens
        self.seconds += seconds


def progress_bar(total: int, initial: int, enabled: bool):
    """The training bar: optimizer steps done of ``total`` (rank 0 only: ``enabled``)."""
    return progress(total, "train", "step", enabled=enabled, initial=initial)
