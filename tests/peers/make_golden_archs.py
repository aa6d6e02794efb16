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
from logprobs import llamacpp_logprobs, top_k  # noqa: E402
from random_archs import ARCHS, TOKENS, write_model  # noqa: E402

TOP = 40
GOLDEN = ROOT / "tests" / "golden" / "archs_llamacpp.npz"


def main():
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for arch in ARCHS:
            lp = llamacpp_logprobs(write_model(pathlib.Path(tmp) / f"{arch}.gguf", arch), TOKENS)
            out[f"{arch}_top_ids"], out[f"{arch}_top_logprobs"] = top_k(lp, TOP)
            out[f"{arch}_argmax"] = lp.argmax(axis=1).astype(np.int32)
    np.savez_compressed(GOLDEN, **out)
    print("wrote", GOLDEN)


if __name__ == "__main__":
    main()
