"""``asr decode``: a bad audio file is named by manifest and utterance, and no results are written."""

from __future__ import annotations

import pytest

from tests.commands.harness import check_error, listing
from tests.commands.inputs import BAD_AUDIO, bad_audio_manifest


@pytest.mark.parametrize("kind", BAD_AUDIO)
def test_decode_names_the_utterance_and_writes_no_results(kind, asr, tmp_path, model_dir):
    manifest, bad = bad_audio_manifest(tmp_path, kind)
    out = tmp_path / "decode"
    r = asr("decode", "--model", model_dir, "--manifests", manifest, "--output-dir", out)
    check_error(r, "decode", f"{manifest}: utterance bad: {bad}: {BAD_AUDIO[kind]}")
    assert listing(out) == set()
