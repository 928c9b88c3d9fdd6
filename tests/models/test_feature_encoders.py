import pytest
import torch

from asr.config import from_dict
from asr.errors import AsrError
from asr.models import ModelConfig, build_model, conv2d_subsampling_lengths
from asr.models.subsampling import Conv1dSubsampling, Conv2dSubsampling

TINY = {
    "conformer": {"d_model": 32, "num_layers": 2, "num_heads": 2, "ffn_dim": 64, "conv_kernel": 7,
                  "subsampling_channels": 8, "dropout": 0.0},
    "transformer": {"d_model": 32, "num_layers": 2, "num_heads": 2, "ffn_dim": 64,
                    "subsampling_channels": 8, "dropout": 0.0},
    "tdnn": {"d_model": 32, "num_layers": 2, "kernel": 3, "subsampling_channels": 8, "dropout": 0.0},
}


def tiny(encoder: str) -> ModelConfig:
    return from_dict(ModelConfig, {"encoder": encoder, encoder: TINY[encoder]})


@pytest.mark.parametrize("kind", [Conv2dSubsampling, Conv1dSubsampling])
@pytest.mark.parametrize("length", [7, 8, 9, 10, 11, 50, 101, 1000])
def test_subsampling_length_rule_matches_the_module(kind, length):
    module = kind(input_dim=80, d_model=16, channels=4)
    out, _ = module(torch.zeros(1, length, 80), torch.tensor([length]))
    assert out.shape == (1, conv2d_subsampling_lengths(torch.tensor([length])).item(), 16)


def test_subsampling_lengths_are_zero_below_seven_frames():
    assert conv2d_subsampling_lengths(torch.arange(9)).tolist() == [0, 0, 0, 0, 0, 0, 0, 1, 1]


@pytest.mark.parametrize("subsampling", ["conv2d", "conv1d"])
@pytest.mark.parametrize("encoder", ["conformer", "transformer", "tdnn"])
def test_forward_shapes_and_lengths(encoder, subsampling):
    torch.manual_seed(0)
    config = from_dict(ModelConfig, {"encoder": encoder, encoder: {**TINY[encoder], "subsampling": subsampling}})
    net = build_model(config, vocab_size=11, input_dim=40).eval()
    assert net.input_kind == "features" and net.stride == 4
    lengths = torch.tensor([60, 45, 3])
    log_probs, out_lengths = net(torch.randn(3, 60, 40), lengths)
    assert log_probs.dtype == torch.float32
    assert log_probs.shape == (3, conv2d_subsampling_lengths(torch.tensor(60)).item(), 11)
    assert out_lengths.tolist() == net.output_lengths(lengths).tolist() == [14, 10, 0]
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(3, 14), atol=1e-5)


def test_transformer_output_ignores_padding():
    torch.manual_seed(0)
    net = build_model(tiny("transformer"), vocab_size=11, input_dim=40).eval()
    x = torch.randn(1, 45, 40)
    alone, _ = net(x, torch.tensor([45]))
    padded, _ = net(torch.cat([x, torch.randn(1, 15, 40)], 1), torch.tensor([45]))
    assert torch.allclose(alone[0], padded[0, :10], atol=1e-5)


@pytest.mark.parametrize("encoder", ["conformer", "transformer", "tdnn"])
def test_a_few_steps_reduce_ctc_loss(encoder):
    torch.manual_seed(0)
    net = build_model(tiny(encoder), vocab_size=6, input_dim=20)
    x, lengths = torch.randn(2, 40, 20), torch.tensor([40, 32])
    targets, target_lengths = torch.tensor([[2, 3, 4], [5, 2, 0]]), torch.tensor([3, 2])
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(5):
        log_probs, out_lengths = net(x, lengths)
        loss = torch.nn.functional.ctc_loss(log_probs.transpose(0, 1), targets, out_lengths, target_lengths)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_registry_errors():
    with pytest.raises(AsrError, match="input_dim"):
        build_model(ModelConfig(), vocab_size=10, input_dim=None)
    with pytest.raises(AsrError, match="unknown config key 'layers'"):
        from_dict(ModelConfig, {"conformer": {"layers": 3}})
    with pytest.raises(AsrError, match="expected one of 'conformer'"):
        from_dict(ModelConfig, {"encoder": "lstm"})
    with pytest.raises(AsrError, match="either lora or unfreeze_layers"):
        from_dict(ModelConfig, {"wav2vec2": {"lora": {"rank": 4}, "unfreeze_layers": 2}})


@pytest.mark.parametrize("encoder", ["conformer", "transformer", "tdnn"])
def test_forward_with_hidden_gives_the_same_output_and_a_layer(encoder):
    torch.manual_seed(0)
    net = build_model(tiny(encoder), vocab_size=11, input_dim=40).eval()
    x, lengths = torch.randn(2, 60, 40), torch.tensor([60, 41])
    log_probs, out_lengths = net(x, lengths)
    same, same_lengths, hidden = net.forward_with_hidden(x, lengths, 1)
    assert torch.allclose(log_probs, same, atol=1e-5) and torch.equal(out_lengths, same_lengths)
    assert hidden.shape == (2, 14, 32)
    assert net.forward_with_hidden(x, lengths, None)[2] is None


def test_conformer_positions_tell_identical_frames_apart():
    """On a constant input, frames away from the edges look alike to a Conformer without positions."""
    frame = torch.randn(1, 1, 40)
    x, lengths = frame.expand(1, 80, 40).contiguous(), torch.tensor([80])
    middle = {}
    for positions in ("none", "sinusoidal"):
        torch.manual_seed(0)
        config = from_dict(ModelConfig, {"encoder": "conformer",
                                         "conformer": {**TINY["conformer"], "positions": positions}})
        log_probs, _ = build_model(config, vocab_size=11, input_dim=40).eval()(x, lengths)
        assert log_probs.shape[1] == 19  # two layers of kernel 7 reach 6 frames in from each edge
        middle[positions] = (log_probs[0, 7] - log_probs[0, 10]).abs().max().item()
    assert middle["none"] < 1e-5 < 1e-3 < middle["sinusoidal"]


def test_tdnn_sees_only_its_window():
    """An output frame of the aligner changes with the input inside its window and with nothing outside it."""
    torch.manual_seed(0)
    config = from_dict(ModelConfig, {"encoder": "tdnn", "tdnn": {**TINY["tdnn"], "num_layers": 3, "kernel": 5}})
    net = build_model(config, vocab_size=7, input_dim=20).eval()
    # 3 layers of kernel 5 see 2 output frames (8 input frames) either way each, the subsampling 3 input frames
    assert net.context_frames == 3 * 2 * 4 + 3 == 27
    x, lengths = torch.randn(1, 400, 20), torch.tensor([400])
    out, _ = net(x, lengths)
    frame = 50  # output frame 50 is centred on input frame 4 * 50 + 3
    centre = 4 * frame + 3
    for distance, changes in ((net.context_frames + 1, False), (net.context_frames + 40, False), (10, True)):
        for side in (-1, 1):
            y = x.clone()
            y[0, centre + side * distance] += 5.0
            moved, _ = net(y, lengths)
            assert (not torch.allclose(moved[0, frame], out[0, frame], atol=1e-6)) == changes, (distance, side)


def test_tdnn_needs_an_odd_kernel():
    config = from_dict(ModelConfig, {"encoder": "tdnn", "tdnn": {**TINY["tdnn"], "kernel": 4}})
    with pytest.raises(ValueError, match="tdnn.kernel must be odd"):
        build_model(config, vocab_size=7, input_dim=20)
