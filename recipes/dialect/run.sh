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
#   bash recipes/dialect/run.sh --pretrained whisper-base   # then: Whisper-base's encoder + CTC, stages 3-8
#
# --pretrained whisper-base reuses the corpus, sets and features of stages 0-2 and runs stages 3-8
# with OpenAI Whisper-base's encoder and a new CTC head (conf/whisper/), fine-tuned from
# models/whisper-base-transformers (made by `bash recipes/dialect/local/get_whisper_base.sh
# models/whisper-base --convert`), in <exp-dir>/whisper-base/ (default recipes/dialect/exp): releases `whisper` and,
# after the same mitigation on the same targeted data, `whisper-targeted`, each audited on the same
# test utterances beside the Conformer's `baseline` and `targeted` (run the recipe without
# --pretrained first). Any option given with it wins over what it presets.
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
pretrained=""
# Stage 9 (opt-in, --stop-stage 9): OpenAI's Whisper-base decoder on the test set, audited beside the
# baseline and the mitigation (bash recipes/dialect/local/get_whisper_base.sh models/whisper-base).
external_model=models/whisper-base
external_engine=faster-whisper
external_release=whisper-base
external_decode_config=$conf_dir/decode_whisper.yaml

parse_options "$@"
case "$pretrained" in
  "") ;;
  whisper-base)
    exp_dir="$exp_dir/whisper-base"  # always its own: stages 3-8 keep their sentinels apart from the Conformer's
    preset train_config "$conf_dir/whisper/train.yaml"
    preset train_balanced_config "$conf_dir/whisper/train_balanced.yaml"
    preset baseline_init models/whisper-base-transformers
    preset baseline whisper
    preset mitigated whisper-targeted
    preset mitigation_data "$data_dir/targeted"
    preset compare_releases "baseline targeted"
    if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ] && ! (cd "$repo_root" && [ -f "$baseline_init/config.json" ]); then
      die "$baseline_init: no Whisper checkpoint (config.json); make it with:" \
        "bash recipes/dialect/local/get_whisper_base.sh models/whisper-base --convert"
    fi ;;
  *) die "--pretrained must be whisper-base (or empty), got '$pretrained'" ;;
esac
prepare_args=(--config "$corpus_config" --seed "$seed")
mitigation_prepare_args=(--config "$mitigation_corpus_config" --seed "$seed")
main
