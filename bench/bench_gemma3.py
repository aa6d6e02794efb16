#!/usr/bin/env python3
"""Gemma 3 270M (Q4_K_M) in slm against llama.cpp (the llama_cpp Python binding over llama.cpp
built natively for this CPU by scripts/llamacpp_native.sh) on the same file:
prompt processing (a 512-token prompt in one call) and generation (128 greedy tokens)
tokens/s, and peak RSS, at 1 and 2 threads. Each run is a fresh process; the two programs
alternate inside one invocation; figures are medians of --runs runs; ratio = slm / llama.cpp.
Also prints the memory-bandwidth bound (bench/bandwidth: GB/s / bytes of weights read per
generated token) and the fraction of it each program reaches. The peer's build
(.peer/llamacpp.json: cmake flags, llama.cpp's system_info) is printed with the figures;
without the native build the benchmark stops, unless --allow-non-native (then the column reads
"llama.cpp (non-native build)").

usage: .venv/bin/python bench/bench_gemma3.py [--runs 3] [--allow-non-native]"""
import argparse
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "peers"))
sys.path.insert(0, str(ROOT / "bench"))
import peer  # noqa: E402  (bench/peer.py: the native llama.cpp build)
DATA = pathlib.Path(os.environ.get("SLM_DATA", ROOT.parent / "shared" / "data")).resolve()
BUILD = pathlib.Path(os.environ.get("SLM_BUILD", ROOT / "build"))
N_PROMPT, N_GEN = 512, 128

PEER = r'''
import ctypes, json, resource, sys, time
import numpy as np, llama_cpp
path, threads, n_prompt, n_gen, text = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
llm = llama_cpp.Llama(path, n_ctx=n_prompt + n_gen + 16, n_batch=n_prompt, n_ubatch=n_prompt, n_threads=threads,
                      n_threads_batch=threads, verbose=False)
ctx, nv = llm._ctx.ctx, llm.n_vocab()
toks = llm.tokenize(text.encode(), add_bos=True)[:n_prompt]
arr = (ctypes.c_int32 * len(toks))(*toks)
t = time.perf_counter()
assert llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(arr, len(toks))) == 0
pp = len(toks) / (time.perf_counter() - t)
tok = (ctypes.c_int32 * 1)()
t = time.perf_counter()
for _ in range(n_gen):
    tok[0] = int(np.argmax(np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(nv,))))
    assert llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(tok, 1)) == 0
tg = n_gen / (time.perf_counter() - t)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]  # ru_maxrss survives exec
rss = int(hwm[0].split()[1]) * 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"pp": pp, "tg": tg, "n_prompt": len(toks), "rss": rss}))
'''


def prompt_text():
    words = (DATA / "text_corpora" / "war-and-peace.txt").read_text(encoding="utf-8", errors="replace").split()
    return " ".join(words[2000:2000 + 700])  # comfortably over 512 tokens; both sides cut at 512


def slm_run(model, threads, text):
    proc = subprocess.run([str(BUILD / "slm"), "generate", "-m", model, "-f", "/dev/stdin", "-n", str(N_GEN),
                           "--temp", "0", "--ignore-eos", "--no-echo", "-t", str(threads), "-c", str(N_PROMPT + N_GEN + 16)],
                          input=text, capture_output=True, text=True, check=True)
    p = re.search(r"prompt: (\d+) tokens in [\d.]+ s \(([\d.]+) tokens/s\)", proc.stderr)
    g = re.search(r"generation: (\d+) tokens in [\d.]+ s \(([\d.]+) tokens/s\)", proc.stderr)
    m = re.search(r"peak memory: ([\d.]+) MiB", proc.stderr)
    return {"pp": float(p.group(2)), "tg": float(g.group(2)), "n_prompt": int(p.group(1)), "rss": float(m.group(1)) * 2 ** 20}


def peer_run(model, threads, text):
    proc = subprocess.run([sys.executable, "-c", PEER, model, str(threads), str(N_PROMPT), str(N_GEN), text],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().split("\n")[-1])


def n_tokens(model, text):
    return len(subprocess.run([str(BUILD / "slm"), "tokenize", "-m", model, "--ids", "--stdin"], input=text,
                              capture_output=True, text=True, check=True).stdout.split())


def cut_to_tokens(model, text, n):
    """The longest prefix of text's words that slm tokenizes (with BOS) to at most n tokens."""
    words = text.split(" ")
    lo, hi = 1, len(words)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if n_tokens(model, " ".join(words[:mid])) <= n else (lo, mid - 1)
    return " ".join(words[:lo])


def weight_bytes_per_token(model):
    """Bytes of weights one generated token reads: every tensor except the embedding lookup
    table, which is read in full only as the (tied) output matrix."""
    out = subprocess.run([str(BUILD / "slm"), "info", "--no-model", model], capture_output=True, text=True, check=True).stdout
    return sum(int(m.group(1)) for m in re.finditer(r"^\s+\S+\s+\S+\s+\[.*?\]\s+(\d+) bytes", out, re.M))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--allow-non-native", action="store_true",
                    help="time a llama_cpp binding that is not over the native build (labelled so)")
    args = ap.parse_args()
    # sets LLAMA_CPP_LIB_PATH, which the peer's processes inherit, and checks what it loads
    label, build = peer.binding(args.allow_non_native, "bench_gemma3")
    print(peer.cpu_line())
    print(build, flush=True)
    from gemma import gemma_path
    model = gemma_path()
    text = cut_to_tokens(model, prompt_text(), N_PROMPT)
    bw = subprocess.run([str(BUILD / "bandwidth"), "1024", "2"], capture_output=True, text=True, check=True).stdout
    gbs = {int(t): float(v) for t, v in re.findall(r"threads (\d+): best ([\d.]+) GB/s", bw)}
    per_token = weight_bytes_per_token(model)
    print(f"model: {pathlib.Path(model).name}, {per_token / 1e6:.0f} MB of weights read per generated token")
    w = len(label)
    print(f"{'threads':>7} | {'pp512 slm':>9} {label:>{w}} {'ratio':>5} | {'tg128 slm':>9} {label:>{w}} {'ratio':>5} | "
          f"{'RSS MiB slm':>11} {label:>{w}} | {'bound tok/s':>11} {'slm %':>5} {'llama %':>7}")
    for threads in (1, 2):
        ours, theirs = [], []
        for _ in range(args.runs):
            ours.append(slm_run(model, threads, text))
            theirs.append(peer_run(model, threads, text))
        med = lambda rs, k: statistics.median(r[k] for r in rs)  # noqa: E731
        bound = gbs[threads] * 1e9 / per_token
        print(f"{threads:>7} | {med(ours, 'pp'):>9.1f} {med(theirs, 'pp'):>{w}.1f} {med(ours, 'pp') / med(theirs, 'pp'):>5.2f} | "
              f"{med(ours, 'tg'):>9.1f} {med(theirs, 'tg'):>{w}.1f} {med(ours, 'tg') / med(theirs, 'tg'):>5.2f} | "
              f"{med(ours, 'rss') / 2**20:>11.0f} {med(theirs, 'rss') / 2**20:>{w}.0f} | {bound:>11.1f} "
              f"{100 * med(ours, 'tg') / bound:>5.0f} {100 * med(theirs, 'tg') / bound:>7.0f}", flush=True)
    print(f"prompt tokens: slm {ours[0]['n_prompt']}, {label} {theirs[0]['n_prompt']}; read bandwidth {gbs} GB/s; "
          f"median of {args.runs} alternating runs")


if __name__ == "__main__":
    main()
