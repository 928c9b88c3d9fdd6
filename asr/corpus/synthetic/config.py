"""The composition of a synthetic corpus, from YAML (``recipes/dialect/conf/corpus*.yaml``).

:class:`CorpusConfig`'s defaults are the default composition (the one in
``recipes/dialect/conf/corpus.yaml``): training data about 85% standard Mandarin
with the dialect groups scarce, dev balanced across groups, and a test set of
parallel texts read in every group. Unknown keys and bad values are rejected with
an :class:`~asr.errors.AsrError` naming the key (:func:`load_corpus_config`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from asr.config import load_config
from asr.errors import AsrError
from asr.corpus.synthetic.conditions import CONDITIONS
from asr.corpus.synthetic.dialects import DIALECTS, get_dialect

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class SpeakerCounts:
    """Number of speakers of a group in each split (speaker-disjoint).

    ``added_train``: more training speakers, drawn after the group's test speakers, so that
    adding them to a composition changes no other speaker (targeted data collection, as in
    ``recipes/dialect/conf/corpus_targeted.yaml``).
    """

    train: int = 0
    dev: int = 0
    test: int = 0
    added_train: int = 0

    def __post_init__(self) -> None:
        for name in (*SPLITS, "added_train"):
            if getattr(self, name) < 0:
                raise ValueError(f"speakers.{name} must be >= 0, got {getattr(self, name)}")

    def as_dict(self) -> dict[str, int]:
        """``{train, dev, test, added_train}``: what :func:`~asr.corpus.synthetic.speakers.make_speakers` takes."""
        return {split: getattr(self, split) for split in SPLITS} | {"added_train": self.added_train}


@dataclass(frozen=True)
class GroupConfig:
    """One dialect group: its speakers and how many train and dev utterances it gets."""

    speakers: SpeakerCounts = field(default_factory=SpeakerCounts)
    train_utterances: int = 0
    dev_utterances: int = 0

    def __post_init__(self) -> None:
        for name, split in (("train_utterances", "train"), ("dev_utterances", "dev")):
            value = getattr(self, name)
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
            speakers = getattr(self.speakers, split) + (self.speakers.added_train if split == "train" else 0)
            if value > 0 and speakers == 0:
                raise ValueError(f"{name} is {value} but speakers.{split} is 0")


@dataclass(frozen=True)
class ConditionMix:
    """Probabilities of the recording conditions (normalised to sum to 1)."""

    clean: float = 0.6
    noisy: float = 0.25
    telephone: float = 0.15

    def __post_init__(self) -> None:
        values = [getattr(self, c) for c in CONDITIONS]
        if any(v < 0 for v in values) or sum(values) <= 0:
            raise ValueError(f"condition probabilities must be >= 0 and not all 0, got {dict(zip(CONDITIONS, values))}")

    def cumulative(self) -> list[float]:
        values = [getattr(self, c) for c in CONDITIONS]
        total = sum(values)
        out, running = [], 0.0
        for v in values:
            running += v / total
            out.append(running)
        return out

    def pick(self, u: float) -> str:
        """The condition at quantile ``u`` in [0, 1) (inverse CDF, in the order clean, noisy, telephone)."""
        for condition, edge in zip(CONDITIONS, self.cumulative()):
            if u < edge:
                return condition
        return CONDITIONS[-1]


def _default_groups() -> dict[str, GroupConfig]:
    return {
        "mandarin": GroupConfig(SpeakerCounts(train=24, dev=4, test=12), train_utterances=3100, dev_utterances=100),
        "southwestern": GroupConfig(SpeakerCounts(train=6, dev=3, test=12), train_utterances=183, dev_utterances=100),
        "wu": GroupConfig(SpeakerCounts(train=6, dev=3, test=12), train_utterances=183, dev_utterances=100),
        "cantonese": GroupConfig(SpeakerCounts(train=6, dev=3, test=12), train_utterances=183, dev_utterances=100),
    }


@dataclass(frozen=True)
class CorpusConfig:
    """A synthetic corpus composition.

    ``groups`` maps a dialect group (:data:`~asr.corpus.synthetic.dialects.DIALECTS`) to
    its :class:`GroupConfig`. ``test_texts`` sentences form the test set, each read once
    in every group that has test speakers (``extra.text_id`` ties the readings).
    ``conditions`` is the recording-condition mix of every group, independent of dialect;
    ``condition_by_dialect`` overrides it for some groups, confounding condition with
    dialect on purpose. ``snr_db`` is the ``[low, high]`` range of the noisy condition's
    SNR in dB (uniform). Sentences have ``min_chars..max_chars`` characters.
    """

    groups: dict[str, GroupConfig] = field(default_factory=_default_groups)
    test_texts: int = 100
    conditions: ConditionMix = field(default_factory=ConditionMix)
    condition_by_dialect: dict[str, ConditionMix] = field(default_factory=dict)
    snr_db: list[float] = field(default_factory=lambda: [5.0, 20.0])
    min_chars: int = 6
    max_chars: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.groups:
            raise ValueError("groups: at least one dialect group is needed")
        for name in list(self.groups) + list(self.condition_by_dialect):
            try:
                get_dialect(name)
            except AsrError as e:
                raise ValueError(str(e)) from None
        extra = sorted(set(self.condition_by_dialect) - set(self.groups))
        if extra:
            raise ValueError(f"condition_by_dialect: {extra[0]!r} is not one of the configured groups")
        if self.test_texts < 0:
            raise ValueError(f"test_texts must be >= 0, got {self.test_texts}")
        if self.test_texts > 0:
            missing = [g for g, c in self.groups.items() if c.speakers.test == 0]
            if missing:
                raise ValueError(f"test_texts is {self.test_texts} but group {missing[0]!r} has no test speakers")
        if len(self.snr_db) != 2 or self.snr_db[0] > self.snr_db[1]:
            raise ValueError(f"snr_db must be [low, high] in dB with low <= high, got {list(self.snr_db)}")
        if not 1 <= self.min_chars <= self.max_chars:
            raise ValueError(f"need 1 <= min_chars <= max_chars, got {self.min_chars} and {self.max_chars}")

    def group_names(self) -> list[str]:
        """Configured groups in the canonical order of :data:`DIALECTS` (not the YAML's order)."""
        return [name for name in DIALECTS if name in self.groups]

    def mix_for(self, dialect: str) -> ConditionMix:
        return self.condition_by_dialect.get(dialect, self.conditions)

    def num_speakers(self) -> int:
        return sum(sum(c.speakers.as_dict().values()) for c in self.groups.values())


def load_corpus_config(path: str | Path | None, overrides: Mapping[str, Any] | None = None) -> CorpusConfig:
    """:class:`CorpusConfig` from a YAML file (``None``: the defaults), with ``overrides`` (e.g. seed)."""
    return load_config(CorpusConfig, path, overrides)
