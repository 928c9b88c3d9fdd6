import json

import pytest

from asr.errors import AsrError
from asr.manifest.records import Manifest, Utterance, find_manifests, load_dataframe, read_manifest, write_manifest


def test_roundtrip_keeps_every_field(tmp_path):
    utt = Utterance(
        id="a", audio="x.wav", duration=1.5, sample_rate=16000, text="你好", speaker="s",
        dialect="wu", gender="female", age_band="18-29", region="上海", condition="noisy", snr_db=10.0,
        extra={"text_id": "t1"},
    )
    for name in ("m.jsonl", "m.jsonl.gz"):
        write_manifest(tmp_path / name, [utt])
        assert read_manifest(tmp_path / name) == [utt]
    line = (tmp_path / "m.jsonl").read_text(encoding="utf-8")
    assert '"text": "你好"' in line and "accent" not in line  # None fields are left out
    assert find_manifests(tmp_path) == [tmp_path / "m.jsonl", tmp_path / "m.jsonl.gz"]


def test_iteration_is_lazy(tmp_path):
    path = tmp_path / "m.jsonl"
    good = json.dumps({"id": "a", "audio": "a.wav", "duration": 1, "sample_rate": 16000, "text": "t", "speaker": "s"})
    path.write_text(good + "\nnot json\n")
    it = iter(Manifest(path))
    assert next(it).id == "a"
    with pytest.raises(AsrError, match=r"m\.jsonl:2: malformed manifest line"):
        next(it)


@pytest.mark.parametrize(
    "row, message",
    [
        ({"id": "a", "audio": "a.wav"}, r":1: utterance a: missing field\(s\) duration, sample_rate, text, speaker"),
        ({"id": "a", "audio": "a", "duration": 1, "sample_rate": 16000, "text": "t", "speaker": "s", "dialekt": "wu"},
         r"utterance a: unknown field 'dialekt'"),
        ({"id": "a", "audio": "a", "duration": -1, "sample_rate": 16000, "text": "t", "speaker": "s"},
         r"utterance a: field 'duration' must be a finite, non-negative number of seconds, got -1"),
        ({"id": "a", "audio": "a", "duration": 1, "sample_rate": "16k", "text": "t", "speaker": "s"},
         r"utterance a: field 'sample_rate' must be a positive integer in Hz, got '16k'"),
        ([1, 2], r":1: expected a JSON object, got list"),
    ],
)
def test_malformed_lines_name_file_line_and_utterance(tmp_path, row, message):
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(AsrError, match=message):
        read_manifest(path)


def test_duplicate_ids_are_refused_before_writing(tmp_path):
    utt = Utterance(id="a", audio="a.wav", duration=1, sample_rate=16000, text="t", speaker="s")
    with pytest.raises(AsrError, match=r"duplicate utterance id 'a'"):
        write_manifest(tmp_path / "m.jsonl", [utt, utt])
    assert not (tmp_path / "m.jsonl").exists()


def test_dataframe_has_metadata_and_extras_as_columns(tiny_manifest):
    df = load_dataframe(tiny_manifest)
    assert list(df["id"]) == ["u0", "u1", "u2"]
    assert list(df["dialect"]) == ["mandarin", "mandarin", "wu"]
    assert list(df["text_id"]) == ["t0", "t1", "t0"]
    assert Manifest(tiny_manifest).audio_path(read_manifest(tiny_manifest)[0]) == tiny_manifest.parent / "audio/u0.wav"


@pytest.mark.parametrize("line, message", [
    (b'{"id": "a", "audio": "a.wav", "duration": NaN, "sample_rate": 16000, "text": "x", "speaker": "s"}',
     "m.jsonl:3: utterance a: field 'duration' must be a finite, non-negative number of seconds, got nan"),
    (b'{"id": "a", "text": "\xff"}', "m.jsonl:3: not UTF-8 text (invalid start byte at byte 21)"),
    (b'{"id": "a",', "m.jsonl:3: malformed manifest line (Expecting property name enclosed in double quotes); "
                    "expected one JSON object per line"),
])
def test_lines_as_bytes_get_the_same_errors_as_text(line, message):
    from asr.manifest.records import parse_utterance

    with pytest.raises(AsrError) as e:
        parse_utterance(line, "m.jsonl:3")
    assert str(e.value) == message


def test_lines_as_bytes_and_text_parse_alike():
    from asr.manifest.records import parse_utterance

    line = '{"id": "a", "audio": "a.wav", "duration": 1.5, "sample_rate": 16000, "text": "你好", "speaker": "s", "dialect": "wu"}'
    assert parse_utterance(line.encode("utf-8"), "m:1") == parse_utterance(line, "m:1")
    assert parse_utterance(line, "m:1").dialect == "wu"
