"""Checkpoints without pickle, RNG capture, averaging, the LR schedule and the train config."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from asr.train.checkpoint import (
    average_state_dicts,
    capture_rng,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    restore_rng,
    save_checkpoint,
    step_path,
)
from asr.errors import AsrError
from asr.train.config import ScheduleConfig, TrainConfig, load_train_config, lr_factor


def _trained(steps: int = 3):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 2))
    opt = torch.optim.AdamW(net.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1 + s))
    for _ in range(steps):
        _step(net, opt, sched)
    return net, opt, sched


def _step(net, opt, sched):
    loss = net(torch.randn(16, 4)).pow(2).mean()
    loss.backward()
    opt.step()
    sched.step()
    opt.zero_grad()


def test_checkpoint_round_trip_continues_training_identically(tmp_path):
    net, opt, sched = _trained()
    save_checkpoint(tmp_path, 3, net.state_dict(), opt.state_dict(),
                    {"scheduler": sched.state_dict(), "rng": capture_rng()})
    torch.manual_seed(99)
    for _ in range(2):
        _step(net, opt, sched)
    expected = {k: v.clone() for k, v in net.state_dict().items()}

    ckpt = load_checkpoint(step_path(tmp_path, 3))
    net2 = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 2))
    opt2 = torch.optim.AdamW(net2.parameters(), lr=0.01)
    sched2 = torch.optim.lr_scheduler.LambdaLR(opt2, lambda s: 1.0 / (1 + s))
    net2.load_state_dict(ckpt.model)
    opt2.load_state_dict(ckpt.optimizer)
    sched2.load_state_dict(ckpt.state["scheduler"])
    assert ckpt.step == 3
    torch.manual_seed(99)
    for _ in range(2):
        _step(net2, opt2, sched2)
    for k, v in net2.state_dict().items():
        assert torch.equal(v, expected[k]), k


def test_checkpoint_files_are_safetensors_and_json_only(tmp_path):
    net, opt, sched = _trained()
    path = save_checkpoint(tmp_path, 7, net.state_dict(), opt.state_dict(), {"scheduler": sched.state_dict()})
    assert sorted(p.name for p in path.iterdir()) == ["model.safetensors", "optimizer.safetensors", "state.json"]
    optimizer = load_file(str(path / "optimizer.safetensors"))
    assert set(optimizer) >= {"state.0.exp_avg", "state.0.exp_avg_sq", "state.0.step"}
    state = json.loads((path / "state.json").read_text())
    assert state["step"] == 7 and state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.01 / 4)
    assert set(load_file(str(path / "model.safetensors"))) == set(net.state_dict())


def test_incomplete_checkpoints_are_ignored_and_pruning_keeps_the_newest(tmp_path):
    net, opt, _ = _trained(1)
    for step in (10, 20, 30, 40):
        save_checkpoint(tmp_path, step, net.state_dict(), opt.state_dict(), {})
    (tmp_path / "checkpoints" / ".step-00000050.tmp-123").mkdir()  # a save killed half-way
    (tmp_path / "checkpoints" / "step-00000060").mkdir()  # no state.json: incomplete
    assert [s for s, _ in list_checkpoints(tmp_path)] == [10, 20, 30, 40]
    prune_checkpoints(tmp_path, keep=2, protect={10})
    assert [s for s, _ in list_checkpoints(tmp_path)] == [10, 30, 40]


def test_missing_checkpoint_file_is_a_clear_error(tmp_path):
    net, opt, _ = _trained(1)
    path = save_checkpoint(tmp_path, 1, net.state_dict(), opt.state_dict(), {})
    (path / "optimizer.safetensors").unlink()
    with pytest.raises(AsrError, match=r"incomplete checkpoint \(missing optimizer.safetensors\)"):
        load_checkpoint(path)


def test_rng_states_round_trip_through_json():
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    rng = json.loads(json.dumps(capture_rng()))
    expected = (random.random(), np.random.rand(), torch.rand(3), np.random.randn())
    random.seed(5)
    np.random.seed(5)
    torch.manual_seed(5)
    restore_rng(rng)
    got = (random.random(), np.random.rand(), torch.rand(3), np.random.randn())
    assert got[0] == expected[0] and got[1] == expected[1] and got[3] == expected[3]
    assert torch.equal(got[2], expected[2])


def test_average_state_dicts_is_the_elementwise_mean(tmp_path):
    net, opt, _ = _trained(1)
    states = []
    for step, value in ((1, 1.0), (2, 2.0), (3, 6.0)):
        sd = {k: torch.full_like(v, value) if v.is_floating_point() else v + step for k, v in net.state_dict().items()}
        states.append(sd)
        save_checkpoint(tmp_path, step, sd, opt.state_dict(), {})
    avg = average_state_dicts([p for _, p in list_checkpoints(tmp_path)])
    assert torch.equal(avg["0.weight"], torch.full_like(avg["0.weight"], 3.0))
    assert avg["1.num_batches_tracked"] == states[-1]["1.num_batches_tracked"]  # integers: from the last


def test_lr_schedules():
    cos = ScheduleConfig(kind="cosine", warmup_steps=10, min_lr_ratio=0.1)
    assert lr_factor(0, cos, 100) == pytest.approx(0.1)
    assert lr_factor(9, cos, 100) == pytest.approx(1.0)
    assert lr_factor(54, cos, 100) == pytest.approx(0.1 + 0.9 * 0.5)  # half-way through the decay
    assert lr_factor(99, cos, 100) == pytest.approx(0.1)
    noam = ScheduleConfig(kind="noam", warmup_steps=100, min_lr_ratio=0.0)
    assert lr_factor(399, noam, 1000) == pytest.approx(math.sqrt(100 / 400))
    assert lr_factor(500, ScheduleConfig(kind="constant", warmup_steps=0), 10) == 1.0


def test_train_config_rejects_unknown_keys_and_bad_values(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("optimizer: {lr: 0.001, momentum: 0.9}\n")
    with pytest.raises(AsrError, match=r"unknown config key 'momentum' for OptimizerConfig"):
        load_train_config(path)
    path.write_text("balance_by: dialect\nbalance_temperature: 0\n")
    with pytest.raises(AsrError, match=r"balance_temperature must be > 0"):
        load_train_config(path)
    path.write_text("model: {encoder: conformer, conformer: {d_model: 64}}\nbalance_temperature: .inf\n")
    config = load_train_config(path)
    assert isinstance(config, TrainConfig)
    assert config.model.conformer.d_model == 64 and config.balance_temperature == math.inf
