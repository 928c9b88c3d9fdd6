"""Training data: utterances to padded batches of network inputs and CTC targets.

A :class:`SpeechDataset` is indexed by ``(index, seed)`` keys: ``seed`` drives the
utterance's augmentation (speed perturbation), so what a batch contains is a function of
the sampler's position alone, whatever the number of data-loader workers. Inputs come
from one of three sources (:class:`InputSource`):

* ``stored``: features precomputed by ``asr features`` (a feature manifest), CMVN applied;
* ``features``: fbank/MFCC computed on the fly from the audio (speed perturbation possible);
* ``waveform``: the 16 kHz samples themselves, for wav2vec2 and Whisper encoders.

Batching (:mod:`asr.train.sampler`) and augmentation (:mod:`asr.train.augment`) live beside this module.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from asr.config import from_dict, load_yaml
from asr.errors import AsrError
from asr.features.frontend import Cmvn, CmvnStats, FeatureConfig, compute_features, num_frames
from asr.features.store import CMVN_FILE, CONFIG_FILE, FeatureReader, read_feature_manifest, utterance_audio
from asr.io import open_text
from asr.manifest.records import LIST_FIELDS, Manifest, Utterance
from asr.train.augment import NONE, Augmentation, PauseAugmentConfig, add_pauses, draw_augmentation, speed_perturb
from asr.train.sampler import BucketingSampler


log = logging.getLogger(__name__)

#: Loads one utterance's network input: ``(index, augmentation) -> (T, D) features or (S,) samples``.
InputLoader = Callable[[int, Augmentation], torch.Tensor]


@dataclass(frozen=True)
class Item:
    """One utterance ready for collation."""

    index: int
    inputs: torch.Tensor  # (T, D) float32 features or (S,) float32 samples
    target: torch.Tensor  # (L,) int64 token ids
    duration: float  # seconds of audio after augmentation (speed, pauses)
    aux_target: torch.Tensor | None = None  # (L_aux,) int64 pinyin unit ids; None: no intermediate CTC loss


@dataclass
class Batch:
    """A padded batch.

    ``inputs``: ``(B, T, D)`` features or ``(B, S)`` samples, zero-padded; ``input_lengths``
    ``(B,)`` int64; ``targets`` ``(B, L)`` int64 padded with 0 and ``target_lengths`` ``(B,)``;
    ``indices`` the dataset indices; ``seconds`` the total audio duration; ``aux_targets``
    ``(B, L_aux)``, ``aux_target_lengths`` ``(B,)`` and ``aux_mask`` ``(B,)`` bool: the
    intermediate CTC targets and which utterances have them (empty where not), or None
    when no utterance of the batch has them.
    """

    inputs: torch.Tensor
    input_lengths: torch.Tensor
    targets: torch.Tensor
    target_lengths: torch.Tensor
    indices: list[int]
    seconds: float
    aux_targets: torch.Tensor | None = None
    aux_target_lengths: torch.Tensor | None = None
    aux_mask: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> "Batch":
        return Batch(
            self.inputs.to(device, non_blocking=True),
            self.input_lengths.to(device),
            self.targets.to(device),
            self.target_lengths.to(device),
            self.indices,
            self.seconds,
            None if self.aux_targets is None else self.aux_targets.to(device),
            None if self.aux_target_lengths is None else self.aux_target_lengths.to(device),
            None if self.aux_mask is None else self.aux_mask.to(device),
        )

    def __len__(self) -> int:
        return len(self.indices)


def collate(items: Sequence[Item]) -> Batch:
    """Pad a list of :class:`Item` into a :class:`Batch`."""
    pad = torch.nn.utils.rnn.pad_sequence
    aux = [it.aux_target for it in items]
    with_aux = any(a is not None for a in aux)
    if with_aux:
        aux_mask = torch.tensor([a is not None for a in aux])
        aux = [a if a is not None else torch.zeros(0, dtype=torch.long) for a in aux]
    return Batch(
        inputs=pad([it.inputs for it in items], batch_first=True),
        input_lengths=torch.tensor([len(it.inputs) for it in items], dtype=torch.long),
        targets=pad([it.target for it in items], batch_first=True),
        target_lengths=torch.tensor([len(it.target) for it in items], dtype=torch.long),
        indices=[it.index for it in items],
        seconds=float(sum(it.duration for it in items)),
        aux_targets=pad(aux, batch_first=True) if with_aux else None,
        aux_target_lengths=torch.tensor([len(a) for a in aux], dtype=torch.long) if with_aux else None,
        aux_mask=aux_mask if with_aux else None,
    )


class SpeechDataset(torch.utils.data.Dataset):
    """Utterances with their token ids; ``dataset[(index, seed)]`` is an :class:`Item`.

    ``speeds``: speed-perturbation factors drawn uniformly per utterance from ``seed``
    (empty: none); ``pauses``: random pauses and noise around utterances (None: none); only
    sources that read audio can apply either. ``aux_targets``: the
    intermediate CTC targets of each utterance, None for one without (None: no intermediate CTC).
    """

    def __init__(
        self,
        utterances: Sequence[Utterance],
        targets: Sequence[Sequence[int]],
        loader: InputLoader,
        lengths: Sequence[int],
        speeds: Sequence[float] = (),
        aux_targets: Sequence[Sequence[int] | None] | None = None,
        pauses: PauseAugmentConfig | None = None,
    ):
        if len(utterances) != len(targets) or len(utterances) != len(lengths):
            raise AsrError("utterances, targets and lengths must have the same length")
        if aux_targets is not None and len(aux_targets) != len(utterances):
            raise AsrError("utterances and aux_targets must have the same length")
        self.utterances = list(utterances)
        self.targets = [torch.tensor(t, dtype=torch.long) for t in targets]
        self.loader = loader
        self.lengths = [int(n) for n in lengths]
        self.speeds = tuple(speeds)
        self.pauses = pauses
        self.aux_targets = None if aux_targets is None else [
            None if t is None else torch.tensor(t, dtype=torch.long) for t in aux_targets
        ]

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, key: int | tuple[int, int]) -> Item:
        index, seed = key if isinstance(key, tuple) else (key, 0)
        augmentation = NONE
        if self.speeds or self.pauses is not None:
            augmentation = draw_augmentation(self.speeds, self.pauses, torch.Generator().manual_seed(int(seed)))
        inputs = self.loader(index, augmentation)
        aux = None if self.aux_targets is None else self.aux_targets[index]
        return Item(index, inputs, self.targets[index], augmentation.duration(self.utterances[index].duration), aux)

    def texts(self) -> list[str]:
        return [u.text for u in self.utterances]


class KeyedBatches:
    """Wraps a :class:`BucketingSampler`: yields ``[(index, seed), ...]`` per batch.

    Each utterance's augmentation seed derives from ``(seed, epoch, rank, batch position,
    slot)``, so batches resumed mid-epoch are augmented exactly as in an uninterrupted run.
    """

    def __init__(self, sampler: BucketingSampler, seed: int):
        self.sampler = sampler
        self.seed = int(seed)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        s = self.sampler
        for b, batch in enumerate(s, start=s.start):
            keys = np.random.SeedSequence([self.seed, s.epoch, s.rank, b]).generate_state(len(batch))
            yield [(i, int(k)) for i, k in zip(batch, keys)]

    def __len__(self) -> int:
        return len(self.sampler)


#: The first-class manifest fields (everything else lives in ``extra``).
FIRST_CLASS_FIELDS = frozenset(f for f in Utterance.__dataclass_fields__ if f != "extra")


def field_value(utterance: Utterance, field: str) -> Any:
    """An utterance's value of a manifest field, first-class or in ``extra``; None if absent."""
    return getattr(utterance, field) if field in FIRST_CLASS_FIELDS else utterance.extra.get(field)


def group_values(utterances: Sequence[Utterance], field: str) -> list[Any]:
    """Each utterance's value of a manifest field (first-class or in ``extra``); None if absent."""
    if field in LIST_FIELDS:
        raise AsrError(f"balance_by: {field!r} holds a list per utterance (an utterance can be in several groups); "
                       "balance by a single-valued field")
    values = [field_value(u, field) for u in utterances]
    if field not in FIRST_CLASS_FIELDS and all(v is None for v in values):
        raise AsrError(f"balance_by: no utterance has a field {field!r} "
                       f"(first-class fields: {', '.join(sorted(FIRST_CLASS_FIELDS))})")
    return values


def allowed_values(allowed: Any) -> tuple:
    """A ``where`` entry's values: one value, or a list of them."""
    return tuple(allowed) if isinstance(allowed, (list, tuple)) else (allowed,)


def matches(utterance: Utterance, where: dict[str, Any]) -> bool:
    """Whether each manifest field named in ``where`` has one of its :func:`allowed_values`."""
    return all(field_value(utterance, name) in allowed_values(allowed) for name, allowed in where.items())


# ----------------------------------------------------------------------------- input sources


class WaveformLoader:
    """``(S,)`` float32 samples of utterance ``index`` at ``sample_rate``, speed-perturbed and paused.

    ``utterances`` must have absolute audio paths.
    """

    def __init__(self, utterances: Sequence[Utterance], sample_rate: int):
        self.utterances = list(utterances)
        self.sample_rate = int(sample_rate)

    def __call__(self, index: int, augmentation: Augmentation = NONE) -> torch.Tensor:
        audio = torch.from_numpy(utterance_audio(self.utterances[index], self.sample_rate))
        audio = speed_perturb(audio, self.sample_rate, augmentation.speed)
        return add_pauses(audio, self.sample_rate, augmentation)


class FeatureLoader:
    """``(T, D)`` features computed on the fly from a :class:`WaveformLoader`, then CMVN."""

    def __init__(self, waveforms: WaveformLoader, feature_config: Any, cmvn: Any | None):
        self.waveforms = waveforms
        self.feature_config = feature_config
        self.cmvn = cmvn

    def __call__(self, index: int, augmentation: Augmentation = NONE) -> torch.Tensor:
        feats = compute_features(self.waveforms(index, augmentation), self.feature_config)
        return self.cmvn.apply(feats) if self.cmvn is not None else feats


class StoredFeatureLoader:
    """``(T, D)`` features read from ``asr features`` shards, then CMVN (no speed perturbation)."""

    def __init__(self, records: Sequence[Any], cmvn: Any | None):
        self.records = list(records)
        self.cmvn = cmvn
        self._reader = None

    def __call__(self, index: int, augmentation: Augmentation = NONE) -> torch.Tensor:
        if augmentation.speed != 1.0 or augmentation.pauses:
            raise AsrError("speed perturbation and pauses need features computed from audio (inputs.source: audio)")
        if self._reader is None:  # one reader per process (data-loader workers get their own)
            self._reader = FeatureReader()
        feats = self._reader.read(self.records[index])
        return self.cmvn.apply(feats) if self.cmvn is not None else feats

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_reader": None}


# ----------------------------------------------------------------------------- opening a data set


@dataclass(frozen=True)
class OpenedData:
    """A manifest ready for training: the dataset and what the model must remember about it."""

    dataset: SpeechDataset
    feature_config: Any | None  # FeatureConfig of feature encoders, None for waveform encoders
    cmvn: Any | None
    input_dim: int | None


#: One manifest path, or several (e.g. the shards of ``asr manifest shard``).
Manifests = str | Path | Sequence[str | Path]


def manifest_paths(manifests: Manifests) -> list[Path]:
    """One manifest or several (e.g. the shards of ``asr manifest shard``) as a list of paths."""
    paths = [Path(manifests)] if isinstance(manifests, (str, Path)) else [Path(p) for p in manifests]
    if not paths:
        raise AsrError("no manifest given (expected at least one .jsonl file)")
    return paths


def read_utterances(manifests: Manifests) -> tuple[list[Utterance], list[Any] | None]:
    """Utterances of one or more manifests, concatenated in order, audio paths made absolute;
    the feature records too when they are feature manifests (``None`` otherwise).

    The files must be of one kind (all feature manifests or all plain ones), and an id may
    appear in only one of them.
    """
    utts: list[Utterance] = []
    records: list[Any] = []
    kinds: set[bool] = set()
    seen: dict[str, Path] = {}
    for path in manifest_paths(manifests):
        file_utts, file_records = _read_manifest(path)
        kinds.add(file_records is not None)
        if len(kinds) > 1:
            raise AsrError(f"{path}: feature manifests and plain manifests mixed (expected one kind)")
        for utt in file_utts:
            if utt.id in seen:
                raise AsrError(f"{path}: duplicate utterance id {utt.id!r} (also in {seen[utt.id]})")
            seen[utt.id] = path
        utts += file_utts
        records += file_records or []
    return utts, (records if kinds == {True} else None)


def _read_manifest(path: Path) -> tuple[list[Utterance], list[Any] | None]:
    """One plain or feature manifest (see :func:`read_utterances`)."""
    import dataclasses
    import json


    if not path.is_file():
        raise AsrError(f"{path}: manifest not found")
    with open_text(path) as f:
        first = next((line for line in f if line.strip()), "")
    try:
        is_features = "shard" in json.loads(first) if first else False
    except json.JSONDecodeError:
        is_features = False
    root = path.parent.absolute()
    if is_features:
        records = read_feature_manifest(path)
        utts = [r.utterance for r in records]
    else:
        records, utts = None, list(Manifest(path))
    if not utts:
        raise AsrError(f"{path}: manifest has no utterances")
    utts = [u if Path(u.audio).is_absolute() else dataclasses.replace(u, audio=str(root / u.audio)) for u in utts]
    return utts, records


def open_data(
    manifests: Manifests,
    targets_of: Callable[[str], list[int]],
    input_kind: str,
    inputs: Any,
    speeds: Sequence[float] = (),
    sample_rate: int = 16000,
    feature_config: Any | None = None,
    cmvn: Any | None = None,
    aux_targets_of: Callable[[Utterance], list[int] | None] | None = None,
    pauses: PauseAugmentConfig | None = None,
) -> OpenedData:
    """Open a manifest for training or evaluation.

    ``inputs`` is an :class:`asr.train.config.InputConfig`. ``feature_config`` and ``cmvn``
    (from the training set) make a dev set use exactly the training inputs; left None they
    are found beside the (first) manifest or derived (see ``InputConfig``).
    ``aux_targets_of``: utterance -> its intermediate CTC target ids, None to leave it out
    of that loss (``aux_targets_of`` None: no intermediate CTC). ``pauses``: random pauses
    around training utterances (None or probability 0: none); batches are sized for the
    mean pauses (``probability * max_seconds`` more per utterance), so a batch exceeds its
    frame budget only by the pauses drawn above the mean.
    """
    if pauses is not None and pauses.probability <= 0:
        pauses = None
    padding = pauses.probability * pauses.max_seconds if pauses is not None else 0.0
    utts, records = read_utterances(manifests)
    path = manifest_paths(manifests)[0]
    targets = [targets_of(u.text) for u in utts]
    aux = None if aux_targets_of is None else [aux_targets_of(u) for u in utts]
    if input_kind == "waveform":
        lengths = [int(round((u.duration + padding) * sample_rate)) for u in utts]
        dataset = SpeechDataset(utts, targets, WaveformLoader(utts, sample_rate), lengths, speeds, aux, pauses)
        return OpenedData(dataset, None, None, None)

    if inputs.source == "stored":
        if records is None:
            raise AsrError(f"{path}: inputs.source is 'stored' but this is not a feature manifest "
                           "(run `asr features`, or set inputs.source: audio)")
        if speeds and any(s != 1.0 for s in speeds):
            raise AsrError("augment.speed_perturb needs features computed on the fly: set inputs.source: audio")
        if pauses is not None:
            raise AsrError("augment.pauses needs features computed on the fly: set inputs.source: audio")
        stored_config = _stored_feature_config(Path(path))
        if feature_config is not None and feature_config != stored_config:
            raise AsrError(f"{path}: its features.yaml differs from the features the model reads "
                           "(the training set's, or with --init the initial model's)")
        feature_config = stored_config
        cmvn = cmvn if cmvn is not None or not inputs.cmvn else _cmvn_beside(Path(path), required=True)
        loader: InputLoader = StoredFeatureLoader(records, cmvn)
        lengths = [r.num_frames for r in records]
    else:
        if feature_config is None:
            feature_config = inputs.features or _stored_feature_config(Path(path), missing_ok=True)
        waveforms = WaveformLoader(utts, feature_config.sample_rate)
        if cmvn is None and inputs.cmvn:
            cmvn = _cmvn_beside(Path(path), required=False, config=feature_config)
            if cmvn is None:
                cmvn = estimate_cmvn(FeatureLoader(waveforms, feature_config, None), len(utts), inputs.cmvn_utterances)
        loader = FeatureLoader(waveforms, feature_config, cmvn)
        rate = feature_config.sample_rate
        lengths = [max(1, num_frames(int(round((u.duration + padding) * rate)), feature_config)) for u in utts]
    dataset = SpeechDataset(utts, targets, loader, lengths, speeds, aux, pauses)
    return OpenedData(dataset, feature_config, cmvn, feature_config.dim)


def estimate_cmvn(loader: InputLoader, count: int, limit: int) -> Any:
    """Global CMVN from at most ``limit`` utterances spread evenly over the set."""

    picks = np.unique(np.linspace(0, count - 1, num=min(count, limit)).round().astype(int))
    stats = None
    for i in picks:
        feats = loader(int(i), NONE)
        stats = stats or CmvnStats(feats.shape[1])
        stats.accumulate(feats)
    log.info("estimated CMVN from %d utterances", len(picks))
    return Cmvn.from_stats(stats)


def _stored_feature_config(manifest: Path, missing_ok: bool = False) -> Any:

    path = manifest.parent / CONFIG_FILE
    if not path.is_file():
        if missing_ok:
            return FeatureConfig()
        raise AsrError(f"{path}: not found (feature manifests need the features.yaml `asr features` writes)")
    return from_dict(FeatureConfig, load_yaml(path), source=str(path))


def _cmvn_beside(manifest: Path, required: bool, config: Any | None = None) -> Any | None:

    path = manifest.parent / CMVN_FILE
    if not path.is_file():
        if required:
            raise AsrError(f"{path}: not found (run `asr features --cmvn-from train`, or set inputs.cmvn: false)")
        return None
    if config is not None and _stored_feature_config(manifest, missing_ok=True) != config:
        return None  # statistics of other features
    return Cmvn.from_json(path)
