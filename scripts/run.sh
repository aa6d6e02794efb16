#!/usr/bin/env bash
# The main job: installs what is missing, builds slm, and has the default model write a story.
# Default model: stories260K (llama2.c) from ../shared/data, or $SLM_DATA.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
data="${SLM_DATA:-../shared/data}"
model="$data/tiny_lm_models/stories260K/stories260K.bin"
exec ./build/slm generate -m "$model" -p "${1:-Once upon a time}" --temp 0.8 --seed 42 -n 200
