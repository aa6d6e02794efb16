"""Training-step throughput, slm vs PyTorch eager on the CPU: tokens/s of one optimiser step
(forward + backward + AdamW, with gradient clipping) of the same Llama, same batch, same thread
count, alternating runs; prints ratios, achieved GFLOP/s and the machine's cblas_sgemm peak.
usage: bench_train.py [--build build] [--threads 1,2] [--reps 2] [--steps 3] [--configs 15M,1M]"""
import argparse
import math
import pathlib
import re
import subprocess
import time

import torch
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parents[1]
# name: (dim, layers, heads, ff, vocab, seq, batch, tied)
CONFIGS = {
    "15M": (288, 6, 6, 768, 32000, 256, 4, True),  # llama2.c's stories15M shape
    "1M": (128, 4, 4, 352, 512, 256, 8, False),
}


class Llama(torch.nn.Module):
    """The Llama slm trains: RMSNorm, RoPE on adjacent pairs, causal attention, SwiGLU."""

    def __init__(self, dim, layers, heads, ff, vocab, seq, tied):
        super().__init__()
        self.heads, self.hd = heads, dim // heads
        self.emb = torch.nn.Embedding(vocab, dim)
        lin = lambda i, o: torch.nn.Linear(i, o, bias=False)  # noqa: E731
        self.blocks = torch.nn.ModuleList()
        for _ in range(layers):
            b = torch.nn.Module()
            b.n1, b.n2 = torch.nn.Parameter(torch.ones(dim)), torch.nn.Parameter(torch.ones(dim))
            b.q, b.k, b.v, b.o = lin(dim, dim), lin(dim, dim), lin(dim, dim), lin(dim, dim)
            b.gate, b.up, b.down = lin(dim, ff), lin(dim, ff), lin(ff, dim)
            self.blocks.append(b)
        self.nf = torch.nn.Parameter(torch.ones(dim))
        self.out = None if tied else lin(dim, vocab)
        for p in self.parameters():
            if p.dim() == 2:
                torch.nn.init.normal_(p, std=0.02)
        freqs = 1.0 / (10000.0 ** (torch.arange(0, self.hd, 2, dtype=torch.float32) / self.hd))
        ang = torch.outer(torch.arange(seq, dtype=torch.float32), freqs)
        self.cos, self.sin = torch.cos(ang), torch.sin(ang)

    def rope(self, x):  # (B, H, T, hd)
        a, b = x[..., 0::2], x[..., 1::2]
        c, s = self.cos[: x.shape[2]], self.sin[: x.shape[2]]
        return torch.stack((a * c - b * s, a * s + b * c), dim=-1).flatten(-2)

    def attend(self, q, k, v):  # (B, H, T, hd), causal
        if hasattr(F, "scaled_dot_product_attention"):  # torch >= 2.0
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        T = q.shape[2]
        mask = torch.full((T, T), float("-inf")).triu(1)
        return torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.hd) + mask, dim=-1) @ v

    @staticmethod
    def norm(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * w

    def forward(self, tok, tgt):
        B, T = tok.shape
        x = self.emb(tok)
        for b in self.blocks:
            h = self.norm(x, b.n1)
            q = self.rope(b.q(h).view(B, T, self.heads, self.hd).transpose(1, 2))
            k = self.rope(b.k(h).view(B, T, self.heads, self.hd).transpose(1, 2))
            v = b.v(h).view(B, T, self.heads, self.hd).transpose(1, 2)
            y = self.attend(q, k, v).transpose(1, 2).reshape(B, T, -1)
            x = x + b.o(y)
            h = self.norm(x, b.n2)
            x = x + b.down(F.silu(b.gate(h)) * b.up(h))
        x = self.norm(x, self.nf)
        logits = x @ self.emb.weight.T if self.out is None else self.out(x)
        return F.cross_entropy(logits.view(B * T, -1), tgt.view(-1))


def matmul_params(cfg):
    dim, layers, heads, ff, vocab, seq, batch, tied = cfg
    return layers * (4 * dim * dim + 3 * dim * ff) + vocab * dim  # the output matrix is a matmul too


def flops_per_token(cfg):
    """6 x matmul weights (forward 2, backward 4) plus attention's QK^T and AV, forward and
    backward (12 L C T, as llm.c counts it; the causal mask is not discounted)."""
    dim, layers, heads, ff, vocab, seq, batch, tied = cfg
    return 6 * matmul_params(cfg) + 12 * layers * dim * seq


def slm_run(tool, cfg, threads, steps):
    dim, layers, heads, ff, vocab, seq, batch, tied = cfg
    args = [tool, "--dim", dim, "--layers", layers, "--heads", heads, "--ff", ff, "--vocab", vocab, "--seq", seq,
            "--batch", batch, "--threads", threads, "--warmup", 1, "--steps", steps] + (["--tied"] if tied else [])
    out = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=True).stdout
    return float(re.search(r"tokens_per_s=([\d.]+)", out).group(1))


def torch_run(model, opt, cfg, threads, steps):
    dim, layers, heads, ff, vocab, seq, batch, tied = cfg
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(1)
    tok = torch.randint(0, vocab, (batch, seq), generator=g)
    tgt = torch.roll(tok, -1)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model(tok, tgt)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * seq * steps / (time.perf_counter() - t0)


def sgemm_peak(tool, threads):
    out = subprocess.run([str(tool), "--sgemm", "1024", "--threads", str(threads)], capture_output=True, text=True,
                         check=True).stdout
    return float(re.search(r"gflops=([\d.]+)", out).group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=2, help="alternating runs of each side; the best counts")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per run (after one warm-up step)")
    ap.add_argument("--configs", default="15M,1M")
    a = ap.parse_args()
    tool = pathlib.Path(a.build) / "train_step"
    assert tool.exists(), f"{tool} not built (cmake --build {a.build})"
    threads = [int(t) for t in a.threads.split(",")]
    print(f"torch {torch.__version__}, {a.reps} alternating runs of {a.steps} steps each, best of each side")
    peaks = {t: sgemm_peak(tool, t) for t in threads}
    for t in threads:
        print(f"cblas_sgemm 1024^3 peak, {t} thread(s): {peaks[t]:.1f} GFLOP/s")
    print(f"{'config':>6} {'params':>9} {'thr':>3} {'slm tok/s':>10} {'torch tok/s':>11} {'ratio':>6} "
          f"{'slm GFLOP/s':>11} {'torch GFLOP/s':>13} {'slm % peak':>10}")
    for name in a.configs.split(","):
        cfg = CONFIGS[name]
        torch.manual_seed(0)
        model = Llama(cfg[0], cfg[1], cfg[2], cfg[3], cfg[4], cfg[5], cfg[7])
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
        n_params = sum(p.numel() for p in model.parameters())
        for t in threads:
            s_best = t_best = 0.0
            for _ in range(a.reps):
                s_best = max(s_best, slm_run(tool, cfg, t, a.steps))
                t_best = max(t_best, torch_run(model, opt, cfg, t, a.steps))
            fpt = flops_per_token(cfg)
            sg, tg = s_best * fpt / 1e9, t_best * fpt / 1e9
            print(f"{name:>6} {n_params / 1e6:8.2f}M {t:>3} {s_best:10.0f} {t_best:11.0f} {s_best / t_best:5.2f}x "
                  f"{sg:11.1f} {tg:13.1f} {100 * sg / peaks[t]:9.0f}%", flush=True)


if __name__ == "__main__":
    main()
