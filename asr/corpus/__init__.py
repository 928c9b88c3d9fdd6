"""Corpus preparation: one module per corpus, each ``prepare_<corpus>(...)`` plus a CLI wrapper.

Every preparer validates its input before writing, and writes manifests
(:mod:`asr.manifest.records`) atomically under ``data_manifests/<corpus>/``.
"""
