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

from logprobs import kl_top, llamacpp_logprobs, slm_logprobs
from random_archs import ARCHS, TOKENS, write_model

pytest.importorskip("gguf")
pytest.importorskip("sentencepiece")

GOLDEN = pathlib.Path(__file__).resolve().parents[1] / "golden" / "archs_llamacpp.npz"
PREFILL = 16  # longer than gemma3's window of 8: the window applies inside the batch
MAX_KL = 1e-4


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
        lp = slm_logprobs(tools, models[arch], TOKENS, prefill)
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
    ref = llamacpp_logprobs(models[arch], TOKENS)
    lp = slm_logprobs(tools, models[arch], TOKENS)
    kl = (np.exp(ref) * (ref - lp)).sum(1)
    agree = float((lp.argmax(1) == ref.argmax(1)).mean())
    print(f"{arch} (live): argmax agreement {agree:.3f}, KL(llama.cpp || slm) mean {kl.mean():.2e} max {kl.max():.2e}, "
          f"max |log p difference| {np.abs(ref - lp).max():.2e}, llama.cpp entropy {-(np.exp(ref) * ref).sum(1).mean():.2f} nats")
    assert agree == 1.0 and kl.mean() < MAX_KL, arch
