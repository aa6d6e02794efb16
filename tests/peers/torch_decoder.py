"""slm's decoder forward pass in PyTorch for the LoRA fine-tuning tests: Llama (RoPE on adjacent
pairs), Qwen2 (q/k/v biases, RoPE on halves) and Gemma 3 (embedding scale, per-head q/k
RMSNorms, post-attention and post-feed-forward norms, GELU-tanh gate, five sliding-window layers
with RoPE base 10000 for every global one), with LoRA adapters W + (alpha/r) B A on chosen
matrices and a linear head on the final-normed state of each sequence's last real token. The
frozen weights are read back from the GGUF (dequantised by the gguf package), so that a
quantised base is compared through the same values slm trains on."""
import math

import numpy as np
import torch

MATRICES = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]
TARGETS = dict(zip(["q", "k", "v", "o", "gate", "up", "down"], MATRICES))


def read_weights(path):
    """The tensors of a GGUF file as float32 arrays (rows, cols) / (n,), dequantised."""
    import gguf

    out = {}
    for t in gguf.GGUFReader(str(path)).tensors:
        shape = [int(n) for n in reversed(t.shape.tolist())]
        if t.tensor_type == gguf.GGMLQuantizationType.F32:
            arr = np.asarray(t.data, dtype=np.float32)
        else:
            arr = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type)
        out[t.name] = np.ascontiguousarray(arr.reshape(shape), dtype=np.float32)
    return out


class TorchDecoder:
    """cfg: arch, n_embd, n_ff, n_layer, n_head, n_head_kv, head_dim, rope_base, eps, window."""

    def __init__(self, cfg, weights):
        self.cfg = cfg
        self.w = {k: torch.tensor(v) for k, v in weights.items()}
        self.arch = cfg["arch"]

    def rope(self, x, base):  # x (B, T, heads, hd)
        hd, t = x.shape[-1], x.shape[1]
        freqs = 1.0 / (base ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
        ang = torch.outer(torch.arange(t, dtype=torch.float32), freqs)
        c, s = torch.cos(ang)[None, :, None, :], torch.sin(ang)[None, :, None, :]
        if self.arch == "llama":
            a, b = x[..., 0::2], x[..., 1::2]
            return torch.stack([a * c - b * s, a * s + b * c], dim=-1).flatten(-2)
        a, b = x[..., : hd // 2], x[..., hd // 2:]
        return torch.cat([a * c - b * s, a * s + b * c], dim=-1)

    def logits(self, tokens, lens, adapters, head_w, head_b, alpha, rank):
        """tokens (B, T) long; adapters {(layer, matrix): (A, B)}; returns (B, K) logits."""
        cfg, W = self.cfg, self.w
        E, nh, nkv, hd = cfg["n_embd"], cfg["n_head"], cfg["n_head_kv"], cfg["head_dim"]
        eps, gemma = cfg["eps"], self.arch == "gemma3"
        bsz, t = tokens.shape
        scale = alpha / rank

        def norm(x, w):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

        def linear(l, name, x):
            y = x @ W[f"blk.{l}.{name}.weight"].T
            if f"blk.{l}.{name}.bias" in W:
                y = y + W[f"blk.{l}.{name}.bias"]
            if (l, name) in adapters:
                a, b = adapters[(l, name)]
                y = y + scale * (x @ a.T) @ b.T
            return y

        x = W["token_embd.weight"][tokens]
        if gemma:
            x = x * math.sqrt(E)
        pos = torch.arange(t)
        for l in range(cfg["n_layer"]):
            g = lambda n: W[f"blk.{l}.{n}.weight"]
            is_global = not gemma or (l + 1) % 6 == 0
            base = cfg["rope_base"] if is_global else 10000.0
            window = 0 if is_global else cfg["window"]
            allowed = pos[None, :] <= pos[:, None]
            if window:
                allowed = allowed & (pos[None, :] > pos[:, None] - window)
            mask = torch.zeros(t, t).masked_fill(~allowed, float("-inf"))
            h = norm(x, g("attn_norm"))
            q = linear(l, "attn_q", h).view(bsz, t, nh, hd)
            k = linear(l, "attn_k", h).view(bsz, t, nkv, hd)
            v = linear(l, "attn_v", h).view(bsz, t, nkv, hd)
            if gemma:
                q, k = norm(q, g("attn_q_norm")), norm(k, g("attn_k_norm"))
            q, k = self.rope(q, base), self.rope(k, base)
            k = k.repeat_interleave(nh // nkv, dim=2)
            v = v.repeat_interleave(nh // nkv, dim=2)
            att = torch.einsum("bthd,bshd->bhts", q, k) / math.sqrt(hd) + mask
            y = torch.einsum("bhts,bshd->bthd", att.softmax(-1), v).reshape(bsz, t, nh * hd)
            o = linear(l, "attn_output", y)
            x = x + (norm(o, g("post_attention_norm")) if gemma else o)
            h = norm(x, g("ffn_norm"))
            gate = linear(l, "ffn_gate", h)
            act = torch.nn.functional.gelu(gate, approximate="tanh") if gemma else torch.nn.functional.silu(gate)
            d = linear(l, "ffn_down", act * linear(l, "ffn_up", h))
            x = x + (norm(d, g("post_ffw_norm")) if gemma else d)
        last = x[torch.arange(bsz), torch.as_tensor(lens) - 1]
        return norm(last, W["output_norm.weight"]) @ head_w.T + head_b
