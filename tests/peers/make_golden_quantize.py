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
from logprobs import llamacpp_logprobs, top_k  # noqa: E402
from quantize_case import TOKENS, TYPES, write_f32_model  # noqa: E402

TOP = 40


def main():
    slm = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "build" / "slm")
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        f32 = write_f32_model(pathlib.Path(tmp) / "f32.gguf")
        for t in TYPES:
            q = pathlib.Path(tmp) / f"{t}.gguf"
            subprocess.run([str(slm), "quantize", "-q", str(f32), str(q), t], check=True)
            out[f"{t}_top_ids"], out[f"{t}_top_logprobs"] = top_k(llamacpp_logprobs(q, TOKENS), TOP)
    dest = ROOT / "tests" / "golden" / "quantize_llamacpp.npz"
    np.savez_compressed(dest, **out)
    print("wrote", dest)


if __name__ == "__main__":
    main()
