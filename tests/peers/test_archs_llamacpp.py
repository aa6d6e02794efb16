"""Each architecture against llama.cpp: small random f32 models (random_archs.py: qwen2 with q/k/v
biases and half-split RoPE, llama with grouped-query attention and an untied output, gemma3 with
q/k norms, post-norms, GeGLU, a scaled embedding, and sliding-window and global layers) give
the same next-token distributions in slm as in llama.cpp: the same argmax everywhere and mean
KL(llama.cpp || slm) < 1e-4, against tests/golden/archs_llamacpp.npz (make_golden_archs.py),
token by token and with the first tokens as one prompt batch, and live when llama-cpp-python
is installed."""
import pathlib

import numpy as np
import pytest

from conftest import run
from random_archs import ARCHS, TOKENS, write_model

pytest.importorskip("gguf")
pytest.importorskip("sentencepiece")

GOLDEN = pathlib.Path(__file__).resolve().parents[1] / "golden" / "archs_llamacpp.npz"
PREFILL = 16  # longer than gemma3's window of 8: the window applies inside the batch
MAX_KL = 1e-4


def log_softmax(z):
    z = z.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def slm_logprobs(tools, path, prefill=0):
    """slm's log-probabilities at each position (from PREFILL - 1 on when prefill is set)."""
    args = [tools / "logits_dump", path, "--tokens", ",".join(map(str, TOKENS)), "--positions", str(len(TOKENS)), "--binary"]
    if prefill:
        args += ["--prefill", str(prefill)]
    raw = run(args).stdout
    return log_softmax(np.frombuffer(raw, dtype=np.float32).reshape(-1, 32000))


def kl_top(top_ids, top_lp, lp):
    """KL(reference || lp) per position from the reference's top-k log-probabilities, the
    mass outside them taken as one event."""
    p = np.exp(top_lp)
    ours = np.take_along_axis(lp, top_ids, axis=1)
    rest_p, rest_q = np.clip(1 - p.sum(1), 1e-12, 1), np.clip(1 - np.exp(ours).sum(1), 1e-12, 1)
    return (p * (top_lp - ours)).sum(1) + rest_p * np.log(rest_p / rest_q)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("archs")
    return {arch: write_model(tmp / f"{arch}.gguf", arch) for arch in ARCHS}


@pytest.mark.parametrize("arch", ARCHS)
def test_matches_llamacpp_golden(tools, models, arch):
    golden = np.load(GOLDEN)
    ids, top = golden[f"{arch}_top_ids"], golden[f"{arch}_top_logprobs"].astype(np.float64)
    argmax = golden[f"{arch}_argmax"]
    assert ids.shape == (len(TOKENS), 40)
    for prefill in (0, PREFILL):
        lp = slm_logprobs(tools, models[arch], prefill)
        first = prefill - 1 if prefill else 0
        assert lp.shape == (len(TOKENS) - first, 32000)
        kl = kl_top(ids[first:], top[first:], lp)
        agree = float((lp.argmax(1) == argmax[first:]).mean())
        how = f"prompt batch of {prefill}" if prefill else "token by token"
        print(f"{arch} ({how}): argmax agreement {agree:.3f}, KL(llama.cpp || slm) mean {kl.mean():.2e} max {kl.max():.2e}")
        assert agree == 1.0, f"{arch} ({how}): argmax differs at positions {np.nonzero(lp.argmax(1) != argmax[first:])[0] + first}"
        assert kl.mean() < MAX_KL, f"{arch} ({how}): mean KL {kl.mean():.3g}"


@pytest.mark.parametrize("arch", ARCHS)
def test_matches_llamacpp_live(tools, models, arch):
    pytest.importorskip("llama_cpp")
    from make_golden_archs import llamacpp_logprobs
    ref = llamacpp_logprobs(models[arch])
    lp = slm_logprobs(tools, models[arch])
    kl = (np.exp(ref) * (ref - lp)).sum(1)
    agree = float((lp.argmax(1) == ref.argmax(1)).mean())
    print(f"{arch} (live): argmax agreement {agree:.3f}, KL(llama.cpp || slm) mean {kl.mean():.2e} max {kl.max():.2e}, "
          f"max |log p difference| {np.abs(ref - lp).max():.2e}, llama.cpp entropy {-(np.exp(ref) * ref).sum(1).mean():.2f} nats")
    assert agree == 1.0 and kl.mean() < MAX_KL, arch
