"""``asr features``: a bad audio file is named by utterance, in one process or several; no feature manifest is left."""

from __future__ import annotations

import pytest

from tests.commands.harness import check_error
from tests.commands.inputs import BAD_AUDIO, bad_audio_manifest


@pytest.mark.parametrize("kind", BAD_AUDIO)
def test_features_names_the_utterance_and_leaves_no_feature_manifest(kind, asr, tmp_path):
    manifest, bad = bad_audio_manifest(tmp_path, kind)
    out = tmp_path / "fbank"
    r = asr("features", "--manifests", manifest, "--output-dir", out, "--no-progress")
    check_error(r, "features", "utterance bad", str(bad), BAD_AUDIO[kind])
    assert not (out / "test.jsonl").exists()


def test_features_in_worker_processes_names_the_utterance(asr, tmp_path):
    manifest, bad = bad_audio_manifest(tmp_path, "text")
    out = tmp_path / "fbank"
    r = asr("features", "--manifests", manifest, "--output-dir", out, "--no-progress", "--jobs", 2, "--shard-size", 1)
    check_error(r, "features", "utterance bad", str(bad), BAD_AUDIO["text"])
    assert not (out / "test.jsonl").exists()
