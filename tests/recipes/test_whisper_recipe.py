"""``bash recipes/dialect/run.sh --pretrained whisper-base`` on the tiny embedded corpus.

The Conformer recipe runs first (stages 0-8, a tiny Conformer), then the pretrained one on the
same data directories with a tiny random Whisper checkpoint in place of Whisper-base
(``--baseline-init``), with the recipe's own Whisper configs cut to a few steps: it reuses
stages 0-2, fine-tunes the encoder with a CTC head, audits release ``whisper``, fine-tunes that
on the Conformer's targeted data and audits ``whisper-targeted`` against it, all on the
Conformer's test utterances. The KeSpeech and AISHELL-1 Whisper configs load and are what the
README says they are.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "recipes/dialect/conf"
TINY_WHISPER = {"d_model": 32, "encoder_layers": 2, "encoder_attention_heads": 2, "encoder_ffn_dim": 64,
                "decoder_layers": 1, "decoder_attention_heads": 2, "decoder_ffn_dim": 32, "num_mel_bins": 80,
                "vocab_size": 100, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2,
                "decoder_start_token_id": 1, "suppress_tokens": [], "begin_suppress_tokens": []}
TINY_CONFORMER = {
    "model": {"encoder": "conformer", "conformer": {"d_model": 32, "num_layers": 1, "num_heads": 2, "ffn_dim": 64,
                                                    "conv_kernel": 3, "subsampling_channels": 8}},
    "optimizer": {"lr": 0.003}, "schedule": {"kind": "cosine", "warmup_steps": 5},
    "batching": {"max_frames": 1500}, "max_epochs": 1, "valid_every": 10, "checkpoint_every": 10,
    "average": {"mode": "last", "num": 1},
}


def run_recipe(work: dict, *options, check: bool = True) -> subprocess.CompletedProcess:
    command = ["bash", str(REPO / "recipes/dialect/run.sh"), "--corpus-config", str(CONF / "corpus_tiny.yaml"),
               "--mitigation-corpus-config", str(CONF / "corpus_tiny_targeted.yaml"),
               "--data-dir", str(work["data"]), "--exp-dir", str(work["exp"]), "--report-dir", str(work["reports"]),
               "--audit-config", str(work["audit_config"]), "--aligner-config", str(work["aligner_config"]),
               *map(str, options)]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> dict:
    """The Conformer recipe's stages 0-8 on the tiny corpus, and a tiny Whisper checkpoint."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    root = tmp_path_factory.mktemp("whisper-recipe")
    work = {name: root / name for name in ("data", "exp", "reports")}
    audit = yaml.safe_load((CONF / "audit.yaml").read_text())
    audit.update({"replicates": 100, "permutations": 100, "min_speakers": 1})
    work["audit_config"] = root / "audit.yaml"
    work["audit_config"].write_text(yaml.safe_dump(audit))
    work["aligner_config"] = root / "aligner.yaml"
    work["aligner_config"].write_text(yaml.safe_dump({
        **TINY_CONFORMER, "model": {"encoder": "tdnn", "tdnn": {"d_model": 16, "num_layers": 2, "subsampling_channels": 8}}}))
    conformer = root / "conformer.yaml"
    conformer.write_text(yaml.safe_dump(TINY_CONFORMER))
    balanced = root / "conformer_balanced.yaml"
    balanced.write_text(yaml.safe_dump({**TINY_CONFORMER, "inputs": {"source": "audio"}, "balance_by": "dialect"}))
    run_recipe(work, "--train-config", conformer, "--train-balanced-config", balanced)
    torch.manual_seed(0)
    work["checkpoint"] = root / "tiny-whisper"
    WhisperForConditionalGeneration(WhisperConfig(**TINY_WHISPER)).save_pretrained(work["checkpoint"])
    return work


@pytest.fixture(scope="module")
def whisper_run(work) -> subprocess.CompletedProcess:
    """``--pretrained whisper-base`` with the tiny checkpoint and the recipe's Whisper configs, 3 steps each."""
    return run_recipe(work, "--pretrained", "whisper-base", "--baseline-init", work["checkpoint"],
                      "--train-args", "--max-steps 3")


def results(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open()]


def test_the_pretrained_run_reuses_stages_0_to_2_and_writes_its_own_experiments(work, whisper_run):
    out = whisper_run.stdout
    for key in ("0", "1", "2"):
        assert f"Stage {key}: " in out and out.count(": already done") >= 3
    assert "Stage 2: features: already done" in out
    exp = work["exp"] / "whisper-base"
    assert sorted(p.name for p in exp.glob(".stage*.done")) == [
        ".stage3.0.done", ".stage3.1.done", ".stage3.2.done", ".stage4.done", ".stage5.done", ".stage6.1.done", ".stage6.2.done",
        ".stage6.3.done", ".stage7.done", ".stage8.done"]
    config = yaml.safe_load((exp / "whisper/model/config.yaml").read_text())
    shipped = yaml.safe_load((CONF / "whisper/train.yaml").read_text())
    assert config["encoder"] == "whisper" and config["model"]["whisper"]["init"] == str(work["checkpoint"])
    assert config["train"]["optimizer"] == {**config["train"]["optimizer"], **shipped["optimizer"]}
    assert config["model"]["whisper"]["unfreeze_layers"] == shipped["model"]["whisper"]["unfreeze_layers"]
    assert json.loads((exp / "whisper/model/hf_config.json").read_text())["d_model"] == 32
    assert json.loads((exp / "whisper/result.json").read_text())["steps"] == 3
    assert yaml.safe_load((exp / "whisper/model/aligner/config.yaml").read_text())["encoder"] == "tdnn"
    # The Conformer's releases are untouched: the pretrained run has its own sentinels and models.
    assert (work["exp"] / "baseline/model/config.yaml").is_file() and (work["exp"] / ".stage8.done").is_file()


def test_the_mitigation_fine_tunes_the_whisper_model_on_the_conformers_targeted_data(work, whisper_run):
    exp = work["exp"] / "whisper-base"
    config = yaml.safe_load((exp / "whisper-targeted/model/config.yaml").read_text())
    assert config["train"]["init"] == str(exp / "whisper" / "model") and config["train"]["balance_by"] == "dialect"
    assert config["model"]["whisper"]["init"] is None  # rebuilt from the whisper model's hf_config.json
    summary = json.loads((exp / "whisper-targeted/model/data_summary.json").read_text())
    assert summary["by"]["dialect"]["cantonese"]["utterances"] == 12  # the tiny targeted corpus: 3x Cantonese
    assert not (work["data"] / "whisper-targeted").exists() and (work["data"] / "targeted/train.jsonl").is_file()
    assert "Stage 6.1: targeted data for the mitigation" in whisper_run.stdout


def test_whisper_releases_are_audited_on_the_conformers_test_utterances(work, whisper_run):
    ids = {release: [r["id"] for r in results(path)] for release, path in {
        "baseline": work["exp"] / "baseline/decode/results-test.jsonl",
        "whisper": work["exp"] / "whisper-base/whisper/decode/results-test.jsonl",
        "whisper-targeted": work["exp"] / "whisper-base/whisper-targeted/decode/results-test.jsonl"}.items()}
    assert ids["whisper"] == ids["baseline"] == ids["whisper-targeted"] and len(ids["baseline"]) == 16
    reports = work["reports"]
    assert {p.name for p in reports.iterdir() if p.is_dir()} == {"baseline", "targeted", "whisper", "whisper-targeted"}
    comparison = json.loads((reports / "whisper-targeted/fairness.json").read_text())["baseline"]
    assert comparison["release"] == "whisper" and comparison["matched_utterances"] == 16
    index = (reports / "index.html").read_text()
    assert all(release in index for release in ("baseline", "targeted", "whisper", "whisper-targeted"))


def test_one_report_sets_all_four_systems_side_by_side(work, whisper_run):
    """Stage 8's report: whisper-targeted beside the Conformer's baseline and targeted and Whisper's own baseline."""
    systems = json.loads((work["reports"] / "whisper-targeted/fairness.json").read_text())["systems"]
    assert [s["name"] for s in systems["systems"]] == ["whisper-targeted", "baseline", "targeted", "whisper"]
    assert systems["shared_utterances"] == 16 and systems["only_current"] == 0
    stage5 = json.loads((work["reports"] / "whisper/fairness.json").read_text())["systems"]
    assert [s["name"] for s in stage5["systems"]] == ["whisper", "baseline", "targeted"]


def test_refusals_before_anything_runs(work, tmp_path):
    """No checkpoint, an unknown preset, releases to compare that were never audited: one line each."""
    missing = tmp_path / "no-such-checkpoint"
    proc = run_recipe(work, "--pretrained", "whisper-base", "--baseline-init", missing, "--stage", "3", check=False)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert proc.stderr == (f"run.sh: error: {missing}: no Whisper checkpoint (config.json); make it with: "
                           "bash recipes/dialect/local/get_whisper_base.sh models/whisper-base --convert\n")
    proc = run_recipe(work, "--pretrained", "whisper-large", check=False)
    assert proc.returncode == 1 and "--pretrained must be whisper-base (or empty), got 'whisper-large'" in proc.stderr
    elsewhere = tmp_path / "reports"
    proc = run_recipe(work, "--pretrained", "whisper-base", "--baseline-init", work["checkpoint"], "--stage", "5",
                      "--report-dir", elsewhere, check=False)
    assert proc.returncode == 1 and f"--compare-releases: {elsewhere}/baseline/results.jsonl is missing" in proc.stderr
    assert not elsewhere.exists() and proc.stdout == ""


def test_the_shipped_whisper_configs_differ_only_where_they_say():
    """The dialect mitigation keeps the baseline's model (its weights must fit) and changes what its header lists."""
    from dataclasses import asdict

    from asr.train.config import load_train_config

    base = asdict(load_train_config(CONF / "whisper/train.yaml"))
    mitigation = asdict(load_train_config(CONF / "whisper/train_balanced.yaml"))
    assert base["model"]["encoder"] == "whisper" and base["model"] == mitigation["model"]
    assert base["model"]["whisper"]["init"] is None  # the recipe passes --init
    assert base["optimizer"]["head_lr"] > base["optimizer"]["lr"]
    assert mitigation["balance_by"] == "dialect" and base["balance_by"] is None
    assert mitigation["optimizer"]["lr"] <= base["optimizer"]["lr"]
    assert base["precision"] == "auto" and base["augment"]["pauses"] == asdict(
        load_train_config(CONF / "train.yaml"))["augment"]["pauses"]
