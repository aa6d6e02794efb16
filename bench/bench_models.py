#!/usr/bin/env python3
"""slm against native llama.cpp on the real models and every quantisation variant.

For each model (tests/peers/real_models.py: the four downloads and the llama-quantize variants
of Qwen2.5-Coder-1.5B) and each thread count: prompt processing of 512 tokens (pp512) and
generation of 128 tokens (tg128), tokens/s, in fresh processes that alternate between slm
(`slm generate`: a 512-token prompt in one call; 128 greedy tokens after a one-word prompt,
as llama-bench's tg test starts from an empty cache) and llama.cpp's own
llama-bench (`-p 512 -n 128 -r 1`, built by scripts/llamacpp_native.sh with GGML_NATIVE=ON);
medians of --runs, ratios slm / llama.cpp, peak RSS of each process (wait4), and generation
as a share of the bandwidth bound (bench/bandwidth's best GB/s over the weight bytes one token
reads). Prints the CPU, its SIMD flags, slm's kernels and the peer's build; --json writes the
table.

usage: .venv/bin/python bench/bench_models.py [--runs 3] [--threads 1,2] [--models a,b,...] [--json F]"""
import argparse
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import threading

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "peers"))
import real_models  # noqa: E402

DATA = pathlib.Path(os.environ.get("SLM_DATA", ROOT.parent / "shared" / "data")).resolve()
BUILD = pathlib.Path(os.environ.get("SLM_BUILD", ROOT / "build"))
N_PROMPT, N_GEN = 512, 128


def run_measured(cmd, stdin=None):
    """Runs cmd; returns (stdout, stderr, peak RSS in bytes of that process). The child is reaped
    with wait4, whose rusage is its own (RUSAGE_CHILDREN would carry the largest child so far)."""
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    chunks = {}

    def drain(name, pipe):
        chunks[name] = pipe.read()

    readers = [threading.Thread(target=drain, args=("out", proc.stdout)),
               threading.Thread(target=drain, args=("err", proc.stderr))]
    for r in readers:
        r.start()
    if stdin is not None:
        proc.stdin.write(stdin.encode())
        proc.stdin.close()
    for r in readers:
        r.join()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    out, err = chunks["out"].decode(errors="replace"), chunks["err"].decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {err[-2000:]}")
    return out, err, usage.ru_maxrss * 1024


def prompt_text():
    words = (DATA / "text_corpora" / "war-and-peace.txt").read_text(encoding="utf-8", errors="replace").split()
    return " ".join(words[2000:2000 + 900])


def n_tokens(model, text):
    return len(subprocess.run([str(BUILD / "slm"), "tokenize", "-m", str(model), "--ids", "--stdin"], input=text,
                              capture_output=True, text=True, check=True).stdout.split())


def cut_to_tokens(model, text, n):
    """The longest prefix of text's words that slm tokenizes to at most n tokens."""
    words = text.split(" ")
    lo, hi = 1, len(words)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if n_tokens(model, " ".join(words[:mid])) <= n else (lo, mid - 1)
    return " ".join(words[:lo])


def slm_generate(model, threads, text, n_gen):
    out, err, rss = run_measured([str(BUILD / "slm"), "generate", "-m", str(model), "-f", "/dev/stdin", "-n", str(n_gen),
                                  "--temp", "0", "--ignore-eos", "--no-echo", "-t", str(threads),
                                  "-c", str(N_PROMPT + N_GEN + 16)], stdin=text)
    p = re.search(r"prompt: (\d+) tokens in [\d.]+ s \(([\d.]+) tokens/s\)", err)
    g = re.search(r"generation: (\d+) tokens in [\d.]+ s \(([\d.]+) tokens/s\)", err)
    return p, g, rss


def slm_run(model, threads, text):
    """pp512 and tg128 as llama-bench measures them: the prompt's speed from a 512-token prompt,
    generation's from a one-word prompt (an empty cache, as llama-bench's tg test starts; after
    a 512-token prompt every step would also attend over 512 more positions)."""
    p, _, rss_p = slm_generate(model, threads, text, 1)
    _, g, rss_g = slm_generate(model, threads, text.split(" ")[0], N_GEN)
    return {"pp": float(p.group(2)), "tg": float(g.group(2)), "n_prompt": int(p.group(1)), "rss": max(rss_p, rss_g)}


def peer_run(bench, model, threads):
    out, err, rss = run_measured([str(bench), "-m", str(model), "-p", str(N_PROMPT), "-n", str(N_GEN), "-r", "1",
                                  "-t", str(threads), "-o", "json"])
    rows = json.loads(out)
    pp = next(r for r in rows if r["n_prompt"] > 0)["avg_ts"]
    tg = next(r for r in rows if r["n_gen"] > 0)["avg_ts"]
    return {"pp": pp, "tg": tg, "rss": rss}


def weight_bytes_per_token(model):
    """Bytes of weights one generated token reads: every tensor, less the embedding table when
    the model has its own output matrix (the embedding is then read one row per token)."""
    out = subprocess.run([str(BUILD / "slm"), "info", "--no-model", str(model)], capture_output=True, text=True,
                         check=True).stdout
    sizes = {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s+(\S+)\s+\S+\s+\[.*?\]\s+(\d+) bytes", out, re.M)}
    total = sum(sizes.values())
    if "output.weight" in sizes:
        total -= sizes.get("token_embd.weight", 0)
    return total


def types_of(model):
    out = subprocess.run([str(BUILD / "slm"), "info", "--no-model", str(model)], capture_output=True, text=True,
                         check=True).stdout
    count = {}
    for m in re.finditer(r"^\s+\S+\s+(\S+)\s+\[.*?\]\s+(\d+) bytes", out, re.M):
        count[m.group(1)] = count.get(m.group(1), 0) + int(m.group(2))
    return ", ".join(f"{t} {100 * b / sum(count.values()):.0f}%" for t, b in sorted(count.items(), key=lambda x: -x[1])
                     if b / sum(count.values()) >= 0.01)


def bandwidth():
    out = subprocess.run([str(BUILD / "bandwidth"), "1024", "2"], capture_output=True, text=True, check=True).stdout
    return {int(t): float(v) for t, v in re.findall(r"threads (\d+): best ([\d.]+) GB/s", out)}, out


def cpu_description():
    model = flags = ""
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name") and not model:
            model = line.split(":", 1)[1].strip()
        if line.startswith("flags") and not flags:
            flags = line.split(":", 1)[1].split()
    want = ["avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx_vnni",
            "amx_tile", "amx_int8"]
    return model, [f for f in want if f in flags]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--models", default="", help="comma-separated names (default: every model present)")
    ap.add_argument("--json", type=pathlib.Path)
    args = ap.parse_args()
    bench = real_models.peer_bin("llama-bench")
    if bench is None:
        sys.exit("bench_models: no native llama.cpp: run scripts/llamacpp_native.sh first")
    names = [n for n in args.models.split(",") if n] or real_models.all_names()
    models = real_models.available(names)
    missing = [n for n in names if n not in models]
    if missing:
        print(f"absent (skipped): {', '.join(missing)}; {real_models.SETUP} makes them", flush=True)
    threads = [int(t) for t in args.threads.split(",")]
    cpu, simd = cpu_description()
    peer = json.loads(real_models.PEER.read_text())
    kernels = subprocess.run([str(BUILD / "slm"), "--version"], capture_output=True, text=True).stdout.strip()
    gbs, bw_text = bandwidth()
    print(f"CPU: {cpu}; flags: {' '.join(simd)}; {os.cpu_count()} cpus")
    print(f"slm: {kernels}")
    print(f"llama.cpp: llama-bench from llama-cpp-python {peer['llama_cpp_python']} ({peer['cmake']}"
          f"{', disabled: ' + ' '.join(peer['disabled']) if peer['disabled'] else ''}); {peer.get('system_info', '')}")
    print(f"read bandwidth (bench/bandwidth, best method): {gbs} GB/s")
    print(f"median of {args.runs} alternating fresh processes; ratio = slm / llama.cpp; bound = bandwidth / bytes per token\n",
          flush=True)
    text = prompt_text()
    header = (f"| model | weights | threads | pp512 slm | llama.cpp | ratio | tg128 slm | llama.cpp | ratio | "
              f"tg % of bound slm / llama.cpp | peak RSS MiB slm / llama.cpp |")
    print(header)
    print("|" + " --- |" * 11, flush=True)
    results = []
    for name, path in models.items():
        prompt = cut_to_tokens(path, text, N_PROMPT)
        per_token = weight_bytes_per_token(path)
        for t in threads:
            ours, theirs = [], []
            for _ in range(args.runs):
                ours.append(slm_run(path, t, prompt))
                theirs.append(peer_run(bench, path, t))
            med = lambda rs, k: statistics.median(r[k] for r in rs)  # noqa: E731
            bound = gbs.get(t, max(gbs.values())) * 1e9 / per_token
            row = {"model": name, "weights": types_of(path), "threads": t,
                   "pp_slm": med(ours, "pp"), "pp_llama": med(theirs, "pp"), "tg_slm": med(ours, "tg"),
                   "tg_llama": med(theirs, "tg"), "rss_slm": med(ours, "rss"), "rss_llama": med(theirs, "rss"),
                   "bound_tok_s": bound, "bytes_per_token": per_token, "n_prompt_slm": ours[0]["n_prompt"]}
            row["pp_ratio"] = row["pp_slm"] / row["pp_llama"]
            row["tg_ratio"] = row["tg_slm"] / row["tg_llama"]
            results.append(row)
            print(f"| {name} | {row['weights']} | {t} | {row['pp_slm']:.1f} | {row['pp_llama']:.1f} | "
                  f"**{row['pp_ratio']:.2f}** | {row['tg_slm']:.1f} | {row['tg_llama']:.1f} | **{row['tg_ratio']:.2f}** | "
                  f"{100 * row['tg_slm'] / bound:.0f} / {100 * row['tg_llama'] / bound:.0f} | "
                  f"{row['rss_slm'] / 2**20:.0f} / {row['rss_llama'] / 2**20:.0f} |", flush=True)
    worst = min((min(r["pp_ratio"], r["tg_ratio"]) for r in results), default=None)
    if worst is not None:
        print(f"\nlowest ratio: {worst:.2f}; every ratio >= 1.0: {all(min(r['pp_ratio'], r['tg_ratio']) >= 1.0 for r in results)}")
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu, "flags": simd, "slm": kernels, "peer": peer, "bandwidth_gbs": gbs,
                                         "bandwidth_probe": bw_text, "runs": args.runs, "results": results}, indent=1))


if __name__ == "__main__":
    main()
