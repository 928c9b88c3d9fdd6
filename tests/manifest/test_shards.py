"""asr.manifest.shards and `asr manifest merge|shard`: equal-hours shards, rebased audio, unique ids."""

from __future__ import annotations

import gzip

import pytest

from asr.cli import main
from asr.errors import AsrError
from asr.manifest.records import Manifest, Utterance, read_manifest, write_manifest
from asr.manifest.shards import merge_manifests, shard_manifests, shard_paths


def _manifest(path, ids_durations, audio_dir="audio"):
    utts = [Utterance(id=i, audio=f"{audio_dir}/{i}.wav", duration=d, sample_rate=16000, text="打开空调",
                      speaker=f"spk{i[0]}", dialect="wu") for i, d in ids_durations]
    write_manifest(path, utts)
    return path


@pytest.fixture
def parts(tmp_path):
    """Two manifests in different directories, relative audio paths, 5 + 3 utterances."""
    a = _manifest(tmp_path / "p1" / "train_phase1.jsonl", [("a1", 1.0), ("a2", 1.0), ("a3", 1.0), ("a4", 1.0), ("a5", 4.0)])
    b = _manifest(tmp_path / "p2" / "train_phase2.jsonl", [("b1", 2.0), ("b2", 2.0), ("b3", 4.0)])
    return a, b


def _audio_of(path):
    m = Manifest(path)
    return {u.id: m.audio_path(u).resolve() for u in m}


def test_shards_split_equal_hours_in_order_with_rebased_audio(parts, tmp_path):
    written = shard_manifests(parts, tmp_path / "data" / "train", num_shards=2)
    assert [w.path.name for w in written] == ["shard-00000.jsonl.gz", "shard-00001.jsonl.gz"]
    shards = [read_manifest(w.path) for w in written]
    # 16 s in all: the first shard ends at a5 (8 s), the second holds b1..b3 (8 s).
    assert [[u.id for u in s] for s in shards] == [["a1", "a2", "a3", "a4", "a5"], ["b1", "b2", "b3"]]
    assert [(w.utterances, w.seconds) for w in written] == [(5, 8.0), (3, 8.0)]
    # Relative audio paths still name the same files from the shard directory.
    originals = {**_audio_of(parts[0]), **_audio_of(parts[1])}
    rebased = {**_audio_of(written[0].path), **_audio_of(written[1].path)}
    assert rebased == originals
    assert shards[0][0].audio == "../../p1/audio/a1.wav"
    assert shard_paths(tmp_path / "data" / "train") == [w.path for w in written]


def test_shards_are_reproducible_and_stale_ones_removed(parts, tmp_path):
    out = tmp_path / "train"
    first = shard_manifests(parts, out, num_shards=3)
    assert len(shard_paths(out)) == 3
    again = shard_manifests(parts, out, num_shards=2)
    assert shard_paths(out) == [w.path for w in again]  # shard-00002 of the first run is gone
    bytes_before = [w.path.read_bytes() for w in again]
    shard_manifests(parts, out, num_shards=2)
    assert [p.read_bytes() for p in shard_paths(out)] == bytes_before
    assert gzip.decompress(bytes_before[0]).decode().startswith('{"id": "a1"')
    assert sum(w.utterances for w in first) == 8


def test_one_long_utterance_falls_back_to_equal_counts(tmp_path):
    m = _manifest(tmp_path / "m.jsonl", [("x1", 0.5), ("x2", 0.5), ("x3", 100.0)])
    written = shard_manifests([m], tmp_path / "s", num_shards=3)
    assert [w.utterances for w in written] == [1, 1, 1]


def test_duplicate_ids_across_inputs_are_named_and_nothing_is_written(parts, tmp_path):
    dup = _manifest(tmp_path / "p3" / "extra.jsonl", [("c1", 1.0), ("a3", 1.0)])
    with pytest.raises(AsrError, match=r"extra\.jsonl: duplicate utterance id 'a3' \(also in .*train_phase1\.jsonl\)"):
        shard_manifests([*parts, dup], tmp_path / "s", num_shards=2)
    assert not (tmp_path / "s").exists()
    with pytest.raises(AsrError, match=r"duplicate utterance id 'a3'"):
        merge_manifests([*parts, dup], tmp_path / "merged.jsonl")
    assert not (tmp_path / "merged.jsonl").exists()


def test_more_shards_than_utterances_gives_one_each(parts, tmp_path):
    written = shard_manifests(parts, tmp_path / "s", num_shards=9)
    assert [w.utterances for w in written] == [1] * 8 and len(shard_paths(tmp_path / "s")) == 8
    with pytest.raises(AsrError, match=r"--num-shards must be at least 1, got 0"):
        shard_manifests(parts, tmp_path / "s", num_shards=0)


def test_merge_concatenates_and_refuses_to_overwrite_an_input(parts, tmp_path):
    written = merge_manifests(parts, tmp_path / "p1" / "train.jsonl")
    merged = read_manifest(written.path)
    assert [u.id for u in merged] == ["a1", "a2", "a3", "a4", "a5", "b1", "b2", "b3"]
    assert merged[0].audio == "audio/a1.wav" and merged[5].audio == "../p2/audio/b1.wav"
    assert (written.utterances, written.hours) == (8, 16.0 / 3600)
    with pytest.raises(AsrError, match=r"train_phase1\.jsonl: the output is also an input"):
        merge_manifests(parts, parts[0])


def test_cli_merge_and_shard(parts, tmp_path, capsys):
    assert main(["manifest", "shard", *map(str, parts), "--output-dir", str(tmp_path / "s"), "--num-shards", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{tmp_path / 's' / 'shard-00000.jsonl.gz'}: 5 utterances, 0.002 h",
                   f"{tmp_path / 's' / 'shard-00001.jsonl.gz'}: 3 utterances, 0.002 h"]
    assert main(["manifest", "merge", *map(str, parts), "--output", str(tmp_path / "all.jsonl.gz")]) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'all.jsonl.gz'}: 8 utterances, 0.004 h\n"
    assert main(["manifest", "shard", str(parts[0]), "--output-dir", str(tmp_path / "t"), "--num-shards", "0"]) == 1
    assert capsys.readouterr().err == "asr manifest: error: --num-shards must be at least 1, got 0\n"
