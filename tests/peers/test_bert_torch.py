"""slm's BERT training engine against PyTorch, llm.c style: a small random BERT with a
classification head (written as GGUF with the gguf package, llama.cpp's tensor names) and one
padded batch of variable-length sequences with class weights: the loss must agree within
rel. 1e-5 and every parameter gradient within rel. 1e-4 (max|diff| / max|grad|), for mean and
CLS pooling; then five AdamW steps (clipping, weight decay on matrices only) give the same
losses within 1e-4. The same for the token-classification head (a label per position, -1 left
out, as torch's ignore_index)."""
import math

import numpy as np
import pytest

from conftest import run

torch = pytest.importorskip("torch")
gguf = pytest.importorskip("gguf")

V, C, NH, F, L, P, TY, K = 53, 32, 4, 64, 2, 16, 2, 3
B, T = 5, 11
LENS = [11, 7, 3, 1, 9]
EPS = 1e-12
STEPS, LR, WD, CLIP = 5, 2e-3, 0.01, 0.5

# the engine's parameter buffer, in order: (name, shape, one tensor per layer?, weight decay?)
LAYOUT = [
    ("token_embd.weight", (V, C), False, True),
    ("position_embd.weight", (P, C), False, True),
    ("token_types.weight", (TY, C), False, True),
    ("token_embd_norm.weight", (C,), False, False),
    ("token_embd_norm.bias", (C,), False, False),
    ("attn_q.weight", (C, C), True, True), ("attn_q.bias", (C,), True, False),
    ("attn_k.weight", (C, C), True, True), ("attn_k.bias", (C,), True, False),
    ("attn_v.weight", (C, C), True, True), ("attn_v.bias", (C,), True, False),
    ("attn_output.weight", (C, C), True, True), ("attn_output.bias", (C,), True, False),
    ("attn_output_norm.weight", (C,), True, False), ("attn_output_norm.bias", (C,), True, False),
    ("ffn_up.weight", (F, C), True, True), ("ffn_up.bias", (F,), True, False),
    ("ffn_down.weight", (C, F), True, True), ("ffn_down.bias", (C,), True, False),
    ("layer_output_norm.weight", (C,), True, False), ("layer_output_norm.bias", (C,), True, False),
    ("cls.weight", (K, C), False, True),
    ("cls.bias", (K,), False, False),
]


def names_of(entry):
    name, _, layered, _ = entry
    return [f"blk.{l}.{name}" for l in range(L)] if layered else [name]


def make_weights(seed):
    rng = np.random.default_rng(seed)
    w = {}
    for entry in LAYOUT:
        name, shape = entry[0], entry[1]
        for full in names_of(entry):
            if name.endswith("norm.weight"):
                w[full] = (1.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
            elif name.endswith(".bias"):
                w[full] = (0.05 * rng.standard_normal(shape)).astype(np.float32)
            else:
                w[full] = (0.2 * rng.standard_normal(shape)).astype(np.float32)
    return w


def write_gguf(path, weights, pooling):
    wr = gguf.GGUFWriter(str(path), "bert")
    wr.add_uint32("bert.embedding_length", C)
    wr.add_uint32("bert.block_count", L)
    wr.add_uint32("bert.attention.head_count", NH)
    wr.add_uint32("bert.feed_forward_length", F)
    wr.add_uint32("bert.context_length", P)
    wr.add_float32("bert.attention.layer_norm_epsilon", EPS)
    wr.add_uint32("bert.pooling_type", pooling)
    for name, value in weights.items():
        wr.add_tensor(name, value)
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()


def make_batch(seed):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(1, V, size=(B, T)).astype(np.int32)
    for b, n in enumerate(LENS):
        tokens[b, n:] = 0  # padding
    labels = rng.integers(0, K, size=B).astype(np.int32)
    weights = np.array([0.5, 2.0, 1.25], dtype=np.float32)
    return tokens, labels, weights


def write_batch(path, tokens, labels, weights):
    head = np.array([B, T, K, 0 if weights is None else 1], dtype="<i4")
    with open(path, "wb") as f:
        for a in (head, tokens.ravel(), np.array(LENS, dtype="<i4"), labels.ravel()):
            a.astype("<i4").tofile(f)
        if weights is not None:
            weights.astype("<f4").tofile(f)


def make_token_labels(seed):
    """O/B/I labels per position; -1 on padding, [CLS], and about a third of the others (continuation pieces)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, K, size=(B, T)).astype(np.int32)
    labels[rng.random((B, T)) < 0.3] = -1
    labels[:, 0] = -1
    for b, n in enumerate(LENS):
        labels[b, n:] = -1
    labels[0, 1] = 1  # at least one labelled position
    return labels


def torch_encode(p, tokens):
    """The encoder's top layer (B, T, C) and the validity mask (B, T)."""
    tok = torch.tensor(tokens, dtype=torch.long)
    lens = torch.tensor(LENS)
    valid = torch.arange(T)[None, :] < lens[:, None]  # (B, T)
    ln = torch.nn.functional.layer_norm
    x = p["token_embd.weight"][tok] + p["position_embd.weight"][:T][None] + p["token_types.weight"][0]
    x = ln(x, (C,), p["token_embd_norm.weight"], p["token_embd_norm.bias"], EPS)
    hd = C // NH
    mask = torch.zeros(B, 1, 1, T).masked_fill(~valid[:, None, None, :], float("-inf"))
    for l in range(L):
        g = lambda n: p[f"blk.{l}.{n}"]
        lin = lambda h, n: h @ g(n + ".weight").T + g(n + ".bias")
        q = lin(x, "attn_q").view(B, T, NH, hd).transpose(1, 2)
        k = lin(x, "attn_k").view(B, T, NH, hd).transpose(1, 2)
        v = lin(x, "attn_v").view(B, T, NH, hd).transpose(1, 2)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(hd) + mask
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C)
        h = ln(x + lin(y, "attn_output"), (C,), g("attn_output_norm.weight"), g("attn_output_norm.bias"), EPS)
        f = lin(torch.nn.functional.gelu(lin(h, "ffn_up")), "ffn_down")
        x = ln(h + f, (C,), g("layer_output_norm.weight"), g("layer_output_norm.bias"), EPS)
    return x, valid


def torch_loss(p, tokens, labels, class_w, pooling):
    x, valid = torch_encode(p, tokens)
    if pooling == 3:  # a head on every position, -1 labels ignored
        logits = x @ p["cls.weight"].T + p["cls.bias"]
        return torch.nn.functional.cross_entropy(logits.reshape(B * T, K),
                                                 torch.tensor(labels.ravel(), dtype=torch.long), ignore_index=-1)
    if pooling == 2:
        pooled = x[:, 0]
    else:
        m = valid[..., None].float()
        pooled = (x * m).sum(1) / m.sum(1)
    logits = pooled @ p["cls.weight"].T + p["cls.bias"]
    return torch.nn.functional.cross_entropy(logits, torch.tensor(labels, dtype=torch.long),
                                             weight=torch.tensor(class_w))


def slm_grads(raw):
    """Splits the engine's gradient buffer into named tensors."""
    out, off = {}, 0
    for entry in LAYOUT:
        n = int(np.prod(entry[1]))
        for full in names_of(entry):
            out[full] = raw[off:off + n].reshape(entry[1])
            off += n
    assert off == raw.size
    return out


@pytest.mark.parametrize("pooling", [1, 2, 3], ids=["mean", "cls", "token"])
def test_bert_matches_torch(tmp_path, tools, pooling):
    weights = make_weights(7 + pooling)
    tokens, labels, class_w = make_batch(11)
    if pooling == 3:
        labels, class_w = make_token_labels(13), None
    model, batch, grads = tmp_path / "bert.gguf", tmp_path / "batch.bin", tmp_path / "grads.bin"
    write_gguf(model, weights, 1 if pooling == 3 else pooling)
    write_batch(batch, tokens, labels, class_w)
    proc = run([tools / "bert_train_dump", model, batch, grads, STEPS, LR, WD, CLIP, pooling])
    lines = proc.stdout.decode().split("\n")
    slm_loss = float(lines[0].split()[1])
    slm_steps = [float(line.split()[3]) for line in lines[1:] if line.startswith("step")]

    p = {k: torch.tensor(v, requires_grad=True) for k, v in weights.items()}
    loss = torch_loss(p, tokens, labels, class_w, pooling)
    loss.backward()
    assert abs(slm_loss - loss.item()) <= 1e-5 * abs(loss.item()), (slm_loss, loss.item())
    got = slm_grads(np.fromfile(grads, dtype="<f4"))
    top = max(np.abs(t.grad.numpy()).max() for t in p.values())
    for name, t in p.items():
        ref = t.grad.numpy()
        if name.endswith("attn_k.bias"):
            # zero in exact arithmetic (softmax ignores a shift of all scores): both must be noise
            assert np.abs(got[name]).max() < 1e-6 * top and np.abs(ref).max() < 1e-6 * top, name
            continue
        err = np.abs(got[name] - ref).max() / np.abs(ref).max()
        assert err < 1e-4, f"{name}: rel. error {err:.2e}"

    decay = [p[n] for e in LAYOUT if e[3] for n in names_of(e)]
    no_decay = [p[n] for e in LAYOUT if not e[3] for n in names_of(e)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=LR, betas=(0.9, 0.999), eps=1e-8)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = torch_loss(p, tokens, labels, class_w, pooling)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(p.values()), CLIP)
        opt.step()
        losses.append(loss.item())
    assert len(slm_steps) == STEPS
    np.testing.assert_allclose(slm_steps, losses, atol=1e-4, rtol=0)
    assert losses[-1] < losses[0]
