#!/usr/bin/env python3
"""Produces tests/golden/gemma3_llamacpp.npz and gemma3_llamacpp.json with llama.cpp
(llama-cpp-python) on Gemma 3 270M Q4_K_M, for test_gemma3_llamacpp.py:
  - for 20 prompts: llama.cpp's tokens (with BOS), its greedy continuation of 64 tokens, and at
    every position of prompt + 32 greedy tokens the top-40 log-probabilities (ids and values)
    and the argmax;
  - the ids llama.cpp gives for 2,000 generated strings (strings_gen.py, seed 20261126) and for
    the shared conformance inputs, to compare tokenisers.
llama.cpp runs with an f32 KV cache, one thread, and one token per decode call.
usage: .venv/bin/python tests/peers/make_golden_gemma.py"""
import json
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "peers"))
from gemma import gemma_path  # noqa: E402
from logprobs import llamacpp_decoder, log_softmax, top_k  # noqa: E402
from strings_gen import generate  # noqa: E402

PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a small village by the sea,",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "The three primary colors are",
    "Water boils at a temperature of",
    "To make a cup of tea, first",
    "The quick brown fox",
    "In 1969, the first humans landed on",
    "Photosynthesis is the process by which",
    "A haiku about autumn:\n",
    "Question: What is 12 times 12?\nAnswer:",
    "The most important thing to remember when learning a new language is",
    "Le chat est assis sur",
    "Translate to German: Good morning, how are you?\n",
    "Here is a list of fruits: apple, banana,",
    "<start_of_turn>user\nWrite a short sentence about the moon.<end_of_turn>\n<start_of_turn>model\n",
    "The mitochondria is",
    "import numpy as np\n\nx = np.array([1, 2, 3])\nprint(",
    "Dear Sir or Madam,\n\nI am writing to",
    "The sum of the angles of a triangle is",
]
STEPS = 32
CONTINUATION = 64
TOP = 40


def batched_reference(llama_cpp, decode_one, tokens, greedy, n_vocab):
    """llama.cpp's argmax at every position of tokens + greedy[:STEPS] when the prompt goes in
    as one batch, and its own greedy continuation that way."""
    ctx = decode_one.ctx
    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
    seq = tokens + greedy[:STEPS]
    batch = llama_cpp.llama_batch_init(len(seq), 0, 1)
    for i, t in enumerate(seq):
        batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = t, i, 1, 1
        batch.seq_id[i][0] = 0
    batch.n_tokens = len(seq)
    assert llama_cpp.llama_decode(ctx, batch) == 0
    llama_cpp.llama_batch_free(batch)
    argmax = np.array([int(np.argmax(np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, i), shape=(n_vocab,))))
                       for i in range(len(seq))])
    # its own greedy continuation after a batched prompt
    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
    batch = llama_cpp.llama_batch_init(len(tokens), 0, 1)
    for i, t in enumerate(tokens):
        batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = t, i, 1, int(i == len(tokens) - 1)
        batch.seq_id[i][0] = 0
    batch.n_tokens = len(tokens)
    assert llama_cpp.llama_decode(ctx, batch) == 0
    llama_cpp.llama_batch_free(batch)
    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(n_vocab,)).copy()
    own = []
    for step in range(len(greedy)):
        own.append(int(np.argmax(logits)))
        if step + 1 < len(greedy):
            logits = decode_one(own[-1], len(tokens) + step)
    return argmax, own


def main():
    import llama_cpp

    path = gemma_path()
    decode_one = llamacpp_decoder(path, n_ctx=512)
    llm, ctx = decode_one.llm, decode_one.ctx
    n_vocab = llm.n_vocab()
    cases, tops_ids, tops_lp, argmaxes = [], [], [], []
    self_agree, self_same_greedy = [], []
    for prompt in PROMPTS:
        tokens = llm.tokenize(prompt.encode(), add_bos=True, special=True)
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
        # one token per llama_decode call, as slm's logits_dump evaluates: llama.cpp's batched
        # prompt path is numerically different from its own one-token path (on this model the
        # two agree on the argmax at ~97 % of positions), so the modes must match
        logits_rows = [decode_one(t, pos) for pos, t in enumerate(tokens)]
        greedy = []
        for step in range(CONTINUATION):
            nxt = int(np.argmax(logits_rows[-1]))
            greedy.append(nxt)
            if step + 1 == CONTINUATION:
                break
            logits_rows.append(decode_one(nxt, len(tokens) + step))
        rows = np.array(logits_rows[: len(tokens) + STEPS])
        # llama.cpp against itself: the same positions with the prompt as one batch
        self_argmax, self_greedy = batched_reference(llama_cpp, decode_one, tokens, greedy, n_vocab)
        self_agree.append(int((self_argmax == rows.argmax(axis=1)).sum()))
        self_same_greedy.append(self_greedy == greedy)
        ids, lps = top_k(log_softmax(rows), TOP)
        tops_ids.append(ids)
        tops_lp.append(lps)
        argmaxes.append(rows.argmax(axis=1).astype(np.int32))
        cases.append({"prompt": prompt, "tokens": tokens, "greedy": greedy})
        print(f"{len(cases)}/{len(PROMPTS)}: {len(tokens)} tokens", file=sys.stderr)
    strings = generate(2000, seed=20261126)
    tok_ids = [llm.tokenize(s, add_bos=False, special=False) for s in strings]
    out = ROOT / "tests" / "golden"
    np.savez_compressed(out / "gemma3_llamacpp.npz",
                        **{f"top_ids_{i}": a for i, a in enumerate(tops_ids)},
                        **{f"top_logprobs_{i}": a for i, a in enumerate(tops_lp)},
                        **{f"argmax_{i}": a for i, a in enumerate(argmaxes)})
    n_positions = sum(len(c["tokens"]) + STEPS for c in cases)
    self_consistency = {"argmax_agreement": sum(self_agree) / n_positions,
                        "greedy_identical": int(sum(self_same_greedy)),
                        "what": "llama.cpp with the prompt as one batch against llama.cpp one token at a time"}
    print("llama.cpp self-consistency:", self_consistency, file=sys.stderr)
    meta = {"peer": "llama-cpp-python " + llama_cpp.__version__, "model": pathlib.Path(path).name,
            "self_consistency": self_consistency,
            "steps": STEPS, "top": TOP, "cases": cases, "tokenizer_strings_seed": 20261126, "tokenizer_ids": tok_ids}
    (out / "gemma3_llamacpp.json").write_text(json.dumps(meta, separators=(",", ":")) + "\n")
    print("wrote", out / "gemma3_llamacpp.npz", out / "gemma3_llamacpp.json")


if __name__ == "__main__":
    main()
