"""Rendering one utterance: eSpeak NG speech -> 16 kHz -> silences tidied -> level -> condition -> wav.

Each character's start and end in the written audio come with it (:class:`Rendered`):
eSpeak's own word and phoneme events (:mod:`asr.corpus.synthetic.char_times`),
carried through every step that moves time: the resampling from eSpeak's 22,050 Hz
(soxr, linear phase: a time scales by the rate ratio), the cut silences
(:func:`speech_frames`, :func:`map_through_kept_frames`) and the leading silence.
Level, noise and the peak limit do not move time; the telephone band's 300 Hz
high-pass (a causal filter) delays 300 Hz by 2 ms and 500 Hz and above by under 1 ms.

Everything random about an utterance (its level, its leading and trailing silence,
its noise) comes from a generator seeded by the corpus seed and the utterance id
(:func:`utterance_rng`). eSpeak itself carries state from one utterance to the next
(see :mod:`asr.corpus.synthetic.espeak`), so utterances are rendered in fixed
shards of :data:`SHARD_SIZE`, each in a freshly forked process that loads eSpeak
anew (:func:`render_shard_isolated`), in plan order: the bytes depend on the seed
and the config only, never on ``--jobs``.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asr.audio import resample
from asr.corpus.synthetic.char_times import character_spans
from asr.corpus.synthetic.conditions import SAMPLE_RATE, active_rms, apply_condition
from asr.corpus.synthetic.espeak import engine, seed_random
from asr.corpus.synthetic.speakers import Speaker
from asr.errors import AsrError
from asr.io import atomic_write, die_with_parent

#: Utterances per worker process; part of what fixes the output bytes (do not tune per machine).
SHARD_SIZE = 40
FRAME = SAMPLE_RATE // 100  # 10 ms
SILENCE_DB = -40.0  # a frame this far below the loudest one is silence
MAX_PAUSE_S = 0.30  # longer pauses inside an utterance are shortened to this
LEAD_S = (0.10, 0.25)  # silence kept before the speech, uniform range in seconds
TRAIL_S = (0.10, 0.30)
LEVEL_DBFS = (-26.0, -18.0)  # active speech level, uniform range
PEAK = 0.98


#: Character times are rounded to this many decimals of a second (0.1 ms).
TIME_DECIMALS = 4


@dataclass(frozen=True)
class UtteranceSpec:
    """Everything needed to render one utterance; ``audio`` is relative to the output directory."""

    id: str
    split: str
    speaker: Speaker
    text: str
    tts_input: str
    condition: str
    snr_db: float | None
    noise: str | None
    text_id: str | None
    audio: str


def utterance_rng(seed: int, key: str) -> np.random.Generator:
    """A generator seeded from the corpus seed and a key (an utterance or text id)."""
    digest = hashlib.sha256(f"{seed}/{key}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


@dataclass(frozen=True)
class Rendered:
    """A rendered utterance: int16 ``samples`` ``(num_samples,)`` at 16 kHz, and ``char_times``,
    ``(start, end)`` in seconds of those samples for each character of the text."""

    samples: np.ndarray
    char_times: tuple[tuple[float, float], ...]


def render(spec: UtteranceSpec, seed: int) -> Rendered:
    """The utterance's samples (int16, 16 kHz mono) and each character's times in them."""
    rng = utterance_rng(seed, spec.id)
    eng = engine()
    seed_random(int(rng.integers(2**31)))
    synthesis = eng.synthesize_with_events(spec.tts_input, spec.speaker.voice)
    pcm = synthesis.samples
    spans = character_spans(synthesis.events, spec.text, spec.tts_input, len(pcm))
    audio = resample(pcm.astype(np.float32) / 32768.0, eng.sample_rate, SAMPLE_RATE)
    spans = spans * (SAMPLE_RATE / eng.sample_rate)
    kept = speech_frames(audio)
    audio = tidy_silences(audio, kept)
    spans = map_through_kept_frames(spans, kept)
    level = 10 ** (rng.uniform(*LEVEL_DBFS) / 20)
    audio = audio * (level / active_rms(audio))
    lead = np.zeros(int(rng.uniform(*LEAD_S) * SAMPLE_RATE), np.float32)
    trail = np.zeros(int(rng.uniform(*TRAIL_S) * SAMPLE_RATE), np.float32)
    audio = np.concatenate([lead, audio.astype(np.float32), trail])
    audio = apply_condition(audio, spec.condition, rng, snr_db=spec.snr_db, noise=spec.noise)
    peak = float(np.max(np.abs(audio)))
    if peak > PEAK:
        audio = audio * (PEAK / peak)
    seconds = np.round((spans + len(lead)) / SAMPLE_RATE, TIME_DECIMALS)
    return Rendered(np.round(audio * 32767).astype(np.int16), tuple((float(a), float(b)) for a, b in seconds))


def tidy_silences(audio: np.ndarray, kept: np.ndarray | None = None) -> np.ndarray:
    """Cut leading and trailing silence and shorten inner pauses to :data:`MAX_PAUSE_S`.

    ``kept`` is :func:`speech_frames` of ``audio`` (computed when not given); the result
    is the kept 10 ms frames, joined. An input shorter than one frame is returned as it is.
    """
    if len(audio) < FRAME:
        return audio
    kept = speech_frames(audio) if kept is None else kept
    n = len(kept)
    return audio[: n * FRAME].reshape(n, FRAME)[kept].reshape(-1)


def speech_frames(audio: np.ndarray) -> np.ndarray:
    """Which 10 ms frames of ``audio`` :func:`tidy_silences` keeps: bool ``(len(audio) // FRAME,)``.

    Silence is frames more than :data:`SILENCE_DB` below the loudest frame; leading and
    trailing silence go, one frame of margin kept at each edge, and inner pauses longer
    than :data:`MAX_PAUSE_S` lose their middle.
    """
    n = len(audio) // FRAME
    if n == 0:
        return np.zeros(0, dtype=bool)
    power = np.mean(audio[: n * FRAME].astype(np.float64).reshape(n, FRAME) ** 2, axis=1)
    voiced = power >= power.max() * 10 ** (SILENCE_DB / 10)
    idx = np.flatnonzero(voiced)
    first, last = max(idx[0] - 1, 0), min(idx[-1] + 2, n)
    keep = np.ones(n, dtype=bool)
    keep[:first] = False
    keep[last:] = False
    max_frames = int(MAX_PAUSE_S * 100)
    run_start = None
    for i in range(first, last + 1):
        silent = i < last and not voiced[i]
        if silent and run_start is None:
            run_start = i
        elif not silent and run_start is not None:
            if i - run_start > max_frames:
                keep[run_start + max_frames // 2 : i - (max_frames - max_frames // 2)] = False
            run_start = None
    return keep


def map_through_kept_frames(positions: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Sample positions (any shape, float) before :func:`tidy_silences` -> positions after it.

    A position inside a kept frame moves left by the samples cut before it; one inside a
    cut frame (or past the last whole frame) goes to where the cut closes up.
    """
    before = np.concatenate([[0], np.cumsum(kept)])  # kept frames before frame i
    frame = np.clip((positions // FRAME).astype(np.int64), 0, len(kept))
    inside = np.clip(positions - frame * FRAME, 0, FRAME)
    in_kept = np.zeros(positions.shape, dtype=bool)
    valid = frame < len(kept)
    in_kept[valid] = kept[frame[valid]]
    return before[frame] * FRAME + np.where(in_kept, inside, 0)


def render_shard(task: tuple[str, int, int, list[UtteranceSpec]]) -> list[tuple[str, int, tuple]]:
    """Render and write one shard (run in a fresh process); returns ``[(utterance id, num_samples, char_times)]``."""
    import soundfile as sf

    output_dir, seed, shard_index, specs = task
    results = []
    for spec in specs:
        rendered = render(spec, seed)
        path = Path(output_dir) / spec.audio
        with atomic_write(path, "wb") as f:
            sf.write(f, rendered.samples, SAMPLE_RATE, format="WAV", subtype="PCM_16")
        results.append((spec.id, len(rendered.samples), rendered.char_times))
    return results


def render_shard_isolated(task: tuple[str, int, int, list[UtteranceSpec]]) -> list[tuple[str, int, tuple]]:
    """:func:`render_shard` in a child forked for this shard alone, so eSpeak's state starts fresh.

    The calling process (a single-threaded pool worker) never loads eSpeak itself. The
    child's result, or its exception, comes back pickled through a pipe.
    """
    if not hasattr(os, "fork"):  # no fork (Windows): the pool gives each shard a new process instead
        return render_shard(task)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        die_with_parent()  # a killed `asr prepare` takes the whole tree of workers with it
        try:
            os.close(read_fd)
            try:
                payload = ("ok", render_shard(task))
            except AsrError as e:
                payload = ("error", e)
            except BaseException:  # noqa: BLE001 - a bug: the parent raises it with this traceback
                payload = ("error", RuntimeError(f"synthesis of shard {task[2]} failed:\n{traceback.format_exc()}"))
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(pickle.dumps(payload))
        except BaseException:  # noqa: BLE001 - the parent reports the exit status
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if not data or os.waitstatus_to_exitcode(status) != 0:
        raise AsrError(f"synthesis worker for shard {task[2]} died (exit status {os.waitstatus_to_exitcode(status)})")
    kind, value = pickle.loads(data)
    if kind == "error":
        raise value
    return value
