"""Writes tests/golden/minilm_st.npz: sentence-transformers' embeddings of the 1,000 dataset
sentences (minilm.dataset_sentences) with all-MiniLM-L6-v2, for test_embed_minilm.py when
sentence-transformers is not importable in the test venv (its releases that work with
Debian's torch 1.13 need tokenizers < 0.19, older than the venv's). Stored as float16 (the
rounding moves a cosine by about 1e-7) with the sha256 of the sentences and the versions used.

Run once, in a Python that has sentence-transformers, e.g. a private venv:
    python3 -m venv --system-site-packages /tmp/stvenv
    /tmp/stvenv/bin/pip install --no-deps sentence-transformers==2.7.0 transformers==4.39.3 \\
        'tokenizers<0.19' 'huggingface_hub<0.25' tqdm filelock packaging regex requests \\
        safetensors pyyaml 'scikit-learn<1.4' 'scipy<1.12' joblib threadpoolctl cloudpickle ...
    /tmp/stvenv/bin/python tests/peers/make_golden_minilm.py MODEL_FOLDER"""
import hashlib
import pathlib
import sys

import numpy as np
import sentence_transformers
import torch
import transformers

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from minilm import dataset_sentences  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]


def sentences_sha(sentences):
    return hashlib.sha256("\n".join(sentences).encode("utf-8")).hexdigest()


def main():
    folder = sys.argv[1]
    data = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT.parent / "shared" / "data"
    sentences = dataset_sentences(data)
    model = sentence_transformers.SentenceTransformer(folder, device="cpu")
    emb = model.encode(sentences, batch_size=32, convert_to_numpy=True, normalize_embeddings=False)
    out = ROOT / "tests" / "golden" / "minilm_st.npz"
    np.savez_compressed(out, embeddings=emb.astype(np.float16), sentences_sha256=sentences_sha(sentences),
                        versions=f"sentence-transformers {sentence_transformers.__version__}, transformers "
                                 f"{transformers.__version__}, torch {torch.__version__}",
                        max_seq_length=model.max_seq_length)
    print(f"wrote {out}: {emb.shape}, norms {np.linalg.norm(emb, axis=1).min():.6f}..{np.linalg.norm(emb, axis=1).max():.6f}")


if __name__ == "__main__":
    main()
