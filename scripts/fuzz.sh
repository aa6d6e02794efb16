#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang) in build-fuzz/ and runs each for SECONDS (default 60),
# starting from the project's own model files as seeds.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
data="${SLM_DATA:-$(cd .. && pwd)/shared/data}"
export SLM_DATA="$data"
for p in clang libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="${missing:-} $p"
done
if [ -n "${missing:-}" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
CC=clang cmake -S . -B build-fuzz -DSLM_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target fuzz_gguf fuzz_llama2c fuzz_tokenizer fuzz_tokenizer_train fuzz_safetensors fuzz_wordpiece fuzz_serve >/dev/null
mkdir -p build-fuzz/corpus/{gguf,llama2c,tokenizer,tokenizer_train,safetensors,wordpiece,serve}
[ -f build/slm ] || bash scripts/setup.sh >/dev/null
./build/slm convert --vocab-only "$data/tiny_lm_models/stories260K/tok512.bin" build-fuzz/corpus/gguf/vocab.gguf 2>/dev/null
head -c 4096 "$data/tiny_lm_models/stories260K/stories260K.bin" > build-fuzz/corpus/llama2c/head.bin
printf 'Once upon a time, a small dog\n' > build-fuzz/corpus/tokenizer/a.txt
printf 'the cat sat\n\n  on<|s|>the mat.\n#x caf\xc3\xa9 the  end\n' > build-fuzz/corpus/tokenizer_train/a.txt
printf 'K\x00\x00\x00\x00\x00\x00\x00{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"__metadata__":{}}   \x00\x3c\x00\xc0' \
  > build-fuzz/corpus/safetensors/a.safetensors
printf 'Hello, W\xc3\xb6rld! [SEP] caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 unaffable\x01\n' > build-fuzz/corpus/wordpiece/a.txt
printf '\x00{"prompt": "Once upon a time", "max_tokens": 4, "temperature": 0, "stop": ["x"], "logprobs": 2}' > build-fuzz/corpus/serve/a.json
printf '\x01{"messages": [{"role": "user", "content": "Hi"}], "stream": true, "max_tokens": 3}' > build-fuzz/corpus/serve/b.json
printf '\x02{"content": "Hello world", "with_pieces": true}' > build-fuzz/corpus/serve/c.json
printf '\x03{"tokens": [1, 400, 20]}' > build-fuzz/corpus/serve/d.json
for h in gguf llama2c tokenizer tokenizer_train safetensors wordpiece serve; do
  echo "fuzz: fuzz_$h for ${seconds}s"
  ./build-fuzz/tests/fuzz/fuzz_$h -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 \
      build-fuzz/corpus/$h 2>&1 | grep -E "stat::number_of_executed_units|ERROR|SUMMARY" || true
done
