"""The KeSpeech, AISHELL-1 and Common Voice recipes on tiny fake corpora built here.

AISHELL-1 and Common Voice run stages 0-3 (prepare, validate + merge, stored features, a few
training steps with a tiny model config written by the test) through their own run.sh and the
shared stages; KeSpeech runs stages 0-2 (prepare, validate + merge + shard, on-the-fly features)
and its stage 3 command line is checked with a stand-in torchrun.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from asr.corpus.fakes import make_aishell, make_commonvoice, make_kespeech
from asr.manifest.records import read_manifest

REPO = Path(__file__).resolve().parents[2]
RECIPES = ("kespeech", "aishell", "commonvoice")

TINY_TRAIN = """\
model:
  encoder: conformer
  conformer: {{d_model: 32, num_layers: 1, num_heads: 2, ffn_dim: 64, conv_kernel: 3, subsampling_channels: 16}}
inputs: {{source: {source}, cmvn_utterances: 8}}
batching: {{max_frames: 3000, max_batch_size: 8}}
schedule: {{kind: constant, warmup_steps: 0}}
max_steps: 2
log_every: 1
valid_every: 2
checkpoint_every: 2
average: {{mode: last, num: 1}}
"""


def _env(path_prefix: Path | None = None) -> dict:
    """The environment of a recipe run: this Python's scripts (asr, torchrun) first on PATH."""
    env = dict(os.environ)
    dirs = ([str(path_prefix)] if path_prefix else []) + [str(Path(sys.executable).parent), env.get("PATH", "")]
    env["PATH"] = os.pathsep.join(dirs)
    return env


def run_recipe(name: str, *options: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "recipes" / name / "run.sh"), *map(str, options)],
                          capture_output=True, text=True, env=env or _env(), timeout=300)


def _ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


def _dirs(root: Path) -> list[str]:
    return ["--data-dir", root / "data", "--exp-dir", root / "exp", "--report-dir", root / "reports"]


def _tiny_config(root: Path, source: str) -> Path:
    path = root / f"tiny_{source}.yaml"
    path.write_text(TINY_TRAIN.format(source=source), encoding="utf-8")
    return path


def _summary(model_dir: Path) -> dict:
    return json.loads((model_dir / "data_summary.json").read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- KeSpeech


@pytest.fixture(scope="module")
def kespeech(tmp_path_factory):
    """KeSpeech stages 0-2: 2 speakers x 3 utterances in each of the 5 parts, 2 train shards."""
    root = tmp_path_factory.mktemp("kespeech")
    corpus = make_kespeech(root / "KeSpeech", speakers=2, utterances=3)
    out = _ok(run_recipe("kespeech", "--corpus-dir", corpus, *_dirs(root), "--stop-stage", 2, "--nj", 1,
                         "--num-shards", 2))
    return root, out


def test_kespeech_prepares_parts_with_speaker_metadata(kespeech):
    root, _ = kespeech
    test = read_manifest(root / "data" / "test.jsonl")
    assert len(test) == 6
    for utt in test:  # the speaker's home subdialect, on Mandarin readings too; city, style and phase
        assert utt.home_dialect not in (None, "mandarin") and utt.gender in ("female", "male")
        assert utt.age_band and utt.city and utt.reading_style in ("mandarin", "dialect") and utt.phase in (1, 2)
    assert {u.reading_style for u in read_manifest(root / "data" / "train_phase2.jsonl")} == {"mandarin"}


def test_kespeech_shards_the_train_parts_and_merges_the_dev_parts(kespeech):
    root, out = kespeech
    data = root / "data"
    parts = [u.id for p in ("train_phase1", "train_phase2") for u in read_manifest(data / f"{p}.jsonl")]
    shards = sorted((data / "train").iterdir())
    assert [p.name for p in shards] == ["shard-00000.jsonl.gz", "shard-00001.jsonl.gz"]
    assert [u.id for p in shards for u in read_manifest(p)] == parts
    dev = [u.id for p in ("dev_phase1", "dev_phase2") for u in read_manifest(data / f"{p}.jsonl")]
    assert [u.id for u in read_manifest(data / "dev.jsonl")] == dev
    # On-the-fly features: stage 2 stores nothing.
    assert "Stage 2: features: computed on the fly during training" in out
    assert not (data / "fbank").exists() and not (data / "train.jsonl").exists()


def test_kespeech_rerun_skips_finished_stages(kespeech):
    root, _ = kespeech
    out = _ok(run_recipe("kespeech", "--corpus-dir", root / "KeSpeech", *_dirs(root), "--stop-stage", 1, "--nj", 1,
                         "--num-shards", 2))
    assert re.search(r"Stage 0: prepare the kespeech corpus: already done", out)
    assert re.search(r"Stage 1: validate manifests, form the train and dev sets: already done", out)


def test_ngpu_makes_asr_train_launch_torchrun_on_the_same_cli(kespeech, tmp_path):
    """--ngpu 2: stage 3.2 is `asr train --gpus 2` on every shard; on a CUDA machine that command runs
    `python -m torch.distributed.run --standalone --nproc_per_node 2 -m asr train` on the same arguments."""
    import argparse

    from asr.commands.train import _worker_args
    from asr.train.launch import plan_launch, torchrun_command

    root, _ = kespeech
    config = _tiny_config(tmp_path, "audio")
    proc = run_recipe("kespeech", "--data-dir", root / "data", "--exp-dir", tmp_path / "exp", "--stage", 3,
                      "--stop-stage", 3, "--num-shards", 2, "--ngpu", 2, "--train-config", config,
                      "--train-args", "--max-steps 1 --device cpu")
    _ok(proc)
    assert json.loads((tmp_path / "exp" / "baseline" / "result.json").read_text())["steps"] == 1
    data = root / "data"
    shards = [str(data / "train" / "shard-00000.jsonl.gz"), str(data / "train" / "shard-00001.jsonl.gz")]
    launch = plan_launch("auto", gpus=2, cpu_procs=1, cuda_available=True)
    args = argparse.Namespace(config=str(config), train_manifest=shards, dev_manifest=[str(data / "dev.jsonl")],
                              exp_dir=str(tmp_path / "exp" / "baseline"), init=None, aligner=None, max_steps=None,
                              seed=None, progress=True)
    assert torchrun_command(launch, _worker_args(args, launch.device, resume=False))[1:] == [
        "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "asr", "train",
        "--config", str(config), "--train-manifest", *shards, "--exp-dir", str(tmp_path / "exp" / "baseline"),
        "--device", "cuda", "--dev-manifest", str(data / "dev.jsonl"),
    ]


def test_kespeech_trains_on_its_shards_with_features_on_the_fly(kespeech, tmp_path):
    """Stage 3 for real (one CPU process): `asr train` reads every shard and computes fbank itself."""
    root, _ = kespeech
    _ok(run_recipe("kespeech", "--data-dir", root / "data", "--exp-dir", tmp_path / "exp", "--stage", 3,
                   "--stop-stage", 3, "--num-shards", 2, "--ngpu", 0, "--train-config", _tiny_config(tmp_path, "audio")))
    summary = _summary(tmp_path / "exp" / "baseline" / "model")
    train_ids = [u.id for p in sorted((root / "data" / "train").iterdir()) for u in read_manifest(p)]
    assert summary["total"]["utterances"] == len(train_ids) == 12
    assert (tmp_path / "exp" / "baseline" / "model" / "cmvn.json").is_file()


TINY_WHISPER = {"d_model": 32, "encoder_layers": 2, "encoder_attention_heads": 2, "encoder_ffn_dim": 64,
                "decoder_layers": 1, "decoder_attention_heads": 2, "decoder_ffn_dim": 32, "num_mel_bins": 80,
                "vocab_size": 100, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2,
                "decoder_start_token_id": 1, "suppress_tokens": [], "begin_suppress_tokens": []}


def _tiny_whisper(root: Path) -> Path:
    """A random Whisper checkpoint of Whisper-base's layout, tiny, saved as a converted Whisper-base is."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    path = root / "tiny-whisper"
    WhisperForConditionalGeneration(WhisperConfig(**TINY_WHISPER)).save_pretrained(path)
    return path


def test_kespeech_whisper_config_trains_through_stage_3(kespeech, tmp_path):
    """The shipped GPU config (recipes/kespeech/conf/train_whisper.yaml) as it is, for 2 steps on the CPU."""
    root, _ = kespeech
    config = REPO / "recipes/kespeech/conf/train_whisper.yaml"
    _ok(run_recipe("kespeech", "--data-dir", root / "data", "--exp-dir", tmp_path / "exp", "--stage", 3,
                   "--stop-stage", 3, "--num-shards", 2, "--ngpu", 0, "--train-config", config,
                   "--baseline-init", _tiny_whisper(tmp_path), "--train-args", "--max-steps 2"))
    model = tmp_path / "exp" / "baseline" / "model"
    saved = (model / "config.yaml").read_text(encoding="utf-8")
    assert "encoder: whisper" in saved and "head_lr: 0.001" in saved
    assert json.loads((model / "hf_config.json").read_text(encoding="utf-8"))["d_model"] == 32
    assert json.loads((tmp_path / "exp" / "baseline" / "result.json").read_text(encoding="utf-8"))["steps"] == 2
    assert _summary(model)["total"]["utterances"] == 12


# ----------------------------------------------------------------------------- AISHELL-1, Common Voice


@pytest.mark.slow
@pytest.mark.parametrize("config", ["train.yaml", "train_whisper.yaml"])
def test_aishell_stages_0_to_3(tmp_path, config):
    """Stages 0-3, with a tiny Conformer, or with the shipped Whisper-encoder GPU config (2 steps, a tiny checkpoint)."""
    corpus = make_aishell(tmp_path / "aishell", speakers={"train": 3, "dev": 1, "test": 1}, utterances=3)
    train = ["--train-config", _tiny_config(tmp_path, "stored")]
    if config == "train_whisper.yaml":
        train = ["--train-config", REPO / "recipes/aishell/conf" / config, "--baseline-init", _tiny_whisper(tmp_path),
                 "--train-args", "--max-steps 2"]
    out = _ok(run_recipe("aishell", "--corpus-dir", corpus, *_dirs(tmp_path), "--stop-stage", 3, "--nj", 1,
                         "--ngpu", 0, *train))
    data = tmp_path / "data"
    assert {u.gender for u in read_manifest(data / "train.jsonl")} == {"female", "male"}
    assert (data / "fbank" / "cmvn.json").is_file() and len(read_manifest(data / "test.jsonl")) == 3
    assert "hours  utterances  speakers" in out  # stage 1's per-gender table
    summary = _summary(tmp_path / "exp" / "baseline" / "model")
    assert summary["total"] == {"hours": summary["total"]["hours"], "utterances": 9, "speakers": 3}
    assert sum(g["speakers"] for g in summary["by"]["gender"].values()) == 3


@pytest.mark.slow
def test_commonvoice_stages_0_to_3(tmp_path):
    corpus = make_commonvoice(tmp_path / "cv-corpus", locales=("zh-CN", "zh-HK"),
                              speakers={"train": 3, "dev": 1, "test": 1}, utterances=2)
    _ok(run_recipe("commonvoice", "--corpus-dir", corpus, *_dirs(tmp_path), "--stop-stage", 3, "--nj", 1,
                   "--ngpu", 0, "--train-config", _tiny_config(tmp_path, "stored")))
    data = tmp_path / "data"
    train = read_manifest(data / "train.jsonl")
    assert {u.dialect for u in train} == {"mandarin", "cantonese"} and len(train) == 12
    assert any(u.accent for u in train) and any(u.age_band for u in train) and any(u.gender for u in train)
    summary = _summary(tmp_path / "exp" / "baseline" / "model")
    assert {k: v["utterances"] for k, v in summary["by"]["dialect"].items()} == {"cantonese": 6, "mandarin": 6}


# ----------------------------------------------------------------------------- settings only


BOOTSTRAP = (
    'recipe_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)',
    'repo_root=$(cd "$recipe_dir/../.." && pwd)',
    'source "$repo_root/recipes/shared/stages.sh"',
)
SETTING = re.compile(r'^[a-z_]+=("[^"$`]*"|[^\s"$`;|&]*)$')


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_is_settings_only(name):
    """A real-corpus run.sh is the dialect recipe's skeleton plus variable assignments: no stage code."""
    lines = [line.strip() for line in (REPO / "recipes" / name / "run.sh").read_text().splitlines()]
    code = [line for line in lines if line and not line.startswith("#")]
    assert tuple(code[:3]) == BOOTSTRAP and code[-2:] == ['parse_options "$@"', "main"]
    assert [line for line in code[3:-2] if not SETTING.match(line)] == []
    assert "corpus_dir=\"\"" in code


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_configs_load(name):
    from asr.audit.config import AuditConfig
    from asr.config import load_config
    from asr.decode.batch import DecodeConfig
    from asr.features.frontend import FeatureConfig
    from asr.train.config import load_train_config

    conf = REPO / "recipes" / name / "conf"
    train, balanced = load_train_config(conf / "train.yaml"), load_train_config(conf / "train_balanced.yaml")
    assert train.model.encoder == "conformer" and train.model.conformer.num_layers == 12
    assert train.model.conformer.d_model >= 256 and balanced.balance_by and not train.balance_by
    assert balanced.model == train.model and balanced.inputs == train.inputs
    assert load_config(FeatureConfig, conf / "features.yaml").num_mel_bins == 80
    load_config(DecodeConfig, conf / "decode.yaml")
    load_config(AuditConfig, conf / "audit.yaml")
    if name == "kespeech":  # 1,500 hours: features on the fly, speed perturbation
        assert train.inputs.source == "audio" and train.augment.speed_perturb == (0.9, 1.0, 1.1)


@pytest.mark.parametrize("options, message", [
    (["--features", "stored", "--num-shards", "2"], "--num-shards 2 needs --features on-the-fly"),
    (["--ngpu", "two"], "--ngpu must be a non-negative integer, got 'two'"),
    (["--features", "lazy"], "--features must be stored or on-the-fly, got 'lazy'"),
    ([], "--corpus-dir DIR is required for stage 0"),
    (["--corpus-dir", "x", "--num-gpus", "2"], "unknown option --num-gpus"),
])
def test_bad_settings_are_refused_before_anything_runs(tmp_path, options, message):
    proc = run_recipe("kespeech", *_dirs(tmp_path), *options)
    assert proc.returncode == 1 and message in proc.stderr
    assert not (tmp_path / "data").exists()


def test_help_shows_the_recipe_the_shared_options_and_the_settings():
    out = _ok(run_recipe("kespeech", "--help"))
    assert out.startswith("KeSpeech (Tang et al., NeurIPS 2021")
    for option in ("--ngpu N", "--features MODE", "--num-shards N", "--corpus-dir DIR", "--train-config F"):
        assert option in out
    settings = out[out.index("Settings of this recipe"):].splitlines()
    assert "  --features         on-the-fly" in settings and "  --num-shards       16" in settings
    assert "  --audit-by         " in settings  # empty: the audit config's `by` decides
