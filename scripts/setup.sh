#!/usr/bin/env bash
# Installs what slm needs on a fresh Debian machine: build tools and libraries (apt),
# and a Python venv (.venv) with the test and benchmark peers (pip).
# Usage: scripts/setup.sh [--peers]   (--peers also installs llama-cpp-python and torch)
set -euo pipefail
cd "$(dirname "$0")/.."

want_peers=0
[ "${1:-}" = "--peers" ] && want_peers=1

apt_pkgs=(build-essential cmake pkg-config python3-venv python3-dev
          libopenblas-dev libpcre2-dev libutf8proc-dev libcjson-dev libmicrohttpd-dev)
[ "$want_peers" = 1 ] && apt_pkgs+=(python3-torch)
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

# The venv sees Debian's python3-torch (CPU) through --system-site-packages.
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
py=.venv/bin/python
need_pip() { ! $py -c "import $1" >/dev/null 2>&1; }
pip_pkgs=()
need_pip numpy && pip_pkgs+=(numpy)
need_pip gguf && pip_pkgs+=(gguf)
need_pip sentencepiece && pip_pkgs+=(sentencepiece)
need_pip pytest && pip_pkgs+=(pytest)
if [ "$want_peers" = 1 ]; then
  need_pip llama_cpp && pip_pkgs+=(llama-cpp-python)
fi
if [ "${#pip_pkgs[@]}" -gt 0 ]; then
  echo "setup: pip installing ${pip_pkgs[*]} (llama-cpp-python compiles llama.cpp: a few minutes)"
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=ON}" $py -m pip install -q "${pip_pkgs[@]}"
fi
echo "setup: done"
