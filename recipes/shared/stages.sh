#!/usr/bin/env bash
# The stages every recipe shares. A recipe's run.sh sets its defaults (corpus, conf dir,
# prepare arguments, audit attributes) and sources this file; recipes differ by
# configuration only. Each stage is one `asr` subcommand; all logic lives in Python.
#
#   stage 0  asr prepare        corpus -> manifests (speaker and dialect metadata)
#   stage 1  asr manifest       validate every manifest, print hours per group
#   stage 2  asr features       fbank shards + global CMVN
#   stage 3  asr train          baseline model
#   stage 4  asr decode         results files (per-utterance edits + metadata)
#   stage 5  asr audit          fairness report of the baseline release
#   stage 6  asr train          mitigated model (group-balanced sampling)
#   stage 7  asr decode         results of the mitigated model
#   stage 8  asr audit          fairness report of the mitigation, against the baseline
#
# Options (each --name value sets the variable of that name, '-' read as '_'):
#   --stage N --stop-stage N   run stages N..M (default 0..8)
#   --nj N                     parallel jobs (default 2)
#   --corpus-dir DIR           the corpus on disk (real-corpus recipes)
# A finished stage leaves a .done sentinel holding a digest of its command and configs;
# a rerun skips it unless the command or a config changed.

set -euo pipefail

log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%d %H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}

die() { echo "$(basename "$0"): error: $*" >&2; exit 1; }

parse_options() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --help|-h) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -n 's/^# \{0,1\}//p'; exit 0 ;;
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
  "$@"
  mkdir -p "$dir"
  echo "$digest" > "$sentinel.tmp" && mv "$sentinel.tmp" "$sentinel"
}

main() {
  cd "$repo_root"
  local splits=(${test_sets} ${dev_set} ${train_set})
  local manifests=() s
  for s in "${splits[@]}"; do manifests+=("$data_dir/$s.jsonl"); done
  local fbank="$data_dir/fbank" base="$exp_dir/$baseline" mit="$exp_dir/$mitigated"
  local tests=() results=() mresults=()
  for s in ${test_sets}; do
    tests+=("$data_dir/$s.jsonl")
    results+=("$base/decode/results-$s.jsonl")
    mresults+=("$mit/decode/results-$s.jsonl")
  done

  run_stage 0 "prepare the $corpus corpus" "$data_dir" "${prepare_configs[@]}" -- \
    asr prepare "$corpus" "${prepare_args[@]}" --output-dir "$data_dir" --jobs "$nj"
  run_stage 1 "validate manifests" "$data_dir" -- \
    bash -c 'asr manifest validate "$@" && asr manifest stats --by '"$stats_by"' "$@"' _ "${manifests[@]}"
  run_stage 2 "features" "$data_dir" "$conf_dir/features.yaml" -- \
    asr features --config "$conf_dir/features.yaml" --manifests "${manifests[@]}" \
      --output-dir "$fbank" --cmvn-from "$train_set" --jobs "$nj"
  run_stage 3 "train the baseline" "$exp_dir" "$conf_dir/train.yaml" -- \
    asr train --config "$conf_dir/train.yaml" --train-manifest "$fbank/$train_set.jsonl" \
      --dev-manifest "$fbank/$dev_set.jsonl" --exp-dir "$base" "${train_args[@]}"
  run_stage 4 "decode the baseline" "$exp_dir" "$conf_dir/decode.yaml" -- \
    asr decode --model "$base/model" --config "$conf_dir/decode.yaml" \
      --manifests "${tests[@]}" --output-dir "$base/decode"
  run_stage 5 "audit the baseline" "$exp_dir" "$conf_dir/audit.yaml" -- \
    asr audit --config "$conf_dir/audit.yaml" --results "${results[@]}" --release "$baseline" \
      --output-dir "$report_dir" --by "$audit_by"
  run_stage 6 "train the mitigated model" "$exp_dir" "$conf_dir/train_balanced.yaml" -- \
    asr train --config "$conf_dir/train_balanced.yaml" --train-manifest "$fbank/$train_set.jsonl" \
      --dev-manifest "$fbank/$dev_set.jsonl" --exp-dir "$mit" "${train_args[@]}"
  run_stage 7 "decode the mitigated model" "$exp_dir" "$conf_dir/decode.yaml" -- \
    asr decode --model "$mit/model" --config "$conf_dir/decode.yaml" \
      --manifests "${tests[@]}" --output-dir "$mit/decode"
  run_stage 8 "audit the mitigation against the baseline" "$exp_dir" "$conf_dir/audit.yaml" -- \
    asr audit --config "$conf_dir/audit.yaml" --results "${mresults[@]}" --release "$mitigated" \
      --baseline "$report_dir/$baseline" --output-dir "$report_dir" --by "$audit_by"
  log "Done: stages $stage..$stop_stage. Reports in $report_dir/"
}
