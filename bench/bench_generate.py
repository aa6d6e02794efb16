#!/usr/bin/env python3
"""slm generate against llama.cpp (the llama_cpp Python binding over llama.cpp built natively for
this CPU by scripts/llamacpp_native.sh) on the same GGUF files: generation speed
(tokens/s, greedy, one token at a time) and prompt processing speed (a ~120-token prompt in
one call), for stories260K (converted by slm convert) and a random ~15M-parameter Llama
(dim 288, 6 layers, vocab 32000, f32), at 1 and 2 threads. Runs alternate between the two
programs inside one invocation; each figure is the median of --runs runs; ratio = slm /
llama.cpp.

llama.cpp is timed through its C API (llama_decode, then an argmax of the logits) from
Python; the Python side adds a few microseconds per token. slm is timed by its own report
("prompt: ... tokens/s | generation: ... tokens/s"), which covers sampling and streaming.
The peer's build (.peer/llamacpp.json: cmake flags, llama.cpp's system_info) is printed with
the figures; without the native build the benchmark stops, unless --allow-non-native (then
the column reads "llama.cpp (non-native build)").

usage: .venv/bin/python bench/bench_generate.py [--runs 5] [--tokens 200] [--allow-non-native]"""
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
sys.path.insert(0, str(ROOT / "bench"))
import peer  # noqa: E402  (bench/peer.py: the native llama.cpp build)
DATA = pathlib.Path(os.environ.get("SLM_DATA", ROOT.parent / "shared" / "data")).resolve()
SLM = pathlib.Path(os.environ.get("SLM_BIN", ROOT / "build" / "slm"))


PROMPT = ("Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
          "One day, she saw a big, red ball. She wanted to play with it, but it was too high. Lily's mom "
          "said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. She said, \"I want "
          "to play with your ball, but I can't find it.\" Her mom said, \"Don't worry, Lily. We can help you.\"")


def slm_speeds(model, threads, n_tokens):
    """(prompt tokens/s, generation tokens/s, prompt tokens) from one slm generate run."""
    proc = subprocess.run([str(SLM), "generate", "-m", str(model), "-p", PROMPT, "-n", str(n_tokens),
                           "--temp", "0", "--ignore-eos", "-t", str(threads), "--no-echo"],
                          capture_output=True, text=True, check=True)
    p = re.search(r"prompt: (\d+) tokens in [\d.]+ s \(([\d.]+) tokens/s\)", proc.stderr)
    g = re.search(r"generation: (\d+) tokens in [\d.]+ s \(([\d.]+) tokens/s\)", proc.stderr)
    assert p and g and int(g.group(1)) == n_tokens, proc.stderr
    return float(p.group(2)), float(g.group(2)), int(p.group(1))


class LlamaCpp:
    def __init__(self, model, n_ctx):
        import llama_cpp
        self.lib = llama_cpp
        self.llm = llama_cpp.Llama(str(model), n_ctx=n_ctx, n_batch=n_ctx, verbose=False)
        self.ctx = self.llm._ctx.ctx
        self.n_vocab = self.llm.n_vocab()
        self.prompt = self.llm.tokenize(PROMPT.encode(), add_bos=True)

    def clear(self):
        lib = self.lib
        if hasattr(lib, "llama_get_memory"):
            lib.llama_memory_clear(lib.llama_get_memory(self.ctx), True)
        else:
            lib.llama_kv_self_clear(self.ctx)

    def speeds(self, threads, n_tokens):
        """(prompt tokens/s, generation tokens/s, prompt tokens)."""
        lib = self.lib
        lib.llama_set_n_threads(self.ctx, threads, threads)
        self.clear()
        prompt = (ctypes.c_int32 * len(self.prompt))(*self.prompt)
        start = time.perf_counter()
        assert lib.llama_decode(self.ctx, lib.llama_batch_get_one(prompt, len(self.prompt))) == 0
        pp = len(self.prompt) / (time.perf_counter() - start)
        tok = (ctypes.c_int32 * 1)()
        logits = lib.llama_get_logits_ith(self.ctx, -1)
        start = time.perf_counter()
        for _ in range(n_tokens):
            tok[0] = int(np.argmax(np.ctypeslib.as_array(logits, shape=(self.n_vocab,))))
            assert lib.llama_decode(self.ctx, lib.llama_batch_get_one(tok, 1)) == 0
            logits = lib.llama_get_logits_ith(self.ctx, -1)
        return pp, n_tokens / (time.perf_counter() - start), len(self.prompt)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--allow-non-native", action="store_true",
                    help="time a llama_cpp binding that is not over the native build (labelled so)")
    args = ap.parse_args()
    label, build = peer.binding(args.allow_non_native, "bench_generate")
    print(peer.cpu_line())
    print(build, flush=True)
    from random_llama import CONFIG_15M, make_weights, write_gguf

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="slm-bench-"))
    stories = tmp / "stories260K.gguf"
    subprocess.run([str(SLM), "convert", str(DATA / "tiny_lm_models/stories260K/stories260K.bin"),
                    str(DATA / "tiny_lm_models/stories260K/tok512.bin"), str(stories)], check=True, capture_output=True)
    config = dict(CONFIG_15M, ctx=512)
    random15 = write_gguf(tmp / "random-15M.gguf", config, make_weights(config, seed=1),
                          DATA / "tokenizers/llama2_32k/tokenizer.model")
    w = len(label)
    print(f"{'model':<12} {'threads':>7} | {'generation tok/s: slm':>21} {label:>{w}} {'ratio':>5} | "
          f"{'prompt tok/s: slm':>17} {label:>{w}} {'ratio':>5}")
    for name, path in [("stories260K", stories), ("random-15M", random15)]:
        llm = LlamaCpp(path, n_ctx=512)
        for threads in (1, 2):
            ours, theirs = [], []
            for _ in range(args.runs):
                ours.append(slm_speeds(path, threads, args.tokens))
                theirs.append(llm.speeds(threads, args.tokens))
            assert ours[0][2] == theirs[0][2], "the two tokenizers disagree on the prompt"
            og, tg = statistics.median(o[1] for o in ours), statistics.median(t[1] for t in theirs)
            op, tp = statistics.median(o[0] for o in ours), statistics.median(t[0] for t in theirs)
            print(f"{name:<12} {threads:>7} | {og:>21.0f} {tg:>{w}.0f} {og / tg:>5.2f} | {op:>17.0f} {tp:>{w}.0f} {op / tp:>5.2f}",
                  flush=True)
    print(f"f32 weights; {ours[0][2]}-token prompt, {args.tokens} generated tokens; median of {args.runs} alternating runs")


if __name__ == "__main__":
    main()
