#!/usr/bin/env bash
# Installs what the tests need, builds slm twice (Release in build/, ASan+UBSan in
# build-asan/) and runs every test in both builds: the C unit tests and the peer tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
echo "test: sanitizer build (build-asan/)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSLM_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$(nproc)" >/dev/null
(cd build-asan && ctest --output-on-failure -j 2)
echo "test: release build (build/)"
cmake -S . -B build >/dev/null   # registers the peer tests now that .venv exists
cmake --build build -j "$(nproc)" >/dev/null
cd build && ctest --output-on-failure -j 2
