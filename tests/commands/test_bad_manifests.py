"""Every command that reads an utterance manifest: a malformed line, a missing or an empty manifest is one error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.commands.harness import check_error, listing
from tests.commands.inputs import BAD_LINES, TINY_TRAIN, malformed_manifest


def manifest_commands(tmp_path: Path, manifest: Path, model_dir: Path) -> dict[str, list]:
    """Every command that reads an utterance manifest -> its argv (command name first)."""
    train_config = tmp_path / "train.yaml"
    train_config.write_text(yaml.safe_dump(TINY_TRAIN))
    return {
        "manifest stats": ["manifest", "stats", manifest],
        "manifest export-kaldi": ["manifest", "export-kaldi", manifest, tmp_path / "kaldi"],
        "manifest merge": ["manifest", "merge", manifest, "--output", tmp_path / "out" / "merged.jsonl"],
        "manifest shard": ["manifest", "shard", manifest, "--output-dir", tmp_path / "out", "--num-shards", 2],
        "features": ["features", "--manifests", manifest, "--output-dir", tmp_path / "out", "--no-progress"],
        "decode": ["decode", "--model", model_dir, "--manifests", manifest, "--output-dir", tmp_path / "out"],
        "lm": ["lm", "--manifest", manifest, "--output", tmp_path / "out" / "lm.json"],
        "train": ["train", "--config", train_config, "--train-manifest", manifest, "--exp-dir", tmp_path / "out",
                  "--no-progress", "--device", "cpu"],
    }


MANIFEST_COMMANDS = ["manifest stats", "manifest export-kaldi", "manifest merge", "manifest shard", "features",
                     "decode", "lm", "train"]


@pytest.mark.parametrize("command", MANIFEST_COMMANDS)
@pytest.mark.parametrize("kind", ["bad_json", "missing_fields", "wrong_type"])
def test_a_malformed_manifest_line_is_one_error_naming_file_and_line(command, kind, asr, tmp_path, model_dir):
    manifest = malformed_manifest(tmp_path, kind)
    r = asr(*manifest_commands(tmp_path, manifest, model_dir)[command])
    check_error(r, command.split()[0], f"{manifest}:2: ", BAD_LINES[kind][1])
    assert listing(tmp_path / "out") == set() and not (tmp_path / "kaldi").exists()


@pytest.mark.parametrize("command", MANIFEST_COMMANDS)
def test_a_missing_manifest_is_one_error(command, asr, tmp_path, model_dir):
    manifest = tmp_path / "nowhere" / "test.jsonl"
    r = asr(*manifest_commands(tmp_path, manifest, model_dir)[command])
    check_error(r, command.split()[0], f"{manifest}: manifest not found")


@pytest.mark.parametrize("command", MANIFEST_COMMANDS)
def test_an_empty_manifest_is_one_error(command, asr, tmp_path, model_dir):
    manifest = tmp_path / "test.jsonl"
    manifest.write_text("")
    r = asr(*manifest_commands(tmp_path, manifest, model_dir)[command])
    check_error(r, command.split()[0], str(manifest), "no utterances")
    assert listing(tmp_path / "out") == set()
