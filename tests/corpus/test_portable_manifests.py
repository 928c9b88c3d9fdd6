"""Portable manifests: audio paths relative to the manifest, so a corpus and its manifests move together."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from asr.cli import main
from asr.corpus.aishell import prepare_aishell
from asr.corpus.commonvoice import prepare_commonvoice
from asr.corpus.common import audio_field
from asr.corpus.fakes import make_aishell, make_commonvoice, make_kespeech
from asr.corpus.kaldi import prepare_kaldi
from asr.corpus.kespeech import prepare_kespeech
from asr.manifest.records import Manifest, find_manifests, read_manifest, write_manifest

IMPORTERS = {
    "kespeech": (lambda root: make_kespeech(root, speakers=1, utterances=2), prepare_kespeech),
    "commonvoice": (lambda root: make_commonvoice(root, locales=("zh-CN", "zh-TW"), utterances=1,
                                                  speakers={"train": 1, "dev": 1, "test": 1}), prepare_commonvoice),
    "aishell": (lambda root: make_aishell(root, speakers={"train": 1, "dev": 1, "test": 1}, utterances=1),
                prepare_aishell),
}


def _validate(manifests: list[Path], capsys) -> str:
    code = main(["manifest", "validate", *map(str, manifests)])
    out = capsys.readouterr().out
    assert code == 0, out
    return out


@pytest.mark.parametrize("corpus", sorted(IMPORTERS))
def test_corpus_and_manifests_moved_together_still_validate(corpus, tmp_path, capsys):
    """Import into <project>/manifests from <project>/corpora, `mv` the project, validate."""
    make, prepare = IMPORTERS[corpus]
    project = tmp_path / "project"
    written = prepare(make(project / "corpora" / corpus), project / "manifests" / corpus)
    for path in written.values():
        assert all(u.audio.startswith(f"../../corpora/{corpus}/") for u in read_manifest(path))

    moved = tmp_path / "elsewhere" / "project-copy"
    moved.parent.mkdir()
    os.rename(project, moved)  # what `mv` does
    manifests = find_manifests(moved / "manifests" / corpus)
    assert [p.name for p in manifests] == sorted(p.name for p in written.values())
    out = _validate(manifests, capsys)
    assert out.count(": ok") == len(manifests)
    for path in manifests:
        m = Manifest(path)
        assert all(m.audio_path(u).resolve().is_relative_to(moved / "corpora" / corpus) for u in m)


def test_manifests_inside_the_corpus_directory(tmp_path, capsys):
    corpus = make_kespeech(tmp_path / "KeSpeech", speakers=1, utterances=1)
    written = prepare_kespeech(corpus, corpus / "manifests", parts=["test"])
    [utt] = read_manifest(written["test"])
    assert utt.audio == f"../Audio/{utt.speaker}/phase1/{utt.id}.wav"
    os.rename(corpus, tmp_path / "KeSpeech-v1")
    _validate([tmp_path / "KeSpeech-v1" / "manifests" / "test.jsonl"], capsys)


def test_a_moved_corpus_without_its_manifests_is_reported(tmp_path, capsys):
    corpus = make_kespeech(tmp_path / "KeSpeech", speakers=1, utterances=1)
    written = prepare_kespeech(corpus, tmp_path / "manifests", parts=["test"])
    [utt] = read_manifest(written["test"])
    os.rename(corpus, tmp_path / "gone")
    assert main(["manifest", "validate", str(written["test"])]) == 1
    assert (f"test.jsonl:1: utterance {utt.id}: {tmp_path}/manifests/../KeSpeech/Audio/{utt.speaker}/phase1/"
            f"{utt.id}.wav: no such audio file") in capsys.readouterr().err


def test_kaldi_audio_outside_the_corpus_is_relative_too(tmp_path, capsys):
    """A wav.scp may point anywhere: the path is still relative to the manifest (``../`` steps)."""
    from conftest import write_tone

    wav = write_tone(tmp_path / "disk" / "audio" / "a.wav", seconds=0.3)
    data = tmp_path / "disk" / "kaldi" / "train"
    data.mkdir(parents=True)
    (data / "wav.scp").write_text(f"a {wav}\n", encoding="utf-8")
    (data / "text").write_text("a 你好\n", encoding="utf-8")
    (data / "utt2spk").write_text("a s\n", encoding="utf-8")
    written = prepare_kaldi(data, tmp_path / "disk" / "manifests" / "mine")
    assert read_manifest(written["train"])[0].audio == "../../audio/a.wav"
    os.rename(tmp_path / "disk", tmp_path / "disk2")
    _validate([tmp_path / "disk2" / "manifests" / "mine" / "train.jsonl"], capsys)


def test_paths_through_a_symbolic_link(tmp_path, capsys):
    """The manifest directory is reached through a link: ``..`` must climb from its real location."""
    corpus = make_kespeech(tmp_path / "data" / "KeSpeech", speakers=1, utterances=1)
    (tmp_path / "real" / "manifests").mkdir(parents=True)
    (tmp_path / "data" / "link").symlink_to(tmp_path / "real")
    written = prepare_kespeech(corpus, tmp_path / "data" / "link" / "manifests", parts=["test"])
    _validate([written["test"]], capsys)
    assert audio_field(corpus / "Audio" / "x.wav", tmp_path / "data" / "link" / "manifests") == \
        "../../data/KeSpeech/Audio/x.wav"


def test_absolute_paths_of_older_manifests_are_still_read(tmp_path, capsys):
    corpus = make_kespeech(tmp_path / "KeSpeech", speakers=1, utterances=1)
    written = prepare_kespeech(corpus, tmp_path / "new", parts=["test"])
    new = Manifest(written["test"])
    old = [u.__class__(**{**u.to_json(), "audio": str(new.audio_path(u).resolve())}) for u in new]
    write_manifest(tmp_path / "old" / "test.jsonl", old)
    assert all(Path(u.audio).is_absolute() for u in read_manifest(tmp_path / "old" / "test.jsonl"))
    _validate([tmp_path / "old" / "test.jsonl"], capsys)
    assert [Manifest(tmp_path / "old" / "test.jsonl").audio_path(u) for u in old] == \
        [new.audio_path(u).resolve() for u in new]
