"""``asr train``: CTC training with bucketed batches, checkpoints that resume exactly, DDP.

>>> from asr.train.trainer import train                                     # doctest: +SKIP
>>> result = train("conf/train.yaml", "fbank/train.jsonl", "fbank/dev.jsonl", "exp/baseline")

One optimizer step consumes ``optimizer.accum_grad`` batches. Every ``valid_every`` steps the
dev set is decoded greedily (CER, early stopping); every ``checkpoint_every`` steps, and at
every validation, a checkpoint (:mod:`asr.train.checkpoint`) stores the model, optimizer,
scheduler, sampler position and every rank's RNG states. ``resume=True`` continues from the
newest one; on CPU the result is bit-identical to an uninterrupted run. At the end, the
last or best ``average.num`` checkpoints are averaged into ``<exp_dir>/model`` (see
:func:`asr.models.model_dir.save_model`).

Under ``torchrun`` every process trains on a disjoint shard of each epoch's batches
(:class:`asr.train.sampler.BucketingSampler`) with gradients all-reduced by
:class:`~torch.nn.parallel.DistributedDataParallel`; rank 0 writes checkpoints and logs.

Outputs in ``exp_dir``: ``checkpoints/step-N/``, ``tokens.txt``, ``log/train.csv``,
``log/valid.csv``, ``tensorboard/``, ``model/`` and ``result.json``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from asr.config import to_dict
from asr.errors import AsrError
from asr.io import write_json
from asr.models import build_model, input_kind
from asr.models.intermediate import IntermediateCtc
from asr.models.model_dir import data_summary_from_manifest, load_model, save_model
from asr.models.tokens import Vocabulary
from asr.phonetic import build_unit_vocabulary, encode_units
from asr.provenance import provenance
from asr.train.augment import SpecAugment
from asr.train.checkpoint import (average_state_dicts, best_steps, capture_rng, list_checkpoints, load_checkpoint,
    load_model_weights, prune_checkpoints, restore_rng, save_checkpoint, state_digest, steps_to_average)
from asr.train.config import TrainConfig, load_train_config, lr_factor, resolve_precision
from asr.train.dataset import (Batch, KeyedBatches, Manifests, OpenedData, collate, group_values, matches, open_data,
    read_utterances)
from asr.train.finetune import extend_vocabulary, load_initial_weights, with_init
from asr.train.loop import (Distributed, RunLog, StepWindow, ctc_loss_sum, evaluate, gather_json, progress_bar,
    setup_distributed)
from asr.train.sampler import BucketingSampler, balance_weights, group_shares

log = logging.getLogger(__name__)

#: Test hook: the process SIGKILLs itself right after this optimizer step (a real ``kill -9``).
KILL_ENV = "ASR_TRAIN_KILL_AFTER_STEP"


@dataclass(frozen=True)
class TrainResult:
    """What a finished run produced: the model directory and how it was chosen."""

    model_dir: Path
    steps: int
    epochs_completed: float
    best_step: int | None
    best_dev_cer: float | None
    final_dev_cer: float | None
    averaged_steps: tuple[int, ...]
    seconds: float


def train(
    config: TrainConfig | str | Path,
    train_manifest: Manifests,
    dev_manifest: Manifests | None,
    exp_dir: str | Path,
    resume: bool = False,
    init: str | Path | None = None,
    device: str | None = None,
    max_steps: int | None = None,
    progress: bool = True,
    seed: int | None = None,
) -> TrainResult:
    """Train a CTC model (see the module docstring); returns where the final model went."""
    if not isinstance(config, TrainConfig):
        config = load_train_config(config)
    if max_steps is not None:
        config = dataclasses.replace(config, max_steps=max_steps)
    if seed is not None:
        config = dataclasses.replace(config, seed=seed)
    if init is not None:
        config = with_init(config, init)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    dist = setup_distributed(device)
    try:
        return Trainer(config, Path(exp_dir), dist, progress).run(train_manifest, dev_manifest, resume)
    finally:
        dist.close()


class Trainer:
    """One training run; :meth:`run` does it all. State lives here, not in closures."""

    def __init__(self, config: TrainConfig, exp_dir: Path, dist: Distributed, progress: bool = True):
        self.config = config
        self.exp_dir = exp_dir
        self.dist = dist
        self.progress = progress and dist.rank == 0
        self.step = 0
        self.epoch = 0
        self.index = 0  # batches of this epoch consumed on this rank
        self.best_cer: float | None = None
        self.best_step: int | None = None
        self.bad_evals = 0
        self.history: list[dict] = []
        self.seconds_seen = 0.0
        self.started = time.time()
        self.elapsed_before = 0.0  # wall seconds of the runs this one resumes
        self.precision = resolve_precision(config.precision, dist.device)

    # ------------------------------------------------------------------ setup

    def run(self, train_manifest: Manifests, dev_manifest: Manifests | None, resume: bool) -> TrainResult:
        cfg, started = self.config, self.started
        latest = list_checkpoints(self.exp_dir)[-1:] if self.dist.rank == 0 else []
        if latest and not resume:
            raise AsrError(f"{self.exp_dir}: already has checkpoints (newest {latest[0][1].name}); "
                           "pass --resume to continue it, or choose another --exp-dir")
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank
        self._setup_vocab(train_manifest, resume)
        self.input_kind = input_kind(cfg.model.encoder)
        # fine-tuning (config.init) keeps the initial model's features and normalisation
        self.train_data = self._open(train_manifest, cfg.augment.speed_perturb, self.initial, training=True)
        aux_targets = self.train_data.dataset.aux_targets
        if aux_targets is not None and all(t is None for t in aux_targets):
            raise AsrError(f"intermediate_ctc.only_where {cfg.intermediate_ctc.only_where} matches no training utterance")
        self.dev_data = self._open(dev_manifest, (), self.train_data) if dev_manifest else None
        self._setup_model()
        self._setup_sampler()
        self._setup_optimizer()
        torch.manual_seed(cfg.seed + 1000 * self.dist.rank)  # dropout and SpecAugment differ per rank
        if resume:
            self._resume()
        self.runlog = RunLog(self.exp_dir, self.step, enabled=self.dist.rank == 0)
        try:
            self._loop()
            return self._finish(started)
        finally:
            self.runlog.close()

    def _setup_vocab(self, train_manifest: Manifests, resume: bool) -> None:
        path = self.exp_dir / "tokens.txt"
        utts, _ = read_utterances(train_manifest)
        built = Vocabulary.build((u.text for u in utts), min_count=self.config.min_vocab_count)
        self.initial = None
        if self.config.init:
            self.initial = load_model(self.config.init)
            built = extend_vocabulary(self.initial.vocab, built)
        if resume and path.is_file():
            self.vocab = Vocabulary.load(path)
            if self.vocab != built:
                raise AsrError(f"{path}: the training texts changed since this run started (vocabulary differs)")
        else:
            self.vocab = built
            if self.dist.rank == 0:
                self.vocab.save(path)
        log.info("vocabulary: %d tokens", len(self.vocab))
        self.units = None
        if self.config.intermediate_ctc.units == "pinyin":
            self.units = build_unit_vocabulary(u.text for u in utts)
            if self.dist.rank == 0:
                self.units.save(self.exp_dir / "units.txt")
            log.info("intermediate CTC: %d pinyin units", len(self.units))

    def _setup_model(self) -> None:
        cfg = self.config
        # fine-tuning an asr model of a pretrained encoder: rebuilt from its saved config, not from model.*.init
        hf_config = self.initial.network.hf_config() if self.initial is not None else None
        self.network = build_model(cfg.model, len(self.vocab), self.train_data.input_dim, hf_config).to(self.dist.device)
        if self.network.input_kind != self.input_kind:
            raise AsrError(f"encoder {cfg.model.encoder!r} reads {self.network.input_kind}, expected {self.input_kind}")
        if self.initial is not None:
            self._load_initial()
        self.trainable = self.network
        if self.units is not None:
            inter = cfg.intermediate_ctc
            self.trainable = IntermediateCtc(self.network, inter.layer, len(self.units)).to(self.dist.device)
            log.info("intermediate CTC on layer %d of %d, weight %g", self.trainable.layer, self.network.num_layers,
                     inter.weight)
        self.model = self.dist.wrap(self.trainable)
        self.spec_augment = SpecAugment(cfg.augment.spec_augment) if self.input_kind == "features" else None
        n = sum(p.numel() for p in self.network.parameters())
        log.info("model: %s, %.2fM parameters, on %s in %s", cfg.model.encoder, n / 1e6, self.dist.device,
                 self.precision)

    def _load_initial(self) -> None:
        """Start from ``config.init``'s weights (the training data was opened with its features)."""

        new = load_initial_weights(self.network, self.initial, self.vocab)
        log.info("initialised from %s (%d tokens, %d new)", self.initial.path, len(self.vocab), new)
        self.initial = None  # its weights are copied; free them

    def _open(self, manifest, speeds, like=None, training: bool = False) -> OpenedData:
        """``like``: anything with the ``feature_config`` and ``cmvn`` to use (None: found beside the manifest)."""
        return open_data(
            manifest, self.vocab.encode, self.input_kind, self.config.inputs, speeds,
            feature_config=like.feature_config if like else None, cmvn=like.cmvn if like else None,
            # the training set only: dev CER needs no pinyin
            aux_targets_of=self._pinyin_targets if self.units is not None and training else None,
            pauses=self.config.augment.pauses if training else None,
        )

    def _pinyin_targets(self, utterance) -> list[int] | None:
        """The intermediate CTC targets of a training utterance; None where ``only_where`` leaves it out."""

        if not matches(utterance, self.config.intermediate_ctc.only_where):
            return None
        return encode_units(self.units, utterance.text)

    def _setup_sampler(self) -> None:
        cfg = self.config
        dataset = self.train_data.dataset
        weights = None
        if cfg.balance_by:
            groups = group_values(dataset.utterances, cfg.balance_by)
            weights = balance_weights(groups, cfg.balance_temperature)

            shares = group_shares(groups, weights)
            log.info("balance_by %s (T=%g): %s", cfg.balance_by, cfg.balance_temperature,
                     ", ".join(f"{g}={p:.3f}" for g, p in sorted(shares.items(), key=str)))
        self.sampler = BucketingSampler(
            dataset.lengths, cfg.batching.max_frames, shuffle=True, seed=cfg.seed,
            max_batch_size=cfg.batching.max_batch_size, weights=weights,
            rank=self.dist.rank, world_size=self.dist.world_size,
        )
        self.steps_per_epoch = math.ceil(self.sampler.batches_per_epoch(0) / cfg.optimizer.accum_grad)
        self.total_steps = cfg.max_steps or cfg.max_epochs * self.steps_per_epoch

    def _setup_optimizer(self) -> None:
        o = self.config.optimizer
        head = {id(p) for p in self.network.head.parameters()} if o.head_lr else set()
        params = [p for p in self.trainable.parameters() if p.requires_grad]  # frozen layers: not the optimizer's
        groups = [{"params": [p for p in params if id(p) not in head]}]
        if head:  # the CTC head at its own peak learning rate
            groups.append({"params": [p for p in params if id(p) in head], "lr": o.head_lr})
        self.optimizer = torch.optim.AdamW(groups, lr=o.lr, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay)
        schedule, total = self.config.schedule, self.total_steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: lr_factor(s, schedule, total))

    def _resume(self) -> None:
        found = list_checkpoints(self.exp_dir)
        if not found:
            log.warning("%s: no checkpoint to resume from; starting from scratch", self.exp_dir)
            return
        ckpt = load_checkpoint(found[-1][1])
        st = ckpt.state
        self.trainable.load_state_dict(ckpt.model)
        self.optimizer.load_state_dict(ckpt.optimizer)
        self.scheduler.load_state_dict(st["scheduler"])
        self.step, self.epoch, self.index = ckpt.step, st["epoch"], st["index"]
        self.best_cer, self.best_step, self.bad_evals = st["best_cer"], st["best_step"], st["bad_evals"]
        self.history, self.seconds_seen = st["history"], st["seconds_seen"]
        self.elapsed_before = st["elapsed_seconds"]
        if st["world_size"] == self.dist.world_size:
            restore_rng(st["rng"][self.dist.rank])
        else:
            log.warning("resuming on %d processes a run checkpointed on %d: batches and randomness will differ",
                        self.dist.world_size, st["world_size"])
            self.index = self.index * st["world_size"] // self.dist.world_size
        if st["config"] != to_dict(self.config):
            log.warning("resuming with a config that differs from the checkpoint's")
        log.info("resumed from %s (step %d, epoch %d, batch %d)", ckpt.path, self.step, self.epoch, self.index)

    # ------------------------------------------------------------------ the loop

    def _loader(self):
        from torch.utils.data import DataLoader

        workers = self.config.batching.num_workers
        return DataLoader(
            self.train_data.dataset, batch_sampler=KeyedBatches(self.sampler, self.config.seed), collate_fn=collate,
            num_workers=workers, pin_memory=self.dist.device.type == "cuda",
            generator=torch.Generator(),  # keeps the global RNG untouched, for exact resumption
            prefetch_factor=4 if workers else None,
        )

    def _autocast(self):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.dist.device.type, dtype=torch.bfloat16)

    def _provenance(self) -> dict:
        """What this run computed on (see :mod:`asr.provenance`)."""
        return provenance(precision=self.precision, device=str(self.dist.device), seed=self.config.seed,
                          threads=torch.get_num_threads(), processes=self.dist.world_size)

    def _done(self) -> bool:
        cfg = self.config
        if cfg.max_steps and self.step >= cfg.max_steps:
            return True
        if self.epoch >= cfg.max_epochs:
            return True
        patience = cfg.early_stopping.patience
        return bool(patience and self.bad_evals >= patience)

    def _loop(self) -> None:
        cfg = self.config
        accum = cfg.optimizer.accum_grad
        kill_after = int(os.environ.get(KILL_ENV) or 0)
        window = StepWindow()
        bar = progress_bar(self.total_steps, self.step, self.progress)
        self.trainable.train()
        self.network.set_train_step(self.step)
        self.last_saved = self.step if self.step else -1
        while not self._done():
            self.sampler.set_epoch(self.epoch, self.index)
            per_epoch = self.sampler.batches_per_epoch()
            micro = 0
            for batch in self._loader():
                self.index += 1
                micro += 1
                last = micro == accum or self.index == per_epoch
                with self.dist.no_sync(self.model, skip=not last):
                    window.add(*self._forward_backward(batch, accum))
                if not last:
                    continue
                micro = 0
                window.grad_norm = self._optimizer_step()
                self.step += 1
                self._after_step(window, bar)
                if kill_after and self.step == kill_after:
                    os.kill(os.getpid(), signal.SIGKILL)
                if self._done():
                    break
            else:
                self.epoch += 1
                self.index = 0
        bar.close()

    def _forward_backward(self, batch: Batch, accum: int) -> tuple[float, int, float]:
        batch = batch.to(self.dist.device)
        inputs = batch.inputs
        if self.spec_augment is not None:
            inputs = self.spec_augment(inputs, batch.input_lengths)
        with self._autocast():
            outputs = self.model(inputs, batch.input_lengths)
        log_probs, out_lengths = outputs[0], outputs[1]
        loss_sum = ctc_loss_sum(log_probs, out_lengths, batch.targets, batch.target_lengths)
        tokens = int(batch.target_lengths.sum())
        loss = loss_sum / max(tokens, 1)
        if self.units is not None:
            weight, aux_log_probs = self.config.intermediate_ctc.weight, outputs[2]
            if batch.aux_targets is None:  # no utterance here has pinyin targets: a zero that keeps DDP's graph
                aux = aux_log_probs.sum() * 0.0
            else:
                aux = ctc_loss_sum(aux_log_probs, out_lengths, batch.aux_targets, batch.aux_target_lengths,
                                   mask=batch.aux_mask)
                aux = aux / max(int(batch.aux_target_lengths[batch.aux_mask].sum()), 1)
            loss = (1 - weight) * loss + weight * aux
        (loss / accum).backward()
        return loss_sum.item(), tokens, batch.seconds

    def _optimizer_step(self) -> float:
        params = [p for p in self.trainable.parameters() if p.grad is not None]
        clip = self.config.optimizer.grad_clip
        norm = torch.nn.utils.clip_grad_norm_(params, clip if clip > 0 else float("inf"))
        if torch.isfinite(norm):
            self.optimizer.step()
        else:
            log.warning("step %d: non-finite gradient norm; update skipped", self.step + 1)
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.network.set_train_step(self.step + 1) and self.dist.enabled:
            log.warning("trainable parameters changed at step %d under DDP", self.step + 1)
        return float(norm)

    def _after_step(self, window: StepWindow, bar) -> None:
        cfg = self.config
        bar.update(1)
        if self.step % cfg.log_every == 0:
            loss_sum, tokens, seconds = self.dist.all_reduce([window.loss_sum, window.tokens, window.seconds])
            elapsed = max(time.time() - window.started, 1e-9)
            row = {
                "step": self.step, "epoch": round(self.epoch + self.index / max(1, self.sampler.batches_per_epoch()), 3),
                "loss": loss_sum / max(tokens, 1.0), "lr": self.scheduler.get_last_lr()[0],
                "grad_norm": window.grad_norm, "audio_seconds_per_second": seconds / elapsed,
                "elapsed_seconds": round(time.time() - self.started, 1),
            }
            self.seconds_seen += seconds
            self.runlog.write("train", row)
            bar.set_postfix(loss=f"{row['loss']:.3f}", lr=f"{row['lr']:.2e}", audio_s_per_s=f"{seconds / elapsed:.0f}")
            window.reset()
        validated = False
        if self.dev_data is not None and self.step % cfg.valid_every == 0:
            self._validate()
            validated = True
        if validated or self.step % cfg.checkpoint_every == 0:
            self._checkpoint()

    def _validate(self) -> None:
        cfg = self.config
        self.dist.sync_buffers(self.network)
        result = evaluate(self.network, self.dev_data, self.vocab, self.dist, cfg.batching.max_frames, self._autocast)
        cer = result.cer
        if self.best_cer is None or cer < self.best_cer - cfg.early_stopping.min_delta:
            self.best_cer, self.best_step, self.bad_evals = cer, self.step, 0
        else:
            self.bad_evals += 1
        self.history.append({"step": self.step, "dev_cer": cer, "dev_loss": result.loss})
        self.runlog.write("valid", {"step": self.step, "epoch": self.epoch, "dev_loss": result.loss, "dev_cer": cer,
                                    "best_cer": self.best_cer, "best_step": self.best_step})
        log.info("step %d: dev loss %.4f, CER %.2f%% (best %.2f%% at step %s)", self.step, result.loss, 100 * cer,
                 100 * self.best_cer, self.best_step)

    def _checkpoint(self) -> None:
        rng = gather_json(capture_rng(), self.dist)
        if self.dist.rank == 0:
            state = {
                "epoch": self.epoch, "index": self.index, "world_size": self.dist.world_size,
                "scheduler": self.scheduler.state_dict(), "sampler": self.sampler.state_dict() | {"index": self.index},
                "rng": rng, "best_cer": self.best_cer, "best_step": self.best_step, "bad_evals": self.bad_evals,
                "history": self.history, "seconds_seen": self.seconds_seen, "config": to_dict(self.config),
                "elapsed_seconds": self.elapsed_before + time.time() - self.started,
            }
            save_checkpoint(self.exp_dir, self.step, self.trainable.state_dict(), self.optimizer.state_dict(), state)
            prune_checkpoints(self.exp_dir, self.config.keep_checkpoints,
                              protect=best_steps(self.config.average, self.history))
        self.last_saved = self.step
        self.dist.barrier()

    # ------------------------------------------------------------------ the end

    def _finish(self, started: float) -> TrainResult:
        cfg = self.config
        if self.step == 0:
            raise AsrError("training ran no steps (empty training set, or max_steps/max_epochs reached already)")
        if self.last_saved != self.step:
            if self.dev_data is not None and not any(h["step"] == self.step for h in self.history):
                self._validate()
            self._checkpoint()
        self.dist.sync_buffers(self.network)
        digests = gather_json(state_digest(self.trainable), self.dist)
        if len(set(digests)) > 1:
            raise AsrError(f"the {self.dist.world_size} processes ended with different weights ({digests}); "
                           "check that every rank runs the same code, config and data")
        available = {s for s, _ in list_checkpoints(self.exp_dir)} if self.dist.rank == 0 else set()
        steps = steps_to_average(self.config.average, self.history, available)
        model_dir = self.exp_dir / "model"
        final_cer = None
        if self.dist.rank == 0:
            paths = [p for s, p in list_checkpoints(self.exp_dir) if s in steps]
            self.trainable.load_state_dict(average_state_dicts(paths))
            if self.dev_data is not None and len(steps) > 1:
                single = Distributed(device=self.dist.device)
                final_cer = evaluate(self.network, self.dev_data, self.vocab, single, cfg.batching.max_frames,
                                     self._autocast).cer
                log.info("average of steps %s: dev CER %.2f%%", list(steps), 100 * final_cer)
                if self.best_cer is not None and self.best_cer < final_cer:
                    best = [p for s, p in list_checkpoints(self.exp_dir) if s == self.best_step]
                    log.info("the best checkpoint (step %d, %.2f%%) beats the average; keeping it",
                             self.best_step, 100 * self.best_cer)
                    self.trainable.load_state_dict(load_model_weights(best[0]))
                    steps, final_cer = (self.best_step,), self.best_cer
            elif self.dev_data is not None:
                final_cer = next((h["dev_cer"] for h in self.history if h["step"] == steps[0]), None)
            summary = data_summary_from_manifest(self.train_data.dataset.utterances)
            save_model(model_dir, self.network, cfg.model, self.vocab, self.train_data.feature_config,
                       self.train_data.cmvn, summary, train_config=cfg, provenance=self._provenance())
            seconds = self.elapsed_before + time.time() - self.started
            result = TrainResult(model_dir, self.step, round(self.epoch + self.index / max(1, self.sampler.batches_per_epoch()), 3),
                                 self.best_step, self.best_cer, final_cer, tuple(steps), round(seconds, 1))
            record = {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(result).items()}
            write_json(self.exp_dir / "result.json", {**record, "world_size": self.dist.world_size,
                                                      "rank_weight_digests": digests,
                                                      "provenance": self._provenance()})
            log.info("model written to %s (steps %d, dev CER %s)", model_dir, self.step,
                     "n/a" if final_cer is None else f"{100 * final_cer:.2f}%")
        self.dist.barrier()
        return TrainResult(model_dir, self.step, self.epoch, self.best_step, self.best_cer, final_cer, tuple(steps),
                           round(time.time() - started, 1))
