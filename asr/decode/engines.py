"""Recognizers that ``asr decode --engine`` runs from a local directory, with one interface.

An :class:`Engine` turns a batch of 16 kHz float32 waveforms into texts (and confidences where
the recognizer gives them); :func:`load_engine` makes one:

``asr``             an ``asr`` model directory: CTC greedy or prefix beam search with an optional
                    n-gram LM, in PyTorch or ONNX Runtime (:mod:`asr.decode.search`);
``hf-ctc``          any ``transformers`` CTC checkpoint (``AutoModelForCTC`` and its processor:
                    wav2vec2, HuBERT, data2vec-audio, XLS-R fine-tunes), greedy CTC;
``hf-whisper``      ``WhisperForConditionalGeneration.generate`` with a chosen language and task
                    (clips padded to the 30 s Whisper's encoder needs, no further; longer clips
                    through transformers' long-form generation);
``faster-whisper``  a CTranslate2 Whisper directory through the ``faster-whisper`` package (at
                    temperature 0 only, so that a rerun gives the same text).

No hub access, ever: the model is a directory on disk (``local_files_only``), and a directory
that is not a model of the engine's kind is one :class:`~asr.errors.AsrError` naming it.
:meth:`Engine.describe` is what the results' meta records: the engine, the model directory, a
digest of its configuration, and the decoding options.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

from asr.errors import AsrError

ENGINES = ("asr", "hf-ctc", "hf-whisper", "faster-whisper")
SAMPLE_RATE = 16000
#: Whisper's encoder reads 30 s windows.
WHISPER_SECONDS = 30.0


@dataclass(frozen=True)
class Recognized:
    """One utterance's text and confidence in [0, 1] (None when the engine gives none)."""

    text: str
    confidence: float | None = None


class Engine(Protocol):
    """What ``asr decode`` needs of a recognizer."""

    name: str
    sample_rate: int

    def recognize(self, waveforms: Sequence[np.ndarray]) -> list[Recognized]:
        """Texts of float32 ``(num_samples,)`` waveforms at :attr:`sample_rate`, in order."""

    def describe(self) -> dict[str, Any]:
        """The engine, model directory, configuration digest and decoding options, for the meta."""


def config_digest(model_dir: Path) -> str | None:
    """SHA-256 (16 hex digits) of a model directory's configuration files, to tell models apart."""
    h = hashlib.sha256()
    found = False
    for name in ("config.json", "config.yaml", "generation_config.json", "preprocessor_config.json",
                 "tokenizer.json", "vocabulary.txt", "vocab.json", "tokens.txt"):
        path = model_dir / name
        if path.is_file():
            h.update(name.encode())
            h.update(path.read_bytes())
            found = True
    return h.hexdigest()[:16] if found else None


def _model_dir(path: str | Path, engine: str, needs: Sequence[str], what: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise AsrError(f"{path}: model directory not found (--engine {engine} reads {what} from a local directory)")
    missing = [n for n in needs if not (path / n).is_file()]
    if missing:
        raise AsrError(f"{path}: not a {what} directory (no {missing[0]}); --engine {engine} needs one")
    return path


def _quiet_transformers() -> None:
    """No weight-loading bars or generation notices from transformers: asr reports its own progress."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def _hf_config(path: Path) -> dict:
    try:
        return json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise AsrError(f"{path / 'config.json'}: not a readable JSON config ({e})") from None


# ----------------------------------------------------------------------------- asr


class AsrEngine:
    """An ``asr`` model directory decoded with :func:`asr.decode.search.search`."""

    name = "asr"

    def __init__(self, model, options, lm=None, backend: str = "pytorch"):
        self.model = model
        self.options = options
        self.lm = lm
        self.backend = backend
        self.sample_rate = model.sample_rate

    def recognize(self, waveforms: Sequence[np.ndarray]) -> list[Recognized]:
        from asr.decode.search import search

        log_probs, lengths = self.model.log_probs(list(waveforms))
        hyps = search(log_probs, lengths, self.options, lm=self.lm, token_strings=self.model.vocab.tokens,
                      blank=self.model.vocab.blank_id)
        return [Recognized(self.model.vocab.decode(h.token_ids), h.confidence) for h in hyps]

    def describe(self) -> dict[str, Any]:
        path = Path(self.model.path) if self.model.path else None
        return {"engine": self.name, "model": str(path) if path else None, "backend": self.backend,
                "config_digest": config_digest(path) if path else None}


# ----------------------------------------------------------------------------- transformers CTC


class HfCtcEngine:
    """Greedy CTC with a ``transformers`` ``AutoModelForCTC`` checkpoint and its processor."""

    name = "hf-ctc"
    sample_rate = SAMPLE_RATE

    def __init__(self, model_dir: str | Path, device: str = "cpu"):
        import torch
        from transformers import AutoModelForCTC, AutoProcessor

        self.path = _model_dir(model_dir, self.name, ("config.json",), "transformers CTC checkpoint")
        _quiet_transformers()
        model_type = _hf_config(self.path).get("model_type")
        try:
            self.processor = AutoProcessor.from_pretrained(self.path, local_files_only=True)
            self.model = AutoModelForCTC.from_pretrained(self.path, local_files_only=True, dtype=torch.float32)
        except (OSError, ValueError, KeyError) as e:
            raise AsrError(f"{self.path}: not a transformers CTC checkpoint with its processor (model_type "
                           f"{model_type!r}): {str(e).splitlines()[0]}") from None
        self.model.eval().to(device)
        self.device = device
        extractor = getattr(self.processor, "feature_extractor", self.processor)
        self.use_mask = bool(getattr(extractor, "return_attention_mask", False))
        self.blank = self.model.config.pad_token_id

    def recognize(self, waveforms: Sequence[np.ndarray]) -> list[Recognized]:
        import torch

        inputs = self.processor(list(waveforms), sampling_rate=SAMPLE_RATE, return_tensors="pt", padding=True,
                                return_attention_mask=True)
        lengths = torch.tensor([len(w) for w in waveforms])
        with torch.inference_mode():
            mask = inputs["attention_mask"].to(self.device) if self.use_mask else None
            logits = self.model(inputs["input_values"].to(self.device), attention_mask=mask).logits.float()
        frames = self.model._get_feat_extract_output_lengths(lengths).tolist()
        probs = logits.softmax(-1).cpu()
        out = []
        for b, n in enumerate(frames):
            best, ids = probs[b, :n].max(-1)
            text = self.processor.decode(ids)
            emitted = ids != self.blank
            confidence = float(best[emitted].mean()) if bool(emitted.any()) else None
            out.append(Recognized(text.strip(), confidence))
        return out

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "model": str(self.path), "config_digest": config_digest(self.path),
                "decoding": "greedy CTC"}


# ----------------------------------------------------------------------------- transformers Whisper


class HfWhisperEngine:
    """``WhisperForConditionalGeneration.generate`` on batches, in a chosen language and task."""

    name = "hf-whisper"
    sample_rate = SAMPLE_RATE

    def __init__(self, model_dir: str | Path, language: str | None = "zh", task: str = "transcribe",
                 beam_size: int = 1, device: str = "cpu", max_new_tokens: int | None = None):
        import torch
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        self.path = _model_dir(model_dir, self.name, ("config.json",), "transformers Whisper checkpoint")
        _quiet_transformers()
        if _hf_config(self.path).get("model_type") != "whisper":
            raise AsrError(f"{self.path}: model_type {_hf_config(self.path).get('model_type')!r}, not a Whisper "
                           "checkpoint (--engine hf-whisper)")
        try:
            self.processor = WhisperProcessor.from_pretrained(self.path, local_files_only=True)
            self.model = WhisperForConditionalGeneration.from_pretrained(self.path, local_files_only=True,
                                                                         dtype=torch.float32)
        except (OSError, ValueError, KeyError) as e:
            raise AsrError(f"{self.path}: not a loadable Whisper checkpoint with its processor: "
                           f"{str(e).splitlines()[0]}") from None
        self.model.eval().to(device)
        self.device, self.language, self.task, self.beam_size = device, language, task, beam_size
        self.max_new_tokens = max_new_tokens

    def recognize(self, waveforms: Sequence[np.ndarray]) -> list[Recognized]:
        short = [i for i, w in enumerate(waveforms) if len(w) <= WHISPER_SECONDS * SAMPLE_RATE]
        long = [i for i in range(len(waveforms)) if i not in set(short)]
        texts: dict[int, str] = {}
        if short:
            texts.update(zip(short, self._generate([waveforms[i] for i in short], long_form=False)))
        for i in long:  # long-form generation works one recording at a time here
            texts[i] = self._generate([waveforms[i]], long_form=True)[0]
        return [Recognized(texts[i].strip()) for i in range(len(waveforms))]

    def _generate(self, waves: list[np.ndarray], long_form: bool) -> list[str]:
        import torch

        kwargs = {"truncation": False, "padding": "longest"} if long_form else {}
        features = self.processor(waves, sampling_rate=SAMPLE_RATE, return_tensors="pt", return_attention_mask=True,
                                  **kwargs)
        options = {"task": self.task, "num_beams": self.beam_size, "attention_mask": features["attention_mask"].to(self.device)}
        if self.max_new_tokens:
            options["max_new_tokens"] = self.max_new_tokens
        if self.language:
            options["language"] = self.language
        if long_form:
            options["return_timestamps"] = True
        with torch.inference_mode():
            ids = self.model.generate(features["input_features"].to(self.device), **options)
        return self.processor.batch_decode(ids, skip_special_tokens=True)

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "model": str(self.path), "config_digest": config_digest(self.path),
                "language": self.language, "task": self.task, "beam_size": self.beam_size,
                "max_new_tokens": self.max_new_tokens}


# ----------------------------------------------------------------------------- faster-whisper


class FasterWhisperEngine:
    """A CTranslate2 Whisper directory through ``faster-whisper`` (the optional ``[whisper]`` extra)."""

    name = "faster-whisper"
    sample_rate = SAMPLE_RATE

    def __init__(self, model_dir: str | Path, language: str | None = "zh", task: str = "transcribe",
                 beam_size: int = 1, compute_type: str = "float32", device: str = "cpu", threads: int | None = None,
                 max_new_tokens: int | None = None):
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise AsrError("--engine faster-whisper needs the faster-whisper package: "
                           "pip install 'zh-dialect-asr[whisper]'") from None
        self.path = _model_dir(model_dir, self.name, ("model.bin", "config.json"), "CTranslate2 Whisper")
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # not a line per utterance
        try:
            self.model = WhisperModel(str(self.path), device=device, compute_type=compute_type,
                                      cpu_threads=threads or 0, local_files_only=True)
        except (RuntimeError, ValueError, OSError) as e:
            raise AsrError(f"{self.path}: not a loadable CTranslate2 Whisper model: {str(e).splitlines()[0]}") from None
        self.language, self.task, self.beam_size, self.compute_type = language, task, beam_size, compute_type
        self.max_new_tokens = max_new_tokens

    def recognize(self, waveforms: Sequence[np.ndarray]) -> list[Recognized]:
        out = []
        for wave in waveforms:
            # temperature 0 alone: faster-whisper's default falls back to sampling at higher temperatures,
            # which makes two runs on the same audio differ; an audit must be reproducible.
            segments, _ = self.model.transcribe(np.asarray(wave, dtype=np.float32), language=self.language,
                                                task=self.task, beam_size=self.beam_size, vad_filter=False,
                                                condition_on_previous_text=False, temperature=0.0,
                                                max_new_tokens=self.max_new_tokens)
            segments = list(segments)
            text = "".join(s.text for s in segments).strip()
            logprob = [s.avg_logprob for s in segments]
            out.append(Recognized(text, math.exp(sum(logprob) / len(logprob)) if logprob else None))
        return out

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "model": str(self.path), "config_digest": config_digest(self.path),
                "language": self.language, "task": self.task, "beam_size": self.beam_size,
                "compute_type": self.compute_type, "temperature": 0.0, "max_new_tokens": self.max_new_tokens}


def load_engine(engine: str, model_dir: str | Path, *, language: str | None = "zh", task: str = "transcribe",
                beam_size: int = 1, device: str = "cpu", threads: int | None = None,
                compute_type: str = "float32", max_new_tokens: int | None = None) -> Engine:
    """The non-``asr`` engines by name (the ``asr`` engine is built by :mod:`asr.decode.batch`)."""
    if engine == "hf-ctc":
        return HfCtcEngine(model_dir, device)
    if engine == "hf-whisper":
        return HfWhisperEngine(model_dir, language, task, beam_size, device, max_new_tokens)
    if engine == "faster-whisper":
        return FasterWhisperEngine(model_dir, language, task, beam_size, compute_type, device, threads, max_new_tokens)
    raise AsrError(f"--engine {engine!r}: expected one of {', '.join(ENGINES)}")
