"""The audit-only install: ``pip install zh-dialect-asr`` without the ``[speech]`` extra.

Run by ``.ci/run`` in a fresh environment holding the core install and pytest only (it lives
outside ``tests/``, whose fixtures need the speech stack). In an environment with torch it is
skipped: there it would prove nothing.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("torch") is not None,
                                reason="checks the core install, which has no torch; .ci/run runs it in one")

MANIFEST = [
    {"id": f"u{i}", "audio": f"u{i}.wav", "duration": 1.0, "sample_rate": 16000, "text": text, "speaker": f"s{i % 4}",
     "dialect": "mandarin" if i % 2 else "wu"}
    for i, text in enumerate(["打开空调", "导航到机场", "播放音乐", "关闭车窗", "调高音量", "打电话给妈妈", "明天天气", "导航回家"])
]


def run(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "asr", *args], capture_output=True, text=True, cwd=cwd)


def test_score_and_audit_work_without_torch(tmp_path):
    with open(tmp_path / "test.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in MANIFEST)
    hyps = {row["id"]: row["text"] if row["dialect"] == "mandarin" else row["text"][:-1] for row in MANIFEST}
    (tmp_path / "hyp.txt").write_text("".join(f"{k} {v}\n" for k, v in hyps.items()), encoding="utf-8")
    scored = run("score", "--manifest", "test.jsonl", "--hyp", "hyp.txt", "--output", "results-test.jsonl", cwd=tmp_path)
    assert scored.returncode == 0, scored.stderr
    audited = run("audit", "--results", "results-test.jsonl", "--release", "core", "--by", "dialect",
                  "--min-speakers", "1", "--replicates", "100", "--permutations", "100", cwd=tmp_path)
    assert audited.returncode == 0, audited.stderr
    fairness = json.loads((tmp_path / "reports" / "core" / "fairness.json").read_text(encoding="utf-8"))
    assert fairness["headline"]["worst_group"] == "wu" and fairness["provenance"]["audit"]["packages"]["torch"] is None
    assert "torch" not in sys.modules


def test_the_other_commands_say_which_extra_to_install(tmp_path):
    proc = run("transcribe", "x.wav", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr == ("asr transcribe: error: this command needs the recognizer stack (torch is not installed): "
                           "pip install 'zh-dialect-asr[speech]' (asr score and asr audit work without it)\n")
