"""A randomly initialised Llama written as GGUF with the gguf package (llama2.c's 15M shape by
default: dim 288, 6 layers, 6 heads, vocab 32000 with the Llama 2 tokenizer), and a PyTorch
implementation of the same forward pass to check slm against."""
import pathlib

import numpy as np

CONFIG_15M = dict(dim=288, hidden=768, n_layers=6, n_heads=6, n_kv_heads=6, vocab=32000, ctx=256)


def make_weights(cfg, seed=0):
    rng = np.random.default_rng(seed)
    d, h, kv = cfg["dim"], cfg["hidden"], cfg["dim"] // cfg["n_heads"] * cfg["n_kv_heads"]

    def mat(rows, cols, scale):
        return (rng.standard_normal((rows, cols)) * scale).astype(np.float32)

    def norm():
        return (1.0 + 0.1 * rng.standard_normal(d)).astype(np.float32)

    w = {"token_embd.weight": mat(cfg["vocab"], d, 0.1), "output_norm.weight": norm()}
    for l in range(cfg["n_layers"]):
        p = f"blk.{l}."
        w[p + "attn_norm.weight"] = norm()
        w[p + "attn_q.weight"] = mat(d, d, d ** -0.5)
        w[p + "attn_k.weight"] = mat(kv, d, d ** -0.5)
        w[p + "attn_v.weight"] = mat(kv, d, d ** -0.5)
        w[p + "attn_output.weight"] = mat(d, d, d ** -0.5)
        w[p + "ffn_norm.weight"] = norm()
        w[p + "ffn_gate.weight"] = mat(h, d, d ** -0.5)
        w[p + "ffn_up.weight"] = mat(h, d, d ** -0.5)
        w[p + "ffn_down.weight"] = mat(d, h, h ** -0.5)
    if not cfg.get("tied", True):
        w["output.weight"] = mat(cfg["vocab"], d, d ** -0.5)
    return w


def write_gguf(path, cfg, weights, tokenizer_model, f16=False):
    """Writes the model; matrices as f16 when f16 is set (norms stay f32, as llama.cpp does)."""
    import gguf
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=str(tokenizer_model))
    assert sp.get_piece_size() == cfg["vocab"]
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("random-llama")
    w.add_context_length(cfg["ctx"])
    w.add_embedding_length(cfg["dim"])
    w.add_feed_forward_length(cfg["hidden"])
    w.add_block_count(cfg["n_layers"])
    w.add_head_count(cfg["n_heads"])
    w.add_head_count_kv(cfg["n_kv_heads"])
    w.add_rope_dimension_count(cfg["dim"] // cfg["n_heads"])
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(1 if f16 else 0)
    w.add_tokenizer_model("llama")
    w.add_token_list([sp.id_to_piece(i).encode() for i in range(cfg["vocab"])])
    w.add_token_scores([sp.get_score(i) for i in range(cfg["vocab"])])
    types = [2 if sp.is_unknown(i) else 3 if sp.is_control(i) else 6 if sp.is_byte(i) else 1 for i in range(cfg["vocab"])]
    w.add_token_types(types)
    w.add_bos_token_id(sp.bos_id())
    w.add_eos_token_id(sp.eos_id())
    w.add_unk_token_id(sp.unk_id())
    for name, arr in weights.items():
        w.add_tensor(name, arr.astype(np.float16) if f16 and arr.ndim == 2 else arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return pathlib.Path(path)


def torch_logits(cfg, weights, tokens, f16=False):
    """Logits (len(tokens), vocab) of the Llama forward pass in PyTorch, float32 math."""
    import torch

    def W(name):
        a = weights[name]
        if f16 and a.ndim == 2:
            a = a.astype(np.float16).astype(np.float32)
        return torch.from_numpy(a)

    d, nh, nkv = cfg["dim"], cfg["n_heads"], cfg["n_kv_heads"]
    hd = d // nh
    T = len(tokens)

    def rmsnorm(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * w

    freqs = 1.0 / (10000.0 ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    ang = torch.outer(torch.arange(T, dtype=torch.float32), freqs)
    cos, sin = torch.cos(ang), torch.sin(ang)

    def rope(x):  # (T, heads, hd): rotate pairs (2i, 2i+1)
        a, b = x[..., 0::2], x[..., 1::2]
        out = torch.empty_like(x)
        out[..., 0::2] = a * cos[:, None, :] - b * sin[:, None, :]
        out[..., 1::2] = a * sin[:, None, :] + b * cos[:, None, :]
        return out

    x = W("token_embd.weight")[torch.tensor(tokens)]
    mask = torch.full((T, T), float("-inf")).triu(1)
    for l in range(cfg["n_layers"]):
        p = f"blk.{l}."
        h = rmsnorm(x, W(p + "attn_norm.weight"))
        q = rope((h @ W(p + "attn_q.weight").T).view(T, nh, hd))
        k = rope((h @ W(p + "attn_k.weight").T).view(T, nkv, hd))
        v = (h @ W(p + "attn_v.weight").T).view(T, nkv, hd)
        k = k.repeat_interleave(nh // nkv, dim=1)
        v = v.repeat_interleave(nh // nkv, dim=1)
        att = torch.einsum("thd,shd->hts", q, k) / hd ** 0.5 + mask
        out = torch.einsum("hts,shd->thd", att.softmax(-1), v).reshape(T, d)
        x = x + out @ W(p + "attn_output.weight").T
        h = rmsnorm(x, W(p + "ffn_norm.weight"))
        g = torch.nn.functional.silu(h @ W(p + "ffn_gate.weight").T) * (h @ W(p + "ffn_up.weight").T)
        x = x + g @ W(p + "ffn_down.weight").T
    x = rmsnorm(x, W("output_norm.weight"))
    out_w = W("output.weight") if "output.weight" in weights else W("token_embd.weight")
    return (x @ out_w.T).numpy()
