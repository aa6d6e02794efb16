"""`slm keywords --method embed` with all-MiniLM-L6-v2 (when the package is installed): the
phrases come back ordered by the cosine between their `slm embed` vectors and the document's
(diversity 0), scores equal to those cosines; with --diversity the picks follow Maximal Marginal
Relevance computed here with numpy on the same vectors; auto with -m runs."""
import json

import numpy as np
import pytest

from conftest import BIN, run
from minilm import minilm_path

TEXT = ("Graph neural networks learn node embeddings by message passing. Message passing "
        "aggregates the features of neighbouring nodes. Graph neural networks scale to large "
        "graphs with neighbour sampling, and attention weights the neighbours.")


def embed(model, texts):
    out = run([BIN, "embed", "-m", model, "-q", "--file", "-"], input="\n".join(texts).encode() + b"\n").stdout
    rows = [json.loads(x) for x in out.decode().splitlines()]
    return np.array([r["embedding"] for r in rows], dtype=np.float64)


def extract(model, *extra):
    out = run([BIN, "keywords", "-m", model, "--format", "jsonl", *extra, TEXT]).stdout
    return json.loads(out)["keywords"]


def test_embed_ranks_by_cosine():
    model = minilm_path()
    kws = extract(model, "--method", "embed", "--top", "6", "--diversity", "0")
    assert len(kws) == 6
    vec = embed(model, [TEXT] + [k["phrase"] for k in kws])
    cos = vec[1:] @ vec[0]
    assert np.all(np.diff(cos) <= 1e-5), cos
    assert np.allclose([k["score"] for k in kws], cos, atol=2e-4)


def test_mmr_diversity():
    model = minilm_path()
    pool = extract(model, "--method", "embed", "--top", "40", "--diversity", "0")  # the pool, by cosine
    picked = extract(model, "--method", "embed", "--top", "5", "--diversity", "0.5")
    vec = embed(model, [TEXT] + [k["phrase"] for k in pool])
    rel, cand = vec[1:] @ vec[0], vec[1:]
    chosen = []
    for _ in range(5):
        best, best_v = None, -np.inf
        for i in range(len(pool)):
            if i in chosen:
                continue
            red = max((cand[i] @ cand[j] for j in chosen), default=0.0)
            v = 0.5 * rel[i] - 0.5 * red
            if v > best_v:
                best, best_v = i, v
        chosen.append(best)
    assert [k["phrase"] for k in picked] == [pool[i]["phrase"] for i in chosen]


def test_auto_with_model():
    model = minilm_path()
    kws = extract(model, "--top", "5")
    assert len(kws) == 5 and any("neural networks" in k["phrase"].lower() for k in kws)
