"""Every real model and quantisation variant against native llama.cpp, from
tests/golden/models_llamacpp.* (made by make_golden_models.py): over the 520 teacher-forced
positions of a fixed text, mean KL divergence (llama.cpp || slm) < 0.01 nats and next-token
argmax agreement >= 93 %. slm runs one token at a time (its batched kernels give the same floats,
test_qdot checks that). A model that is not installed, or whose file is not the one the golden
was made from, is skipped with the command that makes it (tests/peers/real_models.py --setup)."""
import json
import os
import pathlib

import numpy as np
import pytest

import real_models
from conftest import SANITIZED
from logprobs import kl_top, slm_logprobs
from make_golden_models import fingerprint

GOLDEN = pathlib.Path(__file__).resolve().parents[1] / "golden"
META = json.loads((GOLDEN / "models_llamacpp.json").read_text()) if (GOLDEN / "models_llamacpp.json").exists() else {"models": {}}


@pytest.fixture(scope="module")
def arrays():
    return np.load(GOLDEN / "models_llamacpp.npz")


@pytest.mark.skipif(SANITIZED, reason="real models are too slow under the sanitizers")
@pytest.mark.parametrize("name", sorted(META["models"]))
def test_model_matches_llamacpp(tools, arrays, name):
    info = META["models"][name]
    path = real_models.path(name)
    if path is None:
        pytest.skip(f"{name} is not installed: {real_models.SETUP}")
    if os.path.getsize(path) != info["size"] or fingerprint(path) != info["fingerprint"]:
        pytest.skip(f"{path} is not the file the golden was made from (tests/peers/make_golden_models.py remakes it)")
    key = info["key"]
    tokens = [int(t) for t in arrays[f"{key}_tokens"]]
    lp = slm_logprobs(tools, path, tokens, timeout=1800)
    top_ids, top_lp = arrays[f"{key}_top_ids"], arrays[f"{key}_top_lp"].astype(np.float64)
    kl = float(np.mean(kl_top(top_ids, top_lp, lp)))
    agree = float(np.mean(lp.argmax(axis=1) == arrays[f"{key}_argmax"]))
    print(f"{name}: {len(tokens)} positions, mean KL {kl:.5f}, argmax agreement {agree:.4f}")
    assert kl < 0.01
    assert agree >= 0.93
