"""Training quality, slm vs PyTorch: the same ~1.3M-parameter Llama, the same initial weights, the
same batches (slm's loader reproduced here), the same AdamW schedule, trained on the TinyStories
train head and scored on the whole validation head by one evaluation for both. Prints the
validation loss and perplexity of each, the relative difference, wall times, and samples.
usage: train_quality.py [--build build] [--steps 800] [--threads 2] [--work /tmp/slm-quality]"""
import argparse
import json
import math
import pathlib
import resource
import subprocess
import sys
import time

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "peers"))
from conftest import DATA  # noqa: E402
from random_llama import write_gguf  # noqa: E402
from torch_llama import TorchLlama  # noqa: E402

TOK_BIN = DATA / "tiny_lm_models" / "stories260K" / "tok512.bin"
TOK_MODEL = DATA / "tiny_lm_models" / "stories260K" / "tok512.model"
TRAIN_TXT = DATA / "tinystories" / "tinystories_train_head_2MiB.txt"
VALID_TXT = DATA / "tinystories" / "tinystories_valid_head_794KB.txt"
CFG = dict(dim=128, hidden=352, n_layers=6, n_heads=4, n_kv_heads=4, vocab=512, ctx=256, tied=False)
OPT = dict(batch=16, seq=256, lr=2e-3, min_lr=2e-4, warmup=50, wd=0.1, clip=1.0, beta1=0.9, beta2=0.95, eps=1e-8,
           seed=1)
M64 = (1 << 64) - 1


def rng_seed(seed):
    """slm_rng_seed (src/base/rng.h): splitmix64 of the seed."""
    z = (seed + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    z ^= z >> 31
    return z or 0x2545F4914F6CDD1D


def rng_next(state):
    """slm_rng_u64: xorshift64*; returns (new state, output)."""
    state ^= state >> 12
    state ^= (state << 25) & M64
    state ^= state >> 27
    return state, (state * 0x2545F4914F6CDD1D) & M64


def read_shard(path):
    raw = path.read_bytes()
    assert raw[:8] == b"SLMTOKS\0"
    width, n = int.from_bytes(raw[16:20], "little"), int.from_bytes(raw[24:32], "little")
    return np.frombuffer(raw, dtype="<u2" if width == 2 else "<u4", count=n, offset=32).astype(np.int64)


def loader_batch(ids, seed, position, B, T):
    """Batch `position` of slm_loader_next over one shard: B windows of T + 1 tokens."""
    state = rng_seed(seed ^ ((position * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & M64))
    windows = len(ids) - T
    starts = []
    for _ in range(B):
        state, r = rng_next(state)
        starts.append(r % windows)
    seq = np.stack([ids[s:s + T + 1] for s in starts])
    return seq[:, :-1].copy(), seq[:, 1:].copy()


def init_weights(cfg, seed):
    """slm's initialisation scheme: normal(0, 0.02), residual projections 0.02 / sqrt(2 L), norms 1."""
    rng = np.random.default_rng(seed)
    d, h, L = cfg["dim"], cfg["hidden"], cfg["n_layers"]
    n = lambda r, c, s: (rng.standard_normal((r, c)) * s).astype(np.float32)  # noqa: E731
    proj = 0.02 / math.sqrt(2 * L)
    w = {"token_embd.weight": n(cfg["vocab"], d, 0.02), "output_norm.weight": np.ones(d, np.float32),
         "output.weight": n(cfg["vocab"], d, 0.02)}
    for l in range(L):
        p = f"blk.{l}."
        w[p + "attn_norm.weight"] = np.ones(d, np.float32)
        w[p + "ffn_norm.weight"] = np.ones(d, np.float32)
        for name in ("attn_q", "attn_k", "attn_v"):
            w[p + name + ".weight"] = n(d, d, 0.02)
        w[p + "attn_output.weight"] = n(d, d, proj)
        w[p + "ffn_gate.weight"] = n(h, d, 0.02)
        w[p + "ffn_up.weight"] = n(h, d, 0.02)
        w[p + "ffn_down.weight"] = n(d, h, proj)
    return w


def lr_at(step, total):
    o = OPT
    if step < o["warmup"]:
        return o["lr"] * (step + 1) / o["warmup"]
    ratio = min(1.0, (step - o["warmup"]) / (total - o["warmup"]))
    return o["min_lr"] + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (o["lr"] - o["min_lr"])


def train_torch(weights, train_ids, steps, threads):
    torch.set_num_threads(threads)
    m = TorchLlama(CFG, weights, OPT["seq"])
    decay = [p for n, p in m.p.items() if "norm" not in n and n != "token_embd.weight"]
    no_decay = [p for n, p in m.p.items() if "norm" in n or n == "token_embd.weight"]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": OPT["wd"]}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=OPT["lr"], betas=(OPT["beta1"], OPT["beta2"]), eps=OPT["eps"])
    t0 = time.perf_counter()
    for s in range(steps):
        tok, tgt = loader_batch(train_ids, OPT["seed"], s, OPT["batch"], OPT["seq"])
        opt.zero_grad(set_to_none=True)
        loss = m.loss(tok, tgt)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(m.p.values()), OPT["clip"])
        for g in opt.param_groups:
            g["lr"] = lr_at(s, steps)
        opt.step()
        if (s + 1) % 50 == 0 or s + 1 == steps:
            el = time.perf_counter() - t0
            print(f"  torch step {s + 1}/{steps} loss {loss.item():.4f} ({el:.0f} s, "
                  f"{(s + 1) * OPT['batch'] * OPT['seq'] / el:.0f} tokens/s)", flush=True)
    return {k: v.detach().numpy() for k, v in m.p.items()}, time.perf_counter() - t0


@torch.no_grad()
def full_val_loss(weights, val_ids, T):
    """Mean next-token loss over every non-overlapping window of T + 1 tokens of the validation shard."""
    m = TorchLlama(CFG, weights, T)
    n = (len(val_ids) - 1) // T
    seq = np.stack([val_ids[i * T:i * T + T + 1] for i in range(n)])
    total = 0.0
    for i in range(0, n, 32):
        chunk = seq[i:i + 32]
        total += m.loss(chunk[:, :-1], chunk[:, 1:]).item() * len(chunk)
    return total / n


def read_gguf_weights(path):
    import gguf
    r = gguf.GGUFReader(str(path))
    return {t.name: np.array(t.data).reshape([int(x) for x in reversed(t.shape)]) for t in r.tensors
            if not t.name.startswith("slm.train.")}


def train_slm(slm, data, init, out, steps, threads):
    """Runs slm train on the prepared data from the initial weights; returns (wall, CPU) seconds."""
    t0 = time.perf_counter()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([str(x) for x in (slm, "train", "--data", data, "--init", init, "-o", out, "--seq", OPT["seq"],
                    "--batch", OPT["batch"], "--steps", steps, "--lr", OPT["lr"], "--min-lr", OPT["min_lr"],
                    "--warmup", OPT["warmup"], "--wd", OPT["wd"], "--clip", OPT["clip"], "--seed", OPT["seed"],
                    "--eval-every", 100, "--log-every", 50, "-t", threads)], check=True)
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    print(f"slm train: {wall:.0f} s wall, {cpu:.0f} s CPU", flush=True)
    return wall, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", default="/tmp/slm-quality")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--reuse-slm", action="store_true",
                    help="keep WORK/slm.gguf and its times (WORK/slm_run.json) from an earlier run; train only PyTorch")
    a = ap.parse_args()
    slm = pathlib.Path(a.build) / "slm"
    work = pathlib.Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    data = work / "data"
    run = lambda *args: subprocess.run([str(x) for x in args], check=True, capture_output=True, text=True)  # noqa: E731
    run(slm, "data", "prepare", "-q", "-m", TOK_BIN, "-o", data, "--val-fraction", 0, TRAIN_TXT)
    run(slm, "data", "prepare", "-q", "-m", TOK_BIN, "-o", work / "valdata", "--val-fraction", 1, VALID_TXT)
    (data / "val-00000.bin").write_bytes((work / "valdata" / "val-00000.bin").read_bytes())
    train_ids, val_ids = read_shard(data / "train-00000.bin"), read_shard(data / "val-00000.bin")
    weights = init_weights(CFG, OPT["seed"])
    n_params = sum(v.size for v in weights.values())
    init = write_gguf(work / "init.gguf", CFG, weights, TOK_MODEL)
    tokens = a.steps * OPT["batch"] * OPT["seq"]
    print(f"model: {n_params / 1e6:.2f}M parameters {CFG}; train {len(train_ids)} tokens, validation {len(val_ids)} "
          f"tokens; {a.steps} steps of {OPT['batch']}x{OPT['seq']} = {tokens / 1e6:.2f}M tokens "
          f"({tokens / len(train_ids):.1f} epochs); {a.threads} threads", flush=True)

    out = work / "slm.gguf"
    if a.reuse_slm:
        saved = json.loads((work / "slm_run.json").read_text())
        slm_time, slm_cpu = saved["seconds"], saved["cpu_seconds"]
        print(f"slm train (earlier run): {slm_time:.0f} s wall, {slm_cpu:.0f} s CPU", flush=True)
    else:
        slm_time, slm_cpu = train_slm(slm, data, init, out, a.steps, a.threads)
        (work / "slm_run.json").write_text(json.dumps(dict(seconds=slm_time, cpu_seconds=slm_cpu)))

    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    torch_weights, torch_time = train_torch(weights, train_ids, a.steps, a.threads)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    torch_cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    print(f"pytorch: {torch_time:.0f} s wall, {torch_cpu:.0f} s CPU", flush=True)

    slm_val = full_val_loss(read_gguf_weights(out), val_ids, OPT["seq"])
    torch_val = full_val_loss(torch_weights, val_ids, OPT["seq"])
    rel = abs(slm_val - torch_val) / torch_val
    samples = [run(slm, "generate", "-m", out, "-p", "Once upon a time", "-n", 160, "--temp", 0.8, "--seed", s).stdout
               for s in (1, 2, 3)]
    print(f"\nvalidation loss over all {len(val_ids)} validation tokens ({(len(val_ids) - 1) // OPT['seq']} windows):")
    print(f"  slm     {slm_val:.4f} (perplexity {math.exp(slm_val):.2f}), {slm_time:.0f} s wall, {slm_cpu:.0f} s CPU")
    print(f"  PyTorch {torch_val:.4f} (perplexity {math.exp(torch_val):.2f}), {torch_time:.0f} s wall, {torch_cpu:.0f} s CPU")
    print(f"  relative difference {100 * rel:.2f} % (limit 2 %); time ratio PyTorch/slm {torch_time / slm_time:.2f}x")
    for s in samples:
        print("---\n" + s.strip())
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(dict(
            config=CFG, opt=OPT, steps=a.steps, threads=a.threads, params=int(n_params), tokens=tokens,
            slm=dict(val_loss=slm_val, perplexity=math.exp(slm_val), seconds=slm_time, cpu_seconds=slm_cpu),
            torch=dict(val_loss=torch_val, perplexity=math.exp(torch_val), seconds=torch_time, cpu_seconds=torch_cpu),
            rel_diff=rel, samples=samples), indent=1))
    return 0 if rel < 0.02 else 1


if __name__ == "__main__":
    sys.exit(main())
