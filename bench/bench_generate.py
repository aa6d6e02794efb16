#!/usr/bin/env python3
"""slm generate against llama.cpp (llama-cpp-python) on the same GGUF files: decoding speed
(tokens/s, greedy, one token at a time) for stories260K (converted by slm convert) and a
random ~15M-parameter Llama (dim 288, 6 layers, vocab 32000), at 1 and 2 threads. Runs
alternate between the two programs inside one invocation; each figure is the median of
--runs runs; the ratio is slm / llama.cpp.

llama.cpp is timed through its C API (llama_decode on one token, then an argmax of the
logits) from Python; the Python side adds a few microseconds per token. slm is timed by its
own report ("generation: ... tokens/s"), which covers sampling and streaming the text.

usage: .venv/bin/python bench/bench_generate.py [--runs 5] [--tokens 200]"""
import argparse
import ctypes
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "peers"))
DATA = pathlib.Path(os.environ.get("SLM_DATA", ROOT.parent / "shared" / "data")).resolve()
SLM = pathlib.Path(os.environ.get("SLM_BIN", ROOT / "build" / "slm"))


def slm_tokens_per_second(model, threads, n_tokens):
    proc = subprocess.run([str(SLM), "generate", "-m", str(model), "-p", "Once upon a time", "-n", str(n_tokens),
                           "--temp", "0", "--ignore-eos", "-t", str(threads), "--no-echo"],
                          capture_output=True, text=True, check=True)
    m = re.search(r"generation: (\d+) tokens in [\d.]+ s \(([\d.]+) tokens/s\)", proc.stderr)
    assert m and int(m.group(1)) == n_tokens, proc.stderr
    return float(m.group(2))


class LlamaCpp:
    def __init__(self, model, n_ctx):
        import llama_cpp
        self.lib = llama_cpp
        self.llm = llama_cpp.Llama(str(model), n_ctx=n_ctx, n_batch=n_ctx, verbose=False)
        self.ctx = self.llm._ctx.ctx
        self.n_vocab = self.llm.n_vocab()
        self.prompt = self.llm.tokenize(b"Once upon a time", add_bos=True)

    def clear(self):
        lib = self.lib
        if hasattr(lib, "llama_get_memory"):
            lib.llama_memory_clear(lib.llama_get_memory(self.ctx), True)
        else:
            lib.llama_kv_self_clear(self.ctx)

    def tokens_per_second(self, threads, n_tokens):
        lib = self.lib
        lib.llama_set_n_threads(self.ctx, threads, threads)
        self.clear()
        prompt = (ctypes.c_int32 * len(self.prompt))(*self.prompt)
        assert lib.llama_decode(self.ctx, lib.llama_batch_get_one(prompt, len(self.prompt))) == 0
        tok = (ctypes.c_int32 * 1)()
        logits = lib.llama_get_logits_ith(self.ctx, -1)
        start = time.perf_counter()
        for _ in range(n_tokens):
            tok[0] = int(np.argmax(np.ctypeslib.as_array(logits, shape=(self.n_vocab,))))
            assert lib.llama_decode(self.ctx, lib.llama_batch_get_one(tok, 1)) == 0
            logits = lib.llama_get_logits_ith(self.ctx, -1)
        return n_tokens / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=200)
    args = ap.parse_args()
    from random_llama import CONFIG_15M, make_weights, write_gguf

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="slm-bench-"))
    stories = tmp / "stories260K.gguf"
    subprocess.run([str(SLM), "convert", str(DATA / "tiny_lm_models/stories260K/stories260K.bin"),
                    str(DATA / "tiny_lm_models/stories260K/tok512.bin"), str(stories)], check=True, capture_output=True)
    random15 = write_gguf(tmp / "random-15M.gguf", CONFIG_15M, make_weights(CONFIG_15M, seed=1),
                          DATA / "tokenizers/llama2_32k/tokenizer.model")
    print(f"{'model':<14} {'threads':>7} {'slm tok/s':>10} {'llama.cpp tok/s':>16} {'ratio':>6}")
    for name, path in [("stories260K", stories), ("random-15M", random15)]:
        peer = LlamaCpp(path, n_ctx=256)
        for threads in (1, 2):
            ours, theirs = [], []
            for _ in range(args.runs):
                ours.append(slm_tokens_per_second(path, threads, args.tokens))
                theirs.append(peer.tokens_per_second(threads, args.tokens))
            a, b = statistics.median(ours), statistics.median(theirs)
            print(f"{name:<14} {threads:>7} {a:>10.0f} {b:>16.0f} {a / b:>6.2f}", flush=True)
    print("f32 weights, greedy decoding, median of", args.runs, "alternating runs")


if __name__ == "__main__":
    main()
