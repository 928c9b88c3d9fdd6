#!/usr/bin/env bash
# AISHELL-1 (OpenSLR 33; 178 hours of read Mandarin, 400 speakers) from a local copy: a 12-layer
# Conformer on stored fbank features, audited by gender (the only speaker attribute the corpus
# ships, in resource_aishell/speaker.info).
#
#   bash recipes/aishell/run.sh --corpus-dir /data/aishell       # everything, stages 0..8
#   bash recipes/aishell/run.sh --corpus-dir /data/aishell --ngpu 4
#
# Stages and options: see recipes/shared/stages.sh (bash recipes/aishell/run.sh --help).

recipe_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$recipe_dir/../.." && pwd)
source "$repo_root/recipes/shared/stages.sh"

corpus_dir=""
corpus=aishell
stats_by=gender
features=stored
nj=4

parse_options "$@"
main
