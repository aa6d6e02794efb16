"""slm's trainer against PyTorch, llm.c style: a tiny random Llama (dim 64, 2 layers, 4 heads,
2 key/value heads, tok512's 512 tokens) written as GGUF is loaded by both; one batch must give
the same loss (rel. 1e-5) and every parameter gradient (max|diff| / max|grad| < 1e-4), then ten
AdamW steps (warmup + cosine, clipping, weight decay, gradient accumulation) the same losses
(within 1e-4) on TinyStories text; the GGUF slm saves loads in `slm generate` and gives PyTorch's logits."""
import math

import numpy as np
import pytest

from conftest import DATA, run
from random_llama import make_weights, write_gguf
from torch_llama import TorchLlama

torch = pytest.importorskip("torch")
gguf = pytest.importorskip("gguf")
pytest.importorskip("sentencepiece")

TOK512 = DATA / "tiny_lm_models" / "stories260K" / "tok512.model"
CFG = dict(dim=64, hidden=160, n_layers=2, n_heads=4, n_kv_heads=2, vocab=512, ctx=32)
B, T, ACCUM, STEPS = 4, 32, 2, 10
OPT = dict(lr=1e-2, min_lr=1e-3, warmup=3, total=STEPS, wd=0.1, clip=1.0, beta1=0.9, beta2=0.95, eps=1e-8)


def batches(n_steps, accum, seed):
    """Windows (n_steps, accum, B, T) of a TinyStories sample tokenised with tok512, at random
    offsets, and their next tokens."""
    import sentencepiece

    text = (DATA / "tinystories" / "cs336_tinystories_sample.txt").read_text()
    ids = np.array(sentencepiece.SentencePieceProcessor(model_file=str(TOK512)).encode(text), dtype=np.int32)
    starts = np.random.default_rng(seed).integers(0, len(ids) - T - 1, size=(n_steps, accum, B))
    seq = ids[starts[..., None] + np.arange(T + 1)]
    return seq[..., :-1].copy(), seq[..., 1:].copy()


def write_data(path, tokens, targets):
    np.concatenate([tokens.ravel(), targets.ravel()]).astype("<i4").tofile(path)


def lr_at(step):
    o = OPT
    if step < o["warmup"]:
        return o["lr"] * (step + 1) / o["warmup"]
    ratio = min(1.0, (step - o["warmup"]) / (o["total"] - o["warmup"]))
    return o["min_lr"] + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (o["lr"] - o["min_lr"])


def opt_args():
    o = OPT
    return ["--lr", o["lr"], "--min-lr", o["min_lr"], "--warmup", o["warmup"], "--total", o["total"], "--wd", o["wd"],
            "--clip", o["clip"], "--beta2", o["beta2"]]


@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
def test_gradients_match_pytorch(tools, tmp_path, tied):
    cfg = dict(CFG, tied=tied)
    weights = make_weights(cfg, seed=7)
    model = write_gguf(tmp_path / "tiny.gguf", cfg, weights, TOK512)
    tokens, targets = batches(1, ACCUM, seed=11)
    write_data(tmp_path / "data.bin", tokens, targets)
    (tmp_path / "grads").mkdir()
    out = run([tools / "train_dump", model, "--data", tmp_path / "data.bin", "--batch", B, "--seq", T, "--accum", ACCUM,
               "--grads", tmp_path / "grads"]).stdout.decode()
    slm_loss = float(out.split()[1])

    tm = TorchLlama(cfg, weights, T)
    total = 0.0
    for k in range(ACCUM):
        loss = tm.loss(tokens[0, k], targets[0, k]) / ACCUM
        loss.backward()
        total += loss.item()
    rel_loss = abs(slm_loss - total) / abs(total)
    print(f"\n{'tied' if tied else 'untied'}: loss slm {slm_loss:.7f} torch {total:.7f}, rel diff {rel_loss:.2e}")
    assert rel_loss < 1e-5

    worst = 0.0
    for name, p in tm.p.items():
        want = p.grad.numpy()
        got = np.fromfile(tmp_path / "grads" / f"{name}.f32", dtype=np.float32).reshape(want.shape)
        rel = np.abs(got - want).max() / np.abs(want).max()
        worst = max(worst, rel)
        print(f"  {name:28s} max|slm - torch| / max|torch| = {rel:.2e}  (max|grad| {np.abs(want).max():.3g})")
        assert rel < 1e-4, name
    print(f"  worst over {len(tm.p)} gradients: {worst:.2e}")


def test_adamw_steps_match_pytorch(slm, tools, tmp_path):
    cfg = dict(CFG, tied=False)
    weights = make_weights(cfg, seed=3)
    model = write_gguf(tmp_path / "tiny.gguf", cfg, weights, TOK512)
    tokens, targets = batches(STEPS, ACCUM, seed=5)
    write_data(tmp_path / "data.bin", tokens, targets)
    trained = tmp_path / "trained.gguf"
    out = run([tools / "train_dump", model, "--data", tmp_path / "data.bin", "--batch", B, "--seq", T, "--accum", ACCUM,
               "--steps", STEPS, "--eval", "--save", trained, *opt_args()]).stdout.decode().split("\n")
    slm_steps = [dict(zip(l.split()[::2], map(float, l.split()[1::2]))) for l in out if l.startswith("step")]
    slm_eval = float([l for l in out if l.startswith("eval")][0].split()[1])

    tm = TorchLlama(cfg, weights, T)
    # no decay on norms and (decay_embeddings off) the token embedding
    decay = [p for n, p in tm.p.items() if "norm" not in n and n != "token_embd.weight"]
    no_decay = [p for n, p in tm.p.items() if "norm" in n or n == "token_embd.weight"]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": OPT["wd"]}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=OPT["lr"], betas=(OPT["beta1"], OPT["beta2"]), eps=OPT["eps"])
    worst = 0.0
    for s in range(STEPS):
        opt.zero_grad()
        total = 0.0
        for k in range(ACCUM):
            loss = tm.loss(tokens[s, k], targets[s, k]) / ACCUM
            loss.backward()
            total += loss.item()
        norm = torch.nn.utils.clip_grad_norm_(list(tm.p.values()), OPT["clip"]).item()
        for g in opt.param_groups:
            g["lr"] = lr_at(s)
        opt.step()
        got = slm_steps[s]
        diff = abs(got["loss"] - total)
        worst = max(worst, diff)
        print(f"step {s + 1:2d}: loss slm {got['loss']:.7f} torch {total:.7f} |diff| {diff:.1e}; "
              f"grad norm slm {got['norm']:.5f} torch {norm:.5f}; lr {got['lr']:.6f}")
        assert diff < 1e-4
        assert abs(got["lr"] - lr_at(s)) < 1e-9 + 1e-6 * lr_at(s)
        assert abs(got["norm"] - norm) < 1e-4 * norm
    with torch.no_grad():
        torch_eval = sum(tm.loss(tokens[0, k], targets[0, k]).item() for k in range(ACCUM)) / ACCUM
    print(f"max |loss diff| over {STEPS} steps: {worst:.2e}; eval after training: slm {slm_eval:.7f} torch {torch_eval:.7f}")
    assert abs(slm_eval - torch_eval) < 1e-4

    # the saved file: the trained weights (close to PyTorch's), and inference runs it
    reader = gguf.GGUFReader(str(trained))
    saved = {t.name: np.array(t.data).reshape(tm.p[t.name].shape) for t in reader.tensors}
    assert set(saved) == set(tm.p)
    wdiff = max(np.abs(saved[n] - p.detach().numpy()).max() / np.abs(p.detach().numpy()).max() for n, p in tm.p.items())
    print(f"saved weights vs PyTorch's after {STEPS} steps: max rel diff {wdiff:.2e}")
    assert wdiff < 1e-3
    probe = [1, 403, 407, 261, 378, 434, 260, 352]
    out = run([tools / "logits_dump", trained, "--tokens", ",".join(map(str, probe))]).stdout.decode()
    got = np.array([[float(x) for x in line.split("\t")[2].split()] for line in out.strip().split("\n")])
    small = TorchLlama(cfg, saved, T)
    with torch.no_grad():
        want = small.logits(torch.tensor([probe]))[0].numpy()
    print(f"inference on the saved file vs PyTorch on its weights: max |logit diff| {np.abs(got - want).max():.2e}")
    assert np.abs(got - want).max() < 1e-4
    gen = run([slm, "generate", "-m", trained, "-p", "Once upon a time", "-n", "8", "--temp", "0", "--ignore-eos"])
    text = gen.stdout.decode()
    print(f"slm generate on the saved file: {text!r}")
    assert text.startswith("Once upon a time") and len(text) > len("Once upon a time")
