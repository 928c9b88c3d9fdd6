import json

import numpy as np
import soundfile as sf

import pytest

from asr.errors import AsrError
from asr.manifest.validate import manifest_stats, validate_manifest
from conftest import write_tone


def _append(path, row):
    with open(path, "a", encoding="utf-8") as f:
        f.write((row if isinstance(row, str) else json.dumps(row, ensure_ascii=False)) + "\n")


def test_valid_manifest_has_no_problems(tiny_manifest):
    assert validate_manifest(tiny_manifest) == []


def test_every_problem_is_reported_with_its_utterance(tiny_manifest, tmp_path):
    (tmp_path / "audio" / "bad.wav").write_text("not audio")
    write_tone(tmp_path / "audio" / "rate.wav", seconds=0.5, rate=8000)
    base = {"sample_rate": 16000, "speaker": "s9", "text": "你好"}
    _append(tiny_manifest, {**base, "id": "u0", "audio": "audio/u0.wav", "duration": 0.5})
    _append(tiny_manifest, {**base, "id": "gone", "audio": "audio/gone.wav", "duration": 1.0})
    _append(tiny_manifest, {**base, "id": "bad", "audio": "audio/bad.wav", "duration": 1.0})
    _append(tiny_manifest, {**base, "id": "long", "audio": "audio/u1.wav", "duration": 3.0})
    _append(tiny_manifest, {**base, "id": "rate", "audio": "audio/rate.wav", "duration": 0.5, "sample_rate": 16000})
    _append(tiny_manifest, {**base, "id": "mute", "audio": "audio/u2.wav", "duration": 0.6, "text": "，。"})
    _append(tiny_manifest, "{broken")
    problems = [str(p) for p in validate_manifest(tiny_manifest)]
    expected = [
        r":4: utterance u0: duplicate id \(first on line 1\)",
        r":5: utterance gone: .*gone\.wav: no such audio file",
        r":6: utterance bad: .*bad\.wav: not a readable audio file",
        r":7: utterance long: segment ends at 3\.000 s but the audio lasts 0\.700 s",
        r":8: utterance rate: audio is 8000 Hz but the manifest says 16000 Hz",
        r":9: utterance mute: empty transcript",
        r":10: utterance \?: malformed manifest line",
    ]
    assert len(problems) == len(expected), problems
    import re

    for pattern, problem in zip(expected, problems):
        assert re.search(pattern, problem), (pattern, problem)


def test_stats_per_group(tiny_manifest):
    table = manifest_stats(tiny_manifest)
    assert list(table.index) == ["mandarin", "wu", "total"]
    assert table.loc["mandarin", "utterances"] == 2 and table.loc["mandarin", "speakers"] == 1
    assert table.loc["total", "hours"] == pytest.approx(1.8 / 3600)
    both = manifest_stats(tiny_manifest, ["dialect", "gender"])
    assert list(both.index) == ["mandarin/female", "wu/male", "total"]
    # A metadata field no utterance has is one "(missing)" group; an unknown field is an error.
    accents = manifest_stats(tiny_manifest, ["accent"])
    assert list(accents.index) == ["(missing)", "total"] and accents.loc["(missing)", "utterances"] == 3
    with pytest.raises(AsrError, match=r"test\.jsonl: no field 'dialekt' in the manifest"):
        manifest_stats(tiny_manifest, ["dialekt"])


def test_nonfinite_durations_empty_ids_and_ids_with_spaces_are_reported(tmp_path):
    import json as _json

    from asr.manifest.validate import validate_manifest

    sf.write(str(tmp_path / "a.wav"), np.zeros(1600, dtype=np.float32) + 0.1, 16000)
    base = {"audio": "a.wav", "duration": 0.1, "sample_rate": 16000, "text": "你好", "speaker": "s"}
    rows = [{**base, "id": "ok"}, {**base, "id": ""}, {**base, "id": "has space"}]
    text = "".join(_json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    text += '{"id": "nan", "audio": "a.wav", "duration": NaN, "sample_rate": 16000, "text": "你好", "speaker": "s"}\n'
    text += '{"id": "inf", "audio": "a.wav", "duration": Infinity, "sample_rate": 16000, "text": "你好", "speaker": "s"}\n'
    (tmp_path / "m.jsonl").write_text(text, encoding="utf-8")
    problems = [str(p) for p in validate_manifest(tmp_path / "m.jsonl")]
    assert len(problems) == 4
    assert problems[0].endswith(":2: utterance : empty id (expected a non-empty id without whitespace)")
    assert ":3: utterance has space: id 'has space' contains whitespace" in problems[1]
    assert problems[2].endswith(":4: utterance nan: field 'duration' must be a finite, non-negative number of seconds, got nan")
    assert problems[3].endswith(":5: utterance inf: field 'duration' must be a finite, non-negative number of seconds, got inf")


def test_nan_samples_in_a_float_wav_are_reported(tmp_path):
    from asr.manifest.records import Utterance, write_manifest
    from asr.manifest.validate import validate_manifest

    audio = np.full(16000, 0.1, dtype=np.float32)
    audio[100:200] = np.nan
    sf.write(str(tmp_path / "nan.wav"), audio, 16000, subtype="FLOAT")
    write_manifest(tmp_path / "m.jsonl", [Utterance(id="x", audio="nan.wav", duration=1.0, sample_rate=16000,
                                                     text="你好", speaker="s")])
    problems = [str(p) for p in validate_manifest(tmp_path / "m.jsonl")]
    assert problems == [f"{tmp_path / 'm.jsonl'}:1: utterance x: 100 audio samples are NaN or infinite (expected finite audio)"]
