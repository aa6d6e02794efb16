"""`slm finetune --task classify` with LoRA on a decoder, end to end on stories260K (a tiny Llama
converted by slm convert): a small labelled set whose label is in the last word is learnt; the
output GGUF holds only the adapters, the head and the keys that refer to the base (llama.cpp's
adapter names and keys); `slm classify` and `slm eval` open it; a moved base is found beside the
classifier, a missing or different one is a clear error."""
import json
import shutil

import numpy as np
import pytest

from conftest import run

gguf = pytest.importorskip("gguf")

GOOD = ["happy", "nice", "good", "kind", "fun", "sweet"]
BAD = ["sad", "mad", "bad", "sick", "scared", "hurt"]
FRAMES = ["the girl was {}", "Lily felt {}", "the dog is very {}", "they were all {}"]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps({"text": t, "label": l}) + "\n" for t, l in rows))


@pytest.fixture(scope="module")
def trained(slm, stories_gguf, tmp_path_factory):
    d = tmp_path_factory.mktemp("lora")
    rows = [(f.format(w), lab) for f in FRAMES for ws, lab in ((GOOD, "pos"), (BAD, "neg")) for w in ws]
    rows = [rows[i] for i in np.random.default_rng(0).permutation(len(rows))]
    write_jsonl(d / "train.jsonl", rows)
    write_jsonl(d / "dev.jsonl", rows[:16])
    base = d / "base" / "stories.gguf"
    base.parent.mkdir()
    shutil.copy(stories_gguf, base)
    out = d / "clf.gguf"
    proc = run([slm, "finetune", "--task", "classify", "-m", base, "--train", d / "train.jsonl", "--dev",
                d / "dev.jsonl", "-o", out, "--epochs", "6", "--lr", "1e-2", "--batch", "8", "--max-len", "16",
                "--lora-rank", "4", "--lora-alpha", "8", "--lora-targets", "all", "-t", "2"], timeout=600)
    return d, base, out, proc.stderr.decode()


def test_learns(trained):
    _, _, _, log = trained
    assert "epoch 6/6" in log and "dev accuracy" in log, log
    best = max(float(line.split("dev accuracy ")[1].split("%")[0]) for line in log.splitlines() if "dev accuracy" in line)
    assert best >= 85.0, log


def test_output_file(trained):
    _, base, out, _ = trained
    r = gguf.GGUFReader(str(out))
    names = {t.name for t in r.tensors}
    assert "blk.0.attn_q.weight.lora_a" in names and "blk.4.ffn_down.weight.lora_b" in names
    assert "cls.weight" in names and "token_embd.weight" not in names and "blk.0.attn_q.weight" not in names
    text = lambda key: bytes(r.fields[key].parts[-1]).decode()
    assert text("general.type") == "adapter" and text("adapter.type") == "lora"
    assert text("slm.classifier.pooling") == "last" and text("slm.lora.targets") == "q,k,v,o,gate,up,down"
    assert text("slm.lora.base_path") == str(base.resolve())
    assert int(r.fields["slm.lora.base_size"].parts[-1][0]) == base.stat().st_size
    assert out.stat().st_size < base.stat().st_size


def test_classify_and_eval(slm, trained, tmp_path):
    d, _, out, _ = trained
    texts = [json.loads(line)["text"] for line in (d / "dev.jsonl").read_text().splitlines()]
    proc = run([slm, "classify", "-m", out, "-t", "2", *texts])
    rows = [json.loads(line) for line in proc.stdout.decode().splitlines() if line.strip()]
    assert len(rows) == 16 and all(abs(sum(r["probs"].values()) - 1) < 1e-5 for r in rows)
    run([slm, "eval", "-m", out, "--data", d / "dev.jsonl", "--json", tmp_path / "m.json", "-q", "--bootstrap", "0"])
    assert json.loads((tmp_path / "m.json").read_text())["accuracy"] >= 0.85


def test_base_moved_or_missing(slm, trained, tmp_path):
    d, base, out, _ = trained
    moved = tmp_path / "clf.gguf"
    shutil.copy(out, moved)
    hidden = base.with_suffix(".away")
    base.rename(hidden)
    try:
        proc = run([slm, "eval", "-m", moved, "--data", d / "dev.jsonl", "-q", "--bootstrap", "0"], check=False)
        assert proc.returncode != 0 and b"base model is missing" in proc.stderr, proc.stderr
        shutil.copy(hidden, tmp_path / base.name)  # beside the classifier: found there
        run([slm, "eval", "-m", moved, "--data", d / "dev.jsonl", "-q", "--bootstrap", "0"])
        with open(tmp_path / base.name, "ab") as f:  # a different file of that name
            f.write(b"\0" * 64)
        proc = run([slm, "eval", "-m", moved, "--data", d / "dev.jsonl", "-q", "--bootstrap", "0"], check=False)
        assert proc.returncode != 0 and b"bytes, but the adapters were trained on one of" in proc.stderr, proc.stderr
    finally:
        hidden.rename(base)


def test_errors(slm, trained, tmp_path):
    d, base, _, _ = trained
    common = ["--task", "classify", "-m", base, "--train", d / "train.jsonl", "-o", tmp_path / "x.gguf"]
    proc = run([slm, "finetune", *common, "--lora-targets", "q,x"], check=False)
    assert proc.returncode != 0 and b'unknown module "x"' in proc.stderr, proc.stderr
    proc = run([slm, "finetune", *common, "--lora-rank", "-1"], check=False)
    assert proc.returncode != 0 and b"rank -1" in proc.stderr, proc.stderr
    proc = run([slm, "finetune", *common, "--pooling", "cls"], check=False)
    assert proc.returncode != 0 and b"--pooling is for encoders" in proc.stderr, proc.stderr
    assert not (tmp_path / "x.gguf").exists()
