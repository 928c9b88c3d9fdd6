"""Every command that loads a model: a missing or broken model directory, a missing or corrupt language model."""

from __future__ import annotations

from pathlib import Path

import pytest

from asr.manifest.records import write_manifest
from conftest import write_tone
from tests.commands.harness import check_error, listing
from tests.commands.inputs import results_file, utt


def model_argv(command: str, model: Path, tmp_path: Path) -> list:
    wav = write_tone(tmp_path / "audio" / "good.wav")
    manifest = tmp_path / "test.jsonl"
    write_manifest(manifest, [utt("u1", "audio/good.wav")])
    return {
        "decode": ["decode", "--model", model, "--manifests", manifest, "--output-dir", tmp_path / "out"],
        "transcribe": ["transcribe", "--model", model, wav],
        "export": ["export", "--model", model],
        "audit": ["audit", "--model", model, "--results", results_file(tmp_path / "decode"),
                  "--output-dir", tmp_path / "out", "--release", "r1", "--replicates", 10, "--permutations", 10],
    }[command]


MODEL_COMMANDS = ["decode", "transcribe", "export", "audit"]


@pytest.mark.parametrize("command", MODEL_COMMANDS)
def test_a_missing_model_dir_is_one_error_naming_it(command, asr, tmp_path):
    model = tmp_path / "exp" / "model"
    r = asr(*model_argv(command, model, tmp_path))
    check_error(r, command, str(model))
    assert "not found" in r.lines[0] or "no model" in r.lines[0]
    assert listing(tmp_path / "out") == set()


#: A way of breaking a model directory -> what the error line must say (after the directory's name).
BROKEN_MODELS = {
    "no_weights": ("model.safetensors", None, ": missing model.safetensors (the model directory is incomplete)"),
    "no_config": ("config.yaml", None, ": missing config.yaml (the save was interrupted or this is not a model directory)"),
    "text_weights": ("model.safetensors", "not weights\n", "/model.safetensors: unreadable weights"),
    "bad_yaml_config": ("config.yaml", "format: [\n", "/config.yaml: invalid YAML"),
    "foreign_config": ("config.yaml", "format: something-else\n", "/config.yaml: expected format"),
    "short_tokens": ("tokens.txt", "<blank> 0\n<unk> 1\n", "/tokens.txt: 2 tokens, but config.yaml says"),
    "bad_summary": ("data_summary.json", "{not json", "/data_summary.json: invalid JSON"),
}


@pytest.mark.parametrize("broken", BROKEN_MODELS)
@pytest.mark.parametrize("command", ["decode", "transcribe", "export"])
def test_a_broken_model_dir_is_one_error_naming_the_file(command, broken, asr, tmp_path, model_dir):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(model_dir, model)
    name, content, tail = BROKEN_MODELS[broken]
    if content is None:
        (model / name).unlink()
    else:
        (model / name).write_text(content, encoding="utf-8")
    r = asr(*model_argv(command, model, tmp_path))
    check_error(r, command, f"{model}{tail}")
    assert listing(tmp_path / "out") == set()
    assert not (model / "model.onnx").exists()


@pytest.mark.parametrize("content,fragment", [(None, "not found"), ("", "not a valid language model file"),
                                              ("{not json", "not a valid language model file"),
                                              ("\\data\\\nngram 1=x\n", "not a valid language model file")])
@pytest.mark.parametrize("command", ["decode", "transcribe"])
def test_a_missing_or_corrupt_lm_file_is_one_error_naming_it(command, content, fragment, asr, tmp_path, model_dir):
    lm = tmp_path / ("lm.arpa" if content and content.startswith("\\data") else "lm.json")
    if content is not None:
        lm.write_text(content, encoding="utf-8")
    argv = model_argv(command, model_dir, tmp_path) + ["--lm", lm, "--beam-size", 2]
    r = asr(*argv)
    check_error(r, command, str(lm), fragment)
    assert listing(tmp_path / "out") == set()
