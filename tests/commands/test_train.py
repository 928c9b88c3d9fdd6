"""``asr train``: bad audio, a plain manifest for stored features, a missing --init directory."""

from __future__ import annotations

import pytest

from tests.commands.harness import check_error
from tests.commands.inputs import BAD_AUDIO, TINY_TRAIN, bad_audio_manifest, config_argv, write_config


@pytest.mark.parametrize("kind", ["missing", "text"])
def test_train_on_audio_names_the_utterance(kind, asr, tmp_path):
    manifest, bad = bad_audio_manifest(tmp_path, kind)
    config = write_config(tmp_path, "train", TINY_TRAIN)
    r = asr("train", "--config", config, "--train-manifest", manifest, "--exp-dir", tmp_path / "exp",
            "--no-progress", "--device", "cpu")
    check_error(r, "train", "utterance bad", str(bad), BAD_AUDIO[kind])
    assert not (tmp_path / "exp" / "model" / "config.yaml").exists()


def test_train_on_stored_features_names_a_plain_manifest(asr, tmp_path, model_dir):
    config = write_config(tmp_path, "train", {**TINY_TRAIN, "inputs": {"source": "stored"}})
    check_error(asr(*config_argv("train", config, tmp_path, model_dir)), "train",
                f"{tmp_path / 'test.jsonl'}: inputs.source is 'stored' but this is not a feature manifest "
                "(run `asr features`, or set inputs.source: audio)")


def test_train_init_from_a_missing_checkpoint_dir_is_one_error(asr, tmp_path):
    config = write_config(tmp_path, "train", {**TINY_TRAIN, "model": {"encoder": "wav2vec2"}})
    argv = config_argv("train", config, tmp_path, tmp_path) + ["--init", tmp_path / "nowhere"]
    check_error(asr(*argv), "train", f"{tmp_path / 'nowhere'} is not a directory (expected a local Hugging Face checkpoint)")
