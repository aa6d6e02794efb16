#!/usr/bin/env python3
"""Produces tests/golden/models_llamacpp.npz and models_llamacpp.json with native llama.cpp
(scripts/llamacpp_native.sh: its libraries through the llama_cpp binding) on every real model
and quantisation variant present (tests/peers/real_models.py), for test_models_llamacpp.py:
for one fixed text of 520 tokens (prose and code), llama.cpp's next-token top-32
log-probabilities (ids and values) and argmax at every position, the text's tokens, and the
model file's size and a fingerprint (so that the test skips a file that is not the one used).
llama.cpp runs the text as one batch with an f32 KV cache.
usage: .venv/bin/python tests/peers/make_golden_models.py [--models a,b]"""
import argparse
import hashlib
import json
import os
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "peers"))
import real_models  # noqa: E402

GOLDEN = ROOT / "tests" / "golden"
N_TOKENS = 520
TOP = 32


def text():
    """About 520 tokens of prose and code (the shared corpus and a function), fixed."""
    data = pathlib.Path(os.environ.get("SLM_DATA", ROOT.parent / "shared" / "data")).resolve()
    prose = " ".join((data / "text_corpora" / "war-and-peace.txt").read_text(encoding="utf-8", errors="replace")
                     .split()[5000:5260])
    code = ("def merge_sort(items):\n    \"\"\"Sort a list with merge sort.\"\"\"\n    if len(items) <= 1:\n"
            "        return items\n    mid = len(items) // 2\n    left = merge_sort(items[:mid])\n"
            "    right = merge_sort(items[mid:])\n    out = []\n    i = j = 0\n    while i < len(left) and j < len(right):\n"
            "        if left[i] <= right[j]:\n            out.append(left[i]); i += 1\n        else:\n"
            "            out.append(right[j]); j += 1\n    return out + left[i:] + right[j:]\n")
    return prose + "\n\n" + code + "\n" + prose


def fingerprint(path):
    """sha256 of the file's first and last MiB and its size (the files are too big to hash whole
    at every test run)."""
    h = hashlib.sha256()
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        f.seek(max(0, size - (1 << 20)))
        h.update(f.read(1 << 20))
    h.update(str(size).encode())
    return h.hexdigest()[:32]


def reference(path, txt):
    import llama_cpp
    llm = llama_cpp.Llama(str(path), n_ctx=N_TOKENS + 16, n_batch=N_TOKENS + 16, n_ubatch=N_TOKENS + 16, logits_all=True,
                          verbose=False, n_threads=os.cpu_count(), type_k=0, type_v=0)
    tokens = llm.tokenize(txt.encode(), add_bos=True, special=False)[:N_TOKENS]
    ctx, n_vocab = llm._ctx.ctx, llm.n_vocab()
    batch = llama_cpp.llama_batch_init(len(tokens), 0, 1)
    for i, t in enumerate(tokens):
        batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = t, i, 1, 1
        batch.seq_id[i][0] = 0
    batch.n_tokens = len(tokens)
    assert llama_cpp.llama_decode(ctx, batch) == 0
    llama_cpp.llama_batch_free(batch)
    ids, lps, argmax = [], [], []
    for i in range(len(tokens)):
        z = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, i), shape=(n_vocab,)).astype(np.float64)
        z = z - z.max()
        lp = z - np.log(np.exp(z).sum())
        top = np.argsort(-lp)[:TOP]
        ids.append(top.astype(np.int32))
        lps.append(lp[top].astype(np.float32))
        argmax.append(int(top[0]))
    del llm
    return tokens, np.stack(ids), np.stack(lps), np.array(argmax, dtype=np.int32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="")
    args = ap.parse_args()
    peer = json.loads(real_models.PEER.read_text())
    os.environ["LLAMA_CPP_LIB_PATH"] = peer["lib"]
    names = [n for n in args.models.split(",") if n] or real_models.all_names()
    meta_path, npz_path = GOLDEN / "models_llamacpp.json", GOLDEN / "models_llamacpp.npz"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"models": {}}
    arrays = dict(np.load(npz_path)) if npz_path.exists() else {}
    txt = text()
    for name, path in real_models.available(names).items():
        print(f"{name}: {path.name}", flush=True)
        tokens, ids, lps, argmax = reference(path, txt)
        key = name.replace(".", "_").replace("-", "_")
        arrays[f"{key}_tokens"] = np.array(tokens, dtype=np.int32)
        arrays[f"{key}_top_ids"], arrays[f"{key}_top_lp"], arrays[f"{key}_argmax"] = ids, lps.astype(np.float16), argmax
        meta["models"][name] = {"key": key, "file": path.name, "size": os.path.getsize(path),
                                "fingerprint": fingerprint(path), "positions": len(tokens)}
    meta.update({"top": TOP, "llama_cpp_python": peer["llama_cpp_python"], "system_info": peer.get("system_info", ""),
                 "made_by": "tests/peers/make_golden_models.py"})
    np.savez_compressed(npz_path, **arrays)
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {npz_path} ({npz_path.stat().st_size / 1e6:.1f} MB) and {meta_path}")


if __name__ == "__main__":
    main()
