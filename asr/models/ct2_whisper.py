"""CTranslate2 Whisper models (faster-whisper's format) read without ``ctranslate2`` and converted to ``transformers``.

A CTranslate2 model directory holds ``model.bin`` (read by :mod:`asr.models.ct2_format`),
``config.json`` and a vocabulary (``vocabulary.txt``, one token a line, or
``vocabulary.json``, a list). The Whisper layout (``specs/whisper_spec.py``, filled by
``converters/transformers.py``'s ``WhisperLoader``): ``encoder/{conv1,conv2,position_encodings,
layer_N,layer_norm}`` and ``decoder/{embeddings,position_encodings,layer_N,layer_norm,projection}``;
self-attention Q, K, V are one fused ``linear_0`` (``3 d x d``), cross-attention keeps Q as
``linear_0`` and fuses K, V into ``linear_1`` (``2 d x d``); the K parts of fused biases are
zeros (Whisper's K projections have no bias); layer norms are ``gamma``/``beta``; the output
projection is an alias of the decoder's token embedding.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from asr.errors import AsrError
from asr.io import current_umask
from asr.models.ct2_format import Ct2Model, dequantized, dtype_name, read_model_bin

WHISPER_SPEC = "WhisperSpec"
#: The newest Whisper spec revision this module knows (``WhisperSpec.revision``).
MAX_WHISPER_REVISION = 3
#: Decoder flags and the values Whisper needs (``decoder/activation`` 3 is ``common_spec.Activation.GELU``).
WHISPER_FLAGS = {"decoder/pre_norm": 1, "decoder/activation": 3, "decoder/alibi": 0,
                 "decoder/scale_embeddings": 0, "decoder/start_from_zero_embedding": 0}
SAMPLE_RATE = 16000
HOP_LENGTH = 160
#: Scalars that steer only CTranslate2's own word alignment, or ALiBi (which must be off, ``decoder/alibi``).
IGNORED_SCALARS = ("decoder/alignment_layer", "decoder/alignment_heads", "decoder/alibi_use_positive_positions",
                   "decoder/scale_alibi")


@dataclass(frozen=True)
class WhisperDims:
    """Whisper's sizes, as read off the variables' shapes and the stored head counts."""

    num_mel_bins: int
    d_model: int
    encoder_layers: int
    encoder_attention_heads: int
    encoder_ffn_dim: int
    decoder_layers: int
    decoder_attention_heads: int
    decoder_ffn_dim: int
    vocab_size: int
    max_source_positions: int
    max_target_positions: int


@dataclass(frozen=True)
class ConvertedWhisper:
    """What :func:`convert_ct2_whisper` wrote: the directory, sizes, weight dtype and parameter count."""

    path: Path
    dims: WhisperDims
    dtype: str
    parameters: int
    tied_output: bool


# ----------------------------------------------------------------------------- Whisper layout


class _Variables:
    """The model's variables, each taken at most once, so that anything left over is reported."""

    def __init__(self, model: Ct2Model):
        self.path = model.path
        self.left = dict(model.variables)

    def peek(self, name: str) -> torch.Tensor:
        if name not in self.left:
            raise AsrError(f"{self.path}: no variable {name!r} (not a CTranslate2 Whisper layout this converter knows)")
        return self.left[name]

    def take(self, name: str) -> torch.Tensor:
        return self.left.pop(name) if name in self.left else self.peek(name)

    def count(self, prefix: str) -> int:
        """Layers ``prefix_0`` ... ``prefix_{n-1}``: ``n``."""
        n = 0
        while any(name.startswith(f"{prefix}_{n}/") for name in self.left):
            n += 1
        return n

    def check_all_taken(self) -> None:
        if left := sorted(self.left):
            more = f" and {len(left) - 3} more" if len(left) > 3 else ""
            raise AsrError(f"{self.path}: variables this converter does not know: {', '.join(left[:3])}{more} "
                           "(a Whisper variant that transformers' Whisper cannot hold?)")


def output_dtype(model: Ct2Model) -> torch.dtype:
    """The dtype of the converted weights: the model's float dtype (its layer norms'), or float32 when
    any weight is quantized, since ``value / scale`` is exact only there (CTranslate2's float32 compute)."""
    dtype = model.variables.get("encoder/layer_norm/gamma", torch.empty(0, dtype=torch.int8)).dtype
    if not dtype.is_floating_point:
        raise AsrError(f"{model.path}: 'encoder/layer_norm/gamma' is missing or not float "
                       "(not a CTranslate2 Whisper layout this converter knows)")
    quantized = any(t.dtype in (torch.int8, torch.int16) and t.dim() > 0 for t in model.variables.values())
    return torch.float32 if quantized else dtype


def whisper_dims(model: Ct2Model) -> WhisperDims:
    """Sizes from the variables: ``conv1`` ``(d_model, num_mel_bins, 3)``, embeddings ``(vocab, d_model)``..."""
    v = _Variables(model)
    d_model, num_mel_bins = v.peek("encoder/conv1/weight").shape[:2]
    dims = WhisperDims(
        num_mel_bins=num_mel_bins, d_model=d_model,
        encoder_layers=v.count("encoder/layer"), encoder_attention_heads=int(v.peek("encoder/num_heads").item()),
        encoder_ffn_dim=v.peek("encoder/layer_0/ffn/linear_0/weight").shape[0],
        decoder_layers=v.count("decoder/layer"), decoder_attention_heads=int(v.peek("decoder/num_heads").item()),
        decoder_ffn_dim=v.peek("decoder/layer_0/ffn/linear_0/weight").shape[0],
        vocab_size=v.peek("decoder/embeddings/weight").shape[0],
        max_source_positions=v.peek("encoder/position_encodings/encodings").shape[0],
        max_target_positions=v.peek("decoder/position_encodings/encodings").shape[0],
    )
    for heads in (dims.encoder_attention_heads, dims.decoder_attention_heads):
        if heads <= 0 or d_model % heads:
            raise AsrError(f"{model.path}: {heads} attention heads do not divide d_model {d_model}")
    return dims


def whisper_state_dict(model: Ct2Model, dims: WhisperDims) -> tuple[dict[str, torch.Tensor], bool]:
    """``WhisperForConditionalGeneration`` parameters from a dequantized Whisper ``model``; and whether
    the output projection is the token embedding (``proj_out`` tied, as in every released Whisper)."""
    v = _Variables(model)
    _check_decoder_flags(v)
    state = {
        "model.encoder.conv1.weight": v.take("encoder/conv1/weight"),
        "model.encoder.conv1.bias": v.take("encoder/conv1/bias"),
        "model.encoder.conv2.weight": v.take("encoder/conv2/weight"),
        "model.encoder.conv2.bias": v.take("encoder/conv2/bias"),
        "model.encoder.embed_positions.weight": v.take("encoder/position_encodings/encodings"),
        "model.decoder.embed_tokens.weight": v.take("decoder/embeddings/weight"),
        "model.decoder.embed_positions.weight": v.take("decoder/position_encodings/encodings"),
    }
    for side in ("encoder", "decoder"):
        state.update(_layer_norm(v, f"{side}/layer_norm", f"model.{side}.layer_norm"))
    for i in range(dims.encoder_layers):
        src, dst = f"encoder/layer_{i}", f"model.encoder.layers.{i}"
        state.update(_fused_attention(v, f"{src}/self_attention", f"{dst}.self_attn", ("q", "k", "v")))
        state.update(_layer_norm(v, f"{src}/self_attention/layer_norm", f"{dst}.self_attn_layer_norm"))
        state.update(_feed_forward(v, f"{src}/ffn", dst))
    for i in range(dims.decoder_layers):
        src, dst = f"decoder/layer_{i}", f"model.decoder.layers.{i}"
        state.update(_fused_attention(v, f"{src}/self_attention", f"{dst}.self_attn", ("q", "k", "v")))
        state.update(_layer_norm(v, f"{src}/self_attention/layer_norm", f"{dst}.self_attn_layer_norm"))
        state.update(_fused_attention(v, f"{src}/attention", f"{dst}.encoder_attn", ("q",), ("k", "v")))
        state.update(_layer_norm(v, f"{src}/attention/layer_norm", f"{dst}.encoder_attn_layer_norm"))
        state.update(_feed_forward(v, f"{src}/ffn", dst))
    projection = v.take("decoder/projection/weight")
    bias = v.left.pop("decoder/projection/bias", None)
    if bias is not None and bias.count_nonzero():
        raise AsrError(f"{model.path}: 'decoder/projection/bias' is not zero; transformers' Whisper has no output bias")
    embedding = state["model.decoder.embed_tokens.weight"]
    tied = projection is embedding or torch.equal(projection, embedding)
    state["proj_out.weight"] = embedding if tied else projection
    for name in ("encoder/num_heads", "decoder/num_heads", *IGNORED_SCALARS):
        v.left.pop(name, None)
    v.check_all_taken()
    return state, tied


def _check_decoder_flags(v: _Variables) -> None:
    """The decoder settings CTranslate2 stores must be Whisper's (``WhisperSpec``'s): pre-norm, GELU,
    unscaled embeddings, no ALiBi."""
    for name, want in WHISPER_FLAGS.items():
        value = v.take(name).item() if name in v.left else want
        if value != want:
            raise AsrError(f"{v.path}: {name!r} is {value:g}, Whisper's is {want}")


def _fused_attention(v: _Variables, src: str, dst: str, *fused: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Split each fused ``linear_N`` into its projections; the last ``linear`` is ``out_proj``.

    ``fused``: the projections in ``linear_0``, ``linear_1``, ... (``("q", "k", "v")`` for
    self-attention, ``("q",), ("k", "v")`` for cross-attention); each part is ``d x d``.
    """
    state = {}
    for index, names in enumerate(fused):
        weight = v.take(f"{src}/linear_{index}/weight")
        bias = v.take(f"{src}/linear_{index}/bias")
        if weight.shape[0] % len(names) or bias.shape != weight.shape[:1]:
            raise AsrError(f"{v.path}: {src}/linear_{index} has weight {list(weight.shape)} and bias "
                           f"{list(bias.shape)}, expected {len(names)} fused {weight.shape[1]}-row projections")
        for name, w, b in zip(names, weight.chunk(len(names)), bias.chunk(len(names))):
            state[f"{dst}.{name}_proj.weight"] = w
            if name != "k":
                state[f"{dst}.{name}_proj.bias"] = b
            elif b.count_nonzero():
                raise AsrError(f"{v.path}: {src}/linear_{index} has a non-zero key bias; Whisper's keys have none")
    out = len(fused)
    state[f"{dst}.out_proj.weight"] = v.take(f"{src}/linear_{out}/weight")
    state[f"{dst}.out_proj.bias"] = v.take(f"{src}/linear_{out}/bias")
    return state


def _layer_norm(v: _Variables, src: str, dst: str) -> dict[str, torch.Tensor]:
    return {f"{dst}.weight": v.take(f"{src}/gamma"), f"{dst}.bias": v.take(f"{src}/beta")}


def _feed_forward(v: _Variables, src: str, dst: str) -> dict[str, torch.Tensor]:
    state = _layer_norm(v, f"{src}/layer_norm", f"{dst}.final_layer_norm")
    for index, name in enumerate(("fc1", "fc2")):
        state[f"{dst}.{name}.weight"] = v.take(f"{src}/linear_{index}/weight")
        state[f"{dst}.{name}.bias"] = v.take(f"{src}/linear_{index}/bias")
    return state


# ----------------------------------------------------------------------------- directories


def read_vocabulary(directory: Path) -> list[str]:
    """Tokens by id from ``vocabulary.txt`` (split on ``\\n`` as CTranslate2 reads it) or ``vocabulary.json``."""
    text_path, json_path = directory / "vocabulary.txt", directory / "vocabulary.json"
    if text_path.is_file():
        tokens = text_path.read_text(encoding="utf-8").split("\n")
        return tokens[:-1] if tokens and tokens[-1] == "" else tokens
    if json_path.is_file():
        tokens = _read_json(json_path)
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise AsrError(f"{json_path}: expected a JSON list of token strings")
        return tokens
    raise AsrError(f"{directory}: no vocabulary.txt or vocabulary.json (expected a CTranslate2 Whisper directory)")


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise AsrError(f"{path}: cannot read as JSON ({e})") from e


def read_ct2_whisper(directory: str | os.PathLike) -> tuple[Ct2Model, dict, list[str]]:
    """``(model.bin, config.json's fields, vocabulary)`` of a CTranslate2 Whisper directory, checked."""
    directory = Path(directory)
    if not directory.is_dir():
        raise AsrError(f"{directory}: not a directory (expected a CTranslate2 Whisper model directory)")
    if not (directory / "model.bin").is_file():
        raise AsrError(f"{directory}: no model.bin (expected a CTranslate2 Whisper model directory)")
    model = read_model_bin(directory / "model.bin")
    if model.spec != WHISPER_SPEC:
        raise AsrError(f"{model.path}: a CTranslate2 {model.spec or 'unnamed'} model, expected {WHISPER_SPEC}")
    if model.revision > MAX_WHISPER_REVISION:
        raise AsrError(f"{model.path}: {WHISPER_SPEC} revision {model.revision}, this converter knows "
                       f"revisions up to {MAX_WHISPER_REVISION} (a newer CTranslate2 wrote it)")
    config = _read_json(directory / "config.json") if (directory / "config.json").is_file() else {}
    if not isinstance(config, dict):
        raise AsrError(f"{directory / 'config.json'}: expected a JSON object")
    vocabulary = read_vocabulary(directory)
    for key in ("suppress_ids", "suppress_ids_begin", "lang_ids"):
        ids = config.get(key) or []
        if not isinstance(ids, list) or not all(isinstance(i, int) and 0 <= i < len(vocabulary) for i in ids):
            raise AsrError(f"{directory / 'config.json'}: {key!r} should list token ids below {len(vocabulary)}")
    heads = config.get("alignment_heads") or []
    if not isinstance(heads, list) or not all(isinstance(h, list) and len(h) == 2 for h in heads):
        raise AsrError(f"{directory / 'config.json'}: 'alignment_heads' should list [layer, head] pairs")
    return model, config, vocabulary


def special_tokens(vocabulary: list[str], path: Path) -> dict[str, int]:
    """Ids of Whisper's special tokens present in ``vocabulary``; ``<|endoftext|>`` and
    ``<|startoftranscript|>`` are required."""
    ids = {token: i for i, token in enumerate(vocabulary)}
    names = ("<|endoftext|>", "<|startoftranscript|>", "<|translate|>", "<|transcribe|>", "<|startofprev|>",
             "<|notimestamps|>")
    for required in names[:2]:
        if required not in ids:
            raise AsrError(f"{path}: the vocabulary has no {required} (not a Whisper vocabulary)")
    return {name: ids[name] for name in names if name in ids}


def hf_config(dims: WhisperDims, ct2_config: dict, tokens: dict[str, int], tied: bool):
    """The ``transformers`` ``WhisperConfig``: sizes from the weights, token ids from the vocabulary,
    suppressed tokens from CTranslate2's ``config.json``."""
    from transformers import WhisperConfig

    eot = tokens["<|endoftext|>"]
    return WhisperConfig(
        **vars(dims), activation_function="gelu", scale_embedding=False, tie_word_embeddings=tied,
        pad_token_id=eot, bos_token_id=eot, eos_token_id=eot, decoder_start_token_id=tokens["<|startoftranscript|>"],
        suppress_tokens=list(ct2_config.get("suppress_ids") or []),
        begin_suppress_tokens=list(ct2_config.get("suppress_ids_begin") or []),
    )


def generation_config(dims: WhisperDims, ct2_config: dict, vocabulary: list[str], tokens: dict[str, int]):
    """Whisper's ``GenerationConfig``: languages (``lang_ids``), tasks, suppressed tokens, alignment heads.

    Saved with ``_from_model_config=False``: transformers 5 otherwise rebuilds it from
    ``config.json`` on loading and the language settings are lost.
    """
    from transformers import GenerationConfig

    eot = tokens["<|endoftext|>"]
    lang_ids = list(ct2_config.get("lang_ids") or [])
    fields = {
        "decoder_start_token_id": tokens["<|startoftranscript|>"], "bos_token_id": eot, "eos_token_id": eot,
        "pad_token_id": eot, "max_length": dims.max_target_positions,
        "suppress_tokens": list(ct2_config.get("suppress_ids") or []),
        "begin_suppress_tokens": list(ct2_config.get("suppress_ids_begin") or []),
        "is_multilingual": bool(lang_ids), "lang_to_id": {vocabulary[i]: i for i in lang_ids},
        "task_to_id": {task: tokens[f"<|{task}|>"] for task in ("transcribe", "translate") if f"<|{task}|>" in tokens},
    }
    if "<|notimestamps|>" in tokens:
        fields["no_timestamps_token_id"] = tokens["<|notimestamps|>"]
        fields["max_initial_timestamp_index"] = 50  # 1 s, Whisper's and CTranslate2's default
    if "<|startofprev|>" in tokens:
        fields["prev_sot_token_id"] = tokens["<|startofprev|>"]
    if ct2_config.get("alignment_heads"):
        fields["alignment_heads"] = ct2_config["alignment_heads"]
    return GenerationConfig(**fields, _from_model_config=False)


def feature_extractor(dims: WhisperDims, path: Path):
    """``WhisperFeatureExtractor`` for ``2 * max_source_positions`` mel frames (30 s in released models)."""
    from transformers import WhisperFeatureExtractor

    samples = 2 * dims.max_source_positions * HOP_LENGTH
    if samples % SAMPLE_RATE:
        raise AsrError(f"{path}: {dims.max_source_positions} encoder positions are {samples / SAMPLE_RATE:g} s of "
                       "audio; transformers' WhisperFeatureExtractor needs a whole number of seconds")
    return WhisperFeatureExtractor(feature_size=dims.num_mel_bins, chunk_length=samples // SAMPLE_RATE)


def convert_ct2_whisper(src_dir: str | os.PathLike, out_dir: str | os.PathLike) -> ConvertedWhisper:
    """Write a ``transformers`` Whisper directory (``config.json``, ``model.safetensors``,
    ``generation_config.json``, ``preprocessor_config.json``, and ``tokenizer.json`` when the
    source has one) from a CTranslate2 Whisper directory such as faster-whisper's.

    Weights keep the source's float dtype (float16 for faster-whisper's releases); a quantized
    model is dequantized to float32 (:func:`output_dtype`). The directory is built beside
    ``out_dir`` and moved into place complete; an existing ``out_dir`` is replaced only if it is
    empty or a Whisper checkpoint.
    """
    src, out = Path(src_dir), Path(out_dir)
    _replaceable(src, out)
    model, ct2_config, vocabulary = read_ct2_whisper(src)
    dtype = output_dtype(model)
    model = dequantized(model, dtype)
    dims = whisper_dims(model)
    state, tied = whisper_state_dict(model, dims)
    if len(vocabulary) != dims.vocab_size:
        raise AsrError(f"{src}: the vocabulary has {len(vocabulary)} tokens, the embeddings {dims.vocab_size} rows")
    tokens = special_tokens(vocabulary, src)
    network = _build_network(hf_config(dims, ct2_config, tokens, tied), state, dtype)
    network.generation_config = generation_config(dims, ct2_config, vocabulary, tokens)
    extractor = feature_extractor(dims, model.path)
    _write_dir(out, lambda tmp: _save(tmp, network, extractor, src))
    return ConvertedWhisper(out, dims, dtype_name(dtype), sum(p.numel() for p in network.parameters()), tied)


def _build_network(config, state: dict[str, torch.Tensor], dtype: torch.dtype):
    """``WhisperForConditionalGeneration`` holding ``state`` (built on the meta device: no random init).

    Every parameter gets its own copy (the file's aliases share tensors between equal layer
    norms); a tied output projection is then tied to the token embedding by transformers.
    """
    from transformers import WhisperForConditionalGeneration

    weights = {name: t.to(dtype, copy=True).contiguous() for name, t in state.items()}
    if config.tie_word_embeddings:
        del weights["proj_out.weight"]
    with torch.device("meta"):
        network = WhisperForConditionalGeneration(config)
    try:
        result = network.load_state_dict(weights, strict=False, assign=True)
    except RuntimeError as e:  # shapes that differ from layer 0's, from which the config was read
        raise AsrError(f"the converted weights do not fit transformers' Whisper ({e})".replace("\n", " ")) from e
    missing = set(result.missing_keys) - ({"proj_out.weight"} if config.tie_word_embeddings else set())
    if missing or result.unexpected_keys:
        raise AsrError(f"the converted weights do not fit transformers' Whisper: missing {sorted(missing)}, "
                       f"unexpected {sorted(result.unexpected_keys)}")
    if config.tie_word_embeddings:
        network.tie_weights()
    return network.eval()


def _save(directory: Path, network, extractor, src: Path) -> None:
    """The ``transformers`` files, and the source's ``tokenizer.json``; modes 0666 minus the umask."""
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a "Writing model shards" bar for one file says nothing
    try:
        network.save_pretrained(directory)
    finally:
        if shown:
            hf_logging.enable_progress_bar()
    extractor.save_pretrained(directory)
    if (src / "tokenizer.json").is_file():
        shutil.copyfile(src / "tokenizer.json", directory / "tokenizer.json")
    for path in directory.iterdir():
        os.chmod(path, 0o666 & ~current_umask())


def _replaceable(src: Path, out: Path) -> None:
    """``out`` is not ``src``, and it is absent, empty, or a Whisper checkpoint; else an :class:`AsrError`."""
    if out.resolve() == src.resolve():
        raise AsrError(f"{out}: the output directory is the source; write the transformers model elsewhere")
    if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or _model_type(out) == "whisper")):
        raise AsrError(f"{out}: exists and is not a transformers Whisper directory; refusing to replace it")


def _model_type(directory: Path) -> str | None:
    try:
        return json.loads((directory / "config.json").read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None


def _write_dir(out: Path, fill) -> None:
    """Run ``fill(tmp)`` on a fresh directory beside ``out``, then move it onto ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        os.chmod(tmp, 0o777 & ~current_umask())
        fill(tmp)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
