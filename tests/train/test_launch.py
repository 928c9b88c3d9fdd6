"""How ``asr train`` starts: the launch plan, one run per directory, resume or move aside, and
workers that die with their parent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from asr.errors import AsrError
from asr.train.launch import (
    ExperimentLock,
    Launch,
    plan_launch,
    prepare_exp_dir,
    run_digest,
    torchrun_command,
)


@pytest.mark.parametrize("device, gpus, procs, cuda, expected", [
    (None, 1, 2, False, Launch("cpu", 2)),      # no GPU: the CPU processes
    ("auto", 1, 2, True, Launch("cuda", 1)),    # a GPU: one process on it
    ("auto", 4, 2, True, Launch("cuda", 4)),    # torchrun on 4 GPUs
    ("auto", 0, 2, True, Launch("cpu", 2)),     # --gpus 0: the CPU even with a GPU
    ("cpu", 8, 1, True, Launch("cpu", 1)),
    ("cuda:1", 1, 1, True, Launch("cuda:1", 1)),
])
def test_plan_launch(device, gpus, procs, cuda, expected):
    assert plan_launch(device, gpus, procs, cuda_available=cuda) == expected


@pytest.mark.parametrize("device, gpus, procs, message", [
    ("cuda", 1, 1, "no CUDA device is visible"),
    ("tpu", 1, 1, "expected auto, cpu, cuda or cuda:N"),
    ("cpu", 1, 0, "--cpu-procs >= 1"),
])
def test_plan_launch_refuses(device, gpus, procs, message):
    with pytest.raises(AsrError, match=message):
        plan_launch(device, gpus, procs, cuda_available=False)


def test_torchrun_command_runs_the_same_cli():
    command = torchrun_command(Launch("cpu", 2), ["--config", "c.yaml"])
    assert command == [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                       "-m", "asr", "train", "--config", "c.yaml"]


def test_a_second_run_in_the_same_directory_is_refused_with_the_holders_pid(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from asr.train.launch import ExperimentLock\n"
        f"with ExperimentLock({str(tmp_path / 'exp')!r}):\n    print('locked', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(AsrError, match=rf"another training run \(pid {holder.pid}\) is using this experiment"):
            with ExperimentLock(tmp_path / "exp"):
                pass
    finally:
        holder.kill()
        holder.wait()
    with ExperimentLock(tmp_path / "exp"):  # the kernel released the lock of the killed holder
        pass


def _fake_checkpoint(exp: Path) -> None:
    (exp / "checkpoints" / "step-10").mkdir(parents=True)


def test_auto_resumes_an_unfinished_run_of_the_same_settings_and_moves_other_runs_aside(tmp_path):
    exp = tmp_path / "exp"
    with ExperimentLock(exp) as lock:
        assert prepare_exp_dir(lock, "aaa", "auto") is False  # nothing there: a new run
    _fake_checkpoint(exp)
    with ExperimentLock(exp) as lock:
        assert prepare_exp_dir(lock, "aaa", "auto") is True  # unfinished, same settings: resume
    with ExperimentLock(exp) as lock:
        assert prepare_exp_dir(lock, "bbb", "auto") is False  # other settings: moved aside
    moved = [p for p in tmp_path.iterdir() if p.name.startswith("exp.")]
    assert len(moved) == 1 and (moved[0] / "checkpoints" / "step-10").is_dir()
    assert json.loads((exp / "run.json").read_text())["digest"] == "bbb" and not (exp / "checkpoints").exists()
    _fake_checkpoint(exp)
    (exp / "result.json").write_text("{}")
    with ExperimentLock(exp) as lock:
        assert prepare_exp_dir(lock, "bbb", "auto") is False  # finished: moved aside, never deleted
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("exp.")]) == 2
    with ExperimentLock(exp) as lock:  # the new directory is locked, not the one moved aside
        with pytest.raises(AsrError, match="another training run"):
            with ExperimentLock(exp):
                pass


def test_run_digest_changes_with_the_inputs_and_the_launch(tmp_path):
    manifest = tmp_path / "train.jsonl"
    manifest.write_text("{}\n")
    first = run_digest({"lr": 1}, [manifest], None, Launch("cpu", 2))
    assert first == run_digest({"lr": 1}, [manifest], None, Launch("cpu", 2))
    assert first != run_digest({"lr": 2}, [manifest], None, Launch("cpu", 2))
    assert first != run_digest({"lr": 1}, [manifest], None, Launch("cpu", 1))
    time.sleep(0.01)
    manifest.write_text("{}\n")  # written again by an earlier stage: other inputs
    assert first != run_digest({"lr": 1}, [manifest], None, Launch("cpu", 2))


def test_weights_saved_in_two_processes_are_byte_identical(tmp_path):
    code = ("import sys, torch; from asr.models.model_dir import save_weights\n"
            "torch.manual_seed(0); net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))\n"
            "save_weights(sys.argv[1], net, {'encoder': 'conformer', 'format': 'pt', 'z': '1', 'a': '2'})")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    files = []
    for i, seed in enumerate(("1", "2")):  # another hash seed: another iteration order of Python and Rust maps
        path = tmp_path / f"w{i}.safetensors"
        subprocess.run([sys.executable, "-c", code, str(path)], check=True, env={**env, "PYTHONHASHSEED": seed})
        files.append(path.read_bytes())
    assert files[0] == files[1]
    from safetensors.torch import load_file

    assert set(load_file(str(tmp_path / "w0.safetensors"))) == {"0.weight", "0.bias", "1.weight", "1.bias"}


def _noise_corpus(root: Path) -> tuple[Path, Path]:
    """Twenty utterances of noise (training speed is all that matters here) and a tiny config."""
    import numpy as np
    import soundfile as sf
    import yaml

    from asr.manifest.records import Utterance, write_manifest

    rng = np.random.default_rng(0)
    utts = []
    for i in range(20):
        sf.write(str(root / f"u{i}.wav"), (0.1 * rng.standard_normal(8000)).astype(np.float32), 16000)
        utts.append(Utterance(id=f"u{i}", audio=f"u{i}.wav", duration=0.5, sample_rate=16000, text="一二三",
                              speaker=f"s{i % 4}"))
    write_manifest(root / "train.jsonl", utts)
    config = {"model": {"encoder": "conformer", "conformer": {"d_model": 16, "num_layers": 1, "num_heads": 2,
                                                              "ffn_dim": 32, "conv_kernel": 3, "subsampling_channels": 8}},
              "inputs": {"source": "audio", "cmvn_utterances": 4}, "batching": {"max_frames": 200},
              "max_epochs": 100000, "log_every": 1, "checkpoint_every": 100000}
    (root / "train.yaml").write_text(yaml.safe_dump(config))
    return root, root / "train.yaml"


def _processes_with(text: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline and int(entry.name) != os.getpid():
                pids.append(int(entry.name))
    return pids


def test_a_finished_worker_exits_with_its_code_and_its_output_flushed():
    """A torchrun worker leaves through ``os._exit`` (no teardown abort after a finished run):
    what it printed still arrives, and its status is the code it was given."""
    code = ("import logging, sys; from asr.commands.train import _exit_worker; "
            "logging.basicConfig(); print('model: exp/model', end=''); "
            "logging.getLogger('asr').warning('written'); _exit_worker(3)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stdout) == (3, "model: exp/model")
    assert r.stderr.strip() == "WARNING:asr:written"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals are Linux's")
@pytest.mark.parametrize("launcher", ["asr train --cpu-procs 2", "torchrun"])
def test_kill_9_of_a_two_process_training_leaves_no_worker(tmp_path, launcher):
    """``asr train --cpu-procs 2``, or the user's own ``torchrun --nproc_per_node 2 -m asr train``, killed
    with SIGKILL: torchrun and both workers go with it."""
    corpus, config = _noise_corpus(tmp_path)
    exp = tmp_path / "exp-kill9"
    args = ["--config", str(config), "--train-manifest", str(corpus / "train.jsonl"), "--exp-dir", str(exp),
            "--device", "cpu", "--no-progress"]
    if launcher == "torchrun":
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "asr",
                   "train", *args]
    else:
        command = [sys.executable, "-m", "asr", "train", "--cpu-procs", "2", *args]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2]), "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while time.time() < deadline and not list((exp / "log").glob("train.csv")):
        time.sleep(0.5)
    assert (exp / "log" / "train.csv").exists(), "training did not start"
    workers = [p for p in _processes_with(str(exp)) if p != proc.pid]
    assert len(workers) >= 2  # the two workers (and torchrun, when asr train started it)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 30
    while time.time() < deadline and _processes_with(str(exp)):
        time.sleep(0.5)
    assert _processes_with(str(exp)) == []


def test_train_bundles_the_aligner_it_is_given(tmp_path, capsys):
    """``asr train --aligner DIR``: the model directory it writes carries the aligner; a directory that is no
    model is refused before anything runs; the torchrun workers are told it."""
    from asr.cli import main
    from asr.commands.train import _worker_args
    from asr.models.model_dir import load_model
    from tests.tiny_model import make_tiny_aligner

    corpus, config = _noise_corpus(tmp_path)
    aligner = make_tiny_aligner(tmp_path / "aligner")
    train = ["train", "--config", str(config), "--train-manifest", str(corpus / "train.jsonl"), "--max-steps", "2",
             "--no-progress"]
    assert main([*train, "--exp-dir", str(tmp_path / "refused"), "--aligner", str(tmp_path / "none")]) == 1
    assert capsys.readouterr().err == f"asr train: error: --aligner: {tmp_path / 'none'}: model directory not found\n"
    assert not (tmp_path / "refused").exists()
    assert main([*train, "--exp-dir", str(tmp_path / "exp"), "--aligner", str(aligner)]) == 0
    model = load_model(tmp_path / "exp" / "model")
    assert model.config.encoder == "conformer" and model.aligner.config.encoder == "tdnn"
    assert (tmp_path / "exp/model/aligner/model.safetensors").read_bytes() == (aligner / "model.safetensors").read_bytes()

    import argparse

    args = argparse.Namespace(config="c.yaml", train_manifest=["t.jsonl"], exp_dir="e", dev_manifest=None, init=None,
                              aligner="a/model", max_steps=None, seed=None, progress=True)
    assert _worker_args(args, "cpu", False)[-2:] == ["--aligner", "a/model"]
