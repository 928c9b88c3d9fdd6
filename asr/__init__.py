"""asr: speech recognition for Mandarin and the Chinese dialects, with a per-group fairness audit.

The whole Python API::

    import asr
    model = asr.load_model("recipes/dialect/exp/baseline")
    audio = asr.load_audio("file.wav")          # float32, 16 kHz mono
    result = asr.transcribe(model, audio)       # -> asr.Transcript
    print(result.text)

Heavy modules (torch, transformers) are imported on first use, so ``import asr``
and ``asr --help`` stay fast.
"""

from asr.audio import load_audio
from asr.errors import AsrError

__version__ = "0.2.0"
__all__ = ["AsrError", "Transcript", "load_audio", "load_model", "transcribe", "__version__"]

_LAZY = {
    "load_model": "asr.models.model_dir",
    "transcribe": "asr.decode.transcription",
    "Transcript": "asr.decode.transcription",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'asr' has no attribute {name!r}")
