"""Self-describing model directories: everything :func:`load_model` needs, no recipe, no pickle.

A model directory holds:

==================  ==================================================================
config.yaml         format, encoder, input_dim, vocab_size, sample_rate, and the resolved
                    ``model``, ``features`` and ``train`` configs (written last: a
                    directory without it is incomplete)
tokens.txt          the vocabulary, ``token id`` per line (:mod:`asr.models.tokens`)
model.safetensors   the network's weights (``safetensors``; no pickle anywhere)
hf_config.json      the Hugging Face config of a wav2vec2/Whisper encoder, so it is
                    rebuilt without the original ``init`` checkpoint
cmvn.json           feature mean/variance normalisation, for feature encoders using it
data_summary.json   hours, utterances and speakers of the training data, in total and by
                    dialect, gender, age band and condition (the audit's model card)
provenance.json     what trained it: asr version and git commit, package versions, the
                    resolved precision, device, CPU, seed, threads and processes
                    (:mod:`asr.provenance`; absent from directories of asr < 0.2)
aligner/            optional: a second model directory, the aligner whose CTC spikes give
                    ``asr transcribe``'s character times (:func:`bundle_aligner`; e.g. a
                    ``tdnn``, :mod:`asr.models.tdnn`); loaded as :attr:`AsrModel.aligner`
==================  ==================================================================

>>> model = load_model("recipes/dialect/exp/baseline")          # doctest: +SKIP
>>> log_probs, lengths = model.log_probs([waveform])            # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from asr.audio import SAMPLE_RATE
from asr.config import from_dict, to_dict
from asr.errors import AsrError
from asr.features.frontend import Cmvn, FeatureConfig, compute_features
from asr.io import atomic_write, current_umask, write_json, write_safetensors
from asr.models import CtcModel, ModelConfig, build_model
from asr.models.tokens import TOKENS_FILE, Vocabulary

FORMAT = "asr-model/1"
CONFIG_FILE = "config.yaml"
WEIGHTS_FILE = "model.safetensors"
HF_CONFIG_FILE = "hf_config.json"
CMVN_FILE = "cmvn.json"
SUMMARY_FILE = "data_summary.json"
PROVENANCE_FILE = "provenance.json"
ALIGNER_DIR = "aligner"
#: The files of a model directory that :func:`bundle_aligner` copies (the optional ones when present).
MODEL_FILES = (CONFIG_FILE, TOKENS_FILE, WEIGHTS_FILE, HF_CONFIG_FILE, CMVN_FILE, SUMMARY_FILE, PROVENANCE_FILE)
#: Manifest fields the data summary breaks down by.
SUMMARY_FIELDS = ("dialect", "gender", "age_band", "condition")
UNKNOWN = "unknown"


@dataclass(frozen=True)
class AsrModel:
    """A loaded model: network, vocabulary, configs and what it was trained on.

    ``frame_shift``: seconds per output frame. ``sample_rate``: Hz the waveforms given to
    :meth:`prepare` and :meth:`log_probs` must have (16 kHz). ``aligner``: the bundled
    aligner (the directory's ``aligner/``), or None.
    """

    network: CtcModel
    vocab: Vocabulary
    config: ModelConfig
    feature_config: Any | None
    cmvn: Any | None
    sample_rate: int
    frame_shift: float
    data_summary: dict
    train_config: dict | None = None
    path: Path | None = None
    provenance: dict | None = None
    aligner: "AsrModel | None" = None

    @property
    def device(self) -> torch.device:
        """The device the network's weights are on."""
        return next(self.network.parameters()).device

    def prepare(self, waveforms: Sequence[np.ndarray] | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Network inputs for float32 ``(num_samples,)`` waveforms at :attr:`sample_rate`.

        Returns zero-padded ``(B, T, D)`` features (fbank/MFCC, then CMVN) for feature
        encoders or ``(B, S)`` samples for waveform encoders, and ``(B,)`` int64 lengths,
        on the network's device.
        """
        if isinstance(waveforms, np.ndarray) and waveforms.ndim == 1:
            waveforms = [waveforms]
        device = self.device
        items = [torch.as_tensor(np.asarray(w, dtype=np.float32), device=device) for w in waveforms]
        if self.network.input_kind == "features":
            items = [self._features(w) for w in items]
        return pad_batch(items, device)

    def _features(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(S,)`` samples -> ``(T, D)`` features, CMVN-normalised when the model has CMVN."""
        feats = compute_features(waveform, self.feature_config)
        return self.cmvn.apply(feats) if self.cmvn is not None else feats

    def log_probs(self, waveforms: Sequence[np.ndarray] | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """CTC log-probabilities ``(B, T', V)`` float32 and output lengths ``(B,)`` (inference mode)."""
        if self.network.training:
            self.network.eval()
        with torch.inference_mode():
            inputs, lengths = self.prepare(waveforms)
            return self.network(inputs, lengths)


def pad_batch(items: Sequence[torch.Tensor], device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``(T, ...)`` tensors into a zero-padded ``(B, T_max, ...)`` batch and ``(B,)`` int64 lengths."""
    lengths = torch.tensor([len(x) for x in items], dtype=torch.long)
    batch = torch.nn.utils.rnn.pad_sequence(list(items), batch_first=True) if items else torch.zeros(0, 0)
    return batch.to(device), lengths.to(device)


# ----------------------------------------------------------------------------- saving


def save_model(
    directory: str | Path,
    network: CtcModel,
    model_config: ModelConfig,
    vocab: Vocabulary,
    feature_config: Any | None,
    cmvn: Any | None,
    data_summary: dict,
    train_config: Any | None = None,
    provenance: dict | None = None,
) -> Path:
    """Write a model directory (see the module docstring); returns its path.

    Every file is written atomically and ``config.yaml`` last (after the old one is
    removed), so an interrupted save leaves a directory :func:`load_model` refuses as
    incomplete rather than one mixing two models. Other files in ``directory`` (the
    trainer's checkpoints, logs) are left alone; a bundled ``aligner/`` is removed (it was
    bundled with the weights this save replaces: :func:`bundle_aligner` it again).
    """
    directory = Path(directory)
    if len(vocab) != network.vocab_size:
        raise AsrError(f"{directory}: vocabulary has {len(vocab)} tokens but the network outputs {network.vocab_size}")
    if network.input_kind == "features" and feature_config is None:
        raise AsrError(f"{directory}: a feature encoder needs its feature_config saved with it")
    directory.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        (directory / CONFIG_FILE).unlink()
    shutil.rmtree(directory / ALIGNER_DIR, ignore_errors=True)  # bundled with other weights: bundle it again

    vocab.save(directory / TOKENS_FILE)
    save_weights(directory / WEIGHTS_FILE, network, {"encoder": model_config.encoder, "format": "pt"})
    hf_config = network.hf_config()
    _write_or_remove(directory / HF_CONFIG_FILE, hf_config)
    _write_or_remove(directory / CMVN_FILE, cmvn.to_dict() if cmvn is not None else None)
    write_json(directory / SUMMARY_FILE, data_summary)
    _write_or_remove(directory / PROVENANCE_FILE, provenance)

    config = {
        "format": FORMAT,
        "encoder": model_config.encoder,
        "input_kind": network.input_kind,
        "input_dim": network.input_dim,
        "vocab_size": len(vocab),
        "sample_rate": _sample_rate(feature_config),
        "cmvn": cmvn is not None,
        "model": to_dict(model_config),
        "features": to_dict(feature_config) if feature_config is not None else None,
        "train": to_dict(train_config) if train_config is not None else None,
    }
    import yaml

    with atomic_write(directory / CONFIG_FILE) as f:
        yaml.safe_dump(_plain(config), f, allow_unicode=True, sort_keys=False)
    return directory


def save_weights(path: str | Path, network: torch.nn.Module, metadata: dict[str, str] | None = None) -> None:
    """Save ``network.state_dict()`` as safetensors, atomically and byte-reproducibly; shared tensors are copied."""
    seen: set[tuple[int, int]] = set()
    tensors = {}
    for name, tensor in network.state_dict().items():
        tensor = tensor.detach().cpu()
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset())
        tensors[name] = tensor.clone().contiguous() if key in seen or not tensor.is_contiguous() else tensor
        seen.add(key)
    write_safetensors(path, tensors, metadata)


def _write_or_remove(path: Path, obj: Any | None) -> None:
    if obj is None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    else:
        write_json(path, obj)


def _plain(obj: Any) -> Any:
    """Tuples to lists and numpy scalars to Python, recursively, for ``yaml.safe_dump``."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


# ----------------------------------------------------------------------------- loading


def load_model(path: str | Path, device: str | torch.device = "cpu") -> AsrModel:
    """Restore a model directory written by :func:`save_model`, in eval mode, on ``device``.

    Raises :class:`AsrError` naming the missing file for an incomplete directory, and
    for weights that do not match the saved config.
    """
    import yaml
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_dir():
        raise AsrError(f"{path}: model directory not found")
    _require(path, CONFIG_FILE, "the save was interrupted or this is not a model directory")
    try:
        config = yaml.safe_load((path / CONFIG_FILE).read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise AsrError(f"{path / CONFIG_FILE}: invalid YAML{where} ({getattr(e, 'problem', None) or type(e).__name__})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        found = config.get("format") if isinstance(config, dict) else None
        raise AsrError(f"{path / CONFIG_FILE}: expected format {FORMAT!r}, found {found!r}")
    for name in (TOKENS_FILE, WEIGHTS_FILE, SUMMARY_FILE):
        _require(path, name)
    model_config = from_dict(ModelConfig, config["model"], source=f"{path / CONFIG_FILE}: model")
    hf_config = None
    if model_config.encoder in ("wav2vec2", "whisper"):
        _require(path, HF_CONFIG_FILE)
        hf_config = _read_json(path / HF_CONFIG_FILE)
    feature_config = None
    if config.get("features") is not None:
        feature_config = from_dict(FeatureConfig, config["features"], source=f"{path / CONFIG_FILE}: features")
    cmvn = None
    if config.get("cmvn"):
        _require(path, CMVN_FILE)
        cmvn = Cmvn.from_dict(_read_json(path / CMVN_FILE), source=str(path / CMVN_FILE))
    vocab = Vocabulary.load(path / TOKENS_FILE)
    if len(vocab) != config.get("vocab_size"):
        raise AsrError(f"{path / TOKENS_FILE}: {len(vocab)} tokens, but config.yaml says {config.get('vocab_size')}")

    network = build_model(model_config, len(vocab), config.get("input_dim"), hf_config=hf_config)
    try:
        state = load_file(str(path / WEIGHTS_FILE), device="cpu")
    except Exception as e:  # safetensors raises SafetensorError / OSError for a truncated file
        raise AsrError(f"{path / WEIGHTS_FILE}: unreadable weights ({e})") from e
    missing, unexpected = network.load_state_dict(state, strict=False)
    if missing or unexpected:
        what = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise AsrError(f"{path / WEIGHTS_FILE}: weights do not match config.yaml ({what})")
    network.to(device).eval()
    return AsrModel(
        network=network,
        vocab=vocab,
        config=model_config,
        feature_config=feature_config,
        cmvn=cmvn,
        sample_rate=int(config.get("sample_rate") or SAMPLE_RATE),
        frame_shift=network.stride * _input_frame_shift(network, feature_config),
        data_summary=_read_json(path / SUMMARY_FILE),
        train_config=config.get("train"),
        path=path,
        provenance=_read_json(path / PROVENANCE_FILE) if (path / PROVENANCE_FILE).is_file() else None,
        aligner=_load_aligner(path / ALIGNER_DIR, device),
    )


def _load_aligner(path: Path, device: str | torch.device) -> AsrModel | None:
    """The bundled aligner at ``path`` (None if absent), loaded without touching the global RNG.

    Building a network draws its initial weights from torch's generator; a training run started
    with ``--init`` from a model with an aligner must draw the same random numbers as one from the
    same model without it, or the two would train differently.
    """
    if not path.is_dir():
        return None
    with torch.random.fork_rng(devices=[]):
        return load_model(path, device)


def bundle_aligner(model_dir: str | Path, aligner_dir: str | Path) -> Path:
    """Copy the model directory ``aligner_dir`` into ``model_dir/aligner``; returns its new path.

    The aligner is loaded first (an incomplete or foreign directory is an :class:`AsrError`
    naming it) and must read audio at the model's sample rate. Only its model files are
    copied (:data:`MODEL_FILES`; not an aligner of its own). The copy is made beside its
    place and renamed into it, so ``model_dir/aligner`` is always a whole aligner or absent.
    """
    import tempfile

    import yaml

    model_dir, aligner_dir = Path(model_dir), Path(aligner_dir)
    aligner = load_model(aligner_dir)
    config = yaml.safe_load((model_dir / CONFIG_FILE).read_text(encoding="utf-8")) if (model_dir / CONFIG_FILE).is_file() else None
    if not isinstance(config, dict):
        raise AsrError(f"{model_dir}: not a model directory (no readable {CONFIG_FILE}) to bundle an aligner into")
    rate = int(config.get("sample_rate") or SAMPLE_RATE)
    if aligner.sample_rate != rate:
        raise AsrError(f"{aligner_dir}: the aligner reads {aligner.sample_rate} Hz audio, the model {rate} Hz")
    target = model_dir / ALIGNER_DIR
    if target.resolve() == aligner_dir.resolve():
        return target
    staging = Path(tempfile.mkdtemp(prefix=".aligner.", dir=model_dir))
    staging.chmod(0o777 & ~current_umask())  # mkdtemp's 0700 would hide it from other users
    try:
        for name in MODEL_FILES:
            if (aligner_dir / name).is_file():
                shutil.copy2(aligner_dir / name, staging / name)
        old = model_dir / f".aligner.old.{staging.name.rsplit('.', 1)[-1]}"
        if target.exists():
            target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _require(path: Path, name: str, why: str = "the model directory is incomplete") -> None:
    if not (path / name).is_file():
        raise AsrError(f"{path}: missing {name} ({why})")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise AsrError(f"{path}: invalid JSON ({e.msg} at line {e.lineno})") from None


# ----------------------------------------------------------------------------- features glue


def _sample_rate(feature_config: Any | None) -> int:
    return int(feature_config.sample_rate) if feature_config is not None else SAMPLE_RATE


def _input_frame_shift(network: CtcModel, feature_config: Any | None) -> float:
    """Seconds per input frame: one sample for waveform encoders, the feature hop otherwise."""
    if network.input_kind == "waveform":
        return 1.0 / SAMPLE_RATE
    return feature_config.frame_shift / 1000


# ----------------------------------------------------------------------------- data summary


def data_summary_from_manifest(utterances: Iterable[Any]) -> dict:
    """Hours, utterances and speakers of ``utterances``, in total and by each summary field.

    Returns ``{"total": {"hours", "utterances", "speakers"}, "by": {field: {value:
    {"hours", "utterances", "speakers"}}}}`` for ``field`` in :data:`SUMMARY_FIELDS`; a
    missing value counts as ``"unknown"``. Hours are rounded to 4 decimals.
    """
    seconds = 0.0
    count = 0
    speakers: set[str] = set()
    groups: dict[str, dict[str, list]] = {f: defaultdict(lambda: [0.0, 0, set()]) for f in SUMMARY_FIELDS}
    for utt in utterances:
        seconds += utt.duration
        count += 1
        speakers.add(utt.speaker)
        for name in SUMMARY_FIELDS:
            group = groups[name][str(getattr(utt, name, None) or UNKNOWN)]
            group[0] += utt.duration
            group[1] += 1
            group[2].add(utt.speaker)
    return {
        "total": {"hours": round(seconds / 3600, 4), "utterances": count, "speakers": len(speakers)},
        "by": {
            name: {
                value: {"hours": round(s / 3600, 4), "utterances": n, "speakers": len(spk)}
                for value, (s, n, spk) in sorted(groups[name].items())
            }
            for name in SUMMARY_FIELDS
        },
    }
