#!/usr/bin/env bash
# KeSpeech (Tang et al., NeurIPS 2021 Datasets and Benchmarks; about 1,542 hours, 27,237 speakers,
# Mandarin and eight subdialects) from a local copy: a 12-layer Conformer trained on Tasks/ASR
# train_phase1 + train_phase2 with features computed on the fly from 16 sharded manifests,
# audited by the speaker's home subdialect, reading style (Mandarin or dialect) and their
# intersection, and by subdialect, gender, age, city and recording environment (conf/audit.yaml).
#
#   bash recipes/kespeech/run.sh --corpus-dir /data/KeSpeech               # everything, stages 0..8
#   bash recipes/kespeech/run.sh --corpus-dir /data/KeSpeech --ngpu 8      # train on 8 GPUs (torchrun)
#   bash recipes/kespeech/run.sh --stage 5 --stop-stage 5                  # audit again
#
# Stages and options: see recipes/shared/stages.sh (bash recipes/kespeech/run.sh --help).

recipe_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$recipe_dir/../.." && pwd)
source "$repo_root/recipes/shared/stages.sh"

corpus_dir=""
corpus=kespeech
train_parts="train_phase*"
dev_parts="dev_phase*"
stats_by=home_dialect,reading_style
features=on-the-fly
num_shards=16
validate_audio=false
nj=8

parse_options "$@"
main
