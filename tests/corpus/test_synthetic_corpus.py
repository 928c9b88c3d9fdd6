"""End to end: the tiny synthetic corpus from recipes/dialect/conf/corpus_tiny.yaml."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest
import soundfile as sf

from asr.cli import main
from asr.config import load_yaml
from asr.corpus.synthetic import build_tiny_corpus, prepare_synthetic
from asr.corpus.synthetic.config import CorpusConfig, load_corpus_config
from asr.corpus.synthetic.compose import plan_corpus
from asr.errors import AsrError
from asr.manifest.records import read_manifest
from asr.manifest.validate import validate_manifest

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "recipes/dialect/conf/corpus_tiny.yaml"
DEFAULT = REPO / "recipes/dialect/conf/corpus.yaml"
GROUPS = ("mandarin", "southwestern", "wu", "cantonese")


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """The tiny corpus, built once per session with 2 jobs (seed 0)."""
    out = tmp_path_factory.mktemp("synthetic") / "tiny"
    build_tiny_corpus(out, seed=0, jobs=2)
    return out


def _digest(directory: Path) -> dict[str, str]:
    return {
        p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_speaker_and_group_counts_match_the_config(tiny_corpus):
    config = load_yaml(TINY)["groups"]
    for split in ("train", "dev", "test"):
        utts = read_manifest(tiny_corpus / f"{split}.jsonl")
        speakers = Counter(u.dialect for u in {u.speaker: u for u in utts}.values())
        assert speakers == {g: config[g]["speakers"][split] for g in GROUPS}
        if split != "test":
            per_group = Counter(u.dialect for u in utts)
            assert per_group == {g: config[g][f"{split}_utterances"] for g in GROUPS}
    assert all(u.gender in ("female", "male") and u.age_band and u.city for u in read_manifest(tiny_corpus / "train.jsonl"))


def test_splits_are_speaker_and_text_disjoint(tiny_corpus):
    speakers = {s: {u.speaker for u in read_manifest(tiny_corpus / f"{s}.jsonl")} for s in ("train", "dev", "test")}
    texts = {s: {u.text for u in read_manifest(tiny_corpus / f"{s}.jsonl")} for s in ("train", "dev", "test")}
    for a, b in (("train", "dev"), ("train", "test"), ("dev", "test")):
        assert not speakers[a] & speakers[b]
        assert not texts[a] & texts[b]


def test_test_set_is_parallel_across_groups(tiny_corpus):
    utts = read_manifest(tiny_corpus / "test.jsonl")
    by_text_id: dict[str, list] = {}
    for u in utts:
        by_text_id.setdefault(u.extra["text_id"], []).append(u)
    assert len(by_text_id) == load_yaml(TINY)["test_texts"]
    for readings in by_text_id.values():
        assert sorted(u.dialect for u in readings) == sorted(GROUPS)
        assert len({u.text for u in readings}) == 1
        assert len({u.condition for u in readings}) == 1  # matched: one condition per text by default
    wu = next(u for u in utts if u.dialect == "wu")
    assert wu.extra["tts_voice"].startswith("cmn-latn-pinyin+") and "zh" not in wu.extra["tts_input"]


def test_audio_is_16k_mono_pcm16_and_durations_match(tiny_corpus):
    for split in ("train", "dev", "test"):
        manifest = tiny_corpus / f"{split}.jsonl"
        assert validate_manifest(manifest) == []
        for u in read_manifest(manifest):
            info = sf.info(str(tiny_corpus / u.audio))
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            assert u.duration == info.frames / 16000
            assert 0.8 < u.duration < 8.0
            assert (u.snr_db is not None) == (u.condition == "noisy")
            assert u.audio.startswith(f"audio/{split}/{u.speaker}/")
            assert len(u.char_times) == len(u.text) and 0.1 <= u.char_times[0][0] < u.char_times[-1][1] < u.duration


def test_same_seed_gives_identical_bytes_whatever_the_jobs(tiny_corpus, tmp_path):
    again = tmp_path / "again"
    build_tiny_corpus(again, seed=0, jobs=1)
    assert _digest(again) == _digest(tiny_corpus)
    other = tmp_path / "other"
    build_tiny_corpus(other, seed=1, jobs=2)
    assert _digest(other)["test.jsonl"] != _digest(tiny_corpus)["test.jsonl"]


def test_rerun_over_an_existing_corpus_removes_stale_audio(tmp_path):
    config = load_corpus_config(TINY)
    out = tmp_path / "c"
    stale = out / "audio/train/OLD001/OLD001-0001.wav"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"RIFF")
    (out / "train.jsonl").write_text("not json\n")
    small = CorpusConfig(groups={"mandarin": config.groups["mandarin"]}, test_texts=2, min_chars=6, max_chars=10)
    corpus = prepare_synthetic(small, out, jobs=1, progress=False)
    assert not stale.exists() and not stale.parent.exists()
    assert corpus.utterances == {"train": 16, "dev": 3, "test": 2}
    assert len(read_manifest(out / "train.jsonl")) == 16


def test_unknown_config_key_and_bad_values_are_one_line_errors(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups:\n  mandarin:\n    speakers: {train: 1}\n    train_utterances: 2\n    colour: red\n")
    with pytest.raises(AsrError, match=r"bad.yaml: groups.mandarin: unknown config key 'colour' for GroupConfig"):
        load_corpus_config(bad)
    bad.write_text("groups: {klingon: {}}\n")
    with pytest.raises(AsrError, match=r"unknown dialect group 'klingon'; expected one of: mandarin, southwestern, wu, can"):
        load_corpus_config(bad)
    bad.write_text("groups: {wu: {train_utterances: 5}}\ntest_texts: 0\n")
    with pytest.raises(AsrError, match=r"train_utterances is 5 but speakers.train is 0"):
        load_corpus_config(bad)
    bad.write_text("snr_db: [20, 5]\n")
    with pytest.raises(AsrError, match=r"snr_db must be \[low, high\]"):
        load_corpus_config(bad)
    bad.write_text("seeed: 3\n")
    assert main(["prepare", "synthetic", "--config", str(bad), "--output-dir", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("asr prepare: error:") and "unknown config key 'seeed' for CorpusConfig" in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_default_config_file_is_the_documented_composition():
    config = load_corpus_config(DEFAULT)
    assert config == CorpusConfig()
    assert config.num_speakers() >= 60
    train = {g: c.train_utterances for g, c in config.groups.items()}
    assert 0.83 <= train["mandarin"] / sum(train.values()) <= 0.87
    assert len({c.dev_utterances for c in config.groups.values()}) == 1  # dev balanced


def test_confounding_option_ties_condition_to_dialect():
    base = load_corpus_config(TINY)
    phone = {"clean": 0.0, "noisy": 0.0, "telephone": 1.0}
    confounded = load_corpus_config(TINY, {"condition_by_dialect": {"cantonese": phone, "wu": phone}})
    plan = plan_corpus(confounded)
    for spec in plan.utterances:
        if spec.speaker.dialect in ("cantonese", "wu"):
            assert spec.condition == "telephone"
    mandarin = [(s.id, s.condition) for s in plan_corpus(base).utterances if s.speaker.dialect == "mandarin"]
    assert mandarin == [(s.id, s.condition) for s in plan.utterances if s.speaker.dialect == "mandarin"]


def test_added_train_speakers_change_no_other_speaker_or_utterance():
    """speakers.added_train draws new training speakers last: every other speaker, and every dev
    and test utterance, is as without them; the new ones read a share of the group's train texts."""
    base = load_corpus_config(TINY)
    groups = {**load_yaml(TINY)["groups"]}
    groups["cantonese"] = {**groups["cantonese"], "train_utterances": 12,
                           "speakers": {**groups["cantonese"]["speakers"], "added_train": 2}}
    more = load_corpus_config(TINY, {"groups": groups})
    before, after = plan_corpus(base), plan_corpus(more)

    old = {s.id: s for s in before.speakers}
    new = [s for s in after.speakers if s.id not in old]
    assert [s for s in after.speakers if s.id in old] == before.speakers
    assert [(s.id, s.split, s.dialect) for s in new] == [("YUE004", "train", "cantonese"), ("YUE005", "train", "cantonese")]
    assert {s.gender for s in new} == {"female", "male"}
    held_out = [u for u in before.utterances if u.split != "train"]
    assert held_out == [u for u in after.utterances if u.split != "train"]
    cantonese = Counter(u.speaker.id for u in after.utterances if u.split == "train" and u.speaker.dialect == "cantonese")
    assert cantonese == {"YUE001": 4, "YUE004": 4, "YUE005": 4}
    assert more.num_speakers() == base.num_speakers() + 2
    with pytest.raises(AsrError, match=r"groups.cantonese: speakers: speakers.added_train must be >= 0, got -1"):
        load_corpus_config(TINY, {"groups": {"cantonese": {"speakers": {"train": 1, "test": 1, "added_train": -1}}}})
