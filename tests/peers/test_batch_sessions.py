"""slm_sessions_eval against slm_session_eval (tests/tools/batch_check.c): eight sessions with
mixed prompts (one past a sliding window), decoding rows, idle steps and prompt chunks evaluated
together give every session exactly the logits and greedy tokens it gets alone (every matmul
kernel sums a row in one order whatever the batch), on the real Gemma 3 270M (quantised) and on
random f32 models of each architecture (random_archs.py)."""
import re

import pytest

from conftest import SANITIZED, run
from gemma import gemma_path
from random_archs import ARCHS, write_model


def batch_check(tools, model, *args):
    out = run([tools / "batch_check", model, *args], timeout=1800).stdout.decode()
    m = re.search(r"max_abs_diff (\S+) steps \d+ sessions \d+ rows (\d+) same_tokens (\d)", out)
    assert m, out
    return float(m.group(1)), int(m.group(2)), m.group(3) == "1"


def test_gemma3_270m(tools):
    path = gemma_path()
    diff, rows, same = batch_check(tools, path, "--sessions", "8", "--steps", "6", "--long", "130" if SANITIZED else "530")
    print(f"Gemma 3 270M: {rows} rows, batched vs alone max |diff| {diff:g}")
    assert same and diff == 0.0, (diff, same)


@pytest.mark.parametrize("arch", ARCHS)
def test_random_f32(tools, tmp_path, arch):
    model = write_model(tmp_path / f"{arch}.gguf", arch)
    diff, rows, same = batch_check(tools, model, "--sessions", "8", "--steps", "6", "--long", "40")
    print(f"{arch}: {rows} rows, batched vs alone max |diff| {diff:g}")
    assert same and diff == 0.0, (diff, same)
