"""Starting a model from a saved model directory: vocabulary growth, weight copy, mismatches."""

from __future__ import annotations

import pytest
import torch

from asr.config import from_dict
from asr.errors import AsrError
from asr.train.finetune import extend_vocabulary, is_model_dir, load_initial_weights
from asr.models.model_dir import load_model
from asr.models import ModelConfig, build_model
from asr.models.tokens import Vocabulary
from tests.tiny_model import TINY_CONFORMER, make_tiny_model


def _network(vocab_size: int, **changes) -> torch.nn.Module:
    config = from_dict(ModelConfig, {"encoder": "conformer", "conformer": {**TINY_CONFORMER, **changes}})
    return build_model(config, vocab_size, 80)


def test_extend_vocabulary_keeps_the_ids_and_appends_the_new_tokens():
    base = Vocabulary.build(["打开空调"])
    grown = extend_vocabulary(base, Vocabulary.build(["关闭空调", "打开"]))
    assert grown.tokens == ("<blank>", "<unk>", "开", "打", "空", "调", "关", "闭")
    assert extend_vocabulary(base, Vocabulary.build(["空调"])) == base


def test_is_model_dir_tells_an_asr_model_from_other_directories(tmp_path):
    assert is_model_dir(make_tiny_model(tmp_path / "model"))
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf/config.json").write_text("{}")
    assert not is_model_dir(tmp_path / "hf")
    assert not is_model_dir(tmp_path / "missing")


def test_initial_weights_are_copied_and_new_token_rows_keep_their_initialisation(tmp_path):
    base = load_model(make_tiny_model(tmp_path / "model"))
    vocab = extend_vocabulary(base.vocab, Vocabulary.build(["新词"]))
    old, new = len(base.vocab), len(vocab) - len(base.vocab)
    assert new == 2
    torch.manual_seed(1)
    network = _network(len(vocab))
    fresh_rows = network.head.linear.weight[old:].detach().clone()

    assert load_initial_weights(network, base, vocab) == 2
    source, target = base.network.state_dict(), network.state_dict()
    for name, tensor in source.items():
        if name.startswith("head."):
            assert torch.equal(target[name][:old], tensor), name
        else:
            assert torch.equal(target[name], tensor), name
    assert torch.equal(network.head.linear.weight[old:], fresh_rows)
    assert network.head.linear.bias.shape == (old + new,)


def test_a_different_architecture_or_vocabulary_is_refused_by_name(tmp_path):
    base = load_model(make_tiny_model(tmp_path / "model"))
    with pytest.raises(AsrError, match=r"--init .*model: .*ffn.* has shape \(64, 32\), the config's model \(48, 32\)"):
        load_initial_weights(_network(len(base.vocab), ffn_dim=48), base, base.vocab)
    with pytest.raises(AsrError, match=r"not the same architecture as the config's model section "
                                       r"\(the config's model has .*layers\.1\."):
        load_initial_weights(_network(len(base.vocab), num_layers=2), base, base.vocab)
    other = Vocabulary.build(["完全不同"])
    with pytest.raises(AsrError, match=r"the vocabulary must start with the initial model's \d+ tokens"):
        load_initial_weights(_network(len(other)), base, other)
