"""Every command that reads a config file: unknown keys (nested too), wrong types, invalid YAML, a missing file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.commands.harness import check_error, listing
from tests.commands.inputs import TINY_TRAIN, config_argv, write_config


CONFIG_CLASSES = {"corpus": "CorpusConfig", "features": "FeatureConfig", "train": "TrainConfig",
                  "decode": "DecodeConfig", "audit": "AuditConfig"}


#: A valid config of each kind (the recipe's own where there is one).
RECIPE_CONF = Path(__file__).resolve().parents[2] / "recipes" / "dialect" / "conf"


VALID_CONFIGS = {
    "corpus": yaml.safe_load((RECIPE_CONF / "corpus_tiny.yaml").read_text(encoding="utf-8")),
    "features": yaml.safe_load((RECIPE_CONF / "features.yaml").read_text(encoding="utf-8")),
    "train": TINY_TRAIN,
    "decode": yaml.safe_load((RECIPE_CONF / "decode.yaml").read_text(encoding="utf-8")),
    "audit": yaml.safe_load((RECIPE_CONF / "audit.yaml").read_text(encoding="utf-8")),
}


@pytest.mark.parametrize("kind", CONFIG_CLASSES)
def test_an_unknown_config_key_names_file_key_and_the_known_keys(kind, asr, tmp_path, model_dir):
    config = write_config(tmp_path, kind, {**VALID_CONFIGS[kind], "sead": 1})
    r = asr(*config_argv(kind, config, tmp_path, model_dir))
    check_error(r, config_argv(kind, config, tmp_path, model_dir)[0],
                f"{config}: unknown config key 'sead' for {CONFIG_CLASSES[kind]} (expected one of: ")
    assert listing(tmp_path / "out") == set()


#: A nested unknown key in each config kind that has nested sections -> (data, where the error must point).
NESTED = {
    "corpus": ({"groups": {"mandarin": {"speakers": {"train": 1, "dev": 1, "test": 1}, "train_utterance": 3}}},
               "groups.mandarin", "'train_utterance'"),
    "train": ({**TINY_TRAIN, "model": {"encoder": "conformer", "conformer": {"d_model": 16, "num_layer": 1}}},
              "model: conformer", "'num_layer'"),
    "train_optimizer": ({**TINY_TRAIN, "optimizer": {"learning_rate": 0.1}}, "optimizer", "'learning_rate'"),
}


@pytest.mark.parametrize("case", NESTED)
def test_a_nested_unknown_key_names_its_section(case, asr, tmp_path, model_dir):
    data, section, key = NESTED[case]
    kind = case.split("_")[0]
    config = write_config(tmp_path, kind, data)
    r = asr(*config_argv(kind, config, tmp_path, model_dir))
    check_error(r, config_argv(kind, config, tmp_path, model_dir)[0], str(config), section,
                f"unknown config key {key}")


#: Config kind -> (a bad value, the error line's tail after the file name).
WRONG_VALUES = {
    "corpus": ({"seed": "zero"}, ": seed: expected int, got 'zero'"),
    "features": ({"num_mel_bins": "80"}, ": num_mel_bins: expected int, got '80'"),
    "train": ({**TINY_TRAIN, "schedule": {"kind": "linear"}}, ": schedule: kind: expected one of 'cosine', 'noam', 'constant', got 'linear'"),
    "decode": ({"beam_size": "wide"}, ": beam_size: expected int, got 'wide'"),
    "audit": ({"replicates": 5}, ": replicates must be >= 10, got 5"),
}


@pytest.mark.parametrize("kind", CONFIG_CLASSES)
def test_a_config_value_of_the_wrong_type_names_file_and_key(kind, asr, tmp_path, model_dir):
    data, tail = WRONG_VALUES[kind]
    config = write_config(tmp_path, kind, data)
    r = asr(*config_argv(kind, config, tmp_path, model_dir))
    check_error(r, config_argv(kind, config, tmp_path, model_dir)[0], f"{config}{tail}")


@pytest.mark.parametrize("kind", CONFIG_CLASSES)
def test_invalid_yaml_and_a_missing_config_name_the_file(kind, asr, tmp_path, model_dir):
    config = write_config(tmp_path, kind, "seed: [1,\n")
    command = config_argv(kind, config, tmp_path, model_dir)[0]
    check_error(asr(*config_argv(kind, config, tmp_path, model_dir)), command, f"{config}: invalid YAML at line ")
    config = write_config(tmp_path, kind, "- a list\n- not a mapping\n")
    check_error(asr(*config_argv(kind, config, tmp_path, model_dir)), command,
                f"{config}: expected a YAML mapping of config keys, got list")
    config.unlink()
    check_error(asr(*config_argv(kind, config, tmp_path, model_dir)), command, f"{config}: config file not found")
