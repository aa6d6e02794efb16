"""`slm data prepare` and `slm train` end to end: shards that detokenise back to the text, a
deterministic split, a short run whose loss falls and whose CSV, SVG and checkpoint are written
(the checkpoint runs in `slm generate`), a run killed with SIGKILL and resumed that gives the
same per-step losses bit for bit, and clear errors on bad input."""
import os
import signal
import struct
import subprocess
import time

import numpy as np
import pytest

from conftest import DATA, SANITIZED, STORIES, run

TOK = STORIES / "tok512.bin"
SEP = "<|endoftext|>"


def stories(n_bytes):
    """The first documents of the TinyStories training head, about n_bytes of them."""
    text = (DATA / "tinystories" / "tinystories_train_head_2MiB.txt").read_text()[:n_bytes]
    return text[: text.rfind(SEP)]


def read_shard(path):
    data = path.read_bytes()
    magic, version, vocab, width, _, n = struct.unpack("<8sIIIIQ", data[:32])
    assert magic == b"SLMTOKS\0" and version == 1 and vocab == 512 and width == 2
    ids = np.frombuffer(data[32:], dtype="<u2")
    assert len(ids) == n
    return ids


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    (d / "a.txt").write_text(stories(120_000))
    return d


@pytest.fixture(scope="module")
def shards(slm, corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("shards")
    run([slm, "data", "prepare", "-m", TOK, "-o", out, "--val-fraction", "0.1", "--seed", "3", corpus])
    return out


def test_prepare_round_trip(slm, tmp_path):
    sentencepiece = pytest.importorskip("sentencepiece")
    sp = sentencepiece.SentencePieceProcessor(model_file=str(STORIES / "tok512.model"))
    docs = ["Once upon a time there was a cat.", "The dog ran.\nIt was happy!", "Tom said, \"Hi\" to Sue."]
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "a.txt").write_text(docs[0] + "\n" + SEP + "\n" + docs[1] + SEP)
    (tmp_path / "in" / "sub" / "b.jsonl").write_text('{"id": 1, "body": "Tom said, \\"Hi\\" to Sue."}\n')
    (tmp_path / "in" / ".hidden.txt").write_text("never read")
    proc = run([slm, "data", "prepare", "-m", TOK, "-o", tmp_path / "out", "--field", "body", tmp_path / "in"])
    assert b"3 docs" in proc.stderr or b"train: 3 docs" in proc.stderr
    ids = read_shard(tmp_path / "out" / "train-00000.bin").tolist()
    assert not (tmp_path / "out" / "val-00000.bin").exists() or len(read_shard(tmp_path / "out" / "val-00000.bin")) == 0
    bos = sp.bos_id()
    starts = [i for i, t in enumerate(ids) if t == bos]
    assert starts[0] == 0 and len(starts) == 3
    got = [sp.decode(ids[a + 1 : b]) for a, b in zip(starts, starts[1:] + [len(ids)])]
    assert got == docs
    assert ids == sum(([bos] + sp.encode(d) for d in docs), [])
    assert (tmp_path / "out" / "tokenizer.gguf").exists()


def test_prepare_split_is_deterministic(slm, corpus, shards, tmp_path):
    run([slm, "data", "prepare", "-q", "-m", TOK, "-o", tmp_path / "same", "--val-fraction", "0.1", "--seed", "3", corpus])
    run([slm, "data", "prepare", "-q", "-m", TOK, "-o", tmp_path / "other", "--val-fraction", "0.1", "--seed", "4", corpus])
    run([slm, "data", "prepare", "-q", "-m", TOK, "-o", tmp_path / "all", "--shard-tokens", "5000", corpus])
    for split in ("train", "val"):
        assert (tmp_path / "same" / f"{split}-00000.bin").read_bytes() == (shards / f"{split}-00000.bin").read_bytes()
    assert (tmp_path / "other" / "val-00000.bin").read_bytes() != (shards / "val-00000.bin").read_bytes()
    train, val = read_shard(shards / "train-00000.bin"), read_shard(shards / "val-00000.bin")
    everything = np.concatenate([read_shard(p) for p in sorted((tmp_path / "all").glob("train-*.bin"))])
    assert len(sorted((tmp_path / "all").glob("train-*.bin"))) > 1
    assert len(train) + len(val) == len(everything)
    assert 0.03 < len(val) / len(everything) < 0.25


def train_args(slm, shards, out, steps=30, extra=()):
    return [slm, "train", "--data", shards, "-o", out, "--dim", "32", "--layers", "2", "--heads", "4", "--kv-heads", "2",
            "--seq", "32", "--batch", "4", "--steps", str(steps), "--lr", "3e-3", "--warmup", "3", "--eval-every", "10",
            "--eval-batches", "2", "--seed", "7", "-t", "2", *extra]


def losses(csv):
    rows = csv.read_text().strip().split("\n")
    assert rows[0] == "step,loss,val_loss,lr,tokens_per_s"
    return [tuple(r.split(",")[:3]) for r in rows[1:]]


def test_train_loss_falls_and_checkpoint_generates(slm, shards, tmp_path):
    out = tmp_path / "m.gguf"
    proc = run(train_args(slm, shards, out, extra=["--checkpoint-every", "10"]))
    assert b"done: 30 steps" in proc.stderr
    rows = losses(tmp_path / "m.csv")
    assert [int(r[0]) for r in rows] == list(range(1, 31))
    first, last = np.mean([float(r[1]) for r in rows[:3]]), np.mean([float(r[1]) for r in rows[-3:]])
    assert last < first - 0.5, (first, last)
    assert rows[9][2] and rows[29][2] and not rows[4][2]
    svg = (tmp_path / "m.svg").read_text()
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>") and "polyline" in svg
    assert (tmp_path / "m-step000010.gguf").exists() and (tmp_path / "m-step000020.gguf").exists()
    assert not list(tmp_path.glob("*.tmp*"))
    gen = run([slm, "generate", "-m", out, "-p", "Once upon a time", "-n", "16", "--temp", "0"])
    assert gen.stdout.startswith(b"Once upon a time") and len(gen.stdout) > 20
    info = run([slm, "info", tmp_path / "m-step000010.gguf"]).stdout.decode()
    assert "slm.train.step" in info and "slm.train.m.token_embd.weight" in info


def test_config_file_and_flags(slm, shards, tmp_path):
    (tmp_path / "c.json").write_text('{"dim": 32, "layers": 1, "heads": 2, "seq": 16, "batch": 2, "steps": 3, "tied": true}')
    proc = run([slm, "train", "--data", shards, "-o", tmp_path / "a.gguf", "--config", tmp_path / "c.json", "--steps", "2"])
    assert b"1 layers, dim 32" in proc.stderr and b"done: 2 steps" in proc.stderr
    (tmp_path / "c.txt").write_text("# tiny\ndim = 32\nlayers=1\nheads=2\nseq=16\nbatch=2\nsteps=2\n")
    proc = run([slm, "train", "--data", shards, "-o", tmp_path / "b.gguf", "--config", tmp_path / "c.txt"])
    assert b"done: 2 steps" in proc.stderr


def test_resume_after_sigkill_is_bit_exact(slm, shards, tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    run(train_args(slm, shards, full / "m.gguf", extra=["--checkpoint-every", "5"]))
    part = tmp_path / "part"
    part.mkdir()
    proc = subprocess.Popen([str(a) for a in train_args(slm, shards, part / "m.gguf", extra=["--checkpoint-every", "5"])],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = part / "m-step000010.gguf"
    deadline = time.time() + 300
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    killed = proc.poll() is None
    if killed:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert killed and proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert ckpt.exists() and not (part / "m.gguf").exists()
    run([slm, "train", "--resume", ckpt])
    assert losses(part / "m.csv") == losses(full / "m.csv")


def test_bad_input(slm, shards, tmp_path):
    proc = run([slm, "train", "-o", tmp_path / "x.gguf"], check=False)
    assert proc.returncode == 2 and b"--data DIR" in proc.stderr
    proc = run([slm, "train", "--data", tmp_path / "nope", "-o", tmp_path / "x.gguf"], check=False)
    assert proc.returncode == 1 and b"error:" in proc.stderr
    proc = run([slm, "train", "--data", shards, "-o", tmp_path / "x.gguf", "--dim", "30", "--heads", "4"], check=False)
    assert proc.returncode == 2 and b"--heads" in proc.stderr
    (tmp_path / "bad.json").write_text('{"dim": "wide"}')
    proc = run([slm, "train", "--data", shards, "-o", tmp_path / "x.gguf", "--config", tmp_path / "bad.json"], check=False)
    assert proc.returncode == 2 and b"not a valid integer" in proc.stderr
    (tmp_path / "bad.txt").write_text("dim 32\n")
    proc = run([slm, "train", "--data", shards, "-o", tmp_path / "x.gguf", "--config", tmp_path / "bad.txt"], check=False)
    assert proc.returncode == 2 and b"bad.txt:1" in proc.stderr
    (tmp_path / "junk.gguf").write_bytes(b"GGUF" + b"\x03" * 40)
    proc = run([slm, "train", "--resume", tmp_path / "junk.gguf"], check=False)
    assert proc.returncode == 1 and b"error:" in proc.stderr
    # a model file that is not a checkpoint
    run([slm, "convert", STORIES / "stories260K.bin", TOK, tmp_path / "s.gguf"])
    proc = run([slm, "train", "--resume", tmp_path / "s.gguf"], check=False)
    assert proc.returncode == 1 and b"not a training checkpoint" in proc.stderr
    # corrupt shards: a truncated file, an id outside the vocabulary
    bad = tmp_path / "badshards"
    bad.mkdir()
    (bad / "tokenizer.gguf").write_bytes((shards / "tokenizer.gguf").read_bytes())
    data = (shards / "train-00000.bin").read_bytes()
    (bad / "train-00000.bin").write_bytes(data[:-3])
    proc = run([slm, "train", "--data", bad, "-o", tmp_path / "x.gguf"], check=False)
    assert proc.returncode == 1 and b"header says" in proc.stderr
    (bad / "train-00000.bin").write_bytes(data[:40] + b"\xff\xff" + data[42:])
    proc = run([slm, "train", "--data", bad, "-o", tmp_path / "x.gguf"], check=False)
    assert proc.returncode == 1 and b"outside the vocabulary" in proc.stderr
    proc = run([slm, "data", "prepare", "-m", TOK, "-o", tmp_path / "o", tmp_path / "missing.txt"], check=False)
    assert proc.returncode == 1 and b"missing.txt" in proc.stderr
    proc = run([slm, "data", "prepare", "-m", tmp_path / "junk.gguf", "-o", tmp_path / "o", shards], check=False)
    assert proc.returncode == 1
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"text": 3}\n')
    proc = run([slm, "data", "prepare", "-m", TOK, "-o", tmp_path / "o", tmp_path / "bad.jsonl"], check=False)
    assert proc.returncode == 1 and b"bad.jsonl:2" in proc.stderr
    proc = run([slm, "data", "prepare", "-m", TOK, "-o", tmp_path / "o", "--val-fraction", "1.5", shards], check=False)
    assert proc.returncode == 1 and b"validation fraction" in proc.stderr
    proc = run([slm, "data", "frobnicate"], check=False)
    assert proc.returncode == 2
