"""Small random-weight f32 models of each architecture slm runs from GGUF (qwen2, llama with
grouped-query attention and an untied output, gemma3 with both sliding-window and global
layers), written with the gguf package under the metadata keys and tensor names llama.cpp reads,
and the token sequence the architecture tests evaluate (test_archs_llamacpp.py)."""
import pathlib

import numpy as np

from conftest import DATA

TOKENIZER = DATA / "tokenizers" / "llama2_32k" / "tokenizer.model"
VOCAB = 32000

# "<s>Once upon a time, there was a little girl named Lily. She loved to play outside in the park."
TOKENS = [1, 9038, 2501, 263, 931, 29892, 727, 471, 263, 2217, 7826, 4257, 365, 2354, 29889, 2296, 18012, 304,
          1708, 5377, 297, 278, 14089, 29889]

# head_dim may differ from n_embd / n_head (as in Gemma 3: 640 wide, 4 heads of 256).
CONFIGS = {
    "qwen2": dict(n_embd=64, n_ff=192, n_layer=2, n_head=4, n_head_kv=2, head_dim=16, rope_base=1000000.0,
                  eps=1e-6, seed=11),
    "llama": dict(n_embd=96, n_ff=256, n_layer=3, n_head=6, n_head_kv=2, head_dim=16, rope_base=10000.0,
                  eps=1e-5, seed=12),
    # seven layers: six sliding-window layers (0-4, 6; RoPE base 10000) and one global (5)
    "gemma3": dict(n_embd=64, n_ff=192, n_layer=7, n_head=4, n_head_kv=1, head_dim=32, rope_base=1000000.0,
                   eps=1e-6, window=8, seed=13),
}
ARCHS = list(CONFIGS)
# the final norm's weights are about this, so that the next-token distributions are peaked
# (entropy 2.5-5 nats rather than nearly uniform) and small errors show in the KL divergence
OUTPUT_GAIN = 5.0


def make_weights(arch):
    """The tensors of `arch` by GGUF name, as (rows, cols) / (n,) float32 arrays, seeded."""
    cfg = CONFIGS[arch]
    rng = np.random.default_rng(cfg["seed"])
    E, F, hd = cfg["n_embd"], cfg["n_ff"], cfg["head_dim"]
    Q, KV = cfg["n_head"] * hd, cfg["n_head_kv"] * hd

    def mat(rows, cols, scale):
        return (rng.standard_normal((rows, cols)) * scale).astype(np.float32)

    def vec(n, mean, scale):
        return (mean + scale * rng.standard_normal(n)).astype(np.float32)

    w = {"token_embd.weight": mat(VOCAB, E, 0.1), "output_norm.weight": vec(E, OUTPUT_GAIN, 0.1 * OUTPUT_GAIN)}
    if arch == "llama":
        w["output.weight"] = mat(VOCAB, E, E ** -0.5)
    for l in range(cfg["n_layer"]):
        p = f"blk.{l}."
        w[p + "attn_norm.weight"] = vec(E, 1.0, 0.1)
        w[p + "attn_q.weight"] = mat(Q, E, E ** -0.5)
        w[p + "attn_k.weight"] = mat(KV, E, E ** -0.5)
        w[p + "attn_v.weight"] = mat(KV, E, E ** -0.5)
        if arch == "qwen2":
            w[p + "attn_q.bias"] = vec(Q, 0.0, 0.5)
            w[p + "attn_k.bias"] = vec(KV, 0.0, 0.5)
            w[p + "attn_v.bias"] = vec(KV, 0.0, 0.5)
        if arch == "gemma3":
            w[p + "attn_q_norm.weight"] = vec(hd, 1.0, 0.1)
            w[p + "attn_k_norm.weight"] = vec(hd, 1.0, 0.1)
            w[p + "post_attention_norm.weight"] = vec(E, 1.0, 0.1)
            w[p + "post_ffw_norm.weight"] = vec(E, 1.0, 0.1)
        w[p + "attn_output.weight"] = mat(E, Q, Q ** -0.5)
        w[p + "ffn_norm.weight"] = vec(E, 1.0, 0.1)
        w[p + "ffn_gate.weight"] = mat(F, E, E ** -0.5)
        w[p + "ffn_up.weight"] = mat(F, E, E ** -0.5)
        w[p + "ffn_down.weight"] = mat(E, F, F ** -0.5)
    return w


def write_model(path, arch, drop_keys=()):
    """Writes the random `arch` model to path (f32) and returns the path. Keys named in
    drop_keys (without the architecture prefix) are left out."""
    import gguf
    import sentencepiece

    cfg = CONFIGS[arch]
    sp = sentencepiece.SentencePieceProcessor(model_file=str(TOKENIZER))
    assert sp.get_piece_size() == VOCAB
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name(f"random-{arch}")
    scalars = [
        ("context_length", w.add_context_length, 256),
        ("embedding_length", w.add_embedding_length, cfg["n_embd"]),
        ("feed_forward_length", w.add_feed_forward_length, cfg["n_ff"]),
        ("block_count", w.add_block_count, cfg["n_layer"]),
        ("attention.head_count", w.add_head_count, cfg["n_head"]),
        ("attention.head_count_kv", w.add_head_count_kv, cfg["n_head_kv"]),
        ("rope.freq_base", w.add_rope_freq_base, cfg["rope_base"]),
        ("attention.layer_norm_rms_epsilon", w.add_layer_norm_rms_eps, cfg["eps"]),
    ]
    if arch == "gemma3":
        scalars += [("attention.key_length", w.add_key_length, cfg["head_dim"]),
                    ("attention.value_length", w.add_value_length, cfg["head_dim"]),
                    ("attention.sliding_window", w.add_sliding_window, cfg["window"])]
    else:
        scalars += [("rope.dimension_count", w.add_rope_dimension_count, cfg["head_dim"])]
    for key, add, value in scalars:
        if key not in drop_keys:
            add(value)
    w.add_file_type(0)
    w.add_tokenizer_model("llama")
    w.add_token_list([sp.id_to_piece(i).encode() for i in range(VOCAB)])
    w.add_token_scores([sp.get_score(i) for i in range(VOCAB)])
    w.add_token_types([2 if sp.is_unknown(i) else 3 if sp.is_control(i) else 6 if sp.is_byte(i) else 1
                       for i in range(VOCAB)])
    w.add_bos_token_id(sp.bos_id())
    w.add_eos_token_id(sp.eos_id())
    w.add_unk_token_id(sp.unk_id())
    for name, arr in make_weights(arch).items():
        w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return pathlib.Path(path)
