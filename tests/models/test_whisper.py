import numpy as np
import pytest
import torch
from torch.nn.functional import ctc_loss

from asr.config import from_dict
from asr.errors import AsrError
from asr.models.model_dir import load_model, save_model
from asr.models import ModelConfig, build_model
from asr.models.whisper import whisper_output_lengths
from asr.models.tokens import Vocabulary

TINY = {"d_model": 32, "encoder_layers": 2, "encoder_attention_heads": 2, "encoder_ffn_dim": 64,
        "decoder_layers": 1, "decoder_attention_heads": 2, "decoder_ffn_dim": 32, "num_mel_bins": 80,
        "vocab_size": 100, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2,
        "decoder_start_token_id": 1, "suppress_tokens": [], "begin_suppress_tokens": [], "dropout": 0.0, "attention_dropout": 0.0, "activation_dropout": 0.0}


def config(**whisper) -> ModelConfig:
    return from_dict(ModelConfig, {"encoder": "whisper", "whisper": {"head_dropout": 0.0, **whisper}})


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny WhisperForConditionalGeneration saved with save_pretrained (encoder and decoder)."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(WhisperConfig(**TINY)).eval()
    path = tmp_path_factory.mktemp("whisper") / "ckpt"
    model.save_pretrained(path)
    return path, model


def test_log_mel_matches_the_feature_extractor():
    from transformers import WhisperFeatureExtractor

    net = build_model(config(hf_config=TINY), vocab_size=5)
    wave = np.random.default_rng(0).standard_normal(9000).astype(np.float32) * 0.1
    ref = WhisperFeatureExtractor(feature_size=80)(wave, sampling_rate=16000, return_tensors="pt").input_features
    mine = net.log_mel(torch.from_numpy(wave)[None], torch.tensor([9000]))
    assert mine.shape == (1, 80, 56)
    assert torch.allclose(mine, ref[:, :, :56], atol=1e-5)


def test_matches_the_hf_encoder_on_30_seconds(checkpoint):
    from transformers import WhisperFeatureExtractor

    path, model = checkpoint
    net = build_model(config(init=str(path)), vocab_size=5).eval()
    wave = np.random.default_rng(1).standard_normal(480000).astype(np.float32) * 0.1
    features = WhisperFeatureExtractor(feature_size=80)(wave, sampling_rate=16000, return_tensors="pt").input_features
    with torch.inference_mode():
        ref = model.model.encoder(features).last_hidden_state
        log_probs, out_lengths = net(torch.from_numpy(wave)[None], torch.tensor([480000]))
        ours = net.head.linear(ref).log_softmax(-1)
    assert out_lengths.tolist() == [1500] and log_probs.shape == (1, 1500, 5)
    # The last frame differs only because we feed it Whisper's padding instead of the conv's zeros.
    assert torch.allclose(log_probs[:, :-1], ours[:, :-1], atol=1e-4)


def test_variable_length_batches_without_30_second_padding(checkpoint):
    net = build_model(config(init=str(checkpoint[0])), vocab_size=5).eval()
    assert net.max_input_length == 480000 and net.stride == 320
    torch.manual_seed(0)
    x, lengths = torch.randn(2, 16000) * 0.1, torch.tensor([16000, 9000])
    log_probs, out_lengths = net(x, lengths)
    assert log_probs.shape == (2, 50, 5) and out_lengths.tolist() == [50, 28]
    alone, _ = net(x[1:, :9000], lengths[1:])
    assert torch.allclose(alone[0], log_probs[1, :28], atol=1e-5)
    for n in (400, 479, 480, 641, 3333):
        assert net(torch.randn(1, n), torch.tensor([n]))[0].shape[1] == whisper_output_lengths(torch.tensor(n)).item()
    with pytest.raises(AsrError, match="at most 30 s of audio, got 31.0 s"):
        net(torch.zeros(1, 496000), torch.tensor([496000]))


def test_fine_tune_from_a_local_checkpoint_and_reload_without_it(checkpoint, tmp_path):
    path, model = checkpoint
    cfg = config(init=str(path))
    net = build_model(cfg, vocab_size=6)
    for name, value in model.model.encoder.state_dict().items():
        assert torch.equal(net.encoder.state_dict()[name], value), name
    assert not net.encoder.conv1.weight.requires_grad and not net.encoder.embed_positions.weight.requires_grad
    assert net.encoder.layers[0].fc1.weight.requires_grad
    torch.manual_seed(1)
    x, lengths = torch.randn(2, 8000) * 0.1, torch.tensor([8000, 6000])
    targets, target_lengths = torch.tensor([[2, 3, 4, 5], [5, 4, 0, 0]]), torch.tensor([4, 2])
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    for _ in range(3):
        log_probs, out_lengths = net(x, lengths)
        loss = ctc_loss(log_probs.transpose(0, 1), targets, out_lengths, target_lengths)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)

    vocab = Vocabulary(["<blank>", "<unk>", "a", "b", "c", "d"])
    save_model(tmp_path / "m", net, cfg, vocab, None, None, {"total": {}}, None)
    cfg_gone = config(init=str(tmp_path / "deleted"))  # the recorded init no longer exists
    save_model(tmp_path / "m", net, cfg_gone, vocab, None, None, {"total": {}}, None)
    loaded = load_model(tmp_path / "m")
    got, got_lengths = loaded.log_probs([x[0].numpy(), x[1, :6000].numpy()])
    with torch.inference_mode():
        expected, _ = net.eval()(x, lengths)
    assert torch.allclose(got, expected, atol=1e-5) and got_lengths.tolist() == [25, 19]
    assert loaded.frame_shift == pytest.approx(0.02)


def test_lora_on_whisper(checkpoint):
    net = build_model(config(init=str(checkpoint[0]), lora={"rank": 2, "targets": ["q_proj", "fc1"]}), vocab_size=5)
    trainable = sorted({n.split(".")[-1] for n, p in net.named_parameters() if p.requires_grad})
    assert trainable == ["bias", "lora_a", "lora_b", "weight"]  # head.linear.{weight,bias} + adapters
    assert not net.encoder.layer_norm.weight.requires_grad
