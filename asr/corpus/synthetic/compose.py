"""Planning and writing a synthetic corpus: who says what, under which condition, into which file.

:func:`plan_corpus` turns a :class:`~asr.corpus.synthetic.config.CorpusConfig` into
speakers and utterance specs, deterministically from the config's seed (each
purpose has its own generator, so e.g. the test texts do not move when the dev size
changes). Texts are distinct across the whole corpus, except that each test text
is read once in every group (its ``text_id`` ties the readings together, and the
readings share one recording condition, so paired comparisons across groups hold
the condition fixed unless ``condition_by_dialect`` confounds it on purpose).
:func:`write_corpus` renders the audio in worker processes and writes the
manifests last.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asr.config import to_dict
from asr.corpus.synthetic.conditions import NOISE_KINDS, SAMPLE_RATE
from asr.corpus.synthetic.config import SPLITS, CorpusConfig
from asr.corpus.synthetic.dialects import DIALECTS, get_dialect
from asr.corpus.synthetic.domain import GRAMMAR
from asr.corpus.synthetic.render import SHARD_SIZE, UtteranceSpec, render_shard_isolated, utterance_rng
from asr.corpus.synthetic.speakers import Speaker, make_speakers
from asr.errors import AsrError
from asr.io import atomic_write, die_with_parent
from asr.io import progress as progress_bar
from asr.manifest.records import Utterance, write_manifest

log = logging.getLogger(__name__)

#: Modules the fork server imports once, before it forks the workers (which fork one child
#: per shard): librosa's resampler lazily imports scipy.signal and numba-compiled helpers,
#: seconds of CPU that every process would otherwise pay again.
WORKER_PRELOAD = ["asr.corpus.synthetic.render", "scipy.signal", "librosa.core.audio", "librosa.util.utils", "soundfile"]

_PURPOSE = {"speakers": 1, "texts": 2, "assign": 3}


@dataclass(frozen=True)
class Plan:
    """Speakers and utterances of a corpus, utterances ordered by split, speaker and id."""

    speakers: list[Speaker]
    utterances: list[UtteranceSpec]


@dataclass(frozen=True)
class PreparedCorpus:
    """What :func:`write_corpus` wrote: one manifest per split, with counts and hours."""

    output_dir: Path
    manifests: dict[str, Path]
    utterances: dict[str, int]
    hours: dict[str, float]
    speakers: dict[str, int]


def plan_corpus(config: CorpusConfig) -> Plan:
    """Speakers, texts, speaker assignment and recording conditions for ``config``."""
    seed = config.seed
    names = config.group_names()
    index = {name: i for i, name in enumerate(DIALECTS)}
    speakers = {
        name: make_speakers(
            name, config.groups[name].speakers.as_dict(), np.random.default_rng([seed, _PURPOSE["speakers"], index[name]])
        )
        for name in names
    }
    text_rng = np.random.default_rng([seed, _PURPOSE["texts"]])

    def sample(n: int, used: set[str]) -> list[str]:
        return GRAMMAR.sample_sentences(n, text_rng, config.min_chars, config.max_chars, exclude=used)

    used: set[str] = set()
    texts: dict[tuple[str, str], list[str]] = {}
    test_texts = sample(config.test_texts, used)
    used.update(test_texts)
    for split in ("dev", "train"):
        for name in names:
            group = config.groups[name]
            n = group.dev_utterances if split == "dev" else group.train_utterances
            texts[split, name] = sample(n, used)
            used.update(texts[split, name])
    for name in names:
        texts["test", name] = test_texts

    specs: list[UtteranceSpec] = []
    for name in names:
        assign_rng = np.random.default_rng([seed, _PURPOSE["assign"], index[name]])
        for split in SPLITS:
            pool = [s for s in speakers[name] if s.split == split]
            if not pool or not texts[split, name]:
                continue
            order = _speaker_order(config, name, split, len(pool), assign_rng, [seed, _PURPOSE["assign"], index[name]])
            counts = {s.id: 0 for s in pool}
            for k, text in enumerate(texts[split, name]):
                speaker = pool[int(order[k % len(pool)])]
                counts[speaker.id] += 1
                text_id = f"t{k + 1:04d}" if split == "test" else None
                specs.append(_spec(config, speaker, text, counts[speaker.id], text_id))
    specs.sort(key=lambda s: (SPLITS.index(s.split), s.id))
    return Plan([s for name in names for s in speakers[name]], specs)


def _speaker_order(
    config: CorpusConfig, group: str, split: str, size: int, rng: np.random.Generator, seed: list[int]
) -> np.ndarray:
    """The order in which a split's ``size`` speakers take its texts in turn.

    A group's ``speakers.added_train`` come last in the train pool and are ordered by a
    generator of their own, so ``rng`` makes the same draws with or without them and the
    dev and test assignments stay as they were.
    """
    added = config.groups[group].speakers.added_train if split == "train" else 0
    order = rng.permutation(size - added)
    if not added:
        return order
    return np.concatenate([order, size - added + np.random.default_rng([*seed, 1]).permutation(added)])


def _spec(config: CorpusConfig, speaker: Speaker, text: str, n: int, text_id: str | None) -> UtteranceSpec:
    utt_id = f"{speaker.id}-{n:04d}"
    rng = utterance_rng(config.seed, f"condition/{text_id or utt_id}")
    condition = config.mix_for(speaker.dialect).pick(float(rng.random()))
    low, high = config.snr_db
    snr = round(float(low + rng.random() * (high - low)), 1)
    noise = NOISE_KINDS[int(rng.integers(len(NOISE_KINDS)))]
    return UtteranceSpec(
        id=utt_id,
        split=speaker.split,
        speaker=speaker,
        text=text,
        tts_input=get_dialect(speaker.dialect).tts_input(text),
        condition=condition,
        snr_db=snr if condition == "noisy" else None,
        noise=noise if condition == "noisy" else None,
        text_id=text_id,
        audio=f"audio/{speaker.split}/{speaker.id}/{utt_id}.wav",
    )


def write_corpus(
    plan: Plan, config: CorpusConfig, output_dir: str | Path, jobs: int = 1, progress: bool = True
) -> PreparedCorpus:
    """Render every utterance of ``plan`` under ``output_dir`` and write the manifests.

    Existing manifests are removed first and written again only at the end, so an
    interrupted run never leaves a corpus that looks complete; stale audio files of an
    earlier, different plan are deleted.
    """
    if jobs < 1:
        raise AsrError(f"--jobs must be >= 1, got {jobs}")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        (output_dir / f"{split}.jsonl").unlink(missing_ok=True)
    tasks = [
        (str(output_dir), config.seed, i, plan.utterances[start : start + SHARD_SIZE])
        for i, start in enumerate(range(0, len(plan.utterances), SHARD_SIZE))
    ]
    rendered = _render(tasks, jobs, progress, len(plan.utterances))
    _remove_stale_audio(output_dir, {u.audio for u in plan.utterances})
    _write_json(output_dir / "speakers.json", [s.to_json() for s in plan.speakers])
    _write_json(output_dir / "corpus.json", to_dict(config))
    manifests, counts, hours, n_speakers = {}, {}, {}, {}
    for split in SPLITS:
        rows = [_utterance(spec, *rendered[spec.id]) for spec in plan.utterances if spec.split == split]
        path = output_dir / f"{split}.jsonl"
        write_manifest(path, rows)
        manifests[split], counts[split] = path, len(rows)
        hours[split] = sum(r.duration for r in rows) / 3600
        n_speakers[split] = len({r.speaker for r in rows})
    return PreparedCorpus(output_dir, manifests, counts, hours, n_speakers)


def _utterance(spec: UtteranceSpec, num_samples: int, char_times: tuple[tuple[float, float], ...]) -> Utterance:
    speaker = spec.speaker
    extra = {"tts_voice": speaker.voice.voice, "tts_input": spec.tts_input}
    if spec.text_id:
        extra["text_id"] = spec.text_id
    if spec.noise:
        extra["noise"] = spec.noise
    return Utterance(
        id=spec.id,
        audio=spec.audio,
        duration=num_samples / SAMPLE_RATE,
        sample_rate=SAMPLE_RATE,
        text=spec.text,
        speaker=speaker.id,
        dialect=speaker.dialect,
        gender=speaker.gender,
        age_band=speaker.age_band,
        city=speaker.city,
        condition=spec.condition,
        snr_db=spec.snr_db,
        char_times=char_times,
        extra=extra,
    )


def _render(tasks: list, jobs: int, show_progress: bool, total: int) -> dict[str, tuple[int, tuple]]:
    """Render every shard; returns ``{utterance id: (num_samples, char_times)}``."""
    rendered: dict[str, tuple[int, tuple]] = {}
    if not tasks:
        return rendered
    with progress_bar(total, "synthesize", "utt", enabled=show_progress) as bar:
        # Each shard is rendered in a process of its own (forked by the worker, or a fresh
        # worker where there is no fork), so eSpeak's state restarts with every shard.
        fresh_workers = None if hasattr(os, "fork") else 1
        with _context().Pool(min(jobs, len(tasks)), initializer=die_with_parent, maxtasksperchild=fresh_workers) as pool:
            for results in pool.imap_unordered(render_shard_isolated, tasks):
                rendered.update((utt_id, (n, times)) for utt_id, n, times in results)
                bar.update(len(results))
    return rendered


def _context():
    """Fork server (clean, single-threaded parent; heavy imports done once) where available."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(WORKER_PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


def _remove_stale_audio(output_dir: Path, keep: set[str]) -> None:
    audio_dir = output_dir / "audio"
    if not audio_dir.is_dir():
        return
    for path in sorted(audio_dir.rglob("*")):
        stale = path.suffix == ".wav" and path.relative_to(output_dir).as_posix() not in keep
        if path.is_file() and (stale or path.suffix == ".tmp"):
            path.unlink()
    for path in sorted(audio_dir.rglob("*"), reverse=True):
        if path.is_dir():
            with contextlib.suppress(OSError):
                path.rmdir()  # only empty ones


def _write_json(path: Path, obj) -> None:
    with atomic_write(path) as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")
