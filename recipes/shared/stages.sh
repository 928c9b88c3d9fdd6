#!/usr/bin/env bash
# The stages every recipe shares. A recipe's run.sh sets its settings (corpus, conf dir,
# sets, prepare arguments, audit attributes, sizes) and sources this file; recipes differ by
# configuration only. Each stage is one `asr` subcommand; all logic lives in Python.
#
#   stage 0  asr prepare        corpus -> manifests (speaker and dialect metadata)
#   stage 1  asr manifest       validate every manifest, print hours per group; merge the
#                               train and dev parts into sets; shard the train set
#   stage 2  asr features       fbank shards + global CMVN (skipped with --features on-the-fly)
#   stage 3  asr train          baseline model (torchrun with --ngpu N > 1)
#   stage 4  asr decode         results files (per-utterance edits + metadata)
#   stage 5  asr audit          fairness report of the baseline release
#   stage 6  asr train          mitigated model (group-balanced sampling; optionally fine-tuned from
#                               the baseline, on targeted data that `asr prepare` adds first)
#   stage 7  asr decode         results of the mitigated model
#   stage 8  asr audit          fairness report of the mitigation, against the baseline
#
# Options (each --name value sets the variable of that name, '-' read as '_'):
#   --stage N --stop-stage N   run stages N..M (default 0..8)
#   --nj N                     parallel jobs (default 2)
#   --corpus-dir DIR           the corpus on disk (real-corpus recipes; relative to where you run)
#   --ngpu N                   training processes: 1 (default) one `asr train` on the GPU if there is
#                              one, else --cpu-procs processes on the CPU; 0 one process on the CPU;
#                              N > 1 `torchrun --standalone --nproc_per_node N -m asr train` (one
#                              process per GPU, DDP)
#   --cpu-procs N              with --ngpu 1 on a machine without a GPU: N > 1 runs N CPU training
#                              processes under torchrun (DDP over gloo, one thread each), 1 one
#                              process with every core (default 1; the dialect recipe uses 2)
#   --lm-order N               N > 0: stages 3 and 6 also train a character N-gram LM on the
#                              training text (`asr lm`, <exp>/lm.json) and stages 4 and 7 decode
#                              with it (beam size and LM weight from the decode config); 0 (default): no LM
#   --features MODE            stored (default): stage 2 writes fbank shards + CMVN and training
#                              reads them; on-the-fly: stage 2 is skipped, training computes fbank
#                              from the audio (train config inputs.source: audio) and estimates
#                              CMVN on inputs.cmvn_utterances training utterances
#   --num-shards N             > 0: stage 1 splits the train set into N gzip manifest shards of
#                              about equal hours (<data_dir>/<train_set>/shard-*.jsonl.gz; one per
#                              utterance if there are fewer) that training reads (needs
#                              --features on-the-fly); 0 (default): one train manifest
#   --validate-audio BOOL      true (default): stage 1 decodes every audio file; false: checks
#                              the manifests only (stage 0 has read every audio header already)
#   --features-config F --train-config F --train-balanced-config F --decode-config F
#   --audit-config F           configs (default: <conf_dir>/{features,train,train_balanced,
#                              decode,audit}.yaml; paths relative to the repository root)
#   --decode-device DEV        device of stages 4 and 7: cpu (default), cuda, cuda:N
#   --mitigation-init FROM     scratch (default): stage 6 trains a new model; baseline: it fine-tunes
#                              the baseline model (`asr train --init <exp_dir>/<baseline>/model`)
# A recipe may also set mitigation_prepare_args (an array, with the configs it reads in
# mitigation_configs): stage 6 then first runs `asr prepare <corpus> ARGS --output-dir
# <data_dir>/<mitigated>` (targeted data, e.g. more speech of the worst group) and trains on that
# directory's train set with features on the fly (train-balanced config inputs.source: audio);
# dev and test stay the baseline's, so the audit compares the same utterances.
#   --train-parts P --dev-parts P   manifests (globs, names without .jsonl) that stage 1 merges
#                              into the train and dev sets (default: the set itself)
# Every other setting of a recipe (train_set, dev_set, test_sets, data_dir, exp_dir, stats_by,
# audit_by, ...) is an option too. A finished stage leaves a .done sentinel holding a digest
# of its command and configs; a rerun skips it unless the command or a config changed, and a stage
# that runs makes every later stage run again.

set -euo pipefail

# Defaults of the settings a recipe may leave alone (a recipe's run.sh overrides them).
stage=0
stop_stage=8
nj=2
ngpu=1
cpu_procs=1
lm_order=0
features=stored
num_shards=0
validate_audio=true
decode_device=cpu
mitigation_init=scratch
mitigation_prepare_args=()
mitigation_configs=()
train_parts=""
dev_parts=""
features_config=""
train_config=""
train_balanced_config=""
decode_config=""
audit_config=""
train_args=()
prepare_args=()
prepare_configs=()

log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%d %H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}

die() { echo "$(basename "$0"): error: $*" >&2; exit 1; }

# usage: the recipe's own header, the shared stages and options, then this recipe's settings.
usage() {
  sed -n '2,/^[^#]/p' "$0" | sed -n 's/^# \{0,1\}//p'
  echo
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -n 's/^# \{0,1\}//p'
  echo; echo "Settings of this recipe (each one an option):"
  local name
  for name in corpus conf_dir data_dir exp_dir report_dir train_set train_parts dev_set dev_parts test_sets \
      features num_shards ngpu cpu_procs nj lm_order validate_audio stats_by audit_by baseline mitigated \
      mitigation_init mitigation_corpus_config; do
    [ -z "${!name+x}" ] || printf '  --%-16s %s\n' "${name//_/-}" "${!name}"
  done
}

parse_options() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --help|-h) usage; exit 0 ;;
      --*)
        local name=${1#--}; name=${name//-/_}
        [ $# -ge 2 ] || die "option $1 needs a value"
        declare -p "$name" >/dev/null 2>&1 || die "unknown option $1"
        printf -v "$name" '%s' "$2"; shift 2 ;;
      *) die "unexpected argument '$1' (options are --name value)" ;;
    esac
  done
}

# run_stage N NAME SENTINEL_DIR CONFIG... -- COMMAND...
# Runs COMMAND for stage N when N is in [stage, stop_stage] and its sentinel is stale.
run_stage() {
  local n=$1 name=$2 dir=$3; shift 3
  local configs=()
  while [ "$1" != "--" ]; do configs+=("$1"); shift; done
  shift
  if [ "$n" -lt "$stage" ] || [ "$n" -gt "$stop_stage" ]; then return 0; fi
  local sentinel="$dir/.stage$n.done"
  local digest
  digest=$( { printf '%q ' "$@"; echo; for c in "${configs[@]}"; do cat "$c"; done; } | sha256sum | cut -d' ' -f1)
  if [ -f "$sentinel" ] && [ "$(cat "$sentinel")" = "$digest" ]; then
    log "Stage $n: $name: already done ($sentinel), skipping"
    return 0
  fi
  log "Stage $n: $name"
  rm -f "$sentinel"
  invalidate_after "$n"
  running_stage=$n running_digest=$digest
  "$@"
  mkdir -p "$dir"
  echo "$digest" > "$sentinel.tmp" && mv "$sentinel.tmp" "$sentinel"
}

# invalidate_after N: forget that the stages after N finished, since stage N is about to change
# their inputs (a retrained model must be decoded and audited again, even with the same configs).
invalidate_after() {
  local k
  for (( k = $1 + 1; k <= 8; k++ )); do
    rm -f "$data_dir/.stage$k.done" "$exp_dir/.stage$k.done" "$exp_dir"/*/".stage$k.training"
  done
}

# prepare_training_dir EXP: what the stage running now does with an existing training directory.
# Checkpoints of an unfinished run of this same stage (the same command and configs, and no
# earlier stage run since) are resumed: training_args gets --resume. Any other run there (a
# finished one, or one with other settings or inputs) is moved aside to EXP.<date>-<time>, never
# deleted. EXP/.stage<N>.training records the run that starts.
prepare_training_dir() {
  local exp=$1 old
  local stamp="$exp/.stage$running_stage.training"
  training_args=()
  if compgen -G "$exp/checkpoints/step-*" > /dev/null; then
    if [ ! -f "$exp/result.json" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$running_digest" ]; then
      log "$exp: resuming the unfinished training run from its newest checkpoint"
      training_args=(--resume)
    else
      old="$exp.$(date +%Y%m%d-%H%M%S)"
      log "$exp holds a training run of other settings or inputs, or a finished one: moving it to $old"
      mv -- "$exp" "$old"
    fi
  fi
  mkdir -p "$exp"
  echo "$running_digest" > "$stamp.tmp" && mv "$stamp.tmp" "$stamp"
}

# check_settings: refuse settings the stages cannot honour, before anything runs.
check_settings() {
  local name
  for name in stage stop_stage nj ngpu cpu_procs lm_order num_shards; do
    [[ ${!name} =~ ^[0-9]+$ ]] || die "--${name//_/-} must be a non-negative integer, got '${!name}'"
  done
  case "$features" in stored|on-the-fly) ;; *) die "--features must be stored or on-the-fly, got '$features'" ;; esac
  case "$validate_audio" in true|false) ;; *) die "--validate-audio must be true or false, got '$validate_audio'" ;; esac
  case "$mitigation_init" in scratch|baseline) ;; *) die "--mitigation-init must be scratch or baseline, got '$mitigation_init'" ;; esac
  if [ "$num_shards" -gt 0 ] && [ "$features" = stored ]; then
    die "--num-shards $num_shards needs --features on-the-fly (stored features are computed per set, not per shard)"
  fi
}

# glob_files VAR WHAT PATTERN...: the files matching each PATTERN (a path with glob characters),
# in order, into the array VAR; a pattern matching nothing is an error naming WHAT was expected.
glob_files() {
  local -n files_=$1; local what=$2; shift 2
  local pattern found
  files_=()
  for pattern in "$@"; do
    found=$(compgen -G "$pattern") || die "nothing matches $pattern ($what)"
    mapfile -t -O "${#files_[@]}" files_ <<< "$found"
  done
}

# set_manifests VAR "NAMES": the prepared manifests <data_dir>/<name>.jsonl of the space-separated
# NAMES (globs allowed: train_phase*) into the array VAR.
set_manifests() {
  local names patterns=() name
  read -r -a names <<< "$2"
  for name in "${names[@]}"; do patterns+=("$data_dir/$name.jsonl"); done
  glob_files "$1" "a manifest written by stage 0" "${patterns[@]}"
}

# manifest_stage CHECK_AUDIO STATS_BY NUM_SHARDS TRAIN_SET "TRAIN_PARTS" DEV_SET "DEV_PARTS" "TEST_SETS"
# Stage 1: validate and summarise every prepared manifest, then form the train and dev sets:
# parts merged into <data_dir>/<set>.jsonl, or the train set split into NUM_SHARDS shards.
manifest_stage() {
  local check_audio=$1 by=$2 shards=$3 train=$4 train_patterns=$5 dev=$6 dev_patterns=$7 test_patterns=$8
  local train_in=() dev_in=() test_in=() validate_flags=()
  set_manifests train_in "$train_patterns"
  set_manifests dev_in "$dev_patterns"
  set_manifests test_in "$test_patterns"
  [ "$check_audio" = true ] || validate_flags=(--no-audio)
  asr manifest validate "${validate_flags[@]}" "${train_in[@]}" "${dev_in[@]}" "${test_in[@]}"
  asr manifest stats --by "$by" "${train_in[@]}" "${dev_in[@]}" "${test_in[@]}"
  if [ "$shards" -gt 0 ]; then
    asr manifest shard "${train_in[@]}" --output-dir "$data_dir/$train" --num-shards "$shards"
  elif [ "${train_in[*]}" != "$data_dir/$train.jsonl" ]; then
    asr manifest merge "${train_in[@]}" --output "$data_dir/$train.jsonl"
  fi
  if [ "${dev_in[*]}" != "$data_dir/$dev.jsonl" ]; then
    asr manifest merge "${dev_in[@]}" --output "$data_dir/$dev.jsonl"
  fi
}

# has_cuda: whether the Python that runs `asr` sees a CUDA device.
has_cuda() {
  local shebang python=()
  shebang=$(sed -n '1s/^#!//p' "$(command -v asr)")
  read -r -a python <<< "${shebang:-python3}"
  "${python[@]}" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null
}

# train_stage CONFIG EXP_DIR TRAIN_DIR FEATURES NUM_SHARDS LM_ORDER [ARG...]: one `asr train` (or
# torchrun of it, see --ngpu and --cpu-procs) on TRAIN_DIR's train set and data_dir's dev set, as
# the features mode and sharding left them; ARGs go to it. LM_ORDER > 0: first an `asr lm` on the
# same training text (EXP_DIR/lm.json).
train_stage() {
  local config=$1 exp=$2 train_dir=$3 mode=$4 shards=$5 order=$6; shift 6
  local train=() dev launcher=(asr train) device=()
  prepare_training_dir "$exp"
  if [ "$mode" = stored ]; then
    train=("$train_dir/fbank/$train_set.jsonl"); dev="$data_dir/fbank/$dev_set.jsonl"
  else
    dev="$data_dir/$dev_set.jsonl"
    if [ "$shards" -gt 0 ]; then
      glob_files train "the shards of stage 1" "$train_dir/$train_set/shard-*.jsonl.gz"
    else
      train=("$train_dir/$train_set.jsonl")
    fi
  fi
  if [ "$order" -gt 0 ]; then  # the text of the plain manifests (feature manifests carry more fields)
    local text=("${train[@]}")
    [ "$mode" != stored ] || text=("$train_dir/$train_set.jsonl")
    asr lm --manifests "${text[@]}" --output "$exp/lm.json" --order "$order" --dev-manifest "$data_dir/$dev_set.jsonl"
  fi
  if [ "$ngpu" -gt 1 ]; then
    launcher=(torchrun --standalone --nproc_per_node "$ngpu" -m asr train)
  elif [ "$ngpu" -eq 0 ]; then
    device=(--device cpu)
  elif [ "$cpu_procs" -gt 1 ] && ! has_cuda; then
    launcher=(torchrun --standalone --nproc_per_node "$cpu_procs" -m asr train); device=(--device cpu)
  fi
  "${launcher[@]}" --config "$config" --train-manifest "${train[@]}" --dev-manifest "$dev" --exp-dir "$exp" \
    "${device[@]}" "${training_args[@]}" "$@"
}

# mitigation_stage INIT CONFIG EXP_DIR BASE_MODEL FEATURES NUM_SHARDS LM_ORDER [PREPARE_ARG...] -- [ARG...]
# Stage 6: INIT baseline starts from BASE_MODEL (--init); PREPARE_ARGs (the corpus arguments and
# mitigation_prepare_args) first prepare the targeted data into <data_dir>/<mitigated>, and
# training reads that train set with features on the fly. ARGs go to `asr train`.
mitigation_stage() {
  local init=$1 config=$2 exp=$3 base=$4 mode=$5 shards=$6 order=$7; shift 7
  local prepare=() args=()
  while [ "$1" != "--" ]; do prepare+=("$1"); shift; done
  shift
  args=("$@")
  [ "$init" = scratch ] || args+=(--init "$base")
  if [ ${#prepare[@]} -eq 0 ]; then
    train_stage "$config" "$exp" "$data_dir" "$mode" "$shards" "$order" "${args[@]}"
    return
  fi
  local targeted="$data_dir/$mitigated"
  asr prepare "$corpus" "${prepare[@]}" --output-dir "$targeted" --jobs "$nj"
  train_stage "$config" "$exp" "$targeted" on-the-fly 0 "$order" "${args[@]}"
}

main() {
  check_settings
  local corpus_args=()
  if [ -n "${corpus_dir+x}" ]; then  # a real-corpus recipe: --corpus-dir, relative to the caller
    if [ -z "$corpus_dir" ] && [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
      die "--corpus-dir DIR is required for stage 0 (the $corpus corpus on disk; see --help)"
    fi
    [ -z "$corpus_dir" ] || corpus_args=(--corpus-dir "$(realpath -m -- "$corpus_dir")")
  fi
  cd "$repo_root"
  features_config=${features_config:-$conf_dir/features.yaml}
  train_config=${train_config:-$conf_dir/train.yaml}
  train_balanced_config=${train_balanced_config:-$conf_dir/train_balanced.yaml}
  decode_config=${decode_config:-$conf_dir/decode.yaml}
  audit_config=${audit_config:-$conf_dir/audit.yaml}
  local manifests=() s
  for s in ${test_sets} ${dev_set} ${train_set}; do manifests+=("$data_dir/$s.jsonl"); done
  local fbank="$data_dir/fbank" base="$exp_dir/$baseline" mit="$exp_dir/$mitigated"
  local tests=() results=() mresults=() base_lm=() mit_lm=()
  if [ "$lm_order" -gt 0 ]; then base_lm=(--lm "$base/lm.json"); mit_lm=(--lm "$mit/lm.json"); fi
  for s in ${test_sets}; do
    tests+=("$data_dir/$s.jsonl")
    results+=("$base/decode/results-$s.jsonl")
    mresults+=("$mit/decode/results-$s.jsonl")
  done

  run_stage 0 "prepare the $corpus corpus" "$data_dir" "${prepare_configs[@]}" -- \
    asr prepare "$corpus" "${corpus_args[@]}" "${prepare_args[@]}" --output-dir "$data_dir" --jobs "$nj"
  run_stage 1 "validate manifests, form the train and dev sets" "$data_dir" -- \
    manifest_stage "$validate_audio" "$stats_by" "$num_shards" "$train_set" "${train_parts:-$train_set}" \
      "$dev_set" "${dev_parts:-$dev_set}" "$test_sets"
  if [ "$features" = stored ]; then
    run_stage 2 "features" "$data_dir" "$features_config" -- \
      asr features --config "$features_config" --manifests "${manifests[@]}" \
        --output-dir "$fbank" --cmvn-from "$train_set" --jobs "$nj"
  elif [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
    log "Stage 2: features: computed on the fly during training (--features on-the-fly), nothing to store"
  fi
  run_stage 3 "train the baseline" "$exp_dir" "$train_config" -- \
    train_stage "$train_config" "$base" "$data_dir" "$features" "$num_shards" "$lm_order" "${train_args[@]}"
  run_stage 4 "decode the baseline" "$exp_dir" "$decode_config" -- \
    asr decode --model "$base/model" --config "$decode_config" "${base_lm[@]}" \
      --manifests "${tests[@]}" --output-dir "$base/decode" --device "$decode_device"
  run_stage 5 "audit the baseline" "$exp_dir" "$audit_config" -- \
    asr audit --config "$audit_config" --results "${results[@]}" --release "$baseline" \
      --output-dir "$report_dir" --by "$audit_by"
  local targeted_args=()  # stage 6's targeted data, if the recipe asks for it
  [ ${#mitigation_prepare_args[@]} -eq 0 ] || targeted_args=("${corpus_args[@]}" "${mitigation_prepare_args[@]}")
  run_stage 6 "train the mitigated model" "$exp_dir" "$train_balanced_config" "${mitigation_configs[@]}" -- \
    mitigation_stage "$mitigation_init" "$train_balanced_config" "$mit" "$base/model" "$features" "$num_shards" \
      "$lm_order" "${targeted_args[@]}" -- "${train_args[@]}"
  run_stage 7 "decode the mitigated model" "$exp_dir" "$decode_config" -- \
    asr decode --model "$mit/model" --config "$decode_config" "${mit_lm[@]}" \
      --manifests "${tests[@]}" --output-dir "$mit/decode" --device "$decode_device"
  run_stage 8 "audit the mitigation against the baseline" "$exp_dir" "$audit_config" -- \
    asr audit --config "$audit_config" --results "${mresults[@]}" --release "$mitigated" \
      --baseline "$report_dir/$baseline" --output-dir "$report_dir" --by "$audit_by"
  log "Done: stages $stage..$stop_stage. Reports in $report_dir/"
}
