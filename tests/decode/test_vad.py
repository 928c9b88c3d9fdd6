"""Voice-activity detection (Silero VAD via ONNX Runtime) and planning decoding segments at pauses."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from asr.decode import vad
from asr.audio import resample
from asr.corpus.synthetic.char_times import character_spans
from asr.corpus.synthetic.espeak import VoiceSettings, engine
from asr.errors import AsrError
from asr.decode.vad import FRAME_SECONDS, Region, Segment, VadOptions, plan_segments, regions_from_probabilities

RATE = 16000
SENTENCES = (
    ("导航到最近的加油站", "dao3 hang2 dao4 zui4 jin4 de5 jia1 you2 zhan4", "cmn-latn-pinyin"),
    ("把空调温度调高一点", "把空调温度调高一点", "yue"),
    ("明天上午八点叫我起床", "ming2 tian1 shang4 wu3 ba1 dian3 jiao4 wo3 qi3 chuang2", "cmn-latn-pinyin+f2"),
)


def speech(index: int) -> tuple[np.ndarray, float, float]:
    """An eSpeak sentence at 16 kHz and its true speech edges in seconds (first and last phoneme)."""
    audio, spans = speech_and_syllables(index)
    return audio, float(spans[0, 0]), float(spans[-1, 1])


def speech_and_syllables(index: int) -> tuple[np.ndarray, np.ndarray]:
    """An eSpeak sentence at 16 kHz and each syllable's ``(start, end)`` in seconds ``(num_chars, 2)``."""
    text, tts_input, voice = SENTENCES[index]
    synthesis = engine().synthesize_with_events(tts_input, VoiceSettings(voice))
    spans = character_spans(synthesis.events, text, tts_input, len(synthesis.samples)) / engine().sample_rate
    return resample(synthesis.samples.astype(np.float32) / 32768.0, engine().sample_rate, RATE), spans


@pytest.fixture(scope="module")
def sentences() -> list[tuple[np.ndarray, float, float]]:
    return [speech(i) for i in range(len(SENTENCES))]


def noise(seconds: float, dbfs: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (10 ** (dbfs / 20) * rng.standard_normal(int(seconds * RATE))).astype(np.float32)


# -- detection --------------------------------------------------------------------------------


def test_digital_silence_has_no_speech():
    activity = vad.speech_activity(np.zeros(3 * RATE, dtype=np.float32))
    assert activity.regions == () and activity.duration == 3.0
    assert activity.probabilities.shape == (int(np.ceil(3 * RATE / 512)),) and activity.probabilities.max() < 0.1


@pytest.mark.parametrize("dbfs", [-50.0, -30.0])
def test_steady_noise_has_no_speech(dbfs):
    assert vad.speech_regions(noise(5.0, dbfs)) == []


def test_one_region_around_padded_speech_with_edges_near_the_truth(sentences):
    for audio, start, end in sentences:
        padded = np.concatenate([np.zeros(RATE, np.float32), audio, np.zeros(RATE, np.float32)])
        (region,) = vad.speech_regions(padded)
        assert abs(region.start - (1.0 + start)) < 0.1, (region, 1.0 + start)
        # the probability stays high one or two 32 ms frames after speech stops: ends run late
        assert 0.0 <= region.end - (1.0 + end) < 0.15, (region, 1.0 + end)


def test_regions_match_the_silero_package(sentences):
    """Parity with silero_vad.get_speech_timestamps (its streaming ONNX model) on speech with pauses."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    import silero_vad  # sets torch's thread count to 1 for the process: restored below

    torch.set_num_threads(threads)
    rng = np.random.default_rng(1)
    parts = []
    for audio, _, _ in sentences * 2:
        parts += [np.zeros(int(rng.uniform(0.2, 1.2) * RATE), np.float32), audio * rng.uniform(0.2, 1.0)]
    recording = np.concatenate(parts + [np.zeros(RATE // 3, np.float32)])
    recording += noise(len(recording) / RATE, -55)
    options = VadOptions(threshold=0.5, min_speech=0.25, min_silence=0.1, speech_pad=0.03)
    reference = silero_vad.get_speech_timestamps(torch.from_numpy(recording), silero_vad.load_silero_vad(onnx=True))
    ours = vad.speech_regions(recording, options=options)
    assert len(ours) == 6
    assert [(round(r.start * RATE), round(r.end * RATE)) for r in ours] == [(t["start"], t["end"]) for t in reference]


def test_feeding_in_pieces_gives_the_same_probabilities(sentences):
    audio = np.concatenate([sentences[0][0], np.zeros(RATE, np.float32), sentences[1][0]])
    whole = vad.ProbabilityStream()
    whole.feed(audio)
    pieces = vad.ProbabilityStream()
    for chunk in np.array_split(audio, [100, 613, 9000, 9001, 40000]):
        pieces.feed(chunk)
    (p1, l1), (p2, l2) = whole.finish(), pieces.finish()
    assert p1.shape == l1.shape == (int(np.ceil(len(audio) / 512)),)
    assert np.array_equal(p1, p2) and np.array_equal(l1, l2)


@pytest.mark.parametrize("rate", [16000, 8000, 44100])
def test_a_file_is_read_block_by_block_at_any_rate(tmp_path, sentences, monkeypatch, rate):
    audio = np.concatenate([np.zeros(RATE // 2, np.float32), sentences[0][0], np.zeros(RATE, np.float32), sentences[2][0],
                            np.zeros(RATE // 2, np.float32)])
    path = tmp_path / "speech.flac"
    sf.write(str(path), np.stack([audio, audio], axis=1) if rate == 16000 else resample(audio, RATE, rate), rate)
    monkeypatch.setattr(vad, "FILE_BLOCK_SECONDS", 1.3)  # many blocks, none aligned to frames
    from_file = vad.file_speech_activity(path)
    in_memory = vad.speech_activity(audio)
    assert from_file.duration == pytest.approx(len(audio) / RATE, abs=1 / rate)
    assert len(from_file.regions) == len(in_memory.regions) == 2
    tolerance = 0 if rate == 16000 else FRAME_SECONDS + 1e-6
    for a, b in zip(from_file.regions, in_memory.regions):
        assert abs(a.start - b.start) <= tolerance and abs(a.end - b.end) <= tolerance


def test_bad_input_is_one_clear_error(tmp_path):
    with pytest.raises(AsrError, match=r"expects mono audio of shape \(num_samples,\), got shape \(2, 100\)"):
        vad.speech_activity(np.zeros((2, 100), np.float32))
    with pytest.raises(AsrError, match=r"unsupported sample rate 4000 Hz"):
        vad.speech_activity(np.zeros(4000, np.float32), sample_rate=4000)
    with pytest.raises(AsrError, match=r"missing.wav: no such audio file"):
        vad.file_speech_activity(tmp_path / "missing.wav")
    with pytest.raises(AsrError, match=r"VAD threshold must lie between 0 and 1, got 1.5"):
        VadOptions(threshold=1.5)
    with pytest.raises(AsrError, match=r"VAD neg_threshold must lie in \(0, threshold=0.5\], got 0.7"):
        VadOptions(neg_threshold=0.7)


# -- probabilities -> regions (constructed) ------------------------------------------------------


def frames(*runs: tuple[float, int]) -> np.ndarray:
    """Probabilities from ``(value, count)`` runs of 32 ms frames."""
    return np.concatenate([np.full(n, p, np.float32) for p, n in runs])


def test_hysteresis_min_silence_min_speech_and_padding():
    options = VadOptions(threshold=0.5, min_speech=0.25, min_silence=0.1, speech_pad=0.03)
    probs = frames(
        (0.1, 10),  # 0.00-0.32 silence
        (0.9, 20),  # 0.32-0.96 speech starts
        (0.4, 10),  # between the thresholds: still speech
        (0.9, 5),
        (0.1, 2),  # a 64 ms dip: shorter than min_silence, no cut
        (0.9, 20),  # speech up to 2.144 s
        (0.1, 30),  # pause
        (0.9, 5),  # 3.104-3.264: 160 ms of speech, shorter than min_speech, dropped
        (0.1, 30),
        (0.9, 12),  # 4.224-4.608: speech to the very end
    )
    regions = regions_from_probabilities(probs, len(probs) * 512, options)
    assert [(round(r.start, 4), round(r.end, 4)) for r in regions] == [(0.29, 2.174), (4.194, 4.608)]


def test_padding_shares_a_short_gap():
    options = VadOptions(min_speech=0.0, min_silence=0.05, speech_pad=0.1)
    probs = frames((0.9, 10), (0.1, 4), (0.9, 10))  # a 128 ms pause: less than twice the pad
    a, b = regions_from_probabilities(probs, len(probs) * 512, options)
    assert a.start == 0.0 and a.end == b.start == pytest.approx(0.384)


# -- planning ------------------------------------------------------------------------------------


def test_pauses_cut_short_gaps_merge_and_padding_stops_halfway():
    regions = [Region(0.05, 2.0), Region(2.2, 4.0), Region(5.0, 7.0), Region(7.1, 9.9)]
    segments = plan_segments(regions, duration=10.0, max_seconds=30.0, pad=0.2, merge_gap=0.3)
    assert segments == [
        Segment(0.0, 4.2, (Region(0.05, 2.0), Region(2.2, 4.0))),
        Segment(4.8, 10.0, (Region(5.0, 7.0), Region(7.1, 9.9))),
    ]
    close = plan_segments([Region(1.0, 2.0), Region(2.5, 3.0)], duration=4.0, merge_gap=0.3, pad=0.4)
    assert [(s.start, s.end) for s in close] == [(0.6, 2.25), (2.25, 3.4)]


def test_merging_stops_at_the_maximum_length():
    regions = [Region(i * 2.1, i * 2.1 + 2.0) for i in range(10)]  # 2 s of speech, 0.1 s pauses
    segments = plan_segments(regions, duration=21.0, max_seconds=6.7, pad=0.2)
    assert [len(s.speech) for s in segments] == [3, 3, 3, 1]
    assert all(s.duration <= 6.7 for s in segments)


def test_a_long_region_is_cut_at_its_quietest_frame():
    levels = np.full(int(21 / FRAME_SECONDS), -20.0, np.float32)
    levels[int(3.0 / FRAME_SECONDS)] = -70.0  # before the second half of the first 9.6 s: too early a cut
    levels[int(7.3 / FRAME_SECONDS)] = -40.0
    levels[int(8.0 / FRAME_SECONDS)] = -50.0
    levels[int(14.0 / FRAME_SECONDS)] = -45.0
    segments = plan_segments([Region(0.5, 20.5)], duration=21.0, max_seconds=10.0, pad=0.2, levels=levels)
    cuts = [s.speech[0].start for s in segments[1:]]
    middle = lambda t: (int(t / FRAME_SECONDS) + 0.5) * FRAME_SECONDS  # noqa: E731 - the frame holding t
    assert cuts == pytest.approx([middle(8.0), middle(14.0)])
    assert segments[0].start == pytest.approx(0.3) and segments[-1].end == pytest.approx(20.7)
    assert [s.end for s in segments[:-1]] == pytest.approx(cuts)  # no padding across a cut inside speech
    assert all(s.duration <= 10.0 for s in segments)
    without = plan_segments([Region(0.0, 24.0)], duration=24.0, max_seconds=10.0, pad=0.2)
    assert [(round(s.start, 3), round(s.end, 3)) for s in without] == [(0.0, 8.0), (8.0, 16.0), (16.0, 24.0)]


def test_no_speech_no_segments_and_bad_plans_are_refused():
    assert plan_segments([], duration=5.0) == []
    with pytest.raises(AsrError, match=r"segments of at most 0.3 s cannot hold 0.2 s of padding at each end"):
        plan_segments([Region(0, 1)], duration=2.0, max_seconds=0.3, pad=0.2)
    with pytest.raises(AsrError, match=r"speech regions must be sorted, not overlapping and within 0-2.0 s"):
        plan_segments([Region(0.5, 1.0), Region(0.8, 1.5)], duration=2.0)


def test_a_long_recording_is_planned_at_its_pauses(sentences):
    """Repeated sentences with pauses, and a run of 14 s without a pause: segments <= max, cuts in pauses."""
    rng = np.random.default_rng(3)
    parts, truth, position = [], [], 0.0

    def add(audio: np.ndarray, start: float = 0.0, end: float = 0.0) -> None:
        nonlocal position
        if end:
            truth.append((position + start, position + end))
        parts.append(audio)
        position += len(audio) / RATE

    for k in range(14):
        audio, start, end = sentences[k % 3]
        add(np.zeros(int(rng.uniform(0.4, 1.5) * RATE), np.float32))
        add(audio, start, end)
    syllables = []
    for k in range(6):  # back to back, 40 ms apart: one long region
        audio, spans = speech_and_syllables(k % 3)
        first = max(0, int((spans[0, 0] - 0.04) * RATE))
        syllables += [position + spans - first / RATE]
        add(audio[first : int(spans[-1, 1] * RATE)], spans[0, 0] - first / RATE, spans[-1, 1] - first / RATE)
    add(np.zeros(RATE, np.float32))
    recording = np.concatenate(parts) + noise(position, -60)
    activity = vad.speech_activity(recording)
    segments = plan_segments(activity.regions, activity.duration, max_seconds=8.0, pad=0.2, levels=activity.levels)

    assert all(s.duration <= 8.0 for s in segments)
    assert all(a.end <= b.start for a, b in zip(segments, segments[1:]))
    pieces = [p for s in segments for p in s.speech]
    assert all(s.start <= p.start and p.end <= s.end for s in segments for p in s.speech)
    for region in activity.regions:  # each region is in exactly one segment, or cut into pieces that tile it
        inside = [p for p in pieces if region.start <= p.start and p.end <= region.end]
        assert inside[0].start == region.start and inside[-1].end == region.end
        assert all(a.end == b.start for a, b in zip(inside, inside[1:]))
    for start, end in truth[:14]:  # separate sentences: each wholly inside one segment
        assert sum(s.start <= start and end <= s.end for s in segments) == 1, (start, end)
    covered = lambda t: any(s.start <= t <= s.end for s in segments)  # noqa: E731
    assert all(covered(t) for start, end in truth for t in np.arange(start, end, 0.01))
    cuts = [s.start for s in segments if s.start >= truth[14][0]]
    assert len(cuts) >= 1  # 14 s of speech without a pause was cut...
    half_frame = FRAME_SECONDS / 2  # a cut is the middle of the quietest 32 ms frame
    for cut in cuts:  # ...between syllables
        assert not any(a + half_frame < cut < b - half_frame for a, b in np.concatenate(syllables)), cut
