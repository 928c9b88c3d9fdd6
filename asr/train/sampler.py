"""Batch samplers: length-bucketed batches sized by frames, sharded across ranks, optionally balanced.

A :class:`BucketingSampler` turns per-utterance lengths (feature frames) into batches of
similar length whose padded size ``batch_size * longest`` stays within ``max_frames``. Each
epoch's batches are a pure function of ``(seed, epoch)``, so a run resumed from ``(epoch,
index)`` sees exactly the batches an uninterrupted run would have seen, on any rank count
that matches. With ``world_size > 1`` every rank gets a disjoint shard of the epoch's batches,
all ranks the same number (the list is padded by wrapping around). With ``weights`` (see
:func:`balance_weights`) an epoch draws ``len(lengths)`` utterances with replacement.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from typing import Iterator, Sequence

import numpy as np

from asr.errors import AsrError

log = logging.getLogger(__name__)

#: Relative jitter of the sort key, so batch compositions change from epoch to epoch.
LENGTH_JITTER = 0.1


def balance_weights(groups: Sequence[object], temperature: float) -> np.ndarray:
    """Per-utterance sampling probabilities that re-weight groups with a temperature.

    A group ``g`` with share ``p_g`` of the utterances is drawn with total probability
    proportional to ``p_g ** (1 / temperature)``, spread evenly over its utterances:
    ``temperature=1`` keeps the natural distribution, ``temperature=inf`` makes every
    group equally likely. ``None`` values form their own group. Returns shape ``(N,)``,
    summing to 1.
    """
    if not temperature > 0:
        raise AsrError(f"balance_temperature must be > 0 (1 = natural, .inf = uniform over groups), got {temperature}")
    groups = list(groups)
    if not groups:
        raise AsrError("cannot balance an empty training set")
    counts = Counter(groups)
    n = len(groups)
    target = {g: (c / n) ** (1.0 / temperature) for g, c in counts.items()}
    total = sum(target.values())
    weights = np.array([target[g] / total / counts[g] for g in groups], dtype=np.float64)
    return weights / weights.sum()


def group_shares(groups: Sequence[object], weights: np.ndarray | None = None) -> dict[object, float]:
    """The probability mass of each group (natural shares when ``weights`` is None)."""
    groups = list(groups)
    w = np.full(len(groups), 1.0 / len(groups)) if weights is None else np.asarray(weights, dtype=np.float64)
    shares: dict[object, float] = {}
    for g, p in zip(groups, w):
        shares[g] = shares.get(g, 0.0) + float(p)
    return shares


def pack_batches(order: Sequence[int], lengths: Sequence[int], max_frames: int, max_batch_size: int = 0) -> list[list[int]]:
    """Greedily cut ``order`` (indices sorted by length) into batches of padded size <= ``max_frames``.

    The padded size of a batch is ``len(batch) * max(length)``; an utterance longer than
    ``max_frames`` on its own becomes a batch of one. ``max_batch_size`` (0: no limit)
    caps the utterance count.
    """
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        longest_if_added = max(longest, int(lengths[i]))
        full = max_batch_size and len(current) >= max_batch_size
        if current and (full or longest_if_added * (len(current) + 1) > max_frames):
            batches.append(current)
            current, longest_if_added = [], int(lengths[i])
        current.append(int(i))
        longest = longest_if_added
    if current:
        batches.append(current)
    return batches


class BucketingSampler:
    """Yields lists of dataset indices: similar lengths, padded size within ``max_frames``.

    ``lengths`` are in frames (any unit consistent with ``max_frames``). Call
    :meth:`set_epoch` before each epoch; ``start`` skips batches already consumed, for
    resuming mid-epoch. ``rank``/``world_size`` select this process's shard.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        max_frames: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        max_batch_size: int = 0,
        weights: np.ndarray | None = None,
        rank: int = 0,
        world_size: int = 1,
    ):
        if max_frames <= 0:
            raise AsrError(f"max_frames must be positive, got {max_frames}")
        if not 0 <= rank < world_size:
            raise AsrError(f"rank {rank} is outside world size {world_size}")
        if weights is not None and len(weights) != len(lengths):
            raise AsrError(f"{len(weights)} sampling weights for {len(lengths)} utterances")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.max_frames = int(max_frames)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.max_batch_size = int(max_batch_size)
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.start = 0
        self._cache: tuple[int, list[list[int]]] | None = None
        too_long = int((self.lengths > self.max_frames).sum())
        if too_long:
            log.warning("%d utterance(s) are longer than max_frames=%d; each becomes a batch of one", too_long, max_frames)

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch's batches and skip the first ``start`` of this rank's shard."""
        self.epoch, self.start = int(epoch), int(start)

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """All ranks' batches of ``epoch``, before sharding (a pure function of seed and epoch)."""
        rng = np.random.default_rng([self.seed, epoch])
        n = len(self.lengths)
        if self.weights is not None:
            indices = rng.choice(n, size=n, replace=True, p=self.weights)
        elif self.shuffle:
            indices = rng.permutation(n)
        else:
            indices = np.arange(n)
        keys = self.lengths[indices].astype(np.float64)
        if self.shuffle:
            keys = keys * (1.0 + rng.uniform(-LENGTH_JITTER, LENGTH_JITTER, size=len(keys)))
        order = indices[np.argsort(keys, kind="stable")]
        batches = pack_batches(order, self.lengths, self.max_frames, self.max_batch_size)
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def shard(self, batches: list[list[int]]) -> list[list[int]]:
        """This rank's share: every ``world_size``-th batch, the list padded by wrapping around."""
        if self.world_size == 1:
            return batches
        if not batches:
            return []
        per_rank = math.ceil(len(batches) / self.world_size)
        padded = [batches[i % len(batches)] for i in range(per_rank * self.world_size)]
        return padded[self.rank :: self.world_size]

    def rank_batches(self, epoch: int) -> list[list[int]]:
        """This rank's batches of ``epoch`` (cached for the last epoch asked)."""
        if self._cache is None or self._cache[0] != epoch:
            self._cache = (epoch, self.shard(self.epoch_batches(epoch)))
        return self._cache[1]

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.rank_batches(self.epoch)[self.start :]

    def __len__(self) -> int:
        """Batches left in the current epoch on this rank."""
        return max(0, len(self.rank_batches(self.epoch)) - self.start)

    def batches_per_epoch(self, epoch: int | None = None) -> int:
        """Batches of one whole epoch on this rank."""
        return len(self.rank_batches(self.epoch if epoch is None else epoch))

    def state_dict(self) -> dict:
        """JSON-ready position: ``epoch``, batches consumed (``index``) and ``seed``."""
        return {"epoch": self.epoch, "index": self.start, "seed": self.seed}


class DistributedBucketingSampler(BucketingSampler):
    """:class:`BucketingSampler` sharded over the ranks of the default process group."""

    def __init__(self, lengths: Sequence[int], max_frames: int, **kwargs):
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            kwargs.setdefault("rank", dist.get_rank())
            kwargs.setdefault("world_size", dist.get_world_size())
        super().__init__(lengths, max_frames, **kwargs)
