"""``asr.transcribe`` and ``asr transcribe``: formats, rates, chunking, alignment, failures."""

import dataclasses
import json
import re

import numpy as np
import pytest
import soundfile as sf

import asr
from asr.cli import main
from asr.errors import AsrError
from asr.decode.formats import format_transcript, srt_time
from asr.decode.transcription import Transcript, chunk_array, chunk_file, transcribe
from conftest import write_tone
from tests.tiny_model import DelayedEnergyModel, EnergyModel, make_tiny_aligner, make_tiny_model

SRT_CUE = re.compile(r"(\d+)\n(\d\d):(\d\d):(\d\d),(\d\d\d) --> (\d\d):(\d\d):(\d\d),(\d\d\d)\n(.+)\n")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("model") / "model")


@pytest.fixture(scope="module")
def model(model_dir):
    return asr.load_model(model_dir)


def bursts(times, seconds, rate=16000, length=0.2, noise=1e-3):
    """Quiet noise with a 0.2 s tone burst starting at each of ``times``."""
    rng = np.random.default_rng(1)
    audio = noise * rng.standard_normal(int(seconds * rate)).astype(np.float32)
    for t in times:
        n = int(length * rate)
        audio[int(t * rate) : int(t * rate) + n] += 0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / rate)
    return audio


def srt_cues(text):
    cues = []
    for m in SRT_CUE.finditer(text):
        g = [int(x) for x in m.groups()[1:9]]
        cues.append((g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000, g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000))
    return cues


def check_transcript(t: Transcript, duration: float):
    assert t.duration == pytest.approx(duration, abs=0.08)  # mp3 encoder padding
    times = [(tok.start, tok.end) for tok in t.tokens]
    assert times, "a random model emits tokens"
    assert all(0 <= s <= e <= t.duration for s, e in times)
    assert all(e1 <= s2 for (_, e1), (s2, _) in zip(times, times[1:]))
    assert all(0 <= tok.confidence <= 1 for tok in t.tokens)
    assert t.text.replace(" ", "") == "".join(tok.text for tok in t.tokens)


@pytest.mark.parametrize("name,rate,channels", [("a.wav", 16000, 1), ("a.flac", 16000, 1), ("a.mp3", 16000, 1),
                                                ("stereo8k.wav", 8000, 2), ("a.ogg", 22050, 1)])
def test_files_of_any_format_rate_and_channels(model, tmp_path, name, rate, channels):
    path = write_tone(tmp_path / name, seconds=2.0, rate=rate, channels=channels)
    result = transcribe(model, path, vad=False)  # a tone is not speech: decode it whole
    check_transcript(result, 2.0)
    assert result.source == str(path)
    doc = json.loads(format_transcript(result, "json"))
    assert set(doc) == {"file", "text", "duration", "confidence", "segments", "times_from"}  # no note, no speech detection
    assert doc["times_from"] == "model"  # the tiny model has no aligner
    token = doc["segments"][0]["tokens"][0]
    assert set(token) == {"token", "start", "end", "confidence"}
    cues = srt_cues(format_transcript(result, "srt"))
    assert len(cues) == len(result.tokens)
    assert [c[0] for c in cues] == pytest.approx([t.start for t in result.tokens], abs=1e-6)
    assert len(srt_cues(format_transcript(result, "srt", timestamps="segment"))) == len(result.segments)
    assert all(0 <= s <= e <= 2.08 for s, e in cues)
    assert all(e1 <= s2 for (_, e1), (s2, _) in zip(cues, cues[1:]))


def test_array_input_and_lazy_api(model, tmp_path):
    path = write_tone(tmp_path / "a.wav", seconds=1.5)
    audio = asr.load_audio(path)
    from_array = asr.transcribe(model, audio, vad=False)
    assert isinstance(from_array, asr.Transcript) and from_array.source is None
    assert from_array.text == transcribe(model, path, vad=False).text
    with pytest.raises(dataclasses.FrozenInstanceError):
        from_array.text = "x"  # type: ignore[misc]
    with pytest.raises(AsrError, match=r"expected a non-empty float \(num_samples,\) waveform"):
        transcribe(model, np.zeros((2, 100), dtype=np.float32))


def test_real_model_on_long_audio_is_chunked(model, tmp_path):
    path = tmp_path / "long.wav"
    sf.write(str(path), bursts(np.arange(0.5, 40, 1.0), 41.0, rate=8000), 8000)
    result = transcribe(model, path, chunk_seconds=10.0, vad=False)
    assert result.chunks >= 4
    check_transcript(result, 41.0)
    assert result.tokens[-1].end > 35.0


def test_alignment_places_tokens_on_the_sound():
    times = [0.5, 2.0, 7.3, 9.9, 14.0]
    result = transcribe(EnergyModel(), bursts(times, 16.0), chunk_seconds=5.0, vad=False)
    assert [t.text for t in result.tokens] == ["打"] * len(times)
    for token, t in zip(result.tokens, times):
        assert token.start == pytest.approx(t, abs=0.05)
        assert token.end == pytest.approx(t + 0.2, abs=0.05)
        assert token.confidence == pytest.approx(0.9)


def test_an_aligner_gives_the_times_and_the_model_the_text():
    """The aligner hears the bursts 0.12 s late: the tokens are the model's, their times the aligner's."""
    times = [0.5, 2.0, 3.3]
    audio = bursts(times, 4.5)
    own = transcribe(EnergyModel(), audio, vad=False, aligner=False)
    # other token ids: the aligner's vocabulary is its own, matched by token
    aligned = transcribe(EnergyModel(), audio, vad=False, aligner=DelayedEnergyModel(0.12, ("你好", "打")))
    assert own.text == aligned.text == "打打打"
    assert (own.times_from, aligned.times_from) == ("model", "aligner")
    assert aligned.to_json()["times_from"] == "aligner" and aligned.decoding["times_from"] == "aligner"
    for mine, theirs, t in zip(own.tokens, aligned.tokens, times):
        assert mine.start == pytest.approx(t, abs=0.05) and theirs.start == pytest.approx(t + 0.12, abs=0.05)
        assert theirs.confidence == mine.confidence == pytest.approx(0.9)  # confidences stay the model's
    # An aligner that does not know a token aligns it as <unk>: it then hears nothing there and the
    # forced alignment still gives every token a place, in order.
    unknown = transcribe(EnergyModel(), audio, vad=False, aligner=DelayedEnergyModel(0.12, ("你好",)))
    starts = [t.start for t in unknown.tokens]
    assert unknown.text == "打打打" and starts == sorted(starts)


def test_an_aligner_with_too_few_frames_leaves_the_models_times():
    coarse = DelayedEnergyModel(0.0)
    coarse.frame_shift = 1.0  # one frame a second: three tokens in 0.6 s cannot be placed
    audio = bursts([0.1, 0.3, 0.5], 0.8, length=0.05)
    own = transcribe(EnergyModel(), audio, vad=False, aligner=False)
    assert [t.start for t in transcribe(EnergyModel(), audio, vad=False, aligner=coarse).tokens] == \
        [t.start for t in own.tokens]


def test_the_bundled_aligner_is_used_unless_told_otherwise(tmp_path, capsys):
    from asr.models.model_dir import bundle_aligner

    model_dir = make_tiny_model(tmp_path / "model")
    aligner_dir = make_tiny_aligner(tmp_path / "aligner")
    audio = write_tone(tmp_path / "a.wav", seconds=1.0)
    assert main(["transcribe", "--vad", "off", str(audio), "--model", str(model_dir), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["times_from"] == "model"
    bundle_aligner(model_dir, aligner_dir)
    assert asr.transcribe(model_dir, str(audio), vad=False).times_from == "aligner"
    for option, expected in ((["--aligner", "none"], "model"), ([], "aligner"), (["--aligner", str(aligner_dir)], "aligner")):
        assert main(["transcribe", "--vad", "off", str(audio), "--model", str(model_dir), "--format", "json", *option]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["times_from"] == expected
        assert all(0 <= t["start"] <= t["end"] <= 1.0 for s in result["segments"] for t in s["tokens"])
    assert main(["transcribe", str(audio), "--model", str(model_dir), "--aligner", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err
    assert err == f"asr transcribe: error: --aligner: {tmp_path / 'nowhere'}: model directory not found\n"


def test_three_minutes_streamed_in_bounded_chunks(tmp_path):
    times = np.arange(1.0, 180.0, 2.5)
    path = tmp_path / "three_minutes.flac"
    sf.write(str(path), np.stack([bursts(times, 180.0, rate=8000)] * 2, axis=1), 8000)
    fake = EnergyModel()
    result = transcribe(fake, path, batch_size=2, vad=False)
    assert result.duration == pytest.approx(180.0, abs=0.01)
    assert 6 <= result.chunks <= 9 and max(len(c) for c in fake.calls) <= 2
    assert max(n for c in fake.calls for n in c) <= 30 * 16000
    assert len(result.tokens) == len(times)  # no token lost or doubled at chunk boundaries
    assert result.tokens[0].start == pytest.approx(1.0, abs=0.05)
    assert result.tokens[-1].end == pytest.approx(times[-1] + 0.2, abs=0.05)
    cues = srt_cues(format_transcript(result, "srt"))
    assert len(cues) == len(times) and all(e1 <= s2 for (_, e1), (s2, _) in zip(cues, cues[1:]))


def test_chunks_are_cut_at_the_quietest_point(tmp_path):
    rate = 8000
    audio = 0.1 * np.random.default_rng(0).standard_normal(70 * rate).astype(np.float32)
    audio[int(25.0 * rate) : int(25.4 * rate)] = 0.0  # a pause in the last third of the first chunk
    path = tmp_path / "a.wav"
    sf.write(str(path), audio, rate)
    chunks = list(chunk_file(path, max_seconds=30.0))
    assert chunks[0][0] == 0 and 25.0 < chunks[1][0] < 25.4
    assert sum(len(c[1]) for c in chunks) == len(audio)
    assert all(len(c[1]) <= 30 * rate for c in chunks)
    starts = [start for start, _ in chunk_array(audio, rate, 30.0)]
    assert starts == [c[0] for c in chunks]


def test_formats():
    from asr.decode.transcription import Segment, Token

    tokens = (Token("打", 1.0, 1.2, 0.9), Token("开", 1.3, 1.5, 0.7))
    t = Transcript("打开", (Segment("打开", 1.0, 1.5, 0.8, tokens),), 3725.5, 0.8, "a.wav")
    assert format_transcript(t, "text") == "打开\n"
    assert format_transcript(t, "srt", timestamps="segment") == "1\n00:00:01,000 --> 00:00:01,500\n打开\n\n"
    assert format_transcript(t, "srt") == (
        "1\n00:00:01,000 --> 00:00:01,200\n打\n\n2\n00:00:01,300 --> 00:00:01,500\n开\n\n"
    )
    assert format_transcript(t, "tsv", timestamps="segment") == "a.wav\t1.000\t1.500\t0.8000\t打开\n"
    assert format_transcript(t, "tsv") == "a.wav\t1.000\t1.200\t0.9000\t打\na.wav\t1.300\t1.500\t0.7000\t开\n"
    assert srt_time(3725.5) == "01:02:05,500"
    with pytest.raises(AsrError, match="unknown output format 'xml'"):
        format_transcript(t, "xml")


def test_cli_corrupt_file_among_good_ones(model_dir, tmp_path, capsys):
    good1 = write_tone(tmp_path / "one.wav", seconds=1.0)
    good2 = write_tone(tmp_path / "two.flac", seconds=1.0)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(good1.read_bytes()[:30])
    code = main(["transcribe", "--vad", "off", str(good1), str(corrupt), str(good2), "--model", str(model_dir)])
    out, err = capsys.readouterr()
    assert code == 1
    assert [line.split("\t")[0] for line in out.splitlines()] == [str(good1), str(good2)]
    lines = err.strip().splitlines()
    assert lines[0].startswith(f"asr transcribe: error: {corrupt}: ")
    assert lines[-1] == "asr transcribe: error: 1 of 3 input(s) failed"


@pytest.mark.parametrize("fmt", ["json", "srt", "tsv"])
def test_cli_formats_and_output_dir(model_dir, tmp_path, capsys, fmt):
    audio = write_tone(tmp_path / "a.wav", seconds=1.0)
    assert main(["transcribe", "--vad", "off", str(audio), "--model", str(model_dir), "--format", fmt]) == 0
    out = capsys.readouterr().out
    if fmt == "json":
        assert json.loads(out)["file"] == str(audio)
    elif fmt == "srt":
        assert srt_cues(out)
    else:
        assert out.startswith("file\tstart\tend\tconfidence\ttext\n" + str(audio) + "\t")
    outdir = tmp_path / "out"
    assert main(["transcribe", "--vad", "off", str(audio), "--model", str(model_dir), "--format", fmt, "--output-dir", str(outdir)]) == 0
    assert (outdir / f"a.{fmt}").read_text(encoding="utf-8").strip()


def test_cli_without_a_model_names_the_command(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ASR_MODEL", raising=False)
    audio = write_tone(tmp_path / "a.wav", seconds=0.5)
    assert main(["transcribe", "--vad", "off", str(audio)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no model at recipes/dialect/exp/baseline/model" in err
    assert "`bash recipes/dialect/run.sh --stop-stage 3`" in err


def test_cli_model_from_environment(model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ASR_MODEL", str(model_dir))
    audio = write_tone(tmp_path / "a.wav", seconds=0.5)
    assert main(["transcribe", "--vad", "off", str(audio)]) == 0
    assert capsys.readouterr().out.strip()


def test_fit_times_ends_each_token_where_the_next_starts_and_keeps_them_in_the_speech():
    """CTC spikes: the first in the leading silence, the last after the speech; the detector found 0.20-1.30 s."""
    from asr.decode.transcription import Token, fit_times
    from asr.decode.vad import Region

    spikes = [Token(ch, s, s + 0.04, 0.9) for ch, s in zip("一二三四", (0.02, 0.50, 0.76, 1.28))]
    fitted = fit_times(spikes, [Region(0.20, 1.30)], end=1.5)
    assert [(t.start, t.end) for t in fitted] == [(0.2, 0.5), (0.5, 0.76), (0.76, 1.025), (1.025, 1.3)]
    # a typical duration: the median gap between spikes (0.48 s), at most the region's share per token (1.1 / 4
    # = 0.275 s); the last token starts that long before the speech ends
    assert [t.text for t in fitted] == list("一二三四") and all(t.confidence == 0.9 for t in fitted)

    # The last token of a region ends one typical duration after its start, or with the region: the detector's
    # region runs on past the speech (its hangover), a character's sound does not.
    fitted = fit_times(spikes[:3], [Region(0.20, 1.60)], end=1.8)
    # typical: the median spike gap (0.48 and 0.26: 0.37 s), under the region's share (1.4 / 3 s)
    assert [(t.start, t.end) for t in fitted] == [(0.2, 0.5), (0.5, 0.76), (0.76, 1.13)]

    # Without the detector (vad off): only the ends change; before a pause (more than MAX_TOKEN_SECONDS to the next
    # spike) a token ends where its aligned frames do.
    fitted = fit_times([Token("一", 0.1, 0.14, 1.0), Token("二", 0.3, 0.34, 1.0), Token("三", 2.0, 2.04, 1.0)], None, 2.1)
    assert [(t.start, t.end) for t in fitted] == [(0.1, 0.3), (0.3, 0.34), (2.0, 2.04)]
    assert fit_times([], None, 1.0) == []


def test_fit_times_gives_each_region_its_own_tokens():
    from asr.decode.transcription import Token, fit_times
    from asr.decode.vad import Region

    spikes = [Token(ch, s, s + 0.04, 1.0) for ch, s in zip("一二三四", (0.1, 0.35, 2.05, 2.9))]
    fitted = fit_times(spikes, [Region(0.0, 0.6), Region(2.0, 2.6)], end=3.0)
    # 一二 in the first region; 三 in the second, and 四 (after it) goes to the nearest, the second, where it
    # starts one default token duration (0.25 s) before the speech ends
    assert [(t.start, t.end) for t in fitted] == [(0.1, 0.35), (0.35, 0.6), (2.05, 2.35), (2.35, 2.6)]
