"""The default recipe end to end on the tiny embedded corpus: stages 0-2, then 3-8.

Runs ``bash recipes/dialect/run.sh`` as a user would, with the tiny corpus (and a tiny
targeted corpus for the mitigation) and a tiny model, so that the whole recipe takes about a
minute on two cores.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from asr.features.store import read_feature_manifest
from asr.manifest.records import read_manifest

REPO = Path(__file__).resolve().parents[2]
TINY_CORPUS = REPO / "recipes/dialect/conf/corpus_tiny.yaml"
TINY_TARGETED = REPO / "recipes/dialect/conf/corpus_tiny_targeted.yaml"

TINY_MODEL = {
    "encoder": "conformer",
    "conformer": {"d_model": 32, "num_layers": 1, "num_heads": 2, "ffn_dim": 64, "conv_kernel": 3,
                  "subsampling_channels": 8},
}
TINY_TRAIN = {
    "model": TINY_MODEL,
    "optimizer": {"lr": 0.003},
    "schedule": {"kind": "cosine", "warmup_steps": 5},
    "batching": {"max_frames": 1500},
    "max_epochs": 3,
    "log_every": 5,
    "valid_every": 10,
    "checkpoint_every": 10,
    "average": {"mode": "last", "num": 2},
}


#: The aligner of stage 3.0, tiny (the recipe's conf/train_aligner.yaml otherwise).
TINY_ALIGNER = {
    "model": {"encoder": "tdnn", "tdnn": {"d_model": 16, "num_layers": 2, "subsampling_channels": 8}},
    "optimizer": {"lr": 0.003}, "schedule": {"kind": "cosine", "warmup_steps": 5}, "batching": {"max_frames": 1500},
    "max_epochs": 2, "valid_every": 10, "checkpoint_every": 10, "average": {"mode": "last", "num": 1},
}


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("recipe")
    paths = {name: root / name for name in ("data", "exp", "reports")}
    paths["train_config"] = root / "train.yaml"
    paths["train_config"].write_text(yaml.safe_dump(TINY_TRAIN))
    paths["aligner_config"] = root / "train_aligner.yaml"
    paths["aligner_config"].write_text(yaml.safe_dump(TINY_ALIGNER))
    paths["balanced_config"] = root / "train_balanced.yaml"
    paths["balanced_config"].write_text(yaml.safe_dump({
        **TINY_TRAIN, "inputs": {"source": "audio"}, "augment": {"speed_perturb": [0.9, 1.0, 1.1]},
        "balance_by": "dialect", "balance_temperature": 100.0, "max_epochs": 2}))
    audit = yaml.safe_load((REPO / "recipes/dialect/conf/audit.yaml").read_text())
    audit.update({"replicates": 200, "permutations": 200, "min_speakers": 1})
    paths["audit_config"] = root / "audit.yaml"
    paths["audit_config"].write_text(yaml.safe_dump(audit))
    return paths


def run_recipe(work: dict[str, Path], *options: str) -> subprocess.CompletedProcess:
    command = [
        "bash", str(REPO / "recipes/dialect/run.sh"),
        "--corpus-config", str(TINY_CORPUS),
        "--data-dir", str(work["data"]), "--exp-dir", str(work["exp"]), "--report-dir", str(work["reports"]),
        "--train-config", str(work["train_config"]), "--train-balanced-config", str(work["balanced_config"]),
        "--mitigation-corpus-config", str(TINY_TARGETED), "--audit-config", str(work["audit_config"]),
        "--aligner-config", str(work["aligner_config"]), *options,
    ]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_stages_0_to_2_prepare_validate_and_featurize(work):
    proc = run_recipe(work, "--stop-stage", "2")
    corpus = yaml.safe_load(TINY_CORPUS.read_text())
    utterances = {split: read_manifest(work["data"] / f"{split}.jsonl") for split in ("train", "dev", "test")}

    # Group and speaker counts match the composition.
    for group, spec in corpus["groups"].items():
        for split, expected in spec["speakers"].items():
            speakers = {u.speaker for u in utterances[split] if u.dialect == group}
            assert len(speakers) == expected, (group, split)
    train_speakers = {u.speaker for u in utterances["train"]}
    assert train_speakers.isdisjoint({u.speaker for u in utterances["test"]})
    assert len(utterances["test"]) == corpus["test_texts"] * len(corpus["groups"])

    # Stage 2: every utterance has features of the configured size, and CMVN exists.
    for split, utts in utterances.items():
        records = read_feature_manifest(work["data"] / "fbank" / f"{split}.jsonl")
        assert [r.utterance.id for r in records] == [u.id for u in utts]
        assert all(r.num_frames == int((u.duration * 1000 - 25) // 10) + 1 for r, u in zip(records, utts))
    cmvn = json.loads((work["data"] / "fbank" / "cmvn.json").read_text())
    assert len(cmvn["mean"]) == 80
    assert "Stage 1: validate manifests" in proc.stdout

    # A rerun skips every finished stage.
    again = run_recipe(work, "--stop-stage", "2")
    assert again.stdout.count("already done") == 3


def test_stages_3_to_8_train_decode_audit_and_mitigate(work):
    proc = run_recipe(work, "--stage", "3")
    # Stage 3.0 trained the aligner; both models carry it, and transcription times characters with it.
    assert "Stage 3.0: train the aligner (character times)" in proc.stdout
    aligner = (work["exp"] / "aligner/model/model.safetensors").read_bytes()
    for release in ("baseline", "targeted"):
        assert (work["exp"] / release / "model/aligner/model.safetensors").read_bytes() == aligner
    test_wav = work["data"] / read_manifest(work["data"] / "test.jsonl")[0].audio
    import asr

    assert asr.transcribe(work["exp"] / "targeted/model", test_wav).times_from == "aligner"
    for release in ("baseline", "targeted"):
        results = [json.loads(line) for line in (work["exp"] / release / "decode" / "results-test.jsonl").open()]
        assert len(results) == 16
        assert {"id", "ref", "hyp", "sub", "del", "ins", "ref_len", "dialect", "speaker"} <= set(results[0])
        report = work["reports"] / release
        html = (report / "fairness.html").read_text()
        figures = json.loads((report / "fairness.json").read_text())
        # Self-contained: nothing is fetched from anywhere.
        assert html.lstrip().lower().startswith("<!doctype html>")
        assert not any(ref in html for ref in ('src="http', "src='http", 'href="http', "@import", "<link "))
        assert (report / "results.jsonl").exists()
        assert figures is not None
    summary = json.loads((work["exp"] / "baseline" / "model" / "data_summary.json").read_text())
    assert summary["by"]["dialect"]["mandarin"]["utterances"] == 16
    assert summary["by"]["dialect"]["cantonese"]["utterances"] == 4
    assert (work["reports"] / "index.html").exists()

    # The mitigation fine-tuned the baseline on the targeted data (3x the Cantonese speech) and
    # was audited on the baseline's test utterances.
    targeted = yaml.safe_load((work["exp"] / "targeted" / "model" / "config.yaml").read_text())
    assert targeted["train"]["init"] == str(work["exp"] / "baseline" / "model")
    assert targeted["train"]["balance_by"] == "dialect"
    summary = json.loads((work["exp"] / "targeted" / "model" / "data_summary.json").read_text())
    assert summary["by"]["dialect"]["cantonese"]["utterances"] == 12
    assert summary["by"]["dialect"]["mandarin"]["utterances"] == 16
    ids = {release: [json.loads(line)["id"] for line in (work["exp"] / release / "decode/results-test.jsonl").open()]
           for release in ("baseline", "targeted")}
    assert ids["baseline"] == ids["targeted"]
    comparison = json.loads((work["reports"] / "targeted" / "fairness.json").read_text())["baseline"]
    assert comparison["release"] == "baseline" and comparison["matched_utterances"] == 16

    # A stage that runs again makes the later ones run again, though their configs are the same.
    (work["exp"] / ".stage7.done").unlink()
    again = run_recipe(work, "--stage", "6")
    assert "Stage 6.3: train the mitigated model: already done" in again.stdout
    assert "Stage 7: decode the mitigated model\n" in again.stdout
    assert "Stage 8: audit the mitigation against the baseline\n" in again.stdout


def test_stage_9_audits_another_recognizer_beside_the_baseline_and_the_mitigation(work, tmp_path):
    """Opt-in stage 9 with a tiny wav2vec2 CTC checkpoint (it always says 好) in place of Whisper-base."""
    from tests.decode.test_engines import tiny_ctc_checkpoint

    model = tiny_ctc_checkpoint(tmp_path / "tiny-ctc")
    decode = tmp_path / "decode.yaml"
    decode.write_text(yaml.safe_dump({"beam_size": 1}))
    run_recipe(work, "--stage", "9", "--stop-stage", "9", "--external-engine", "hf-ctc", "--external-model", str(model),
               "--external-release", "tiny-ctc", "--external-decode-config", str(decode))
    results = [json.loads(line) for line in (work["exp"] / "external" / "tiny-ctc" / "decode" / "results-test.jsonl").open()]
    assert len(results) == 16 and {r["hyp"] for r in results} <= {"好", ""}
    fairness = json.loads((work["reports"] / "tiny-ctc" / "fairness.json").read_text())
    assert len(fairness["inputs"]["compare"]) == 2
    systems = json.dumps(fairness["systems"], ensure_ascii=False)
    assert "baseline" in systems and "targeted" in systems and "tiny-ctc" in systems
    meta = json.loads((work["exp"] / "external" / "tiny-ctc" / "decode" / "results-test.meta.json").read_text())
    assert meta["engine"]["engine"] == "hf-ctc"


def test_stage_9_without_a_model_is_refused_before_anything_runs(work, tmp_path):
    proc = subprocess.run(["bash", str(REPO / "recipes/dialect/run.sh"), "--stage", "9", "--stop-stage", "9",
                           "--external-model", str(tmp_path / "none"), "--exp-dir", str(work["exp"])],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 1 and proc.stderr == f"run.sh: error: --external-model: {tmp_path / 'none'} is not a directory\n"


def test_a_rerun_on_the_same_stack_gives_the_same_results_byte_for_byte(work, tmp_path):
    """Stages 3-4 again, into another experiment directory: the same model, the same results file."""
    other = tmp_path / "exp-again"
    run_recipe(work, "--stage", "3", "--stop-stage", "4", "--exp-dir", str(other))
    first = work["exp"] / "baseline"
    assert (other / "baseline/decode/results-test.jsonl").read_bytes() == (first / "decode/results-test.jsonl").read_bytes()
    assert (other / "baseline/model/model.safetensors").read_bytes() == (first / "model/model.safetensors").read_bytes()
    assert (other / "aligner/model/model.safetensors").read_bytes() == (work["exp"] / "aligner/model/model.safetensors").read_bytes()
    provenance = json.loads((other / "baseline/model/provenance.json").read_text())
    assert provenance["precision"] == "fp32" and provenance["processes"] == 2 and provenance["seed"] == 1234


def test_rerun_training_stage_resumes_an_unfinished_run_and_moves_a_changed_one_aside(work):
    baseline = work["exp"] / "baseline"
    last = max((p for p in (baseline / "checkpoints").iterdir()), key=lambda p: int(p.name.split("-")[1]))
    finished = json.loads((baseline / "result.json").read_text())
    # Interrupted after its last checkpoint: no final model, no result, no sentinel.
    shutil.rmtree(baseline / "model")
    (baseline / "result.json").unlink()
    (work["exp"] / ".stage3.2.done").unlink()
    resumed = run_recipe(work, "--stage", "3", "--stop-stage", "3")
    assert f"{baseline}: resuming the unfinished training run from its newest checkpoint" in resumed.stderr
    assert f"resumed from {last}" in resumed.stderr
    result = json.loads((baseline / "result.json").read_text())
    assert result["steps"] == finished["steps"] and (baseline / "model" / "model.safetensors").is_file()

    # Other settings: the finished run is moved aside whole, and training starts from scratch.
    changed = work["train_config"].with_name("train_changed.yaml")
    changed.write_text(yaml.safe_dump({**TINY_TRAIN, "max_epochs": 1}))
    fresh = run_recipe(work, "--stage", "3", "--stop-stage", "3", "--train-config", str(changed))
    moved = [p for p in work["exp"].iterdir() if p.name.startswith("baseline.")]
    assert len(moved) == 1 and f"moved it to {moved[0]}" in fresh.stderr
    assert json.loads((moved[0] / "result.json").read_text())["steps"] == finished["steps"]
    assert (moved[0] / "checkpoints" / last.name).is_dir() and (moved[0] / "decode").is_dir()
    assert "resumed from" not in fresh.stderr
    retrained = json.loads((baseline / "result.json").read_text())
    assert retrained["epochs_completed"] == 1.0 and retrained["steps"] < finished["steps"]
    # Stage 3.1's LM lives beside the release's directory, not in it: moving the run aside kept it, and
    # the retrained model decodes with it.
    assert (work["exp"] / "lm" / "baseline.json").is_file() and not (moved[0] / "lm.json").exists()
    run_recipe(work, "--stage", "4", "--stop-stage", "4", "--train-config", str(changed))
    meta = json.loads((baseline / "decode" / "results-test.meta.json").read_text())
    assert meta["decoding"]["lm"] == str(work["exp"] / "lm" / "baseline.json")


def test_recipe_mitigation_config_fine_tunes_the_baseline_model_with_balanced_augmented_batches():
    """The mitigation keeps the baseline's model (its weights must fit) and changes only what its
    comments list: fine-tuning schedule, features on the fly, speed perturbation, pauses, balancing."""
    from dataclasses import asdict

    from asr.train.config import load_train_config

    conf = REPO / "recipes/dialect/conf"
    baseline = asdict(load_train_config(conf / "train.yaml"))
    mitigation = asdict(load_train_config(conf / "train_balanced.yaml"))
    differing = {key for key in baseline if baseline[key] != mitigation[key]}
    assert differing == {"inputs", "optimizer", "schedule", "intermediate_ctc", "augment", "balance_by",
                         "balance_temperature", "max_epochs", "valid_every", "checkpoint_every"}
    # pauses slow learning from scratch: the baseline trains without them, the mitigation's fine-tuning with them
    assert baseline["augment"]["pauses"]["probability"] == 0 and mitigation["augment"]["pauses"]["probability"] > 0
    assert mitigation["model"] == baseline["model"]
    assert baseline["balance_by"] is None and mitigation["balance_by"] == "dialect"
    assert mitigation["balance_temperature"] > 1.0
    assert mitigation["inputs"]["source"] == "audio" and len(mitigation["augment"]["speed_perturb"]) > 1
    assert mitigation["optimizer"]["lr"] < baseline["optimizer"]["lr"]
    assert {k for k in baseline["optimizer"] if baseline["optimizer"][k] != mitigation["optimizer"][k]} == {"lr"}
    assert (REPO / "recipes/dialect/run.sh").read_text().count("mitigation_init=baseline") == 1


def test_targeted_corpus_adds_cantonese_training_speech_and_changes_nothing_else():
    """conf/corpus_targeted.yaml plans the same dev and test utterances and the same training data
    for every other group; its Cantonese train set holds the baseline's 183 texts and 732 new
    ones, none of them a dev or test text."""
    from asr.corpus.synthetic.compose import plan_corpus
    from asr.corpus.synthetic.config import load_corpus_config

    conf = REPO / "recipes/dialect/conf"
    for small, more in (("corpus.yaml", "corpus_targeted.yaml"), ("corpus_tiny.yaml", "corpus_tiny_targeted.yaml")):
        base, targeted = load_corpus_config(conf / small), load_corpus_config(conf / more)
        assert base.groups.keys() == targeted.groups.keys()
        assert {name for name in base.groups if base.groups[name] != targeted.groups[name]} == {"cantonese"}
        assert dataclasses.replace(targeted, groups=base.groups) == base  # nothing else differs
    base, targeted = (load_corpus_config(conf / name) for name in ("corpus.yaml", "corpus_targeted.yaml"))
    assert targeted.groups["cantonese"].train_utterances == 5 * base.groups["cantonese"].train_utterances

    def specs(config):
        return {s.id: s for s in plan_corpus(config).utterances}

    before, after = specs(base), specs(targeted)
    new = set(after) - set(before)
    assert set(before) <= set(after) and len(new) == 732
    assert {after[i].split for i in new} == {"train"} and {after[i].speaker.dialect for i in new} == {"cantonese"}
    changed = [i for i in before if before[i] != after[i]]
    assert all(before[i].split == "train" and before[i].speaker.dialect == "cantonese" for i in changed)
    cantonese_train = {s.text for s in before.values() if s.split == "train" and s.speaker.dialect == "cantonese"}
    assert cantonese_train <= {after[i].text for i in after if after[i].split == "train"}
    held_out = {s.text for s in before.values() if s.split != "train"}
    assert held_out.isdisjoint(after[i].text for i in new)
