"""Length-bucketed batches sized by frames, their shards across ranks, and group balancing."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from asr.train.dataset import KeyedBatches, group_values
from asr.errors import AsrError
from asr.manifest.records import Utterance
from asr.train.sampler import BucketingSampler, balance_weights, group_shares, pack_batches


def _lengths(n: int = 200, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(50, 1000, size=n)


def test_pack_batches_keeps_padded_size_within_max_frames():
    lengths = [100, 100, 120, 300, 310, 900, 1500]
    batches = pack_batches(range(len(lengths)), lengths, max_frames=640)
    # [0,1,2]: 3 * 120 = 360; adding 3 would pad to 4 * 300 = 1200 > 640
    # [3,4]: 2 * 310 = 620; 900 and 1500 alone (1500 > 640: a batch of one)
    assert batches == [[0, 1, 2], [3, 4], [5], [6]]
    assert pack_batches([0, 1, 2, 3], [10, 10, 10, 10], max_frames=1000, max_batch_size=3) == [[0, 1, 2], [3]]


def test_epoch_covers_every_utterance_once_within_the_frame_budget():
    lengths = _lengths()
    sampler = BucketingSampler(lengths, max_frames=4000, seed=3)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) * max(lengths[i] for i in b) <= 4000 or len(b) == 1
    # bucketed: lengths within a batch are close (sorted with 10% jitter)
    spread = [max(lengths[i] for i in b) / min(lengths[i] for i in b) for b in batches if len(b) > 1]
    assert np.median(spread) < 1.3


def test_batches_are_a_function_of_seed_and_epoch():
    lengths = _lengths()
    a = BucketingSampler(lengths, 3000, seed=1)
    b = BucketingSampler(lengths, 3000, seed=1)
    assert a.epoch_batches(0) == b.epoch_batches(0)
    assert a.epoch_batches(0) != a.epoch_batches(1)
    assert a.epoch_batches(0) != BucketingSampler(lengths, 3000, seed=2).epoch_batches(0)


def test_set_epoch_start_resumes_mid_epoch():
    sampler = BucketingSampler(_lengths(), 3000, seed=1)
    sampler.set_epoch(2)
    full = list(sampler)
    sampler.set_epoch(2, start=5)
    assert list(sampler) == full[5:]
    assert len(sampler) == len(full) - 5
    assert sampler.state_dict() == {"epoch": 2, "index": 5, "seed": 1}


@pytest.mark.parametrize("world_size", [2, 3])
def test_distributed_shards_are_disjoint_equal_and_cover_the_epoch(world_size):
    lengths = _lengths(101)
    single = BucketingSampler(lengths, 2500, seed=7)
    shards = [BucketingSampler(lengths, 2500, seed=7, rank=r, world_size=world_size) for r in range(world_size)]
    for s in shards:
        s.set_epoch(4)
    per_rank = [list(s) for s in shards]
    assert len({len(p) for p in per_rank}) == 1  # the same number of batches on every rank
    everything = single.epoch_batches(4)
    got = [tuple(b) for p in per_rank for b in p]
    assert {tuple(b) for b in everything} == set(got)  # every batch is trained on
    padding = len(got) - len(everything)
    assert 0 <= padding < world_size  # only wrap-around padding repeats a batch
    # position k of rank r is batch k * world_size + r: disjoint slices of one list
    for r, p in enumerate(per_rank):
        assert p[0] == everything[r]


def test_balance_weights_temperature_one_is_the_natural_distribution():
    groups = ["a"] * 80 + ["b"] * 15 + ["c"] * 5
    w = balance_weights(groups, 1.0)
    np.testing.assert_allclose(w, np.full(100, 0.01))


def test_balance_weights_infinite_temperature_is_uniform_over_groups():
    groups = ["a"] * 80 + ["b"] * 15 + ["c"] * 5
    shares = group_shares(groups, balance_weights(groups, float("inf")))
    assert shares == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})


def test_balance_weights_temperature_two_takes_square_roots():
    groups = ["a"] * 80 + ["b"] * 20
    shares = group_shares(groups, balance_weights(groups, 2.0))
    expected_a = 0.8**0.5 / (0.8**0.5 + 0.2**0.5)  # 2/3
    assert shares["a"] == pytest.approx(expected_a)
    assert shares["b"] == pytest.approx(1 - expected_a)


def test_balanced_sampler_realizes_the_target_group_proportions():
    groups = ["mandarin"] * 700 + ["wu"] * 200 + ["cantonese"] * 100
    lengths = np.full(len(groups), 100)
    weights = balance_weights(groups, float("inf"))
    sampler = BucketingSampler(lengths, 1600, seed=0, weights=weights)
    drawn = Counter()
    for epoch in range(10):
        sampler.set_epoch(epoch)
        drawn.update(groups[i] for b in sampler for i in b)
    total = sum(drawn.values())
    assert total == 10 * len(groups)  # an epoch draws as many utterances as the set holds
    for g in ("mandarin", "wu", "cantonese"):
        assert drawn[g] / total == pytest.approx(1 / 3, abs=0.02)


def test_balance_temperature_must_be_positive():
    with pytest.raises(AsrError, match=r"balance_temperature must be > 0"):
        balance_weights(["a", "b"], 0.0)


def test_group_values_reads_first_class_fields_and_extras():
    utts = [
        Utterance(id="u1", audio="a.wav", duration=1.0, sample_rate=16000, text="好", speaker="s", dialect="wu",
                  extra={"school": "x"}),
        Utterance(id="u2", audio="b.wav", duration=1.0, sample_rate=16000, text="好", speaker="s"),
    ]
    assert group_values(utts, "dialect") == ["wu", None]
    assert group_values(utts, "school") == ["x", None]
    with pytest.raises(AsrError, match=r"balance_by: no utterance has a field 'province'"):
        group_values(utts, "province")


def test_keyed_batches_give_each_slot_a_reproducible_seed():
    sampler = BucketingSampler(_lengths(60), 3000, seed=5)
    sampler.set_epoch(1)
    keyed = list(KeyedBatches(sampler, seed=11))
    assert [[i for i, _ in b] for b in keyed] == list(sampler)
    sampler.set_epoch(1, start=3)
    assert list(KeyedBatches(sampler, seed=11)) == keyed[3:]
    seeds = [s for b in keyed for _, s in b]
    assert len(set(seeds)) == len(seeds)


def test_invalid_sampler_arguments_are_errors():
    with pytest.raises(AsrError, match=r"max_frames must be positive"):
        BucketingSampler([10], 0)
    with pytest.raises(AsrError, match=r"rank 2 is outside world size 2"):
        BucketingSampler([10], 100, rank=2, world_size=2)


def test_several_manifests_read_as_one_set_with_unique_ids(tmp_path):
    """The shards of `asr manifest shard` train as one set; ids must be unique across them."""
    import pytest

    from asr.train.dataset import read_utterances
    from asr.errors import AsrError
    from asr.manifest.records import Utterance, write_manifest

    def utt(uid):
        return Utterance(uid, f"audio/{uid}.wav", 1.0, 16000, "打开空调", "s1")

    (tmp_path / "b").mkdir()
    write_manifest(tmp_path / "a.jsonl", [utt("u1"), utt("u2")])
    write_manifest(tmp_path / "b" / "b.jsonl.gz", [utt("u3")])
    utts, records = read_utterances([tmp_path / "a.jsonl", tmp_path / "b" / "b.jsonl.gz"])
    assert [u.id for u in utts] == ["u1", "u2", "u3"] and records is None
    # Each file's relative audio paths resolve against its own directory.
    assert utts[2].audio == str((tmp_path / "b" / "audio" / "u3.wav").absolute())
    write_manifest(tmp_path / "c.jsonl", [utt("u2")])
    with pytest.raises(AsrError, match=r"c\.jsonl: duplicate utterance id 'u2' \(also in .*a\.jsonl\)"):
        read_utterances([tmp_path / "a.jsonl", tmp_path / "c.jsonl"])
    with pytest.raises(AsrError, match="no manifest given"):
        read_utterances([])
