"""Every command that writes, interrupted (Ctrl-C) while writing: nothing is left that looks complete."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from asr.cli import EXIT_INTERRUPTED
from asr.manifest.records import Utterance, write_manifest
from conftest import write_tone
from tests.commands.harness import listing
from tests.commands.inputs import TINY_TRAIN, kaldi_dir, results_file, transcripts, utt, write_config


def interrupt_argv(command: str, tmp_path: Path, model_dir: Path) -> list:
    """argv of a command that writes under ``tmp_path / 'out'``, with valid inputs."""
    import shutil

    manifest = tmp_path / "test.jsonl"
    wav = write_tone(tmp_path / "audio" / "good.wav")
    write_tone(tmp_path / "audio" / "other.wav", seconds=0.7)
    write_manifest(manifest, [utt("u1", "audio/good.wav"), utt("u2", "audio/other.wav", seconds=0.7, speaker="s2")])
    out = tmp_path / "out"
    if command == "export":
        shutil.copytree(model_dir, out / "model")
    if command == "prepare kaldi":
        data = kaldi_dir(tmp_path)
    train_config = write_config(tmp_path, "train", TINY_TRAIN)
    ref = transcripts(tmp_path, "ref.txt", "u1 打开空调\nu2 关闭车窗\n")
    hyp = transcripts(tmp_path, "hyp.txt", "u1 打开空\nu2 关闭车窗\n")
    return {
        "manifest merge": ["manifest", "merge", manifest, "--output", out / "merged.jsonl"],
        "manifest shard": ["manifest", "shard", manifest, "--output-dir", out, "--num-shards", 2],
        "manifest export-kaldi": ["manifest", "export-kaldi", manifest, out / "kaldi"],
        "prepare kaldi": ["prepare", "kaldi", "--corpus-dir", data if command == "prepare kaldi" else "",
                          "--output-dir", out],
        "features": ["features", "--manifests", manifest, "--output-dir", out, "--no-progress", "--cmvn-from", "test"],
        "lm": ["lm", "--manifest", manifest, "--output", out / "lm.arpa"],
        "decode": ["decode", "--model", model_dir, "--manifests", manifest, "--output-dir", out],
        "transcribe": ["transcribe", "--model", model_dir, "--output-dir", out, "--format", "json", wav],
        "score": ["score", "--ref", ref, "--hyp", hyp, "--per-utt", out / "utt.jsonl"],
        "audit": ["audit", "--results", results_file(tmp_path / "decode"), "--output-dir", out, "--release", "r1",
                  "--replicates", 10, "--permutations", 10],
        "train": ["train", "--config", train_config, "--train-manifest", manifest, "--exp-dir", out,
                  "--no-progress", "--device", "cpu"],
        "export": ["export", "--model", out / "model"],
    }[command]


INTERRUPTIBLE = ["manifest merge", "manifest shard", "manifest export-kaldi", "prepare kaldi", "features", "lm",
                 "decode", "transcribe", "score", "audit", "train", "export"]


def interrupt_nth_replace(monkeypatch, n: int) -> list:
    """Make the ``n``-th ``os.replace`` (the atomic rename into place) raise KeyboardInterrupt."""
    calls = []
    real = os.replace

    def replace(src, dst, *args, **kwargs):
        calls.append(dst)
        if len(calls) == n:
            raise KeyboardInterrupt
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    return calls


@pytest.mark.parametrize("command", INTERRUPTIBLE)
def test_an_interrupted_command_leaves_nothing_that_looks_complete(command, asr, tmp_path, model_dir, monkeypatch):
    argv = interrupt_argv(command, tmp_path, model_dir)
    before = listing(tmp_path / "out")
    calls = interrupt_nth_replace(monkeypatch, 1)
    r = asr(*argv)
    assert calls, "the command wrote nothing through an atomic rename"
    assert r.uncaught is None and r.code == EXIT_INTERRUPTED, str(r)
    assert r.lines == [f"asr {command.split()[0]}: interrupted"], str(r)
    after = listing(tmp_path / "out")
    if command == "train":  # checkpoints and logs may stay; the model directory must not look complete
        assert "model/config.yaml" not in after
    else:
        assert after == before, f"left behind: {sorted(after - before)}"


def test_decode_interrupted_between_its_two_files_leaves_no_results_without_meta(asr, tmp_path, model_dir, monkeypatch):
    argv = interrupt_argv("decode", tmp_path, model_dir)
    calls = interrupt_nth_replace(monkeypatch, 2)
    r = asr(*argv)
    assert r.code == EXIT_INTERRUPTED and len(calls) == 2, str(r)
    out = tmp_path / "out"
    assert not ((out / "results-test.jsonl").exists() and not (out / "results-test.meta.json").exists()), \
        "a results file without its meta.json looks complete to asr audit (which then assumes the default normalisation)"


def test_audit_interrupted_midway_leaves_no_report_that_looks_complete(asr, tmp_path, model_dir, monkeypatch):
    argv = interrupt_argv("audit", tmp_path, model_dir)
    calls = interrupt_nth_replace(monkeypatch, 2)
    r = asr(*argv)
    assert r.code == EXIT_INTERRUPTED, str(r)
    left = listing(tmp_path / "out")
    assert not left or not (tmp_path / "out" / "r1" / "fairness.html").exists(), \
        f"interrupted after {calls[0]}, left {sorted(left)}"


def test_merge_interrupted_mid_write_leaves_no_output(asr, tmp_path, model_dir, monkeypatch):
    argv = interrupt_argv("manifest merge", tmp_path, model_dir)
    real, seen = Utterance.to_json, []

    def to_json(self):
        seen.append(self.id)
        if len(seen) == 2:
            raise KeyboardInterrupt
        return real(self)

    monkeypatch.setattr(Utterance, "to_json", to_json)
    r = asr(*argv)
    assert r.code == EXIT_INTERRUPTED and r.lines == ["asr manifest: interrupted"], str(r)
    assert listing(tmp_path / "out") == set()


def test_features_interrupted_mid_split_write_no_feature_manifest(asr, tmp_path, model_dir, monkeypatch):
    import asr.features.store as store

    argv = interrupt_argv("features", tmp_path, model_dir) + ["--shard-size", 1]
    real, calls = store.compute_features, []

    def compute(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "compute_features", compute)
    r = asr(*argv)
    assert r.code == EXIT_INTERRUPTED and r.lines == ["asr features: interrupted"], str(r)
    left = listing(tmp_path / "out")
    assert "test.jsonl" not in left and "cmvn.json" not in left
    assert not [f for f in left if f.endswith(".tmp")], sorted(left)
