"""slm's LoRA decoder fine-tuning engine against PyTorch, llm.c style: small random decoders of
each architecture (random_archs.py: qwen2, llama with grouped-query attention, gemma3 with
sliding-window and global layers; and gemma3 quantised to q8_0 by slm quantize, so that the
frozen base is dequantised) with adapters on every matrix (or on q and v) and a 3-class head on
the last real token of a padded batch with class weights: the loss must agree within rel. 1e-5
and the gradient of every adapter and of the head within rel. 1e-4 (max|diff| / max|grad|);
then five AdamW steps (clipping, weight decay but on the head's bias) give the same losses
within 1e-4."""
import numpy as np
import pytest

from conftest import run
from random_archs import CONFIGS, write_model
from torch_decoder import TARGETS, TorchDecoder, read_weights

torch = pytest.importorskip("torch")
pytest.importorskip("gguf")
pytest.importorskip("sentencepiece")

B, T, K = 4, 12, 3          # T > gemma3's window of 8: the window matters
LENS = [12, 9, 5, 1]
RANK, ALPHA = 4, 8.0
STEPS, LR, WD, CLIP = 5, 1e-2, 0.01, 1.0


def make_batch(seed):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(3, 32000, size=(B, T)).astype(np.int32)
    tokens[:, 0] = 1  # BOS
    for b, n in enumerate(LENS):
        tokens[b, n:] = 0
    labels = np.array([2, 0, 1, 2], dtype=np.int32)
    weights = np.array([0.5, 2.0, 1.25], dtype=np.float32)
    return tokens, labels, weights


def write_batch(path, tokens, labels, weights):
    with open(path, "wb") as f:
        for a in (np.array([B, T, K], dtype="<i4"), tokens.ravel(), np.array(LENS, dtype="<i4"), labels):
            a.astype("<i4").tofile(f)
        weights.astype("<f4").tofile(f)


def layout(cfg, targets):
    """The engine's trainable buffer: (name, shape) in order."""
    E, F, hd = cfg["n_embd"], cfg["n_ff"], cfg["head_dim"]
    Q, KV = cfg["n_head"] * hd, cfg["n_head_kv"] * hd
    dims = {"attn_q": (E, Q), "attn_k": (E, KV), "attn_v": (E, KV), "attn_output": (Q, E),
            "ffn_gate": (E, F), "ffn_up": (E, F), "ffn_down": (F, E)}
    out = []
    for l in range(cfg["n_layer"]):
        for name in TARGETS.values():  # the engine's order: q, k, v, o, gate, up, down
            if name in targets:
                ic, oc = dims[name]
                out += [((l, name, "a"), (RANK, ic)), ((l, name, "b"), (oc, RANK))]
    return out + [("cls.weight", (K, E)), ("cls.bias", (K,))]


def split(raw, entries):
    out, off = {}, 0
    for key, shape in entries:
        n = int(np.prod(shape))
        out[key] = raw[off:off + n].reshape(shape)
        off += n
    assert off == raw.size, (off, raw.size)
    return out


CASES = [("qwen2", "f32", "all"), ("llama", "f32", "all"), ("gemma3", "f32", "all"), ("gemma3", "q8_0", "all"),
         ("gemma3", "f32", "q,v")]


@pytest.mark.parametrize("arch,qtype,targets", CASES, ids=["-".join(c) for c in CASES])
def test_lora_matches_torch(tmp_path, slm, tools, arch, qtype, targets):
    model = write_model(tmp_path / f"{arch}.gguf", arch)
    if qtype != "f32":
        quantised = tmp_path / f"{arch}-{qtype}.gguf"
        run([slm, "quantize", "-q", model, quantised, qtype])
        model = quantised
    tokens, labels, class_w = make_batch(3)
    batch, params_out, grads_out = tmp_path / "batch.bin", tmp_path / "params.bin", tmp_path / "grads.bin"
    write_batch(batch, tokens, labels, class_w)
    proc = run([tools / "lora_train_dump", model, batch, params_out, grads_out, RANK, ALPHA, targets, STEPS, LR, WD,
                CLIP])
    lines = proc.stdout.decode().split("\n")
    slm_loss = float(lines[0].split()[1])
    slm_steps = [float(line.split()[3]) for line in lines[1:] if line.startswith("step")]

    cfg = dict(CONFIGS[arch], arch=arch)
    wanted = {TARGETS[t] for t in TARGETS} if targets == "all" else {TARGETS[t] for t in targets.split(",")}
    entries = layout(cfg, wanted)
    init = split(np.fromfile(params_out, dtype="<f4"), entries)
    got = split(np.fromfile(grads_out, dtype="<f4"), entries)
    p = {key: torch.tensor(v.copy(), requires_grad=True) for key, v in init.items()}
    net = TorchDecoder(cfg, read_weights(model))
    tok, lab, cw = torch.from_numpy(tokens).long(), torch.from_numpy(labels).long(), torch.from_numpy(class_w)

    def loss_fn():
        adapters = {(l, name): (p[(l, name, "a")], p[(l, name, "b")]) for (l, name, part), _ in
                    [(k, None) for k in p if isinstance(k, tuple)] if part == "a"}
        logits = net.logits(tok, LENS, adapters, p["cls.weight"], p["cls.bias"], ALPHA, RANK)
        return torch.nn.functional.cross_entropy(logits, lab, weight=cw)

    loss = loss_fn()
    loss.backward()
    assert abs(slm_loss - loss.item()) <= 1e-5 * abs(loss.item()), (slm_loss, loss.item())
    for key, t in p.items():
        ref = t.grad.numpy()
        assert np.abs(ref).max() > 0, key
        err = np.abs(got[key] - ref).max() / np.abs(ref).max()
        assert err < 1e-4, f"{key}: rel. error {err:.2e}"

    decay = [t for k, t in p.items() if k != "cls.bias"]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD}, {"params": [p["cls.bias"]], "weight_decay": 0.0}],
                            lr=LR, betas=(0.9, 0.999), eps=1e-8)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(p.values()), CLIP)
        opt.step()
        losses.append(loss.item())
    assert len(slm_steps) == STEPS
    np.testing.assert_allclose(slm_steps, losses, atol=1e-4, rtol=0)
    assert losses[-1] < losses[0]
