"""Shared fixtures: tiny audio files and manifests made on the fly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.manifest.records import Utterance, write_manifest


def write_tone(path: Path, seconds: float = 0.5, rate: int = 16000, channels: int = 1, freq: float = 440.0) -> Path:
    """A sine tone with a little noise, written with soundfile (format from the suffix)."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(0)
    mono = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)
    data = np.stack([mono] * channels, axis=1) if channels > 1 else mono
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data.astype(np.float32), rate)
    return path


@pytest.fixture
def tiny_manifest(tmp_path: Path) -> Path:
    """A valid three-utterance manifest with audio beside it."""
    utts = []
    for i, (spk, dialect, seconds) in enumerate([("s1", "mandarin", 0.5), ("s1", "mandarin", 0.7), ("s2", "wu", 0.6)]):
        audio = write_tone(tmp_path / "audio" / f"u{i}.wav", seconds=seconds)
        utts.append(
            Utterance(
                id=f"u{i}", audio=str(audio.relative_to(tmp_path)), duration=seconds, sample_rate=16000,
                text="打开空调", speaker=spk, dialect=dialect, gender="female" if spk == "s1" else "male",
                extra={"text_id": f"t{i % 2}"},
            )
        )
    path = tmp_path / "test.jsonl"
    write_manifest(path, utts)
    return path
