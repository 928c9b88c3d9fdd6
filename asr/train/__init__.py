"""Training: CTC models from manifests, with checkpoints that resume exactly and DDP.

Training starts in :func:`asr.train.trainer.train` (``asr train``), which runs a
:class:`~asr.train.trainer.Trainer`. Reads a training config (:mod:`asr.train.config`, e.g.
``recipes/dialect/conf/train.yaml``), train and dev manifests (plain or feature manifests), and
optionally an initial model (``--init``); writes ``<exp_dir>/checkpoints/step-N/``, logs, and the
final model directory ``<exp_dir>/model`` (:mod:`asr.models.model_dir`).

- :mod:`asr.train.trainer`: the run, from setup through the loop to the averaged model;
- :mod:`asr.train.config`: one frozen dataclass per concern, the LR schedules, the precision;
- :mod:`asr.train.dataset`: utterances to padded batches (stored features, features on the
  fly, or waveforms), CMVN;
- :mod:`asr.train.sampler`: length-bucketed batches sized by frames, group balancing, DDP shards;
- :mod:`asr.train.augment`: speed perturbation and SpecAugment;
- :mod:`asr.train.loop`: distributed setup, the CTC loss, dev evaluation, logs;
- :mod:`asr.train.checkpoint`: checkpoints in safetensors + JSON, averaging, RNG states;
- :mod:`asr.train.finetune`: ``--init`` from an ``asr`` model directory;
- :mod:`asr.train.launch`: how a run is started (one process, or ``torchrun`` with N), and
  what happens to an existing experiment directory (resume, or move aside).
"""
