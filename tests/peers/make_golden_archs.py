#!/usr/bin/env python3
"""Produces tests/golden/archs_llamacpp.npz: llama.cpp's (llama-cpp-python) top-40
log-probabilities, their ids and the argmax at every position of random_archs.TOKENS, for the
random qwen2, llama and gemma3 models of random_archs.py, which test_archs_llamacpp.py checks
slm against without llama.cpp installed. llama.cpp runs with an f32 KV cache, one thread and
one token per decode call. The models are deterministic (seeded weights).
usage: .venv/bin/python tests/peers/make_golden_archs.py"""
import pathlib
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "peers"))
from random_archs import ARCHS, TOKENS, write_model  # noqa: E402

TOP = 40
GOLDEN = ROOT / "tests" / "golden" / "archs_llamacpp.npz"


def llamacpp_logprobs(path, tokens=TOKENS):
    """(positions, vocab) log-softmax of llama.cpp's logits, one token per decode call."""
    import llama_cpp
    llm = llama_cpp.Llama(str(path), n_ctx=64, logits_all=True, verbose=False, n_threads=1, type_k=0, type_v=0)
    ctx, n_vocab = llm._ctx.ctx, llm.n_vocab()
    rows = []
    for pos, t in enumerate(tokens):
        batch = llama_cpp.llama_batch_init(1, 0, 1)
        batch.token[0], batch.pos[0], batch.n_seq_id[0], batch.logits[0], batch.n_tokens = t, pos, 1, 1, 1
        batch.seq_id[0][0] = 0
        assert llama_cpp.llama_decode(ctx, batch) == 0
        llama_cpp.llama_batch_free(batch)
        rows.append(np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(n_vocab,)).astype(np.float64))
    z = np.array(rows)
    z -= z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def main():
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for arch in ARCHS:
            lp = llamacpp_logprobs(write_model(pathlib.Path(tmp) / f"{arch}.gguf", arch))
            top = np.argsort(-lp, axis=1)[:, :TOP]
            out[f"{arch}_top_ids"] = top.astype(np.int32)
            out[f"{arch}_top_logprobs"] = np.take_along_axis(lp, top, axis=1).astype(np.float32)
            out[f"{arch}_argmax"] = lp.argmax(axis=1).astype(np.int32)
    np.savez_compressed(GOLDEN, **out)
    print("wrote", GOLDEN)


if __name__ == "__main__":
    main()
