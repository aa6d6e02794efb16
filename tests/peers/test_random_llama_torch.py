"""A randomly initialised ~15M-parameter Llama (dim 288, 6 layers, 6 heads, vocab 32000)
written in f32 and f16 by the gguf package gives the same logits in slm as a PyTorch
implementation of the same forward pass (1e-4 absolute for f32)."""
import numpy as np
import pytest

from conftest import DATA, run
from random_llama import CONFIG_15M, make_weights, torch_logits, write_gguf

torch = pytest.importorskip("torch")
pytest.importorskip("gguf")
pytest.importorskip("sentencepiece")

TOKENS = [1, 9038, 2501, 263, 931, 29892, 727, 471, 263, 2217, 7826, 4257, 365, 2354, 29889, 13, 3112, 29871, 243, 162]


@pytest.mark.parametrize("variant", ["f32-tied", "f16-untied"])
def test_logits_match_pytorch(tools, tmp_path, variant):
    f16 = variant.startswith("f16")
    cfg = dict(CONFIG_15M, tied=variant.endswith("-tied"))
    weights = make_weights(cfg, seed=1)
    path = write_gguf(tmp_path / f"random-{variant}.gguf", cfg, weights, DATA / "tokenizers" / "llama2_32k" / "tokenizer.model", f16=f16)
    want = torch_logits(cfg, weights, TOKENS, f16=f16)
    out = run([tools / "logits_dump", path, "--tokens", ",".join(map(str, TOKENS)), "--positions", str(len(TOKENS))]).stdout.decode()
    got = np.array([[float(x) for x in line.split("\t")[2].split()] for line in out.strip().split("\n")])
    assert got.shape == want.shape == (len(TOKENS), 32000)
    diff = np.abs(got - want).max()
    print(f"{variant}: max |slm - torch| = {diff:.3g}, logit scale {np.abs(want).max():.3g}")
    assert diff < 1e-4, f"max abs diff {diff}"
    # the same positions with the first 12 tokens evaluated as one batch (prompt processing)
    out = run([tools / "logits_dump", path, "--tokens", ",".join(map(str, TOKENS)), "--positions", str(len(TOKENS)),
               "--prefill", "12"]).stdout.decode()
    batched = np.array([[float(x) for x in line.split("\t")[2].split()] for line in out.strip().split("\n")])
    assert batched.shape == (len(TOKENS) - 11, 32000)
    assert np.abs(batched - want[11:]).max() < 1e-4
