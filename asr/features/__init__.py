"""Features: Kaldi-compatible fbank/MFCC from 16 kHz audio, and the shards that store them.

Reads manifests (:mod:`asr.manifest`) and their audio; writes feature shards (safetensors),
feature manifests, ``features.yaml`` and a global ``cmvn.json`` (stage 2, ``asr features``).

- :mod:`asr.features.frontend`: :class:`~asr.features.frontend.FeatureConfig` (Kaldi's option
  names and defaults), :func:`~asr.features.frontend.compute_features` (``(S,)`` samples ->
  ``(T, D)`` frames, torchaudio's Kaldi compliance code), and CMVN;
- :mod:`asr.features.store`: :func:`~asr.features.store.extract_features`, parallel and
  resumable, into shards that training and decoding read back lazily.
"""
