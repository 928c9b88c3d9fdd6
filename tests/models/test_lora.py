import torch
from torch import nn

from asr.models.lora import LoraLinear, apply_lora, merge_lora


def test_lora_starts_as_the_base_layer_and_merges_exactly():
    torch.manual_seed(0)
    base = nn.Linear(6, 4)
    lora = LoraLinear(base, rank=2, alpha=4.0)
    x = torch.randn(3, 6)
    assert torch.equal(lora(x), base(x))
    with torch.no_grad():
        lora.lora_b.normal_()
    expected = base(x) + 2.0 * x @ lora.lora_a.T @ lora.lora_b.T
    assert torch.allclose(lora(x), expected, atol=1e-6)
    assert torch.allclose(lora.merged()(x), expected, atol=1e-6)
    assert [n for n, p in lora.named_parameters() if p.requires_grad] == ["lora_a", "lora_b"]


def test_apply_and_merge_by_attribute_name():
    net = nn.Sequential(nn.ModuleDict({"q_proj": nn.Linear(4, 4), "fc": nn.Linear(4, 4)}))
    assert apply_lora(net, ["q_proj"], rank=1, alpha=1.0) == ["0.q_proj"]
    assert isinstance(net[0]["q_proj"], LoraLinear) and isinstance(net[0]["fc"], nn.Linear)
    assert merge_lora(net) == 1 and type(net[0]["q_proj"]) is nn.Linear
