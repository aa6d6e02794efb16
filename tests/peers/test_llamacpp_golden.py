"""The GGUF that slm convert writes from stories260K loads in llama.cpp, and slm gives the
same answers as llama.cpp on it: tokens, greedy continuations, and logits (1e-4 absolute).
The reference comes from tests/golden/llamacpp_stories260K.json (made by
make_golden_llamacpp.py); when llama-cpp-python is installed the test also runs it live."""
import json
import pathlib

import numpy as np

from conftest import run
from make_golden_llamacpp import llamacpp_reference

GOLDEN = pathlib.Path(__file__).resolve().parents[1] / "golden" / "llamacpp_stories260K.json"


def references(stories_gguf):
    refs = [("golden", json.loads(GOLDEN.read_text()))]
    try:
        import llama_cpp  # noqa: F401
        refs.append(("live", llamacpp_reference(stories_gguf)))
    except ImportError:
        pass
    return refs


def test_slm_matches_llamacpp(slm, tools, stories_gguf):
    for source, ref in references(stories_gguf):
        for case in ref["cases"]:
            ids = run([slm, "tokenize", "-m", stories_gguf, "--ids", case["prompt"]]).stdout.decode().split()
            assert [int(x) for x in ids] == case["tokens"], f"{source}: tokens of {case['prompt']!r}"
            sequence = case["tokens"] + case["greedy"]
            out = run([tools / "logits_dump", stories_gguf, "--tokens", ",".join(map(str, sequence)),
                       "--positions", str(len(sequence) - 1)]).stdout.decode()
            got = np.array([[float(x) for x in line.split("\t")[2].split()] for line in out.strip().split("\n")])
            want = np.array(case["logits"])
            assert got.shape == want.shape
            assert np.abs(got - want).max() < 1e-4, f"{source}: {case['prompt']!r}: {np.abs(got - want).max()}"
            n_prompt = len(case["tokens"])
            assert [int(i) for i in got[n_prompt - 1:].argmax(axis=1)] == case["greedy"], f"{source}: greedy"
