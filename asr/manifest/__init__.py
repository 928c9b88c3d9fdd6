"""Manifests: the typed, one-JSON-object-per-line description of a corpus that every stage reads.

Reads what ``asr prepare`` (:mod:`asr.corpus`) wrote; writes the checked, merged or sharded sets
the later stages read.

- :mod:`asr.manifest.records`: the :class:`Utterance` record, lazy reading (:class:`Manifest`),
  atomic writing, and a pandas view;
- :mod:`asr.manifest.validate`: ``asr manifest validate`` (every problem, named by utterance)
  and ``asr manifest stats`` (hours, utterances and speakers per group);
- :mod:`asr.manifest.shards`: ``asr manifest merge`` / ``shard`` (gzip shards of about equal hours).

The record API is re-exported here as the package's public surface::

    from asr.manifest import Manifest, Utterance
    for utt in Manifest("data_manifests/synthetic/test.jsonl"):
        print(utt.id, utt.dialect, utt.text)
"""

from asr.manifest.records import (
    METADATA_FIELDS,
    Manifest,
    Utterance,
    load_dataframe,
    read_manifest,
    write_manifest,
)

__all__ = ["METADATA_FIELDS", "Manifest", "Utterance", "load_dataframe", "read_manifest", "write_manifest"]
