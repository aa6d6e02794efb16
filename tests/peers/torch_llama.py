"""slm's Llama forward pass in PyTorch (RoPE on adjacent pairs, grouped-query causal attention,
SwiGLU, RMSNorm), with the weights as leaf tensors named as in GGUF: the reference the training
tests (test_train_torch.py) and bench/train_quality.py train and score against."""
import math

import numpy as np
import torch


class TorchLlama:
    """The Llama forward pass of slm (RoPE on adjacent pairs, grouped-query causal attention,
    SwiGLU) over a (B, T) batch in float32, with the weights as leaf tensors."""

    def __init__(self, cfg, weights, T):
        self.cfg = cfg
        self.p = {k: torch.tensor(np.asarray(v), dtype=torch.float32, requires_grad=True) for k, v in weights.items()}
        hd = cfg["dim"] // cfg["n_heads"]
        freqs = 1.0 / (10000.0 ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
        ang = torch.outer(torch.arange(T, dtype=torch.float32), freqs)
        self.cos, self.sin = torch.cos(ang), torch.sin(ang)

    def rope(self, x):  # (B, T, heads, hd)
        a, b = x[..., 0::2], x[..., 1::2]
        t = x.shape[1]
        c, s = self.cos[None, :t, None, :], self.sin[None, :t, None, :]
        return torch.stack([a * c - b * s, a * s + b * c], dim=-1).flatten(-2)

    def logits(self, tokens):
        cfg, P = self.cfg, self.p
        nh, nkv, d = cfg["n_heads"], cfg["n_kv_heads"], cfg["dim"]
        hd = d // nh
        bsz, t = tokens.shape

        def norm(x, w):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * w

        x = P["token_embd.weight"][tokens]
        mask = torch.full((t, t), float("-inf")).triu(1)
        for l in range(cfg["n_layers"]):
            w = lambda n: P[f"blk.{l}.{n}.weight"]
            h = norm(x, w("attn_norm"))
            q = self.rope((h @ w("attn_q").T).view(bsz, t, nh, hd))
            k = self.rope((h @ w("attn_k").T).view(bsz, t, nkv, hd)).repeat_interleave(nh // nkv, dim=2)
            v = (h @ w("attn_v").T).view(bsz, t, nkv, hd).repeat_interleave(nh // nkv, dim=2)
            att = torch.einsum("bthd,bshd->bhts", q, k) / math.sqrt(hd) + mask
            y = torch.einsum("bhts,bshd->bthd", att.softmax(-1), v).reshape(bsz, t, d)
            x = x + y @ w("attn_output").T
            h = norm(x, w("ffn_norm"))
            x = x + (torch.nn.functional.silu(h @ w("ffn_gate").T) * (h @ w("ffn_up").T)) @ w("ffn_down").T
        x = norm(x, P["output_norm.weight"])
        out = P["output.weight"] if "output.weight" in P else P["token_embd.weight"]
        return x @ out.T

    def loss(self, tokens, targets):
        logits = self.logits(torch.from_numpy(tokens).long())
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), torch.from_numpy(targets).long().reshape(-1))
