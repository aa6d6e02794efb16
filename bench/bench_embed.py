"""Sentence-embedding throughput, slm vs sentence-transformers (PyTorch) on the CPU: texts/s
of all-MiniLM-L6-v2 over the 1,000 dataset sentences of the embedding test, same threads,
alternating runs (the machine is shared: compare within one run of this script); prints
each run, the best of each, the ratio, and the achieved GFLOP/s from the real token counts.
The peer runs in --peer-python (a Python with sentence-transformers; default this one).
usage: bench_embed.py [--build build] [--threads 2] [--reps 3] [--batch 32] [--peer-python P]"""
import argparse
import json
import pathlib
import re
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "peers"))
from minilm import dataset_sentences, minilm_path  # noqa: E402

PEER = r"""
import json, sys, time, torch
from sentence_transformers import SentenceTransformer
folder, path, threads, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
texts = open(path, encoding="utf-8").read().split("\n")[:-1]
model = SentenceTransformer(folder, device="cpu")
model.encode(texts[:64], batch_size=batch)  # warm-up
t = time.perf_counter()
with torch.inference_mode():
    model.encode(texts, batch_size=batch)
t = time.perf_counter() - t
ids = model.tokenize(texts)["attention_mask"]
print(json.dumps({"seconds": t, "tokens": int(ids.sum())}))
"""


def slm_run(slm, model, path, threads, batch):
    proc = subprocess.run([slm, "embed", "-m", model, "--file", path, "--format", "f32", "-t", str(threads), "-b", str(batch)],
                          capture_output=True, check=True)
    m = re.search(r"embedded (\d+) texts in ([\d.]+) s", proc.stderr.decode())
    return float(m.group(2))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--peer-python", default=sys.executable)
    a = ap.parse_args()
    slm = ROOT / a.build / "slm"
    folder = minilm_path()
    data = ROOT.parent / "shared" / "data"
    texts = dataset_sentences(data)
    tmp = pathlib.Path(tempfile.mkdtemp())
    path = tmp / "sentences.txt"
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    gguf = tmp / "minilm.gguf"
    subprocess.run([slm, "convert", folder, gguf], check=True, capture_output=True)
    slm_run(slm, gguf, path, a.threads, a.batch)  # warm-up (page cache)
    ours, theirs, tokens = [], [], 0
    for rep in range(a.reps):
        ours.append(slm_run(slm, gguf, path, a.threads, a.batch))
        out = subprocess.run([a.peer_python, "-c", PEER, str(folder), str(path), str(a.threads), str(a.batch)],
                             capture_output=True, check=True)
        peer = json.loads(out.stdout.decode().strip().splitlines()[-1])
        theirs.append(peer["seconds"])
        tokens = peer["tokens"]
        print(f"rep {rep}: slm {len(texts) / ours[-1]:.1f} texts/s, sentence-transformers {len(texts) / theirs[-1]:.1f} texts/s")
    best_ours, best_theirs = min(ours), min(theirs)
    # multiply-adds per token: 4 E^2 (q, k, v, output) + 2 E F (feed-forward) per layer
    E, F, L = 384, 1536, 6
    gflop = 2 * tokens * L * (4 * E * E + 2 * E * F) / 1e9
    print(f"{len(texts)} sentences, {tokens} tokens, {a.threads} threads, batch {a.batch}")
    print(f"slm embed:             {len(texts) / best_ours:8.1f} texts/s  ({gflop / best_ours:.1f} GFLOP/s in the matmuls)")
    print(f"sentence-transformers: {len(texts) / best_theirs:8.1f} texts/s  ({gflop / best_theirs:.1f} GFLOP/s)")
    print(f"ratio slm / sentence-transformers: {best_theirs / best_ours:.2f}")


if __name__ == "__main__":
    main()
