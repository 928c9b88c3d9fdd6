#!/usr/bin/env bash
# The stages every recipe shares. A recipe's run.sh sets its settings (corpus, conf dir, sets,
# prepare arguments, sizes) and sources this file; recipes differ by configuration only. Each
# stage line below runs one `asr` command, which you can copy and run by hand; all logic lives in
# Python (`asr recipe stage` keeps the sentinels, `asr train --if-exists auto` resumes or moves
# aside, `asr train --gpus/--cpu-procs` launches torchrun, `asr manifest sets` merges or shards).
#
#   stage 0    asr prepare         corpus -> manifests (speaker and dialect metadata)
#   stage 1    asr manifest sets   validate every manifest, print hours per group; form the train
#                                  and dev sets (merged, or the train set sharded)
#   stage 2    asr features        fbank shards + global CMVN (skipped with --features on-the-fly)
#   stage 3.0  asr train           the aligner: a small TDNN whose CTC spikes time the characters of
#                                  `asr transcribe`; stages 3.2 and 6.3 bundle it into their models
#                                  (with stored features and a <conf_dir>/train_aligner.yaml)
#   stage 3.1  asr lm              character n-gram LM of the training text (with --lm-order N > 0)
#   stage 3.2  asr train           the baseline model
#   stage 4    asr decode          results files (per-utterance edits + metadata)
#   stage 5    asr audit           fairness report of the baseline release
#   stage 6.1  asr prepare         targeted data for the mitigation (recipes that ask for it)
#   stage 6.2  asr lm              the LM of the mitigation's training text (with --lm-order N > 0)
#   stage 6.3  asr train           the mitigated model (group-balanced sampling; optionally fine-tuned
#                                  from the baseline)
#   stage 7    asr decode          results of the mitigated model
#   stage 8    asr audit           fairness report of the mitigation, against the baseline
#   stage 9.1  asr decode --engine another recognizer from a local directory (opt-in: --stop-stage 9
#                                  with --external-model DIR) on the test sets, in <exp_dir>/external/
#   stage 9.2  asr audit --compare its fairness report, the baseline and the mitigation beside it
#
# Options (each --name value sets the setting of that name, '-' read as '_'):
#   --stage N --stop-stage N   run stages N..M (default 0..8)
#   --nj N                     parallel jobs (default 2)
#   --corpus-dir DIR           the corpus on disk (real-corpus recipes; relative to where you run)
#   --ngpu N                   training processes on a machine with CUDA, one per GPU (default 1;
#                              0: train on the CPU); `asr train --gpus N`
#   --cpu-procs N              training processes when training on the CPU: N > 1 runs N processes
#                              under torchrun (DDP over gloo, one thread each), 1 one process with
#                              every core (default 1; the dialect recipe uses 2); `asr train --cpu-procs N`
#   --lm-order N               N > 0: stages 3.1 and 6.2 train a character N-gram LM on the training
#                              text (<exp_dir>/lm/<release>.json: outside the release's training
#                              directory, which a new training run moves aside) and stages 4 and 7
#                              decode with it (beam size and LM weight from the decode config);
#                              0 (default): no LM
#   --features MODE            stored (default): stage 2 writes fbank shards + CMVN and training
#                              reads them; on-the-fly: stage 2 is skipped, training computes fbank
#                              from the audio (train config inputs.source: audio) and estimates
#                              CMVN on inputs.cmvn_utterances training utterances
#   --num-shards N             > 0: stage 1 splits the train set into N gzip manifest shards of
#                              about equal hours (<data_dir>/<train_set>/shard-*.jsonl.gz) that
#                              training reads (needs --features on-the-fly); 0 (default): one manifest
#   --validate-audio BOOL      true (default): stage 1 decodes every audio file; false: checks
#                              the manifests only (stage 0 has read every audio header already)
#   --features-config F --train-config F --train-balanced-config F --decode-config F
#   --audit-config F           configs (default: <conf_dir>/{features,train,train_balanced,
#                              decode,audit}.yaml; paths relative to the repository root)
#   --aligner-config F         the aligner's training config (default <conf_dir>/train_aligner.yaml;
#                              none: no aligner, the models time characters with their own spikes)
#   --audit-by A,B             attributes to audit (default: the audit config's `by`)
#   --decode-device DEV        device of stages 4 and 7: cpu (default), cuda, cuda:N
#   --mitigation-init FROM     scratch (default): stage 6.3 starts where stage 3.2 did (a new model, or
#                              --baseline-init's checkpoint); baseline: it fine-tunes the baseline model
#                              (`asr train --init <exp_dir>/<baseline>/model`)
#   --train-args "ARGS"        more `asr train` arguments for stages 3.2 and 6.3, split as the shell
#                              would (e.g. --train-args "--max-steps 100"); checked before anything runs
#   --train-parts P --dev-parts P   manifests (names without .jsonl; globs) that stage 1 merges
#                              into the train and dev sets (default: the set itself)
#   --baseline-init DIR        stage 3.2 starts from DIR (`asr train --init DIR`): a local Hugging Face
#                              checkpoint for a wav2vec2 or whisper encoder config, or an asr model
#                              directory (default: none, a new model)
#   --compare-releases "A B"   releases already under the report dir (of another run of the recipe, on
#                              the same test set) that stages 5 and 8 set beside this run's in one table
#                              (`asr audit --compare`); stage 8 adds this run's baseline (default: none)
#   --mitigation-data DIR      where stage 6.1 writes the targeted data (default <data_dir>/<mitigated>)
#   --external-model DIR --external-engine E --external-release NAME --external-decode-config F
#                              stage 9: the model directory, its `asr decode --engine` (hf-ctc,
#                              hf-whisper, faster-whisper), its release name, its decode config
# A recipe may also set mitigation_prepare_args (an array): stage 6.1 then runs `asr prepare <corpus>
# ARGS --output-dir <mitigation_data>` (targeted data, e.g. more speech of the worst group) and
# stage 6.3 trains on that directory's train set with features on the fly (train-balanced config
# inputs.source: audio); dev and test stay the baseline's, so the audit compares the same utterances.
# Every other setting of a recipe (train_set, dev_set, test_sets, data_dir, exp_dir, stats_by, ...) is
# an option too. A finished stage leaves a sentinel (.stage<N>.done) holding a digest of its command
# and the YAML configs it names; a rerun skips it unless one of them changed, and a stage that runs
# makes every later stage run again.

set -euo pipefail

# Defaults of the settings a recipe may leave alone (a recipe's run.sh overrides them). The
# directories are named after the recipe's own directory (recipes/<name>/run.sh).
recipe=$(basename "$recipe_dir")
conf_dir=recipes/$recipe/conf
data_dir=data_manifests/$recipe
exp_dir=recipes/$recipe/exp
report_dir=reports/$recipe
train_set=train
dev_set=dev
test_sets=test
baseline=baseline
mitigated=balanced
stats_by=dialect
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
train_parts=""
dev_parts=""
features_config=""
train_config=""
train_balanced_config=""
decode_config=""
audit_config=""
aligner_config=""
audit_by=""
train_args=()
prepare_args=()
baseline_init=""
compare_releases=""
mitigation_data=""
external_model=""
external_engine=""
external_release=external
external_decode_config=""
given=()  # the settings this run's options set (parse_options), which a recipe's presets leave alone

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
      aligner_config mitigation_init mitigation_corpus_config baseline_init compare_releases mitigation_data pretrained \
      external_model external_engine external_release; do
    [ -z "${!name+x}" ] || printf '  --%-16s %s\n' "${name//_/-}" "${!name}"
  done
}

# parse_options ARG...: --name value sets the setting `name`; an array setting (--train-args) gets
# the value's words, split as the shell would (quotes honoured) by `asr recipe split-args`.
parse_options() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --help|-h) usage; exit 0 ;;
      --*)
        local name=${1#--}; name=${name//-/_}
        [ $# -ge 2 ] || die "option $1 needs a value"
        declare -p "$name" >/dev/null 2>&1 && [ "$name" != given ] || die "unknown option $1"
        given+=("$name")
        if [[ $(declare -p "$name") == "declare -a"* ]]; then
          local -n words_=$name
          mapfile -d '' -t words_ < <(asr recipe split-args "$2") || die "option $1: cannot split '$2'"
          unset -n words_
        else
          printf -v "$name" '%s' "$2"
        fi
        shift 2 ;;
      *) die "unexpected argument '$1' (options are --name value)" ;;
    esac
  done
}

# preset NAME VALUE: set the setting NAME to VALUE unless an option set it (a recipe's named presets,
# applied after parse_options, e.g. the dialect recipe's --pretrained).
preset() {
  [[ " ${given[*]} " == *" $1 "* ]] || printf -v "$1" '%s' "$2"
}

# run_stage KEY "NAME" -- COMMAND...: stage KEY (N or N.M) of this run; see `asr recipe stage --help`.
run_stage() {
  local key=$1 name=$2 state=$exp_dir; shift 2
  [ "${key%%.*}" -gt 2 ] || state=$data_dir
  asr recipe stage --range "$stage:$stop_stage" --state-dir "$state" --invalidate "$data_dir" --invalidate "$exp_dir" \
    "$key" "$name" "$@"
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
  if [ "$stage" -le 9 ] && [ "$stop_stage" -ge 9 ]; then
    [ -n "$external_model" ] && [ -n "$external_engine" ] \
      || die "stage 9 decodes another recognizer: give --external-model DIR and --external-engine E"
    [ -d "$repo_root/$external_model" ] || [ -d "$external_model" ] || die "--external-model: $external_model is not a directory"
  fi
  if [ ${#train_args[@]} -gt 0 ]; then  # a wrong training argument fails now, not after an hour of stages
    asr recipe check-args train -- "${train_args[@]}" || die "--train-args: asr train does not accept '${train_args[*]}'"
  fi
}

# check_compared: every release of --compare-releases has been audited, when stages 5 or 8 will run.
check_compared() {
  [ "$stage" -le 8 ] && [ "$stop_stage" -ge 5 ] || return 0
  local s
  for s in ${compare_releases}; do
    [ -f "$report_dir/$s/results.jsonl" ] || die "--compare-releases: $report_dir/$s/results.jsonl is missing" \
      "(audit release $s first, e.g. run the recipe that writes it, or pass --compare-releases '')"
  done
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
  check_compared
  features_config=${features_config:-$conf_dir/features.yaml}
  train_config=${train_config:-$conf_dir/train.yaml}
  train_balanced_config=${train_balanced_config:-$conf_dir/train_balanced.yaml}
  decode_config=${decode_config:-$conf_dir/decode.yaml}
  audit_config=${audit_config:-$conf_dir/audit.yaml}
  aligner_config=${aligner_config:-$conf_dir/train_aligner.yaml}

  # What the stages read and write, by name.
  local s base="$exp_dir/$baseline" mit="$exp_dir/$mitigated" targeted=${mitigation_data:-$data_dir/$mitigated}
  local manifests=() tests=() results=() mresults=() train=() dev text=() mtrain text_m=()
  for s in ${test_sets} ${dev_set} ${train_set}; do manifests+=("$data_dir/$s.jsonl"); done
  for s in ${test_sets}; do
    tests+=("$data_dir/$s.jsonl"); results+=("$base/decode/results-$s.jsonl"); mresults+=("$mit/decode/results-$s.jsonl")
  done
  text=("$data_dir/$train_set.jsonl")  # the LM's text: plain manifests (feature manifests carry more fields)
  if [ "$features" = stored ]; then
    train=("$data_dir/fbank/$train_set.jsonl"); dev="$data_dir/fbank/$dev_set.jsonl"
  elif [ "$num_shards" -gt 0 ]; then
    train=("$data_dir/$train_set/shard-*.jsonl.gz"); dev="$data_dir/$dev_set.jsonl"; text=("${train[@]}")  # globs: asr expands them
  else
    train=("$data_dir/$train_set.jsonl"); dev="$data_dir/$dev_set.jsonl"
  fi
  mtrain=("${train[@]}") text_m=("${text[@]}")
  [ ${#mitigation_prepare_args[@]} -eq 0 ] || { mtrain=("$targeted/$train_set.jsonl"); text_m=("${mtrain[@]}"); }
  local base_lm=() mit_lm=() mit_init=() base_init=() by=() no_audio=() parts=() compare=() mcompare=()
  [ -z "$baseline_init" ] || base_init=(--init "$baseline_init")
  for s in ${compare_releases}; do compare+=("$report_dir/$s"); done
  [ ${#compare[@]} -eq 0 ] || { mcompare=(--compare "${compare[@]}" "$report_dir/$baseline"); compare=(--compare "${compare[@]}"); }
  [ "$lm_order" -eq 0 ] || { base_lm=(--lm "$exp_dir/lm/$baseline.json"); mit_lm=(--lm "$exp_dir/lm/$mitigated.json"); }
  if [ "$mitigation_init" = baseline ]; then mit_init=(--init "$base/model"); else mit_init=("${base_init[@]}"); fi
  [ -z "$audit_by" ] || by=(--by "$audit_by")
  [ "$validate_audio" = true ] || no_audio=(--no-audio)
  local -a words
  if [ -n "$train_parts" ]; then read -r -a words <<< "$train_parts"; parts+=(--train-parts "${words[@]}"); fi
  if [ -n "$dev_parts" ]; then read -r -a words <<< "$dev_parts"; parts+=(--dev-parts "${words[@]}"); fi
  local launch=(--gpus "$ngpu" --cpu-procs "$cpu_procs" --if-exists auto)

  run_stage 0 "prepare the $corpus corpus" -- \
    asr prepare "$corpus" "${corpus_args[@]}" "${prepare_args[@]}" --output-dir "$data_dir" --jobs "$nj"
  run_stage 1 "validate manifests, form the train and dev sets" -- \
    asr manifest sets --data-dir "$data_dir" --train "$train_set" --dev "$dev_set" "${parts[@]}" --test ${test_sets} \
      --num-shards "$num_shards" --stats-by "$stats_by" "${no_audio[@]}"
  if [ "$features" = stored ]; then
    run_stage 2 "features" -- \
      asr features --config "$features_config" --manifests "${manifests[@]}" --output-dir "$data_dir/fbank" \
        --cmvn-from "$train_set" --jobs "$nj"
  elif [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
    log "Stage 2: features: computed on the fly during training (--features on-the-fly), nothing to store"
  fi
  local aligner=() why=""
  if [ "$aligner_config" = none ]; then why="--aligner-config none"
  elif [ "$features" != stored ]; then why="it reads stored features, and --features is $features"
  elif [ ! -f "$aligner_config" ]; then why="no $aligner_config"
  fi
  if [ -n "$why" ]; then
    if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
      log "Stage 3.0: no aligner ($why): the models time characters with their own CTC spikes"
    fi
  else
    run_stage 3.0 "train the aligner (character times)" -- \
      asr train --config "$aligner_config" --train-manifest "${train[@]}" --dev-manifest "$dev" \
        --exp-dir "$exp_dir/aligner" "${launch[@]}"
    aligner=(--aligner "$exp_dir/aligner/model")
  fi
  if [ "$lm_order" -gt 0 ]; then
    run_stage 3.1 "LM of the baseline's training text" -- \
      asr lm --manifests "${text[@]}" --output "$exp_dir/lm/$baseline.json" --order "$lm_order" --dev-manifest "$data_dir/$dev_set.jsonl"
  fi
  run_stage 3.2 "train the baseline" -- \
    asr train --config "$train_config" --train-manifest "${train[@]}" --dev-manifest "$dev" --exp-dir "$base" \
      "${base_init[@]}" "${aligner[@]}" "${launch[@]}" "${train_args[@]}"
  run_stage 4 "decode the baseline" -- \
    asr decode --model "$base/model" --config "$decode_config" "${base_lm[@]}" \
      --manifests "${tests[@]}" --output-dir "$base/decode" --device "$decode_device"
  run_stage 5 "audit the baseline" -- \
    asr audit --config "$audit_config" --results "${results[@]}" --release "$baseline" --output-dir "$report_dir" "${by[@]}" \
      "${compare[@]}"
  if [ ${#mitigation_prepare_args[@]} -gt 0 ]; then
    run_stage 6.1 "targeted data for the mitigation" -- \
      asr prepare "$corpus" "${corpus_args[@]}" "${mitigation_prepare_args[@]}" --output-dir "$targeted" --jobs "$nj"
  fi
  if [ "$lm_order" -gt 0 ]; then
    run_stage 6.2 "LM of the mitigation's training text" -- \
      asr lm --manifests "${text_m[@]}" --output "$exp_dir/lm/$mitigated.json" --order "$lm_order" --dev-manifest "$data_dir/$dev_set.jsonl"
  fi
  run_stage 6.3 "train the mitigated model" -- \
    asr train --config "$train_balanced_config" --train-manifest "${mtrain[@]}" --dev-manifest "$dev" --exp-dir "$mit" \
      "${mit_init[@]}" "${aligner[@]}" "${launch[@]}" "${train_args[@]}"
  run_stage 7 "decode the mitigated model" -- \
    asr decode --model "$mit/model" --config "$decode_config" "${mit_lm[@]}" \
      --manifests "${tests[@]}" --output-dir "$mit/decode" --device "$decode_device"
  run_stage 8 "audit the mitigation against the baseline" -- \
    asr audit --config "$audit_config" --results "${mresults[@]}" --release "$mitigated" \
      --baseline "$report_dir/$baseline" --output-dir "$report_dir" "${by[@]}" "${mcompare[@]}"
  local ext="$exp_dir/external/$external_release" eresults=() edecode=()
  for s in ${test_sets}; do eresults+=("$ext/decode/results-$s.jsonl"); done
  [ -z "$external_decode_config" ] || edecode=(--config "$external_decode_config")
  run_stage 9.1 "decode with another recognizer ($external_engine)" -- \
    asr decode --engine "$external_engine" --model "$external_model" "${edecode[@]}" \
      --manifests "${tests[@]}" --output-dir "$ext/decode" --device "$decode_device"
  run_stage 9.2 "audit it beside the baseline and the mitigation" -- \
    asr audit --config "$audit_config" --results "${eresults[@]}" --release "$external_release" \
      --output-dir "$report_dir" "${by[@]}" --compare "$report_dir/$baseline" "$report_dir/$mitigated"
  log "Done: stages $stage..$stop_stage. Reports in $report_dir/"
}
