#!/usr/bin/env python3
"""Produces tests/golden/quantize_llamacpp.npz: llama.cpp's (llama-cpp-python) top-40
log-probabilities and argmax at every position of quantize_case.TOKENS, for each file that
`slm quantize` makes from the random model of quantize_case.py (q8_0, q4_0, q4_K, q6_K).
The files are deterministic (seeded weights, deterministic quantisers), so test_quantize.py
can check slm's own files against these answers without llama.cpp installed.
usage: .venv/bin/python tests/peers/make_golden_quantize.py [build/slm]"""
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "peers"))
from quantize_case import TOKENS, TYPES, write_f32_model  # noqa: E402

TOP = 40


def llamacpp_logprobs(path):
    """(positions, vocab) log-softmax of llama.cpp's logits, one token per decode call."""
    import llama_cpp
    llm = llama_cpp.Llama(str(path), n_ctx=64, logits_all=True, verbose=False, n_threads=1, type_k=0, type_v=0)
    ctx, n_vocab = llm._ctx.ctx, llm.n_vocab()
    rows = []
    for pos, t in enumerate(TOKENS):
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
    slm = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "build" / "slm")
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        f32 = write_f32_model(pathlib.Path(tmp) / "f32.gguf")
        for t in TYPES:
            q = pathlib.Path(tmp) / f"{t}.gguf"
            subprocess.run([str(slm), "quantize", "-q", str(f32), str(q), t], check=True)
            lp = llamacpp_logprobs(q)
            top = np.argsort(-lp, axis=1)[:, :TOP]
            out[f"{t}_top_ids"] = top.astype(np.int32)
            out[f"{t}_top_logprobs"] = np.take_along_axis(lp, top, axis=1).astype(np.float32)
    dest = ROOT / "tests" / "golden" / "quantize_llamacpp.npz"
    np.savez_compressed(dest, **out)
    print("wrote", dest)


if __name__ == "__main__":
    main()
