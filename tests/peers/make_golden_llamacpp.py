#!/usr/bin/env python3
"""Produces tests/golden/llamacpp_stories260K.json with llama.cpp (llama-cpp-python): for the
GGUF that `slm convert` writes from stories260K, llama.cpp's tokens for two prompts, the
logits of every prompt position plus 32 greedy steps, and its greedy continuation. The test
test_llamacpp_golden.py checks slm against this file (and against llama.cpp live when
llama-cpp-python is installed).

usage: .venv/bin/python tests/peers/make_golden_llamacpp.py [build/slm]"""
import json
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "peers"))
from conftest import STORIES  # noqa: E402

PROMPTS = ["Once upon a time, a small dog", "Lily and Ben went to the park. They saw", "The"]
STEPS = 32


def llamacpp_reference(gguf_path):
    import numpy as np
    from llama_cpp import Llama

    # f32 KV cache: llama.cpp defaults to f16, which alone moves logits by ~1e-2
    llm = Llama(str(gguf_path), n_ctx=256, logits_all=True, verbose=False, n_threads=1, type_k=0, type_v=0)
    cases = []
    for prompt in PROMPTS:
        llm.reset()
        tokens = llm.tokenize(prompt.encode(), add_bos=True)
        llm.eval(tokens)
        generated = []
        for _ in range(STEPS):
            nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
            generated.append(nxt)
            llm.eval([nxt])
        logits = llm.scores[: len(tokens) + STEPS - 1]
        cases.append({"prompt": prompt, "tokens": tokens, "greedy": generated,
                      "logits": [[float(f"{x:.6g}") for x in row] for row in logits.tolist()]})
    return {"model": "stories260K converted by slm convert", "peer": "llama-cpp-python", "cases": cases}


def main():
    slm = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "build" / "slm")
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "stories260K.gguf"
        subprocess.run([str(slm), "convert", str(STORIES / "stories260K.bin"), str(STORIES / "tok512.bin"), str(out)], check=True)
        ref = llamacpp_reference(out)
    import llama_cpp
    ref["peer"] += " " + llama_cpp.__version__
    dest = ROOT / "tests" / "golden" / "llamacpp_stories260K.json"
    dest.write_text(json.dumps(ref, separators=(",", ":")) + "\n")
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
