"""Transcription gated by speech detection: silence gives nothing, speech is decoded in windows cut in pauses."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from asr.audio import resample
from asr.corpus.synthetic.espeak import VoiceSettings, engine
from asr.decode.formats import format_transcript
from asr.decode.transcription import NO_SPEECH, transcribe
from asr.errors import AsrError
from tests.tiny_model import EnergyModel

RATE = 16000


def speech(text: str = "打开空调导航到机场") -> np.ndarray:
    """eSpeak NG Mandarin at 16 kHz, float32."""
    samples = engine().synthesize(text, VoiceSettings("cmn")).astype(np.float32) / 32768
    return resample(samples, engine().sample_rate, RATE)


@pytest.mark.parametrize("seconds", [3.0, 0.05])
def test_silence_gives_an_empty_transcript_and_a_note_in_every_format(tmp_path, seconds):
    path = tmp_path / "silence.wav"
    sf.write(str(path), np.zeros(int(seconds * RATE), dtype=np.float32), RATE)
    model = EnergyModel(threshold=-1.0)  # would emit a token in every frame, were it asked
    result = transcribe(model, path)
    assert result.text == "" and result.tokens == () and result.note == NO_SPEECH and model.calls == []
    assert result.duration == pytest.approx(seconds, abs=1e-3) and result.speech_seconds == 0.0
    doc = json.loads(format_transcript(result, "json"))
    assert doc["note"] == NO_SPEECH and doc["text"] == "" and doc["segments"] == []
    assert format_transcript(result, "srt") == f"1\n00:00:00,000 --> 00:00:0{int(seconds)},{int(seconds * 1000) % 1000:03d}\n[{NO_SPEECH}]\n\n"
    assert format_transcript(result, "vtt") == f"WEBVTT\n\nNOTE {NO_SPEECH} ({seconds:.3f} s)\n\n"
    assert format_transcript(result, "tsv").endswith(f"\t0.0000\t[{NO_SPEECH}]\n")
    assert format_transcript(result, "text") == "\n"


def test_noise_is_not_speech(tmp_path):
    rng = np.random.default_rng(0)
    noise = (10 ** (-50 / 20) * rng.standard_normal(3 * RATE)).astype(np.float32)
    assert transcribe(EnergyModel(threshold=-1.0), noise).note == NO_SPEECH


def test_speech_padded_with_silence_is_decoded_in_its_window_only(tmp_path):
    clip = speech()
    padded = np.concatenate([np.zeros(RATE, np.float32), clip, np.zeros(RATE, np.float32)])
    model = EnergyModel(threshold=1e-4)
    result = transcribe(model, padded)
    assert result.note is None and result.chunks == 1 and result.tokens
    assert result.duration == pytest.approx(len(padded) / RATE, abs=0.01)
    assert result.speech_seconds == pytest.approx(len(clip) / RATE, abs=0.35)
    # Nothing before the speech starts nor after it ends (beyond the detector's edges).
    assert result.tokens[0].start >= 1.0 - 0.25 and result.tokens[-1].end <= 1.0 + len(clip) / RATE + 0.35
    assert sum(model.calls[0]) < len(padded) - RATE  # the window, not the whole recording


def test_a_long_recording_is_decoded_in_windows_cut_in_its_pauses(tmp_path):
    clip = speech("我的音箱什么时候能到")
    pause = np.zeros(RATE, np.float32)
    repeats = 30
    recording = np.concatenate([np.concatenate([clip, pause]) for _ in range(repeats)])
    path = tmp_path / "long.flac"
    sf.write(str(path), recording, RATE)
    model = EnergyModel(threshold=1e-4)
    result = transcribe(model, path, chunk_seconds=10.0, batch_size=2)
    assert max(n for call in model.calls for n in call) <= 10 * RATE and max(len(c) for c in model.calls) <= 2
    # Every window starts and ends in a pause (or at the recording's ends): none cuts an utterance.
    period, speech_end = (len(clip) + RATE) / RATE, len(clip) / RATE
    inside = [t for w in result.windows for t in w if 0.01 < t < result.duration - 0.01
              and not speech_end - 0.02 <= t % period <= period - 0.02 and t % period > 0.02]
    assert inside == [] and len(result.windows) >= repeats * period / 10
    assert result.windows[0][0] >= 0 and result.windows[-1][1] <= result.duration + 1e-3
    assert all(a[1] <= b[0] for a, b in zip(result.windows, result.windows[1:]))  # no overlap, in order
    assert len({int(t.start // period) for t in result.tokens}) == repeats  # every repeat was heard


def test_nan_samples_are_an_error_or_silence_when_asked(tmp_path):
    audio = np.concatenate([speech(), np.zeros(RATE // 2, np.float32)])
    audio[100:200] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(str(path), audio, RATE, subtype="FLOAT")
    with pytest.raises(AsrError, match=r"nan.wav: 100 of \d+ samples are NaN or infinite"):
        transcribe(EnergyModel(), path)
    with pytest.raises(AsrError, match=r"nan.wav: 100 of \d+ samples are NaN or infinite"):
        transcribe(EnergyModel(), path, vad=False)
    result = transcribe(EnergyModel(threshold=1e-4), path, nonfinite="zero")
    assert result.tokens and result.note is None
