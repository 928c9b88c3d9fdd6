"""Decoding: from a model to text, for test sets (results files) and for any audio file.

Reads a model directory (:mod:`asr.models.model_dir`), manifests or audio files, and optionally
an n-gram LM; writes results files (one :class:`asr.results.ResultRow` per utterance, the
artifact the audit reads) and transcripts.

- :mod:`asr.decode.batch`: ``asr decode``, manifests -> ``results-<stem>.jsonl`` + ``.meta.json``;
- :mod:`asr.decode.search`: greedy CTC and CTC prefix beam search with LM fusion, confidences,
  forced alignment;
- :mod:`asr.decode.lm`: character n-gram LMs (``asr lm``), JSON or ARPA;
- :mod:`asr.decode.transcription`: ``asr transcribe`` / :func:`asr.transcribe`, any audio file
  to text with per-character times;
- :mod:`asr.decode.export`, :mod:`asr.decode.onnx_format`, :mod:`asr.decode.onnx_runtime`:
  ``asr export`` to ONNX (float32, int8) and running the export in ONNX Runtime.
"""
