"""`slm finetune --task classify` end to end on all-MiniLM-L6-v2 (converted by slm convert): a
small labelled JSONL set is learnt (dev accuracy, `slm eval`), the output GGUF carries the head
and the slm.classifier.* keys, `slm classify` gives the probabilities PyTorch computes from the
same weights and `tokenizers` ids (within 1e-4), and bad inputs get clear errors."""
import json
import math

import numpy as np
import pytest

from conftest import run

torch = pytest.importorskip("torch")
gguf = pytest.importorskip("gguf")
tokenizers = pytest.importorskip("tokenizers")
minilm_path = pytest.importorskip("minilm").minilm_path  # tests/peers/minilm.py (the bert branch)

GOOD = ["wonderful", "delightful", "brilliant", "moving", "charming", "superb", "funny", "beautiful"]
BAD = ["boring", "dreadful", "tedious", "awful", "clumsy", "dull", "painful", "lifeless"]
FRAMES = ["the film is {}", "a {} story from start to finish", "what a {} movie", "the acting was {} throughout"]
MAX_LEN = 16


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps({"text": t, "label": l}) + "\n" for t, l in rows))


@pytest.fixture(scope="module")
def folder():
    return minilm_path()


@pytest.fixture(scope="module")
def base(slm, folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("minilm") / "minilm.gguf"
    run([slm, "convert", folder, out])
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    rows = [(f.format(w), lab) for f in FRAMES for ws, lab in ((GOOD, "pos"), (BAD, "neg")) for w in ws]
    rng = np.random.default_rng(0)
    rows = [rows[i] for i in rng.permutation(len(rows))]
    write_jsonl(d / "train.jsonl", rows[:48])
    write_jsonl(d / "dev.jsonl", rows[48:])
    return d, rows[48:]


@pytest.fixture(scope="module")
def trained(slm, base, data, tmp_path_factory):
    d, _ = data
    out = tmp_path_factory.mktemp("out") / "clf.gguf"
    proc = run([slm, "finetune", "--task", "classify", "-m", base, "--train", d / "train.jsonl", "--dev",
                d / "dev.jsonl", "-o", out, "--epochs", "4", "--lr", "2e-4", "--batch", "8", "--max-len", MAX_LEN,
                "--warmup", "2", "-t", "2"], timeout=600)
    return out, proc.stderr.decode()


def test_learns_and_reports(trained):
    out, log = trained
    assert "epoch 4/4" in log and "dev accuracy" in log, log
    best = max(float(line.split("dev accuracy ")[1].split("%")[0]) for line in log.splitlines() if "dev accuracy" in line)
    assert best >= 90.0, log


def test_output_file(trained):
    out, _ = trained
    r = gguf.GGUFReader(str(out))
    field = r.fields["slm.classifier.labels"]
    labels = [bytes(field.parts[i]).decode() for i in field.data]
    assert labels == ["pos", "neg"] or labels == ["neg", "pos"]
    pooling = r.fields["slm.classifier.pooling"]
    assert bytes(pooling.parts[pooling.data[0]]).decode() == "mean"
    assert int(r.fields["slm.classifier.max_len"].parts[-1][0]) == MAX_LEN
    tensors = {t.name: t for t in r.tensors}
    assert list(tensors["cls.weight"].shape) == [384, 2] and list(tensors["cls.bias"].shape) == [2]
    assert "tokenizer.ggml.tokens" in r.fields and "blk.5.ffn_down.weight" in tensors


def torch_probs(path, folder, texts):
    """The classifier's probabilities computed by PyTorch from the GGUF's weights."""
    r = gguf.GGUFReader(str(path))
    w = {t.name: torch.tensor(np.array(t.data, dtype=np.float32).reshape(list(reversed(t.shape.tolist()))))
         for t in r.tensors}
    tok = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(MAX_LEN)
    ln = torch.nn.functional.layer_norm
    out = []
    for text in texts:
        ids = torch.tensor(tok.encode(text).ids)
        t = len(ids)
        x = w["token_embd.weight"][ids] + w["position_embd.weight"][:t] + w["token_types.weight"][0]
        x = ln(x, (384,), w["token_embd_norm.weight"], w["token_embd_norm.bias"], 1e-12)
        for l in range(6):
            g = lambda n: w[f"blk.{l}.{n}"]
            lin = lambda h, n: h @ g(n + ".weight").T + g(n + ".bias")
            q, k, v = (lin(x, n).view(t, 12, 32).transpose(0, 1) for n in ("attn_q", "attn_k", "attn_v"))
            y = ((q @ k.transpose(-1, -2)) / math.sqrt(32)).softmax(-1) @ v
            h = ln(x + lin(y.transpose(0, 1).reshape(t, 384), "attn_output"), (384,), g("attn_output_norm.weight"),
                   g("attn_output_norm.bias"), 1e-12)
            x = ln(h + lin(torch.nn.functional.gelu(lin(h, "ffn_up")), "ffn_down"), (384,),
                   g("layer_output_norm.weight"), g("layer_output_norm.bias"), 1e-12)
        logits = x.mean(0) @ w["cls.weight"].T + w["cls.bias"]
        out.append(logits.softmax(-1).numpy())
    return np.array(out)


def test_classify_matches_torch(slm, trained, folder, data):
    out, _ = trained
    _, dev_rows = data
    texts = [t for t, _ in dev_rows] + ["an utterly " + "long and winding " * 12 + "film"]  # the last is cut
    proc = run([slm, "classify", "-m", out, "-t", "2", *texts])
    rows = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(rows) == len(texts)
    r = gguf.GGUFReader(str(out))
    field = r.fields["slm.classifier.labels"]
    labels = [bytes(field.parts[i]).decode() for i in field.data]
    got = np.array([[row["probs"][lab] for lab in labels] for row in rows])
    ref = torch_probs(out, folder, texts)
    np.testing.assert_allclose(got, ref, atol=1e-4)
    for row, (text, lab) in zip(rows, dev_rows):
        assert row["label"] == lab, (text, row)


def test_eval_on_dev(slm, trained, data, tmp_path):
    out, _ = trained
    d, _ = data
    run([slm, "eval", "-m", out, "--data", d / "dev.jsonl", "--json", tmp_path / "m.json", "-q", "--bootstrap", "0"])
    assert json.loads((tmp_path / "m.json").read_text())["accuracy"] >= 0.9


def test_errors(slm, base, data, tmp_path):
    d, _ = data
    common = ["--train", d / "train.jsonl", "-o", tmp_path / "x.gguf"]
    other = tmp_path / "gpt2.gguf"  # an architecture slm cannot fine-tune (a llama now takes LoRA)
    w = gguf.GGUFWriter(str(other), "gpt2")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    proc = run([slm, "finetune", "--task", "classify", "-m", other, *common], check=False)
    assert proc.returncode != 0 and b"only BERT-family encoders and llama, qwen2 and gemma3 decoders" in proc.stderr, proc.stderr
    proc = run([slm, "finetune", "--task", "classify", "-m", base, *common, "--lora-rank", "4"], check=False)
    assert proc.returncode != 0 and b"the LoRA settings are for decoders" in proc.stderr, proc.stderr
    proc = run([slm, "finetune", "--task", "summarize", "-m", base, *common], check=False)
    assert proc.returncode != 0 and b"expected classify or tag" in proc.stderr
    proc = run([slm, "finetune", "--task", "classify", "-m", base, *common, "--pooling", "max"], check=False)
    assert proc.returncode != 0 and b"cls or mean" in proc.stderr
    bad_dev = tmp_path / "bad.jsonl"
    write_jsonl(bad_dev, [("fine film", "pos"), ("odd film", "meh")])
    proc = run([slm, "finetune", "--task", "classify", "-m", base, *common, "--dev", bad_dev], check=False)
    assert proc.returncode != 0 and b"meh" in proc.stderr and b"2" in proc.stderr, proc.stderr
    one = tmp_path / "one.jsonl"
    write_jsonl(one, [("fine film", "pos"), ("good film", "pos")])
    proc = run([slm, "finetune", "--task", "classify", "-m", base, "--train", one, "-o", tmp_path / "y.gguf"], check=False)
    assert proc.returncode != 0 and b"at least two" in proc.stderr
    assert not (tmp_path / "x.gguf").exists() and not (tmp_path / "y.gguf").exists()
