"""`slm finetune --task tag` and `slm keywords --method supervised` end to end on all-MiniLM-L6-v2
(converted by slm convert): a tiny BIO tagger trained for a few steps on a handful of Inspec
train documents (short windows, so documents are split), the tagger GGUF's keys, keyword
extraction with it (supervised and auto), `slm eval --task keywords` with it, and clear errors
(with the line) for malformed tagged JSONL."""
import json

import pytest

from conftest import DATA, run

gguf = pytest.importorskip("gguf")
minilm_path = pytest.importorskip("minilm").minilm_path  # tests/peers/minilm.py

INSPEC = DATA / "keyphrase_extraction" / "inspec_splits"


@pytest.fixture(scope="module")
def base(slm, tmp_path_factory):
    out = tmp_path_factory.mktemp("minilm") / "minilm.gguf"
    run([slm, "convert", minilm_path(), out])
    return out


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    if not (INSPEC / "train.jsonl").exists():
        pytest.skip("Inspec splits are not in SLM_DATA")
    d = tmp_path_factory.mktemp("tagdata")
    lines = [l for l in (INSPEC / "train.jsonl").read_text(encoding="utf-8").splitlines() if l.strip()]
    (d / "train.jsonl").write_text("\n".join(lines[:6]) + "\n", encoding="utf-8")
    (d / "dev.jsonl").write_text("\n".join(lines[6:8]) + "\n", encoding="utf-8")
    valid = [l for l in (INSPEC / "valid.jsonl").read_text(encoding="utf-8").splitlines() if l.strip()]
    (d / "valid3.jsonl").write_text("\n".join(valid[:3]) + "\n", encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def tagger(slm, base, docs, tmp_path_factory):
    out = tmp_path_factory.mktemp("tagger") / "tagger.gguf"
    proc = run([slm, "finetune", "--task", "tag", "-m", base, "--train", docs / "train.jsonl", "--dev",
                docs / "dev.jsonl", "-o", out, "--epochs", "1", "--batch", "4", "--max-len", "64", "--lr", "1e-4",
                "-t", "2"], timeout=600)
    return out, proc.stderr.decode()


def test_tagger_file(tagger):
    path, log = tagger
    assert "dev span F1" in log and "split into windows of 64 tokens" in log, log
    r = gguf.GGUFReader(str(path))
    labels = r.fields["slm.tagger.labels"]
    assert [bytes(labels.parts[i]).decode() for i in labels.data] == ["O", "B", "I"]
    assert int(r.fields["slm.tagger.max_len"].parts[-1][0]) == 64
    assert "slm.classifier.labels" not in r.fields
    shapes = {t.name: list(t.shape) for t in r.tensors}
    assert shapes["cls.weight"] == [384, 3] and shapes["cls.bias"] == [3]


@pytest.mark.parametrize("method", ["supervised", "auto"])
def test_keywords_with_tagger(slm, tagger, docs, method):
    path, _ = tagger
    proc = run([slm, "keywords", "--method", method, "-m", path, "--jsonl", docs / "valid3.jsonl", "--format", "jsonl",
                "--top", "7", "-t", "2"])
    rows = [json.loads(l) for l in proc.stdout.decode().splitlines()]
    assert len(rows) == 3
    for row in rows:
        phrases = [k["phrase"] for k in row["keywords"]]
        assert 1 <= len(phrases) <= 7, row
        assert all(p.strip() == p and p for p in phrases), phrases
        scores = [k["score"] for k in row["keywords"]]
        assert scores == sorted(scores, reverse=True)


def test_eval_with_tagger(slm, tagger, docs):
    path, _ = tagger
    proc = run([slm, "eval", "--task", "keywords", docs / "valid3.jsonl", "--method", "supervised", "-m", path])
    out = proc.stdout.decode()
    assert "supervised" in out and "@10" in out, out


def test_supervised_needs_a_tagger(slm, base, docs):
    proc = run([slm, "keywords", "--method", "supervised", "some text"], check=False)
    assert proc.returncode != 0 and b"needs -m" in proc.stderr
    proc = run([slm, "keywords", "--method", "supervised", "-m", base, "some text"], check=False)
    assert proc.returncode != 0 and b"slm.tagger.labels" in proc.stderr, proc.stderr


@pytest.mark.parametrize("line2,message", [
    ({"document": ["a", "b"]}, "2: no \"doc_bio_tags\" field"),
    ({"doc_bio_tags": ["O"]}, "2: no \"document\" field"),
    ({"document": ["a", "b"], "doc_bio_tags": ["O"]}, "2: 2 words but 1 tags"),
    ({"document": ["a", "b"], "doc_bio_tags": ["O", "X"]}, "2: tag 2 is \"X\": expected B, I or O"),
    ({"document": "a b", "doc_bio_tags": ["O", "B"]}, "2: \"document\" is not a list of words"),
    ("not json", "2: not a JSON object"),
])
def test_malformed_training_data(slm, base, tmp_path, line2, message):
    good = {"document": ["graph", "networks"], "doc_bio_tags": ["B", "I"]}
    bad = line2 if isinstance(line2, str) else json.dumps(line2)
    (tmp_path / "bad.jsonl").write_text(json.dumps(good) + "\n" + bad + "\n")
    proc = run([slm, "finetune", "--task", "tag", "-m", base, "--train", tmp_path / "bad.jsonl", "-o",
                tmp_path / "out.gguf"], check=False)
    err = proc.stderr.decode()
    assert proc.returncode != 0 and f"bad.jsonl:{message}" in err, err
    assert not (tmp_path / "out.gguf").exists()
