"""Ground-truth character times of synthetic utterances: eSpeak events -> characters -> rendered seconds."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from asr.corpus.synthetic.char_times import character_spans, is_nucleus, reading_offsets
from asr.corpus.synthetic.compose import plan_corpus
from asr.corpus.synthetic.config import load_corpus_config
from asr.corpus.synthetic.dialects import get_dialect
from asr.corpus.synthetic.espeak import EVENT_END, EVENT_PHONEME, EVENT_WORD, SynthEvent, VoiceSettings, engine
from asr.corpus.synthetic.render import FRAME, map_through_kept_frames, render, speech_frames, tidy_silences
from asr.errors import AsrError
from asr.manifest.records import Utterance, parse_utterance

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "recipes/dialect/conf/corpus_tiny.yaml"


def word(position: int, sample: int) -> SynthEvent:
    return SynthEvent(EVENT_WORD, position, sample)


def phone(name: str, sample: int, position: int = 0) -> SynthEvent:
    return SynthEvent(EVENT_PHONEME, position, sample, name)


# -- mapping eSpeak positions to characters ----------------------------------------------


def test_reading_offsets_for_pinyin_and_for_characters():
    assert reading_offsets("导航", "dao3 hang2") == [0, 5]
    assert reading_offsets("导航", "导航") == [0, 1]
    with pytest.raises(AsrError, match=r"has 3 syllables for the 2 characters of '导航'"):
        reading_offsets("导航", "dao3 hang2 a1")


@pytest.mark.parametrize(
    "phoneme, nucleus",
    [("'aa", True), (",aau", True), ("oeng", True), ("'ng", True), ("@", True), ("'i.", True),
     ("N", False), ("j", False), ("w", False), ("ts.h", False), ("m", False), ("_|", False)],
)
def test_nucleus_is_a_vowel_or_a_syllabic_nasal(phoneme, nucleus):
    assert is_nucleus(phoneme) is nucleus


def test_one_word_per_pinyin_syllable_spans_its_sounding_phonemes():
    # "dao3 hang2": pause phonemes (_|, _:) are not speech; the word ends where the next event starts
    events = (
        word(1, 0), phone("t", 859), phone("'Au", 1309), phone("_|", 4392),
        word(6, 4392), phone("X", 4656), phone("'A", 6968), phone("N", 10232), phone("_|", 12087),
        phone("_:", 12087), SynthEvent(EVENT_END, 11, 12300),
    )
    spans = character_spans(events, "导航", "dao3 hang2", 12300)
    assert spans.tolist() == [[859, 4392], [4656, 12087]]


def test_a_cantonese_word_of_two_characters_is_cut_at_the_second_onset():
    # yue reads 一下 as one word: j a t | h 'aa; the cut is at h (t is the coda of the first syllable)
    events = (
        word(1, 0), phone("d", 100), phone("'ou", 500), phone("_|", 3000),
        word(2, 3000), phone("j", 3100), phone("a", 3400), phone("t", 5000), phone("h", 5600),
        phone("'aa", 6100), phone("_|", 9000), SynthEvent(EVENT_END, 4, 9500),
    )
    spans = character_spans(events, "到一下", "到一下", 9500)
    assert spans.tolist() == [[100, 3000], [3100, 5600], [5600, 9000]]


def test_when_nuclei_do_not_match_the_characters_the_word_is_divided_evenly():
    events = (word(1, 0), phone("m", 0), phone("m", 300), phone("_|", 900), SynthEvent(EVENT_END, 3, 900))
    assert character_spans(events, "唔唔", "唔唔", 900).tolist() == [[0, 450], [450, 900]]


def test_spans_never_go_backwards_or_past_the_output():
    events = (word(1, 0), phone("a", 500), word(2, 400), phone("b", 300), phone("_", 2000))
    spans = character_spans(events, "甲乙", "甲乙", 1000)
    assert np.all(np.diff(spans.reshape(-1)) >= 0) and spans.max() <= 1000


def test_no_word_events_is_an_error_naming_the_input():
    with pytest.raises(AsrError, match=r"no word events for 'ni3'"):
        character_spans((SynthEvent(EVENT_END, 1, 10),), "你", "ni3", 10)


def test_espeak_reports_one_word_per_syllable_and_samples_within_its_output():
    synthesis = engine().synthesize_with_events("dao3 hang2 dao4", VoiceSettings("cmn-latn-pinyin"))
    words = [e for e in synthesis.events if e.kind == EVENT_WORD]
    assert [w.text_position for w in words] == [1, 6, 12]
    assert synthesis.events[-1].kind == EVENT_END and synthesis.events[-1].sample == len(synthesis.samples)
    assert all(e.phoneme for e in synthesis.events if e.kind == EVENT_PHONEME)


# -- through the renderer --------------------------------------------------------------------


def test_positions_follow_the_cut_silences():
    """Clicks placed around a long pause are found where map_through_kept_frames says they went."""
    rate, audio = 16000, np.zeros(16000 * 3, dtype=np.float32)
    rng = np.random.default_rng(0)
    audio[4000:12000] = 0.3 * rng.standard_normal(8000)  # speech 0.25-0.75 s
    audio[36000:40000] = 0.3 * rng.standard_normal(4000)  # speech 2.25-2.5 s, after a 1.5 s pause
    clicks = np.array([5003.0, 11517.0, 36011.0, 39990.0])
    audio[clicks.astype(int)] = 1.0
    kept = speech_frames(audio)
    tidied = tidy_silences(audio, kept)
    assert np.array_equal(tidied, tidy_silences(audio))
    assert len(tidied) < len(audio) - 1.0 * rate  # the pause was shortened
    found = np.flatnonzero(tidied == 1.0)
    assert found.tolist() == map_through_kept_frames(clicks, kept).astype(int).tolist()


def test_positions_inside_cut_frames_go_to_where_the_cut_closes():
    kept = np.array([False, True, True, False, False, True])
    positions = np.array([5.0, FRAME + 7.0, 3 * FRAME + 1.0, 5 * FRAME + 2.0, 6 * FRAME + 9.0])
    assert map_through_kept_frames(positions, kept).tolist() == [0, 7, 2 * FRAME, 2 * FRAME + 2, 3 * FRAME]


@pytest.fixture(scope="module")
def clean_specs():
    """A Mandarin and a Cantonese test utterance of the tiny plan, recorded clean."""
    plan = plan_corpus(load_corpus_config(TINY))
    specs = []
    for dialect, text in (("mandarin", None), ("cantonese", "请把温度调高一下")):
        spec = next(s for s in plan.utterances if s.speaker.dialect == dialect)
        text = text or spec.text
        specs.append(dataclasses.replace(spec, condition="clean", snr_db=None, noise=None, text=text,
                                         tts_input=get_dialect(dialect).tts_input(text)))
    return specs


def _energy_edges(samples: np.ndarray, rate: int = 16000, floor_db: float = -35.0) -> tuple[float, float]:
    frames = samples[: len(samples) // FRAME * FRAME].astype(np.float64).reshape(-1, FRAME)
    power = (frames**2).mean(axis=1)
    loud = np.flatnonzero(power > power.max() * 10 ** (floor_db / 10))
    return loud[0] * FRAME / rate, (loud[-1] + 1) * FRAME / rate


def test_rendered_times_are_ordered_inside_the_audio_and_match_the_energy(clean_specs):
    for spec in clean_specs:
        rendered = render(spec, seed=0)
        times = np.array(rendered.char_times)
        duration = len(rendered.samples) / 16000
        assert times.shape == (len(spec.text), 2)
        assert np.all(np.diff(times.reshape(-1)) >= 0) and np.all(times[:, 1] > times[:, 0])
        assert 0.1 <= times[0, 0] and times[-1, 1] <= duration
        onset, offset = _energy_edges(rendered.samples)
        assert abs(times[0, 0] - onset) < 0.05, (spec.id, times[0, 0], onset)
        assert abs(times[-1, 1] - offset) < 0.05, (spec.id, times[-1, 1], offset)


def test_cantonese_multi_character_words_get_one_span_per_character(clean_specs):
    spec = clean_specs[1]
    synthesis = engine().synthesize_with_events(spec.tts_input, spec.speaker.voice)
    word_starts = [e.text_position - 1 for e in synthesis.events if e.kind == EVENT_WORD]
    assert len(word_starts) < len(spec.text)  # yue reads some of these characters as one word
    times = np.array(render(spec, seed=0).char_times)
    assert np.all(times[:, 1] - times[:, 0] > 0.04)  # every syllable lasts, none is squeezed to nothing


# -- manifest field ------------------------------------------------------------------------------


def _row(**changes) -> str:
    row = {"id": "u1", "audio": "a.wav", "duration": 1.0, "sample_rate": 16000, "text": "你好", "speaker": "s"}
    return json.dumps(row | changes, ensure_ascii=False)


def test_char_times_are_a_first_class_field_kept_out_of_metadata():
    utt = parse_utterance(_row(char_times=[[0.1, 0.4], [0.45, 0.9]], dialect="wu"), "m.jsonl:1")
    assert utt.char_times == ((0.1, 0.4), (0.45, 0.9))
    assert "char_times" not in utt.metadata() and utt.metadata()["dialect"] == "wu"
    assert parse_utterance(json.dumps(utt.to_json(), ensure_ascii=False), "again") == utt
    assert Utterance("u", "a.wav", 1.0, 16000, "好", "s").to_json().get("char_times") is None


@pytest.mark.parametrize(
    "times, message",
    [
        ([[0.1, 0.4]], r"m.jsonl:3: utterance u1: field 'char_times' must hold one \[start, end\] per character "
                       r"of the text \(2\), got 1"),
        ([[0.1, 0.4], [0.5, 1.5]], r"field 'char_times'\[1\] must be \[start, end\] seconds, 0 <= start <= end <= duration"),
        ([[0.4, 0.1], [0.5, 0.6]], r"field 'char_times'\[0\] must be"),
        ([[0.1, "x"], [0.5, 0.6]], r"field 'char_times'\[0\] must be"),
        ("0.1", r"field 'char_times' must hold one \[start, end\] per character of the text \(2\), got str"),
    ],
)
def test_bad_char_times_are_named(times, message):
    with pytest.raises(AsrError, match=message):
        parse_utterance(_row(char_times=times), "m.jsonl:3")
