#!/usr/bin/env bash
# Mozilla Common Voice, Chinese locales (zh-CN, zh-HK, zh-TW: those present in --corpus-dir, a
# cv-corpus-* release or one locale directory) from a local copy: a 12-layer Conformer on stored
# fbank features, audited by accent, gender and age (the speakers' own answers) and by locale.
#
#   bash recipes/commonvoice/run.sh --corpus-dir /data/cv-corpus-17.0-2024-03-15
#   bash recipes/commonvoice/run.sh --corpus-dir /data/cv-corpus-17.0-2024-03-15/zh-CN
#
# Stages and options: see recipes/shared/stages.sh (bash recipes/commonvoice/run.sh --help).

recipe_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$recipe_dir/../.." && pwd)
source "$repo_root/recipes/shared/stages.sh"

corpus_dir=""
corpus=commonvoice
features=stored
nj=4

parse_options "$@"
main
