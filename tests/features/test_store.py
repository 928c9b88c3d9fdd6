"""Feature extraction to shards: layout, reading back, CMVN, resume, atomicity, bad input, CLI."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import asr.features.store as store
from asr.audio import load_audio
from asr.cli import main
from asr.config import load_config
from asr.errors import AsrError
from asr.features.store import FeatureReader, extract_features, read_feature_manifest
from asr.features.frontend import Cmvn, FeatureConfig, compute_features, num_frames
from asr.manifest.records import Utterance, write_manifest
from conftest import write_tone


def write_audio(path: Path, seconds: float, rate: int = 16000, seed: int = 0) -> Path:
    """A sine tone in noise, or pure noise for odd seeds (16-bit wav)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * (200 + 50 * seed) * t) if seed % 2 == 0 else 0.0
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), (tone + 0.05 * rng.standard_normal(t.size)).astype(np.float32), rate, subtype="PCM_16")
    return path


def make_manifest(root: Path, split: str, count: int, rate: int = 16000) -> Path:
    utts = []
    for i in range(count):
        seconds = 0.4 + 0.05 * i
        audio = write_audio(root / "audio" / f"{split}-{i}.wav", seconds, rate, seed=i)
        utts.append(Utterance(id=f"{split}-{i}", audio=f"audio/{split}-{i}.wav", duration=seconds, sample_rate=rate,
                              text="导航到机场", speaker=f"spk{i % 2}", dialect="wu" if i % 2 else "mandarin"))
    path = root / f"{split}.jsonl"
    write_manifest(path, utts)
    return path


def shard_mtimes(directory: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted(directory.glob("shard-*.safetensors"))}


def test_extraction_writes_readable_shards_manifest_config_and_cmvn(tmp_path):
    manifest = make_manifest(tmp_path, "train", 5)
    out = tmp_path / "fbank"
    result = extract_features(manifest, out, FeatureConfig(), shard_size=2, cmvn=True, progress=False)
    assert result.computed_shards == (0, 1, 2) and result.reused_shards == ()
    assert sorted(p.name for p in (out / "train").iterdir()) == [
        f"shard-0000{i}.{ext}" for i in range(3) for ext in ("done", "safetensors")]
    assert load_config(FeatureConfig, out / "features.yaml") == FeatureConfig()

    records = read_feature_manifest(out / "train.jsonl")
    assert [r.id for r in records] == [f"train-{i}" for i in range(5)]
    assert records[0].shard == (out / "train" / "shard-00000.safetensors").absolute()
    assert records[4].shard.name == "shard-00002.safetensors"
    assert records[1].utterance.dialect == "wu" and records[1].utterance.text == "导航到机场"
    assert (out / records[3].utterance.audio).resolve() == (tmp_path / "audio" / "train-3.wav").resolve()
    with FeatureReader() as reader:
        stacked = []
        for record in records:
            feats = reader.read(record)
            samples = int(round(record.utterance.duration * 16000))
            assert feats.dtype == torch.float32 and feats.shape == (num_frames(samples, FeatureConfig()), 80)
            assert record.num_frames == feats.shape[0]
            audio = load_audio(tmp_path / "audio" / f"{record.id}.wav")
            assert torch.equal(feats, compute_features(audio))  # float32 storage is exact
            stacked.append(feats.double())
    everything = torch.cat(stacked)
    assert result.num_frames == everything.shape[0]
    cmvn = Cmvn.from_json(out / "cmvn.json")
    np.testing.assert_allclose(cmvn.mean, everything.mean(0), rtol=1e-5)
    np.testing.assert_allclose(cmvn.std, everything.std(0, unbiased=False), rtol=1e-4)
    assert not list(out.rglob("*.tmp"))


def test_rerun_recomputes_only_a_missing_shard(tmp_path):
    manifest = make_manifest(tmp_path, "train", 5)
    out = tmp_path / "fbank"
    extract_features(manifest, out, shard_size=2, progress=False)
    before = shard_mtimes(out / "train")
    (out / "train" / "shard-00001.safetensors").unlink()
    (out / "train" / "shard-00001.done").unlink()
    result = extract_features(manifest, out, shard_size=2, progress=False)
    assert result.computed_shards == (1,) and result.reused_shards == (0, 2)
    after = shard_mtimes(out / "train")
    assert after["shard-00000.safetensors"] == before["shard-00000.safetensors"]
    assert after["shard-00002.safetensors"] == before["shard-00002.safetensors"]
    assert len(read_feature_manifest(out / "train.jsonl")) == 5


def test_interrupted_run_leaves_nothing_looking_complete_and_resumes(tmp_path, monkeypatch):
    manifest = make_manifest(tmp_path, "train", 6)
    out = tmp_path / "fbank"
    extract_features(manifest, out, shard_size=2, progress=False)  # a previous, complete run
    calls = []

    def crash_on_train_3(waveform, config):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return compute_features(waveform, config)

    (out / "train" / "shard-00001.done").unlink()  # shards 1 and 2 must be recomputed
    (out / "train" / "shard-00002.done").write_text("{}")
    monkeypatch.setattr(store, "compute_features", crash_on_train_3)
    with pytest.raises(KeyboardInterrupt):
        extract_features(manifest, out, shard_size=2, progress=False)
    assert not (out / "train.jsonl").exists()  # the old manifest went before any shard was replaced
    assert (out / "train" / "shard-00001.done").exists()  # finished before the interruption
    assert (out / "train" / "shard-00002.done").read_text() == "{}" and not list(out.rglob("*.tmp"))

    monkeypatch.undo()
    done_before = {p.name: p.stat().st_mtime_ns for p in (out / "train").glob("*.done")}
    calls.clear()
    monkeypatch.setattr(store, "compute_features", lambda w, c: (calls.append(1), compute_features(w, c))[1])
    result = extract_features(manifest, out, shard_size=2, progress=False)
    assert result.computed_shards == (2,) and result.reused_shards == (0, 1)
    assert len(calls) == 2  # only the two utterances of shard 2
    assert {p.name: p.stat().st_mtime_ns for p in (out / "train").glob("shard-0000[01].done")} == {
        k: v for k, v in done_before.items() if k != "shard-00002.done"}
    assert len(read_feature_manifest(out / "train.jsonl")) == 6


def test_config_change_invalidates_shards_and_stale_outputs(tmp_path):
    train, dev = make_manifest(tmp_path, "train", 3), make_manifest(tmp_path, "dev", 2)
    out = tmp_path / "fbank"
    extract_features(train, out, shard_size=2, cmvn=True, progress=False)
    extract_features(dev, out, shard_size=2, progress=False)
    mfcc = FeatureConfig(kind="mfcc", storage_dtype="float16")
    result = extract_features(train, out, mfcc, shard_size=2, cmvn=True, progress=False)
    assert result.computed_shards == (0, 1)
    assert not (out / "dev.jsonl").exists()  # computed with the old config: removed, not left inconsistent
    assert load_config(FeatureConfig, out / "features.yaml") == mfcc
    assert Cmvn.from_json(out / "cmvn.json").dim == 13
    records = read_feature_manifest(out / "train.jsonl")
    feats = FeatureReader().read(records[0])
    assert feats.dtype == torch.float32 and feats.shape[1] == 13
    exact = compute_features(load_audio(tmp_path / "audio" / "train-0.wav"), mfcc)
    assert 0 < (feats - exact).abs().max() <= 0.1  # float16 storage rounds


def test_fewer_utterances_remove_stale_shards_and_temporary_files(tmp_path):
    out = tmp_path / "fbank"
    extract_features(make_manifest(tmp_path, "train", 5), out, shard_size=2, progress=False)
    manifest = tmp_path / "train.jsonl"
    manifest.write_text("".join(manifest.read_text().splitlines(keepends=True)[:2]))
    (out / "train" / ".shard-00001.safetensors.x1y2.tmp").write_bytes(b"killed mid-write")
    result = extract_features(manifest, out, shard_size=2, progress=False)
    assert result.reused_shards == (0,) and sorted(p.name for p in (out / "train").iterdir()) == [
        "shard-00000.done", "shard-00000.safetensors"]


def test_resampling_and_segments(tmp_path):
    audio = write_audio(tmp_path / "a8k.wav", 1.0, rate=8000)
    utts = [Utterance(id="tel", audio="a8k.wav", duration=1.0, sample_rate=8000, text="喂", speaker="s"),
            Utterance(id="seg", audio="a8k.wav", start=0.25, duration=0.5, sample_rate=8000, text="喂", speaker="s")]
    write_manifest(tmp_path / "test.jsonl", utts)
    extract_features(tmp_path / "test.jsonl", tmp_path / "fbank", progress=False)
    records = read_feature_manifest(tmp_path / "fbank" / "test.jsonl")
    assert [r.num_frames for r in records] == [num_frames(16000, FeatureConfig()), num_frames(8000, FeatureConfig())]
    assert audio.exists()


def test_wrong_sample_rate_names_the_utterance(tmp_path):
    write_audio(tmp_path / "a.wav", 0.5, rate=8000)
    write_manifest(tmp_path / "dev.jsonl", [
        Utterance(id="utt-8k", audio="a.wav", duration=0.5, sample_rate=16000, text="喂", speaker="s")])
    with pytest.raises(AsrError, match=r"^utterance utt-8k: .*a\.wav has sample rate 8000 Hz but the manifest says 16000 Hz$"):
        extract_features(tmp_path / "dev.jsonl", tmp_path / "fbank", progress=False)
    assert not (tmp_path / "fbank" / "dev.jsonl").exists() and not (tmp_path / "fbank" / "dev").exists()


def test_missing_audio_names_the_utterance(tmp_path):
    write_manifest(tmp_path / "dev.jsonl", [
        Utterance(id="lost", audio="gone.wav", duration=0.5, sample_rate=16000, text="喂", speaker="s")])
    with pytest.raises(AsrError, match=r"^utterance lost: .*gone\.wav: no such audio file$"):
        extract_features(tmp_path / "dev.jsonl", tmp_path / "fbank", progress=False)


def test_reader_errors_name_the_shard_and_utterance(tmp_path):
    out = tmp_path / "fbank"
    extract_features(make_manifest(tmp_path, "dev", 2), out, progress=False)
    record = read_feature_manifest(out / "dev.jsonl")[1]
    (out / "dev" / "shard-00000.safetensors").unlink()
    with pytest.raises(AsrError, match=r"shard-00000\.safetensors: feature shard not found for utterance dev-1"):
        FeatureReader().read(record)
    (out / "dev.jsonl").write_text('{"id": "x"}\n')
    with pytest.raises(AsrError, match=r"dev\.jsonl:1: expected a JSON utterance with 'shard' and 'num_frames'"):
        read_feature_manifest(out / "dev.jsonl")


def test_cli_with_two_jobs(tmp_path, capsys):
    train, dev = make_manifest(tmp_path, "train", 6), make_manifest(tmp_path, "dev", 2)
    config = tmp_path / "features.yaml"
    config.write_text("kind: fbank\nnum_mel_bins: 40\n")
    out = tmp_path / "fbank"
    argv = ["features", "--config", str(config), "--manifests", str(dev), str(train), "--output-dir", str(out),
            "--cmvn-from", "train", "--jobs", "2", "--shard-size", "2", "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "train: 6 utterances" in printed and "3 shard(s) computed, 0 reused" in printed
    assert Cmvn.from_json(out / "cmvn.json").dim == 40
    assert {r.id for r in read_feature_manifest(out / "train.jsonl")} == {f"train-{i}" for i in range(6)}
    assert json.loads((out / "train" / "shard-00002.done").read_text())["ids"] == ["train-4", "train-5"]

    assert main([*argv[:8], "--cmvn-from", "test"]) == 1
    assert capsys.readouterr().err == "asr features: error: --cmvn-from test: no manifest of that split among dev, train\n"


def test_cli_unknown_config_key(tmp_path, capsys):
    config = tmp_path / "features.yaml"
    config.write_text("dithering: 1.0\n")
    argv = ["features", "--config", str(config), "--manifests", str(tmp_path / "train.jsonl"),
            "--output-dir", str(tmp_path / "out")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"asr features: error: {config}: unknown config key 'dithering' for FeatureConfig")
    assert os.listdir(tmp_path) == ["features.yaml"]


@pytest.mark.slow
def test_kill_9_of_features_with_two_jobs_leaves_no_worker(tmp_path):
    """`asr features --jobs 2` killed with SIGKILL: its worker processes go with it."""
    import signal
    import subprocess
    import sys
    import time

    utts = []
    for i in range(40):
        audio = write_tone(tmp_path / "audio" / f"u{i}.wav", seconds=8.0, freq=200 + 10 * i)
        utts.append(Utterance(id=f"u{i}", audio=str(audio.relative_to(tmp_path)), duration=8.0, sample_rate=16000,
                              text="打开空调", speaker=f"s{i % 3}"))
    write_manifest(tmp_path / "train.jsonl", utts)
    proc = subprocess.Popen([sys.executable, "-m", "asr", "features", "--manifests", str(tmp_path / "train.jsonl"),
                             "--output-dir", str(tmp_path / "fbank"), "--jobs", "2", "--shard-size", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children = []
    deadline = time.time() + 60
    while time.time() < deadline and len(children) < 2:
        children = [int(p) for p in (Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
                                     if Path(f"/proc/{proc.pid}").exists() else [])]
        time.sleep(0.1)
    assert len(children) >= 2, "the workers did not start"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 20
    while time.time() < deadline and any(Path(f"/proc/{c}").exists() and "zombie" not in
                                         Path(f"/proc/{c}/status").read_text().lower() for c in children):
        time.sleep(0.2)
    alive = [c for c in children if Path(f"/proc/{c}").exists()
             and "(zombie)" not in Path(f"/proc/{c}/status").read_text()]
    assert alive == []
