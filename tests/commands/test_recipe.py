"""``asr recipe``: the stage runner behind recipes/shared/stages.sh, and argument splitting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from asr.cli import main

REPO = Path(__file__).resolve().parents[2]


def stage(tmp_path: Path, key: str, *command: str, range_: str = "0:8") -> int:
    return main(["recipe", "stage", "--range", range_, "--state-dir", str(tmp_path / "state"),
                 "--invalidate", str(tmp_path / "other"), key, f"stage {key}", "--", *command])


def test_a_stage_runs_once_then_skips_until_its_command_or_config_changes(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("a: 1\n")
    out = tmp_path / "out.txt"
    command = [sys.executable, "-c", f"open({str(out)!r}, 'a').write('ran\\n')", str(config)]
    assert stage(tmp_path, "3.2", *command) == 0
    assert stage(tmp_path, "3.2", *command) == 0
    assert out.read_text() == "ran\n"
    assert "Stage 3.2: stage 3.2: already done" in capsys.readouterr().out
    config.write_text("a: 2\n")  # a config the command names changed: the stage runs again
    assert stage(tmp_path, "3.2", *command) == 0
    assert out.read_text() == "ran\nran\n"


def test_a_stage_that_runs_makes_the_later_ones_run_again(tmp_path):
    for key in ("3.1", "3.2", "4", "8"):
        assert stage(tmp_path, key, "true") == 0
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / ".stage5.done").write_text("x\n")
    assert stage(tmp_path, "3.1", sys.executable, "-c", "pass") == 0
    left = sorted(p.name for p in (tmp_path / "state").glob(".stage*.done"))
    assert left == [".stage3.1.done"]  # 3.2 comes after 3.1; 4 and 8 after 3
    assert not (tmp_path / "other" / ".stage5.done").exists()


def test_a_failed_stage_leaves_no_sentinel_and_passes_its_status_on(tmp_path):
    assert stage(tmp_path, "2", sys.executable, "-c", "raise SystemExit(7)") == 7
    assert not (tmp_path / "state" / ".stage2.done").exists()


def test_stages_outside_the_range_do_nothing(tmp_path):
    out = tmp_path / "out.txt"
    assert stage(tmp_path, "6.3", sys.executable, "-c", f"open({str(out)!r}, 'w')", range_="0:5") == 0
    assert not out.exists() and not (tmp_path / "state").exists()


def test_split_args_splits_as_the_shell_would():
    proc = subprocess.run([sys.executable, "-m", "asr", "recipe", "split-args", "--max-steps 1 --init 'a dir/m'"],
                          capture_output=True, text=True, check=True)
    assert proc.stdout.split("\0")[:-1] == ["--max-steps", "1", "--init", "a dir/m"]


def test_check_args_accepts_and_refuses(capsys):
    assert main(["recipe", "check-args", "train", "--", "--max-steps", "5", "--cpu-procs", "2"]) == 0
    with pytest.raises(SystemExit) as e:
        main(["recipe", "check-args", "train", "--", "--max-stepz", "1"])
    assert e.value.code == 2 and "unrecognized arguments: --max-stepz 1" in capsys.readouterr().err


def test_the_recipe_refuses_bad_training_arguments_before_any_stage(tmp_path):
    """--train-args with a typo fails at once: nothing prepared, nothing moved aside."""
    proc = subprocess.run(["bash", str(REPO / "recipes/dialect/run.sh"), "--data-dir", str(tmp_path / "data"),
                           "--exp-dir", str(tmp_path / "exp"), "--train-args", "--max-stepz 1"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "--train-args: asr train does not accept '--max-stepz 1'" in proc.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / "exp").exists()
