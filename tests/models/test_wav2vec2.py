import numpy as np
import pytest
import torch
from torch.nn.functional import ctc_loss

from asr.config import from_dict
from asr.errors import AsrError
from asr.models.model_dir import load_model, save_model
from asr.models import ModelConfig, build_model
from asr.models.hf import count_trainable
from asr.models.lora import LoraLinear
from asr.models.wav2vec2 import normalize_waveforms
from asr.models.tokens import Vocabulary

TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
        "conv_dim": [16] * 7, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2,
        "hidden_dropout": 0.0, "attention_dropout": 0.0, "activation_dropout": 0.0, "feat_proj_dropout": 0.0,
        "layerdrop": 0.0, "mask_time_prob": 0.0}
NO_DROPOUT = {k: v for k, v in TINY.items() if "dropout" in k or k in ("layerdrop", "mask_time_prob")}


def config(**wav2vec2) -> ModelConfig:
    return from_dict(ModelConfig, {"encoder": "wav2vec2", "wav2vec2": {"head_dropout": 0.0, **wav2vec2}})


def batch():
    torch.manual_seed(1)
    x = torch.randn(2, 8000) * 0.1
    return x, torch.tensor([8000, 5000]), torch.tensor([[2, 3, 4, 5], [5, 4, 0, 0]]), torch.tensor([4, 2])


def train_steps(net, steps=3, lr=3e-3):
    x, lengths, targets, target_lengths = batch()
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=lr)
    losses = []
    for _ in range(steps):
        log_probs, out_lengths = net(x, lengths)
        loss = ctc_loss(log_probs.transpose(0, 1), targets, out_lengths, target_lengths)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny fine-tuned-style wav2vec2 CTC checkpoint (vocabulary of 40) saved with save_pretrained."""
    from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

    torch.manual_seed(0)
    model = Wav2Vec2ForCTC(Wav2Vec2Config(**TINY, vocab_size=40, feat_extract_norm="layer", do_stable_layer_norm=True))
    path = tmp_path_factory.mktemp("w2v") / "ckpt"
    model.save_pretrained(path)
    return path, model


def test_normalisation_matches_the_feature_extractor():
    from transformers import Wav2Vec2FeatureExtractor

    rng = np.random.default_rng(0)
    waves = [rng.standard_normal(1200).astype(np.float32) * 0.3 + 0.1, rng.standard_normal(700).astype(np.float32)]
    ref = Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True)(
        waves, sampling_rate=16000, padding=True, return_tensors="pt").input_values
    padded = torch.zeros(2, 1200)
    padded[0], padded[1, :700] = torch.from_numpy(waves[0]), torch.from_numpy(waves[1])
    assert torch.allclose(normalize_waveforms(padded, torch.tensor([1200, 700])), ref, atol=1e-5)


def test_output_lengths_match_the_network():
    net = build_model(config(hf_config=TINY), vocab_size=7).eval()
    assert net.input_kind == "waveform" and net.stride == 320
    for n in (400, 401, 3199, 3200, 8000, 16000):
        log_probs, out_lengths = net(torch.randn(1, n), torch.tensor([n]))
        assert log_probs.shape[1] == out_lengths.item() == net.output_lengths(torch.tensor([n])).item()
    assert net.output_lengths(torch.tensor([16000])).item() == 49


def test_fine_tune_from_a_local_checkpoint(checkpoint):
    path, original = checkpoint
    net = build_model(config(init=str(path), hf_config=NO_DROPOUT), vocab_size=9)
    loaded = net.backbone.state_dict()
    for name, value in original.wav2vec2.state_dict().items():
        assert torch.equal(loaded[name], value), name
    assert net.head.linear.out_features == 9  # the checkpoint's 40-token lm_head is replaced
    assert not any(p.requires_grad for p in net.backbone.feature_extractor.parameters())
    assert all(p.requires_grad for p in net.backbone.encoder.parameters())
    losses = train_steps(net)
    assert losses[-1] < losses[0]
    # Every trainable parameter got a gradient: DistributedDataParallel needs no find_unused_parameters.
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


def test_unfreeze_top_layers_and_schedule(checkpoint):
    net = build_model(config(init=str(checkpoint[0]), unfreeze_layers=1, unfreeze_schedule={2: 2}), vocab_size=9)
    layers = net.backbone.encoder.layers
    assert not any(p.requires_grad for p in layers[0].parameters())
    assert all(p.requires_grad for p in layers[1].parameters())
    assert all(p.requires_grad for p in net.backbone.encoder.layer_norm.parameters())
    assert not net.backbone.feature_projection.projection.weight.requires_grad
    assert net.set_train_step(1) is False
    assert net.set_train_step(2) is True and all(p.requires_grad for p in layers[0].parameters())


def test_lora_trains_adapters_only_and_roundtrips_without_init(checkpoint, tmp_path):
    path, _ = checkpoint
    torch.manual_seed(0)
    plain = build_model(config(init=str(path), hf_config=NO_DROPOUT), vocab_size=9).eval()
    torch.manual_seed(0)
    cfg = config(init=str(path), hf_config=NO_DROPOUT, lora={"rank": 4, "targets": ["q_proj", "v_proj"]})
    net = build_model(cfg, vocab_size=9)
    net.head.load_state_dict(plain.head.state_dict())
    x, lengths, _, _ = batch()
    assert torch.allclose(net.eval()(x, lengths)[0], plain(x, lengths)[0], atol=1e-5)  # B = 0 at start
    adapters = [m for m in net.modules() if isinstance(m, LoraLinear)]
    assert len(adapters) == 4
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert trainable == {n for n in trainable if "lora_" in n or n.startswith("head.")}
    assert count_trainable(net)[0] == 4 * 4 * (32 + 32) + 9 * 32 + 9
    frozen = adapters[0].base.weight.clone()
    losses = train_steps(net.train())
    assert losses[-1] < losses[0] and torch.equal(adapters[0].base.weight, frozen)

    vocab = Vocabulary(["<blank>", "<unk>", *"abcdefg"])
    save_model(tmp_path / "m", net, cfg, vocab, None, None, {"total": {}}, None)
    moved = path.with_name("moved")
    path.rename(moved)  # the init checkpoint is gone: the model directory must suffice
    try:
        model = load_model(tmp_path / "m")
    finally:
        moved.rename(path)
    assert (tmp_path / "m" / "hf_config.json").is_file() and model.frame_shift == pytest.approx(0.02)
    log_probs, out_lengths = model.log_probs([x[0].numpy(), x[1, :5000].numpy()])
    with torch.inference_mode():
        expected, _ = net.eval()(x, lengths)
    assert torch.allclose(log_probs, expected, atol=1e-5) and out_lengths.tolist() == [24, 15]


@pytest.mark.parametrize("model_type", ["hubert", "data2vec-audio"])
def test_other_wav2vec2_family_checkpoints_load(tmp_path, model_type):
    from transformers import AutoConfig, AutoModel

    hf = AutoConfig.for_model(model_type, **TINY, conv_pos_kernel_size=16, num_conv_pos_embedding_layers=1)
    AutoModel.from_config(hf).save_pretrained(tmp_path)
    net = build_model(config(init=str(tmp_path)), vocab_size=5).eval()
    assert net.hf_config()["model_type"] == model_type
    log_probs, out_lengths = net(torch.randn(1, 4000), torch.tensor([4000]))
    assert log_probs.shape == (1, 12, 5) and out_lengths.tolist() == [12]


def test_bad_init_and_targets(tmp_path):
    with pytest.raises(AsrError, match="is not a directory"):
        build_model(config(init=str(tmp_path / "nope")), vocab_size=5)
    with pytest.raises(AsrError, match="has no config.json"):
        build_model(config(init=str(tmp_path)), vocab_size=5)
    with pytest.raises(AsrError, match=r"match no linear layer \(available: .*intermediate_dense"):
        build_model(config(hf_config=TINY, lora={"rank": 2, "targets": ["query"]}), vocab_size=5)
