"""End-to-end training on a tiny tone corpus: learning, kill -9 and resume, two gloo processes.

Each "character" is a tone of its own pitch, so a one-layer conformer learns the corpus in
a few seconds. Subprocess runs use one thread (``OMP_NUM_THREADS=1``) so that their float
arithmetic is the same from run to run.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from safetensors.torch import load_file

from asr.errors import AsrError
from asr.manifest.records import Utterance, write_manifest
from asr.train.trainer import KILL_ENV, train
from asr.train.config import load_train_config

CHARS = "一二三四五六七八"
RATE = 16000
TINY = {
    "model": {"encoder": "conformer", "conformer": {"d_model": 32, "num_layers": 1, "num_heads": 2, "ffn_dim": 64,
                                                     "conv_kernel": 3, "dropout": 0.1, "subsampling_channels": 8}},
    "optimizer": {"lr": 0.01},
    "schedule": {"kind": "cosine", "warmup_steps": 5},
    "batching": {"max_frames": 600},
    "augment": {"spec_augment": {"freq_width": 4, "time_width": 10, "time_ratio": 0.2}},
    "log_every": 5,
    "valid_every": 10,
    "checkpoint_every": 5,
    "keep_checkpoints": 2,
    "average": {"mode": "best", "num": 2},
}


def _write_corpus(root: Path, n_train: int = 40, n_dev: int = 8) -> None:
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("dev", n_dev)):
        utts = []
        for i in range(n):
            ids = rng.integers(0, len(CHARS), size=int(rng.integers(3, 7)))
            pieces = []
            for c in ids:
                t = np.arange(int(0.12 * RATE)) / RATE
                pieces += [0.3 * np.sin(2 * np.pi * (300 + 100 * c) * t), np.zeros(int(0.03 * RATE))]
            audio = np.concatenate(pieces)
            audio = (audio + 0.01 * rng.standard_normal(len(audio))).astype(np.float32)
            path = root / "audio" / f"{split}{i}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(path), audio, RATE)
            utts.append(Utterance(
                id=f"{split}{i}", audio=f"audio/{split}{i}.wav", duration=len(audio) / RATE, sample_rate=RATE,
                text="".join(CHARS[c] for c in ids), speaker=f"s{i % 4}", dialect="wu" if i % 4 == 0 else "mandarin",
                gender="female" if i % 2 else "male", age_band="20-29",
            ))
        write_manifest(root / f"{split}.jsonl", utts)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    from asr.features.store import extract_features
    from asr.features.frontend import FeatureConfig

    root = tmp_path_factory.mktemp("tones")
    _write_corpus(root)
    config = FeatureConfig(num_mel_bins=23)
    extract_features(root / "train.jsonl", root / "fbank", config, cmvn=True, progress=False)
    extract_features(root / "dev.jsonl", root / "fbank", config, progress=False)
    return root


@pytest.fixture(autouse=True)
def one_thread():
    """In-process training on one thread: as fast on a shared 2-core machine, and like the subprocesses."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _config(tmp_path: Path, **changes) -> Path:
    data = json.loads(json.dumps(TINY))
    for key, value in changes.items():
        data[key] = value
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def _run(args: list[str], env: dict | None = None, launcher: list[str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    command = (launcher or [sys.executable]) + ["-m", "asr", "train", "--no-progress", "--device", "cpu", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)


def _args(corpus: Path, config: Path, exp: Path) -> list[str]:
    return ["--config", str(config), "--train-manifest", str(corpus / "fbank/train.jsonl"),
            "--dev-manifest", str(corpus / "fbank/dev.jsonl"), "--exp-dir", str(exp)]


@pytest.fixture(scope="module")
def learned(corpus, tmp_path_factory):
    """A model trained to learn the corpus (30 epochs): its config, experiment directory and result."""
    tmp_path = tmp_path_factory.mktemp("learned")
    config = load_train_config(_config(tmp_path, max_epochs=30))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = train(config, corpus / "fbank/train.jsonl", corpus / "fbank/dev.jsonl", tmp_path / "exp",
                       progress=False)
    finally:
        torch.set_num_threads(threads)
    return config, tmp_path, result


def test_training_learns_the_corpus_and_writes_a_loadable_model(corpus, learned):
    import asr
    from asr.decode.search import greedy_search

    config, tmp_path, result = learned
    assert result.steps == 30 * 6  # 40 utterances in 6 batches of <= 600 padded frames, 30 epochs
    assert result.final_dev_cer is not None and result.final_dev_cer < 0.1
    assert len(result.averaged_steps) in (1, 2)

    with open(tmp_path / "exp/log/valid.csv") as f:
        valid = list(csv.DictReader(f))
    assert [int(r["step"]) for r in valid] == list(range(10, 181, 10))
    assert float(valid[0]["dev_cer"]) > 0.5  # it learned: from (nearly) nothing ...
    with open(tmp_path / "exp/log/train.csv") as f:
        rows = list(csv.DictReader(f))
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"]) / 3  # ... to a much lower loss
    assert float(rows[-1]["audio_seconds_per_second"]) > 0
    assert list((tmp_path / "exp/tensorboard").glob("events.out.tfevents.*"))

    model = asr.load_model(tmp_path / "exp/model")
    summary = model.data_summary
    assert summary["total"]["utterances"] == 40
    assert summary["by"]["dialect"]["wu"]["utterances"] == 10
    assert model.cmvn is not None and model.feature_config.num_mel_bins == 23
    utt = json.loads((corpus / "dev.jsonl").read_text().splitlines()[0])
    audio, _ = sf.read(str(corpus / utt["audio"]), dtype="float32")
    log_probs, lengths = model.log_probs([audio])
    assert model.vocab.decode(greedy_search(log_probs, lengths)[0].token_ids) == utt["text"]

    with pytest.raises(AsrError, match=r"already has checkpoints .*pass --resume"):
        train(config, corpus / "fbank/train.jsonl", None, tmp_path / "exp", progress=False)


def test_model_directory_records_the_resolved_precision_and_stack(learned):
    import asr

    _, tmp_path, _ = learned
    record = asr.load_model(tmp_path / "exp/model").provenance
    assert record["precision"] == "fp32"  # precision: auto on a CPU, whatever the CPU supports
    assert record["device"] == "cpu" and record["seed"] == 1234 and record["threads"] == 1 and record["processes"] == 1
    assert record["packages"]["torch"] == torch.__version__.split("+")[0] or record["packages"]["torch"] == torch.__version__
    assert record["packages"]["torchaudio"] and record["packages"]["numpy"] == np.__version__
    assert record["cpu"] and record["cpu_capability"] and record["asr"] == asr.__version__
    result = json.loads((tmp_path / "exp/result.json").read_text())
    assert result["provenance"]["precision"] == "fp32"


@pytest.mark.parametrize("asked, device, expected", [
    ("auto", "cpu", "fp32"), ("fp32", "cpu", "fp32"), ("bf16", "cpu", "bf16"),
])
def test_precision_resolves_to_fp32_or_bf16_never_auto(asked, device, expected):
    from asr.train.trainer import resolve_precision

    assert resolve_precision(asked, torch.device(device)) == expected


def test_init_from_a_model_directory_starts_where_it_left_off_and_grows_the_vocabulary(corpus, learned, tmp_path):
    """Fine-tuning (``--init``) for 2 steps at a tiny learning rate keeps the learned model; from
    scratch, the same 2 steps know nothing. A new character in the texts gets a new output row."""
    import asr

    base_dir = learned[1] / "exp/model"
    fbank = shutil.copytree(corpus / "fbank", tmp_path / "fbank")
    rows = (fbank / "train.jsonl").read_text(encoding="utf-8").splitlines()
    first = json.loads(rows[0])
    first["text"] += "九"
    (fbank / "train.jsonl").write_text("\n".join([json.dumps(first, ensure_ascii=False), *rows[1:]]) + "\n",
                                       encoding="utf-8")
    config = _config(tmp_path, max_steps=2, optimizer={"lr": 1e-7}, schedule={"kind": "constant", "warmup_steps": 0},
                     balance_by="dialect", balance_temperature=3.0)
    args = ["--config", str(config), "--train-manifest", str(fbank / "train.jsonl"),
            "--dev-manifest", str(fbank / "dev.jsonl")]

    tuned = _run([*args, "--exp-dir", str(tmp_path / "tuned"), "--init", str(base_dir)])
    assert tuned.returncode == 0, tuned.stderr
    assert "initialised from" in tuned.stderr and "(11 tokens, 1 new)" in tuned.stderr
    scratch = _run([*args, "--exp-dir", str(tmp_path / "scratch")])
    assert scratch.returncode == 0, scratch.stderr
    tuned_cer = json.loads((tmp_path / "tuned/result.json").read_text())["final_dev_cer"]
    scratch_cer = json.loads((tmp_path / "scratch/result.json").read_text())["final_dev_cer"]
    assert tuned_cer <= learned[2].final_dev_cer + 0.02 and tuned_cer < 0.1
    assert scratch_cer > 0.5

    base, model = asr.load_model(base_dir), asr.load_model(tmp_path / "tuned/model")
    assert model.vocab.tokens == (*base.vocab.tokens, "九")
    assert model.train_config["init"] == str(base_dir)
    weight, old = model.network.head.linear.weight, base.network.head.linear.weight
    assert weight.shape == (old.shape[0] + 1, old.shape[1])
    assert torch.allclose(weight[: len(old)], old, atol=1e-4)

    bad = _run([*args, "--exp-dir", str(tmp_path / "bad"), "--init", str(fbank)])
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1] == (
        f"asr train: error: --init {fbank}: not an asr model directory (config.yaml, model.safetensors), and a "
        "Hugging Face checkpoint needs model.encoder wav2vec2 or whisper, not 'conformer'")


def test_init_refuses_a_model_that_reads_other_features(corpus, tmp_path):
    """The tiny model reads 80 mel bins; the stored features of this corpus have 23."""
    from tests.tiny_model import make_tiny_model

    model = make_tiny_model(tmp_path / "other")
    config = load_train_config(_config(tmp_path, max_steps=1))
    with pytest.raises(AsrError, match=r"fbank/train.jsonl: its features.yaml differs from the features the model "
                                       r"reads \(the training set's, or with --init the initial model's\)"):
        train(config, corpus / "fbank/train.jsonl", None, tmp_path / "exp", init=model, progress=False)


def test_kill_9_then_resume_ends_with_the_same_weights(corpus, tmp_path):
    config = _config(tmp_path, max_epochs=4, optimizer={"lr": 0.01, "accum_grad": 2})
    straight = _run(_args(corpus, config, tmp_path / "a"))
    assert straight.returncode == 0, straight.stderr

    killed = _run(_args(corpus, config, tmp_path / "b"), env={KILL_ENV: "8"})
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "b/model").exists()
    assert sorted(p.name for p in (tmp_path / "b/checkpoints").iterdir()) == ["step-00000005"]
    resumed = _run(_args(corpus, config, tmp_path / "b") + ["--resume"])
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stderr and "(step 5, epoch 1, batch 4)" in resumed.stderr

    a, b = tmp_path / "a", tmp_path / "b"
    final_a, final_b = load_file(str(a / "model/model.safetensors")), load_file(str(b / "model/model.safetensors"))
    assert final_a.keys() == final_b.keys()
    for name, tensor in final_a.items():
        assert torch.equal(tensor, final_b[name]), name  # bit for bit
    for step in ("step-00000010", "step-00000012"):  # checkpoint files are byte-identical
        for name in ("model.safetensors", "optimizer.safetensors"):
            assert (a / "checkpoints" / step / name).read_bytes() == (b / "checkpoints" / step / name).read_bytes()

    def losses(exp: Path) -> list[tuple[str, str]]:
        with open(exp / "log/train.csv") as f:
            return [(r["step"], r["loss"]) for r in csv.DictReader(f)]

    assert losses(a) == losses(b)  # one log, as if never interrupted
    assert json.loads((a / "result.json").read_text())["averaged_steps"] == \
        json.loads((b / "result.json").read_text())["averaged_steps"]


def test_two_gloo_processes_train_on_disjoint_shards_and_agree(corpus, tmp_path):
    torchrun = shutil.which("torchrun")
    launcher = [torchrun] if torchrun else [sys.executable, "-m", "torch.distributed.run"]
    launcher += ["--standalone", "--nproc_per_node", "2"]  # a free rendezvous port on localhost
    config = _config(tmp_path, max_epochs=2)
    run = _run(_args(corpus, config, tmp_path / "ddp"), launcher=launcher)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "rank 0 of 2 on cpu (gloo)" in run.stderr
    assert run.stderr.count("INFO asr.train.trainer: vocabulary:") == 1  # rank 1 logs warnings and errors only
    result = json.loads((tmp_path / "ddp/result.json").read_text())
    assert result["world_size"] == 2
    digests = result["rank_weight_digests"]
    assert len(digests) == 2 and digests[0] == digests[1]
    assert result["steps"] == 2 * 3  # 6 batches per epoch, 3 per rank


def test_on_the_fly_features_with_speed_perturbation(corpus, tmp_path):
    import asr

    config = load_train_config(_config(
        tmp_path, max_steps=4, inputs={"source": "audio", "features": {"num_mel_bins": 23}},
        augment={"speed_perturb": [0.9, 1.0, 1.1]},
    ))
    result = train(config, corpus / "train.jsonl", corpus / "dev.jsonl", tmp_path / "exp", progress=False)
    assert result.steps == 4
    model = asr.load_model(tmp_path / "exp/model")
    assert model.feature_config.num_mel_bins == 23
    assert model.cmvn is not None and model.cmvn.num_frames > 0  # estimated from the training audio


def test_speed_perturbation_needs_audio_inputs(corpus, tmp_path):
    config = load_train_config(_config(tmp_path, augment={"speed_perturb": [0.9, 1.1]}))
    with pytest.raises(AsrError, match=r"speed_perturb needs features computed on the fly: set inputs.source: audio"):
        train(config, corpus / "fbank/train.jsonl", None, tmp_path / "exp", progress=False)


def test_stored_source_needs_a_feature_manifest(corpus, tmp_path):
    config = load_train_config(_config(tmp_path))
    with pytest.raises(AsrError, match=r"inputs.source is 'stored' but this is not a feature manifest"):
        train(config, corpus / "train.jsonl", None, tmp_path / "exp", progress=False)


def test_intermediate_pinyin_ctc_trains_and_is_left_out_of_the_model_directory(corpus, tmp_path):
    import asr

    model = {"encoder": "conformer", "conformer": {**TINY["model"]["conformer"], "num_layers": 2}}
    config = load_train_config(_config(tmp_path, model=model, max_steps=12,
                                       intermediate_ctc={"units": "pinyin", "layer": 1, "weight": 0.5}))
    exp = tmp_path / "exp"
    result = train(config, corpus / "fbank/train.jsonl", corpus / "fbank/dev.jsonl", exp, progress=False)
    assert result.steps == 12
    units = (exp / "units.txt").read_text(encoding="utf-8").split()[::2]
    # 一二三四五六七八: yi1 er4 san1 si4 wu3 liu4 qi1 ba1 (standard finals: liu is l + iou)
    assert units == ["<blank>", "<unk>", "a1", "an1", "b", "er4", "i1", "i4", "iou4", "l", "q", "s", "u3", "w", "y"]
    checkpoint = load_file(str(next((exp / "checkpoints").iterdir()) / "model.safetensors"))
    assert {k.split(".")[0] for k in checkpoint} == {"network", "norm", "head"}
    assert checkpoint["head.linear.weight"].shape == (len(units), 32)
    saved = load_file(str(exp / "model/model.safetensors"))
    assert not any(k.startswith(("network.", "norm.")) for k in saved)  # the plain encoder, as without it
    assert asr.load_model(exp / "model").network.head.linear.out_features == 10  # <blank> <unk> + 8 characters


@pytest.mark.parametrize("changes, message", [
    ({"model": {"encoder": "wav2vec2"}}, r"intermediate_ctc needs a conformer, transformer or tdnn encoder, not 'wav2vec2'"),
    ({"intermediate_ctc": {"units": "pinyin", "layer": 1}}, r"intermediate_ctc.layer must be in 0..0"),
    ({"intermediate_ctc": {"units": "pinyin", "weight": 1.0}}, r"intermediate_ctc.weight must be between 0 and 1"),
    ({"intermediate_ctc": {"units": "pinyin", "only_where": {"dialect": []}}},
     r"intermediate_ctc.only_where.dialect must be a value or a list of values \(strings\), got \[\]"),
])
def test_intermediate_ctc_config_is_checked(tmp_path, changes, message):
    changes = {"intermediate_ctc": {"units": "pinyin"}, **changes}
    with pytest.raises(AsrError, match=message):
        load_train_config(_config(tmp_path, **changes))


def test_intermediate_ctc_only_where_masks_the_other_utterances(corpus, tmp_path):
    """only_where {dialect: wu}: the 10 wu utterances carry pinyin targets, the others none."""
    from asr.train.dataset import collate
    from asr.train.dataset import matches
    from asr.train.trainer import Trainer
    from asr.train.loop import Distributed

    config = load_train_config(_config(tmp_path, max_steps=6,
                                       intermediate_ctc={"units": "pinyin", "only_where": {"dialect": "wu"}}))
    trainer = Trainer(config, tmp_path / "exp", Distributed(device=torch.device("cpu")), progress=False)
    trainer._setup_vocab(corpus / "fbank/train.jsonl", resume=False)
    trainer.input_kind = "features"
    dataset = trainer._open(corpus / "fbank/train.jsonl", (), training=True).dataset
    with_targets = [i for i, t in enumerate(dataset.aux_targets) if t is not None]
    assert [dataset.utterances[i].dialect for i in with_targets] == ["wu"] * 10
    batch = collate([dataset[i] for i in (0, 1, 4)])  # utterances 0 and 4 are wu
    assert batch.aux_mask.tolist() == [True, False, True]
    assert batch.aux_target_lengths[1] == 0 and batch.aux_target_lengths[0] > 0
    assert matches(dataset.utterances[1], {"dialect": ["wu", "mandarin"]})
    assert not matches(dataset.utterances[1], {"dialect": "wu"})

    result = train(config, corpus / "fbank/train.jsonl", None, tmp_path / "run", progress=False)
    assert result.steps == 6  # batches without any wu utterance still train (a zero pinyin loss)

    typo = load_train_config(_config(tmp_path, intermediate_ctc={"units": "pinyin", "only_where": {"dialect": "wuu"}}))
    with pytest.raises(AsrError, match=r"intermediate_ctc.only_where \{'dialect': 'wuu'\} matches no training utterance"):
        train(typo, corpus / "fbank/train.jsonl", None, tmp_path / "typo", progress=False)
