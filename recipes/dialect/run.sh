#!/usr/bin/env bash
# The embedded multi-dialect recipe: synthesizes a Mandarin + dialect corpus offline, trains a
# CTC recognizer on it, and audits its error rates per dialect, gender, age and condition. The
# mitigation (stages 6-8) fine-tunes the baseline with dialect-balanced sampling and speed
# perturbation on targeted data: five times the Cantonese training speech (conf/corpus_targeted.yaml).
#
#   bash recipes/dialect/run.sh                      # everything, stages 0..8
#   bash recipes/dialect/run.sh --stage 2 --stop-stage 2
#   bash recipes/dialect/run.sh --corpus-config recipes/dialect/conf/corpus_tiny.yaml \
#     --mitigation-corpus-config recipes/dialect/conf/corpus_tiny_targeted.yaml
#
# Stages and options: see recipes/shared/stages.sh (bash recipes/dialect/run.sh --help).

recipe_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$recipe_dir/../.." && pwd)
source "$repo_root/recipes/shared/stages.sh"

stage=0
stop_stage=8
nj=2
cpu_procs=2
lm_order=4
corpus=synthetic
corpus_config=$conf_dir/corpus.yaml
data_dir=data_manifests/synthetic
report_dir=reports
mitigated=targeted
mitigation_init=baseline
mitigation_corpus_config=$conf_dir/corpus_targeted.yaml
seed=1234

parse_options "$@"
prepare_args=(--config "$corpus_config" --seed "$seed")
mitigation_prepare_args=(--config "$mitigation_corpus_config" --seed "$seed")
main
