"""`asr prepare lhotse` and `asr manifest export-lhotse` on tiny lhotse corpora built here with lhotse itself."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest

from asr.cli import main
from asr.corpus.lhotse import prepare_lhotse
from asr.errors import AsrError
from asr.manifest.lhotse_export import export_lhotse
from asr.manifest.records import Utterance, read_manifest, write_manifest
from conftest import write_tone

lhotse = pytest.importorskip("lhotse")
from lhotse import (  # noqa: E402  (after the skip: lhotse is optional)
    AudioSource,
    CutSet,
    Recording,
    RecordingSet,
    SupervisionSegment,
    SupervisionSet,
)


def _sup(id: str, rec: str, start: float, duration: float, text: str, speaker: str | None = "s1", **kw):
    return SupervisionSegment(id=id, recording_id=rec, start=start, duration=duration, text=text, speaker=speaker, **kw)


def _save(manifests, path: Path) -> None:
    """``manifests.to_file(path)``, its directory made first (lhotse does not make it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    manifests.to_file(path)


def _corpus(root: Path) -> tuple[RecordingSet, SupervisionSet]:
    """A lhotse corpus as a recipe writes it: two recordings, three supervisions, Common Voice-like metadata."""
    long = write_tone(root / "wav" / "long.wav", seconds=1.0)
    short = write_tone(root / "wav" / "short.wav", seconds=0.6, rate=8000)
    recordings = RecordingSet.from_recordings([Recording.from_file(long), Recording.from_file(short)])
    supervisions = SupervisionSet.from_segments([
        _sup("long-1", "long", 0.0, 0.4, "打开空调", gender="F", language="zh-CN",
             custom={"dialect": "Lan-Yin", "age": 34, "accents": "出生地：11 北京市|出生地：37 山东省", "variant": "v1",
                     "scores": [1, 2]}),
        _sup("long-2", "long", 0.5, 0.5, "导航回家", gender="female_feminine", language="zh-CN",
             custom={"phase": "phase2", "snr": "12.5", "age": "twenties", "age_band": "30-39"}),
        _sup("short", "short", 0.0, 0.6, "你好", speaker="s2", gender="male", custom={"accents": ["香港", "", "香港"]}),
    ])
    return recordings, supervisions


def _write_corpus(root: Path, name: str = "toy", split: str | None = "train") -> Path:
    recordings, supervisions = _corpus(root)
    suffix = f"_{split}" if split else ""
    recordings.to_file(root / f"{name}_recordings{suffix}.jsonl.gz")
    supervisions.to_file(root / f"{name}_supervisions{suffix}.jsonl.gz")
    return root


def test_recordings_and_supervisions_become_a_manifest(tmp_path):
    corpus = _write_corpus(tmp_path / "lhotse")
    written = prepare_lhotse(corpus, tmp_path / "out")
    assert list(written) == ["train"]
    utts = {u.id: u for u in read_manifest(written["train"])}
    assert sorted(utts) == ["long-1", "long-2", "short"]
    l1, l2, s = utts["long-1"], utts["long-2"], utts["short"]
    assert (l1.audio, l1.start, l1.duration, l1.sample_rate) == ("../lhotse/wav/long.wav", 0.0, 0.4, 16000)
    assert (l2.start, l2.duration) == (0.5, 0.5)
    assert (s.audio, s.duration, s.sample_rate) == ("../lhotse/wav/short.wav", 0.6, 8000)
    assert (l1.text, l1.speaker, s.speaker) == ("打开空调", "s1", "s2")
    # language -> locale verbatim; gender, dialect, age and accents normalised as every importer does
    assert (l1.locale, l1.gender, l1.dialect, l1.age_band) == ("zh-CN", "female", "lan_yin", "30-39")
    assert l1.accents == ["出生地：11 北京市", "出生地：37 山东省"] and l1.accent is None
    # a segment starting at 0 names its recording, as `asr prepare kaldi` does; other custom keys are extras
    assert l1.extra == {"variant": "v1", "scores": [1, 2], "segment": "long"}
    # age_band (the field's own name) wins over its alias age, which is kept as an extra
    assert (l2.gender, l2.phase, l2.snr_db, l2.age_band) == ("female", 2, 12.5, "30-39")
    assert l2.extra == {"age": "twenties"} and l2.locale == "zh-CN" and l2.dialect is None and s.locale is None
    assert (s.gender, s.accents, s.extra) == ("male", ["香港"], {})
    assert main(["manifest", "validate", str(written["train"])]) == 0


def test_cuts_and_trimmed_cuts_give_the_same_manifest(tmp_path):
    recordings, supervisions = _corpus(tmp_path / "lhotse")
    expected = read_manifest(prepare_lhotse(_write_corpus(tmp_path / "lhotse"), tmp_path / "out")["train"])
    cuts = CutSet.from_manifests(recordings=recordings, supervisions=supervisions)
    for name, cut_set in (("full", cuts), ("trimmed", cuts.trim_to_supervisions(keep_overlapping=False))):
        _save(cut_set, tmp_path / name / "toy_cuts_train.jsonl.gz")
        assert read_manifest(prepare_lhotse(tmp_path / name, tmp_path / f"out-{name}")["train"]) == expected


def _full_manifest(root: Path) -> Path:
    """Every field: all metadata, extras of every JSON type (one named like an alias), segments, absolute audio."""
    audio = root / "audio"
    write_tone(audio / "rec.wav", seconds=1.0)
    write_tone(audio / "stereo.wav", seconds=0.5, rate=8000, channels=2)
    absolute = write_tone(root / "elsewhere" / "abs.wav", seconds=0.3)
    utts = [
        Utterance(id="a1", audio="audio/rec.wav", duration=0.4, sample_rate=16000, text="打开空调", speaker="spk1",
                  start=0.0, dialect="lan_yin", home_dialect="ji_lu", reading_style="dialect", accent="北京|山东",
                  accents=["北京", "山东"], gender="female", age_band="30-39", city="Chengdu", region="mainland_china",
                  locale="zh-CN", phase=2, condition="car", snr_db=12.5,
                  extra={"segment": "rec", "nested": {"k": [1, None]}, "age": "34", "none": None, "flag": True}),
        Utterance(id="a2", audio="audio/rec.wav", duration=0.45, sample_rate=16000, text="导航回家", speaker="spk1",
                  start=0.55, gender="non_binary", snr_db=5, extra={"asr_extra": "mine", "dialect": "raw"}),
        Utterance(id="b1", audio="audio/stereo.wav", duration=0.5, sample_rate=8000, text="你好", speaker="spk2",
                  gender="male", accents=["香港"]),
        Utterance(id="c1", audio=str(absolute), duration=0.3, sample_rate=16000, text="再见", speaker="spk3"),
    ]
    path = root / "test.jsonl"
    write_manifest(path, utts)
    return path


def test_round_trip_keeps_every_field(tmp_path):
    manifest = _full_manifest(tmp_path / "corpus")
    original = read_manifest(manifest)
    written = export_lhotse(manifest, tmp_path / "lhotse")
    assert {k: p.name for k, p in written.items()} == {
        "recordings": "corpus_recordings_test.jsonl.gz", "supervisions": "corpus_supervisions_test.jsonl.gz",
        "cuts": "corpus_cuts_test.jsonl.gz"}
    # Imported next to the original manifest, the export gives it back field for field.
    again = prepare_lhotse(tmp_path / "lhotse", tmp_path / "corpus")
    assert again == {"test": manifest}
    assert read_manifest(manifest) == original
    assert [u.audio for u in original] == ["audio/rec.wav", "audio/rec.wav", "audio/stereo.wav",
                                           str(tmp_path / "corpus" / "elsewhere" / "abs.wav")]
    # The cuts alone give the same manifest.
    (tmp_path / "cuts-only").mkdir()
    written["cuts"].rename(tmp_path / "cuts-only" / written["cuts"].name)
    assert read_manifest(prepare_lhotse(tmp_path / "cuts-only", tmp_path / "corpus")["test"]) == original


def test_round_trip_keeps_segment_names_and_their_absence(tmp_path):
    """Recording ids the export has to make up (a sibling's segment name, a stem taken twice) do not
    become segment names of the utterances that had none."""
    root = tmp_path / "corpus"
    for d in ("x", "y", "z"):
        write_tone(root / d / "same.wav", seconds=1.0)
    utts = [
        Utterance(id="p1", audio="x/same.wav", duration=0.3, sample_rate=16000, text="一", speaker="a", start=0.5,
                  extra={"segment": "R1"}),
        Utterance(id="p2", audio="x/same.wav", duration=0.3, sample_rate=16000, text="二", speaker="a", start=0.1),
        Utterance(id="q1", audio="y/same.wav", duration=0.3, sample_rate=16000, text="三", speaker="b", start=0.1),
        Utterance(id="q2", audio="y/same.wav", duration=0.3, sample_rate=16000, text="四", speaker="b", start=0.5),
        Utterance(id="r1", audio="z/same.wav", duration=0.3, sample_rate=16000, text="五", speaker="c", start=0.1),
        Utterance(id="r2", audio="z/same.wav", duration=0.3, sample_rate=16000, text="六", speaker="c", start=0.5),
    ]
    write_manifest(root / "dev.jsonl", utts)
    written = export_lhotse(root / "dev.jsonl", tmp_path / "lhotse")
    sups = {s.id: s for s in SupervisionSet.from_file(written["supervisions"])}
    assert [(s.recording_id, s.custom) for s in sups.values()] == [
        ("R1", None), ("R1", {"segment": None}), ("same", None), ("same", None), ("same-2", {"segment": None}),
        ("same-2", {"segment": None})]
    prepare_lhotse(tmp_path / "lhotse", root)
    assert read_manifest(root / "dev.jsonl") == utts


def test_export_is_what_lhotse_reads(tmp_path):
    manifest = _full_manifest(tmp_path / "corpus")
    written = export_lhotse(manifest, tmp_path / "lhotse", corpus="demo")
    assert written["cuts"].name == "demo_cuts_test.jsonl.gz"
    recordings = {r.id: r for r in RecordingSet.from_file(written["recordings"])}
    assert sorted(recordings) == ["b1", "c1", "rec"]  # extra["segment"], else the utterance id
    rec, stereo = recordings["rec"], recordings["b1"]
    assert (rec.sampling_rate, rec.num_samples, rec.duration, rec.channel_ids) == (16000, 16000, 1.0, [0])
    assert (stereo.sampling_rate, stereo.num_samples, stereo.channel_ids) == (8000, 4000, [0, 1])
    assert rec.sources[0].type == "file" and rec.sources[0].source == str(tmp_path / "corpus" / "audio" / "rec.wav")
    sups = {s.id: s for s in SupervisionSet.from_file(written["supervisions"])}
    a1 = sups["a1"]
    assert (a1.recording_id, a1.start, a1.duration, a1.channel) == ("rec", 0.0, 0.4, 0)
    assert (a1.text, a1.speaker, a1.gender, a1.language) == ("打开空调", "spk1", "female", "zh-CN")
    assert a1.custom == {
        "dialect": "lan_yin", "home_dialect": "ji_lu", "reading_style": "dialect", "accent": "北京|山东",
        "accents": ["北京", "山东"], "age_band": "30-39", "city": "Chengdu", "region": "mainland_china", "phase": 2,
        "condition": "car", "snr_db": 12.5, "nested": {"k": [1, None]}, "none": None, "flag": True,
        "asr_extra": {"age": "34"}}  # extra["segment"] is left out: the import puts it back (a segment from 0)
    assert sups["a2"].custom == {"snr_db": 5, "asr_extra": {"asr_extra": "mine", "dialect": "raw"}}
    assert sups["b1"].channel == [0, 1] and sups["c1"].custom == {"asr_absolute_audio": True}
    # lhotse loads the audio of a segment from any directory (absolute paths): 0.45 s at 16 kHz
    cuts = CutSet.from_file(written["cuts"]).trim_to_supervisions(keep_overlapping=False)
    by_sup = {c.supervisions[0].id: c for c in cuts}
    assert by_sup["a2"].load_audio().shape == (1, 7200)
    assert by_sup["b1"].load_audio().shape == (2, 4000)
    # byte-reproducible: the same manifest exports to the same bytes
    first = {k: p.read_bytes() for k, p in written.items()}
    assert {k: p.read_bytes() for k, p in export_lhotse(manifest, tmp_path / "lhotse", corpus="demo").items()} == first


def test_lhotse_corpus_survives_import_and_export(tmp_path):
    """lhotse -> asr -> lhotse: recordings (ids too) and supervisions come back equal, where their
    values are already in the normalised form the importer gives them."""
    a = write_tone(tmp_path / "corpus" / "wav" / "a.wav", seconds=0.8)
    b = write_tone(tmp_path / "corpus" / "wav" / "b.wav", seconds=0.5, rate=8000, channels=2)
    recordings = RecordingSet.from_recordings([Recording.from_file(a, recording_id="rec-A"),
                                               Recording.from_file(b, recording_id="rec-B")])
    supervisions = SupervisionSet.from_segments([
        _sup("u1", "rec-A", 0.0, 0.3, "打开空调", gender="female", language="zh-CN",
             custom={"dialect": "wu", "accents": ["北京"], "phase": 1, "session": {"room": 3}}),
        _sup("u2", "rec-A", 0.35, 0.45, "导航回家", language="zh-CN", custom={"snr_db": 7.5}),
        _sup("u3", "rec-B", 0.0, 0.5, "你好", speaker="s2", gender="male", channel=[0, 1]),
    ])
    _save(recordings, tmp_path / "corpus" / "toy_recordings_dev.jsonl.gz")
    _save(supervisions, tmp_path / "corpus" / "toy_supervisions_dev.jsonl.gz")
    manifest = prepare_lhotse(tmp_path / "corpus", tmp_path / "toy")["dev"]
    assert [u.extra.get("segment") for u in read_manifest(manifest)] == ["rec-A", "rec-A", "rec-B"]
    written = export_lhotse(manifest, tmp_path / "back")
    assert list(RecordingSet.from_file(written["recordings"])) == list(recordings)
    assert list(SupervisionSet.from_file(written["supervisions"])) == list(supervisions)


def test_relative_sources_resolve_against_the_current_directory_or_audio_root(tmp_path, monkeypatch):
    """lhotse's relative paths are relative to where the recipe ran (icefall: the recipe directory)."""
    write_tone(tmp_path / "recipe" / "download" / "wav" / "a.wav", seconds=0.5)
    monkeypatch.chdir(tmp_path / "recipe")
    rec = Recording.from_file("download/wav/a.wav", recording_id="a")
    assert rec.sources[0].source == "download/wav/a.wav"
    manifests = tmp_path / "recipe" / "data" / "manifests"
    _save(RecordingSet.from_recordings([rec]), manifests / "x_recordings_test.jsonl.gz")
    _save(SupervisionSet.from_segments([_sup("a", "a", 0, 0.5, "你好")]), manifests / "x_supervisions_test.jsonl.gz")
    (u,) = read_manifest(prepare_lhotse(manifests, tmp_path / "out")["test"])
    assert u.audio == "../recipe/download/wav/a.wav"
    monkeypatch.chdir(tmp_path)
    (u,) = read_manifest(prepare_lhotse(manifests, tmp_path / "out", audio_root=tmp_path / "recipe")["test"])
    assert u.audio == "../recipe/download/wav/a.wav"
    with pytest.raises(AsrError, match=r"utterance a: .*download/wav/a.wav: no such audio file"):
        prepare_lhotse(manifests, tmp_path / "out")


def test_cli_prepare_validate_export(tmp_path, capsys):
    corpus = _write_corpus(tmp_path / "lhotse", split=None)
    out = tmp_path / "out"
    assert main(["prepare", "lhotse", "--corpus-dir", str(corpus), "--output-dir", str(out), "--split", "dev"]) == 0
    assert capsys.readouterr().out == f"dev: {out / 'dev.jsonl'}\n"
    assert main(["manifest", "validate", str(out / "dev.jsonl")]) == 0
    assert main(["manifest", "export-lhotse", str(out / "dev.jsonl"), str(tmp_path / "exp")]) == 0
    assert capsys.readouterr().out.splitlines()[-3:] == [
        f"{kind}: {tmp_path / 'exp' / f'out_{kind}_dev.jsonl.gz'}" for kind in ("recordings", "supervisions", "cuts")]
    rows = [json.loads(line) for line in gzip.open(tmp_path / "exp" / "out_supervisions_dev.jsonl.gz", "rt")]
    assert [r["id"] for r in rows] == ["long-1", "long-2", "short"]


def test_corpora_of_one_split_merge_and_splits_can_be_chosen(tmp_path):
    corpus = tmp_path / "lhotse"
    _write_corpus(corpus, name="cv-zh-CN", split="train")
    write_tone(corpus / "wav" / "hk.wav", seconds=0.5)
    RecordingSet.from_recordings([Recording.from_file(corpus / "wav" / "hk.wav")]).to_file(
        corpus / "cv-zh-HK_recordings_train.jsonl")
    SupervisionSet.from_segments([_sup("hk", "hk", 0, 0.5, "你好", speaker="h1", language="zh-HK")]).to_file(
        corpus / "cv-zh-HK_supervisions_train.jsonl")
    _write_corpus(corpus, name="cv-zh-CN", split="dev")
    noise = RecordingSet.from_recordings([Recording.from_file(corpus / "wav" / "hk.wav", recording_id="noise")])
    _save(CutSet.from_manifests(recordings=noise), corpus / "musan_cuts.jsonl.gz")
    written = prepare_lhotse(corpus, tmp_path / "out")  # musan_cuts.jsonl, without a split, is skipped
    assert list(written) == ["dev", "train"]
    assert [u.id for u in read_manifest(written["train"])] == ["hk", "long-1", "long-2", "short"]
    assert list(prepare_lhotse(corpus, tmp_path / "out2", splits=["dev"])) == ["dev"]
    with pytest.raises(AsrError, match=r"lhotse: no split 'test' \(found: dev, train\)"):
        prepare_lhotse(corpus, tmp_path / "out3", splits=["test"])


def test_one_file_per_channel_gives_each_supervision_its_file(tmp_path):
    left = write_tone(tmp_path / "call" / "left.wav", seconds=0.5)
    right = write_tone(tmp_path / "call" / "right.wav", seconds=0.5, freq=880.0)
    rec = Recording(id="call", sampling_rate=16000, num_samples=8000, duration=0.5, sources=[
        AudioSource(type="file", channels=[0], source=str(left)),
        AudioSource(type="file", channels=[1], source=str(right))])
    RecordingSet.from_recordings([rec]).to_file(tmp_path / "call" / "calls_recordings_test.jsonl.gz")
    SupervisionSet.from_segments([
        _sup("A", "call", 0, 0.5, "喂", speaker="a", channel=0),
        _sup("B", "call", 0, 0.5, "你好", speaker="b", channel=1)]).to_file(
        tmp_path / "call" / "calls_supervisions_test.jsonl.gz")
    utts = read_manifest(prepare_lhotse(tmp_path / "call", tmp_path / "out")["test"])
    assert [(u.id, u.audio) for u in utts] == [("A", "../call/left.wav"), ("B", "../call/right.wav")]


def _one(tmp_path: Path, recording: Recording, **sup) -> Path:
    d = tmp_path / "bad"
    _save(RecordingSet.from_recordings([recording]), d / "x_recordings_train.jsonl.gz")
    args = {"id": "u1", "rec": recording.id, "start": 0, "duration": 0.5, "text": "你好", **sup}
    SupervisionSet.from_segments([_sup(**args)]).to_file(d / "x_supervisions_train.jsonl.gz")
    return d


def test_unsupported_audio_is_refused_naming_the_recording(tmp_path):
    wav = write_tone(tmp_path / "a.wav", seconds=0.5)
    url = Recording(id="web", sampling_rate=16000, num_samples=8000, duration=0.5,
                    sources=[AudioSource(type="url", channels=[0], source="https://example.org/a.wav")])
    with pytest.raises(AsrError, match=r"x_supervisions_train.jsonl.gz: supervision u1: recording web has an audio "
                                       r"source of type 'url' \(expected type 'file'"):
        prepare_lhotse(_one(tmp_path, url), tmp_path / "out")
    fast = Recording.from_file(wav, recording_id="fast").perturb_speed(1.1)
    with pytest.raises(AsrError, match=r"supervision u1: recording fast_sp1.1 has transforms \(Speed\)"):
        prepare_lhotse(_one(tmp_path, fast, rec="fast_sp1.1", duration=0.4), tmp_path / "out")
    stereo = Recording.from_file(write_tone(tmp_path / "s.wav", seconds=0.5, channels=2), recording_id="s")
    with pytest.raises(AsrError, match=r"supervision u1: channel\(s\) \[1\] of recording s, which has channels "
                                       r"\[0, 1\] in 1 file\(s\); asr averages all the channels of a file"):
        prepare_lhotse(_one(tmp_path, stereo, channel=1), tmp_path / "out")
    plain = Recording.from_file(wav, recording_id="a")
    with pytest.raises(AsrError, match=r"supervision u1: no speaker \(expected one"):
        prepare_lhotse(_one(tmp_path, plain, speaker=None), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bad_layouts_are_named(tmp_path):
    corpus = _write_corpus(tmp_path / "lhotse")
    (corpus / "toy_recordings_train.jsonl.gz").unlink()
    with pytest.raises(AsrError, match=r"toy_supervisions_train.jsonl.gz: supervisions without recordings "
                                       r"\(expected .*toy_recordings_train.jsonl.gz beside it, or a cuts file\)"):
        prepare_lhotse(corpus, tmp_path / "out")
    recordings, _ = _corpus(tmp_path / "lhotse")
    _save(recordings, tmp_path / "nosups" / "n_recordings_dev.jsonl.gz")
    (tmp_path / "nosups" / "n_supervisions_dev.jsonl.gz").write_bytes(gzip.compress(b""))
    with pytest.raises(AsrError, match=r"nosups: split dev: no supervisions in n_recordings_dev.jsonl.gz, "
                                       r"n_supervisions_dev.jsonl.gz"):
        prepare_lhotse(tmp_path / "nosups", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AsrError, match=r"empty: no lhotse manifests \(expected <corpus>_recordings_<split>"):
        prepare_lhotse(tmp_path / "empty", tmp_path / "out")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "j_cuts_train.jsonl").write_text('{"id": "x"}\n')
    with pytest.raises(AsrError, match=r"j_cuts_train.jsonl: not a lhotse CutSet"):
        prepare_lhotse(tmp_path / "junk", tmp_path / "out")
    recordings, supervisions = _corpus(tmp_path / "lhotse")
    long, short = CutSet.from_manifests(recordings=recordings, supervisions=supervisions)
    _save(CutSet.from_cuts([long.mix(long, offset_other_by=0.1)]), tmp_path / "mixed" / "m_cuts_train.jsonl.gz")
    with pytest.raises(AsrError, match=r"m_cuts_train.jsonl.gz: cut \S+: a MixedCut without one recording"):
        prepare_lhotse(tmp_path / "mixed", tmp_path / "out")


def test_missing_lhotse_says_how_to_install(tmp_path, monkeypatch):
    corpus, manifest = _write_corpus(tmp_path / "lhotse"), _full_manifest(tmp_path / "corpus")
    monkeypatch.setitem(sys.modules, "lhotse", None)  # `import lhotse` now raises ImportError
    with pytest.raises(AsrError, match=r"^lhotse is not installed .*: pip install 'zh-dialect-asr\[interop\]'$"):
        prepare_lhotse(corpus, tmp_path / "out")
    with pytest.raises(AsrError, match=r"pip install 'zh-dialect-asr\[interop\]'"):
        export_lhotse(manifest, tmp_path / "exp")
