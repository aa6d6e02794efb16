"""stories260K end to end: slm generate at temperature 0 prints exactly the llama2.c reference
output, from the .bin files and from the GGUF that slm convert writes, and the logits of the
first 32 positions agree with the reference dumps to 1e-4."""
import numpy as np
import pytest

from conftest import STORIES, run

PROMPTS = {
    "": ("expected_greedy_empty_prompt.txt", "expected_logits_empty_prompt.tsv"),
    "Once upon a time, a small dog": ("expected_greedy_prompt_once_upon_a_time_a_small_dog.txt",
                                      "expected_logits_prompt_once_upon_a_time_a_small_dog.tsv"),
}


def load_logits(text):
    rows = []
    for line in text.strip("\n").split("\n"):
        pos, tok, values = line.split("\t")
        rows.append((int(pos), int(tok), np.array(values.split(), dtype=np.float64)))
    return rows


@pytest.fixture(params=["bin", "gguf", "gguf-v1-header", "bin-separate-classifier"])
def model_args(request, stories_gguf, slm, tmp_path_factory):
    if request.param == "bin":
        return [STORIES / "stories260K.bin"]
    if request.param == "gguf":
        return [stories_gguf]
    if request.param == "bin-separate-classifier":
        # negative vocab_size: a separate classifier follows the weights (here a copy of the
        # embedding, so the outputs must not change); converted to GGUF with output.weight
        tmp = tmp_path_factory.mktemp("unshared")
        raw = (STORIES / "stories260K.bin").read_bytes()
        header = np.frombuffer(raw[:28], dtype=np.int32).copy()
        emb = raw[28:28 + int(header[5]) * int(header[0]) * 4]
        header[5] = -header[5]
        (tmp / "unshared.bin").write_bytes(header.tobytes() + raw[28:] + emb)
        out = tmp / "unshared.gguf"
        run([slm, "convert", tmp / "unshared.bin", STORIES / "tok512.bin", out])
        return [out]
    # the same weights behind a llama2.c version-1 header, then converted to GGUF
    v1 = tmp_path_factory.mktemp("v1") / "stories260K_v1.bin"
    write_v1_checkpoint(STORIES / "stories260K.bin", v1)
    return [v1, "--tokenizer", STORIES / "tok512.bin"]


def write_v1_checkpoint(legacy, out):
    """Rewrites a legacy llama2.c checkpoint with the version-1 header and weight order."""
    raw = legacy.read_bytes()
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq = np.frombuffer(raw[:28], dtype=np.int32)
    shared = vocab > 0
    vocab = abs(vocab)
    w = np.frombuffer(raw[28:], dtype=np.float32)
    kv = dim // n_heads * n_kv
    sizes = [("emb", vocab * dim), ("rms_att", n_layers * dim), ("wq", n_layers * dim * dim),
             ("wk", n_layers * kv * dim), ("wv", n_layers * kv * dim), ("wo", n_layers * dim * dim),
             ("rms_ffn", n_layers * dim), ("w1", n_layers * hidden * dim), ("w2", n_layers * dim * hidden),
             ("w3", n_layers * hidden * dim), ("rms_final", dim), ("freq", seq * (dim // n_heads))]
    parts, at = {}, 0
    for name, n in sizes:
        parts[name] = w[at:at + n]
        at += n
    header = np.array([0x616B3432, 1], dtype=np.uint32).tobytes()
    header += np.array([dim, hidden, n_layers, n_heads, n_kv, vocab, seq], dtype=np.int32).tobytes()
    header += bytes([1 if shared else 0])
    header += b"\0" * (256 - len(header))
    order = ["rms_att", "rms_ffn", "rms_final", "emb", "wq", "wk", "wv", "wo", "w1", "w2", "w3"]
    out.write_bytes(header + b"".join(parts[k].tobytes() for k in order))


@pytest.mark.parametrize("prompt", list(PROMPTS))
def test_greedy_output_is_exact(slm, model_args, prompt):
    expected = (STORIES / PROMPTS[prompt][0]).read_bytes()
    proc = run([slm, "generate", "-m", *model_args, "-p", prompt, "--temp", "0", "--steps", "256"])
    assert proc.stdout == expected
    assert b"tokens/s" in proc.stderr and b"peak memory" in proc.stderr


@pytest.mark.parametrize("prompt", list(PROMPTS))
def test_logits_match_reference(tools, model_args, prompt):
    expected = load_logits((STORIES / PROMPTS[prompt][1]).read_text())
    args = [tools / "logits_dump", *model_args, "--prompt", prompt, "--positions", "32"]
    got = load_logits(run(args).stdout.decode())
    assert len(got) == len(expected) == 32
    for (p, t, v), (ep, et, ev) in zip(got, expected):
        assert (p, t) == (ep, et)
        assert np.max(np.abs(v - ev)) < 1e-4, f"position {p}: max diff {np.max(np.abs(v - ev))}"


def test_f16_gguf_runs_close(slm, tools, tmp_path):
    """--f16 conversion: same greedy text for the first tokens, logits close to f32."""
    f16 = tmp_path / "s260-f16.gguf"
    run([slm, "convert", "--f16", STORIES / "stories260K.bin", STORIES / "tok512.bin", f16])
    expected = load_logits((STORIES / PROMPTS[""][1]).read_text())
    got = load_logits(run([tools / "logits_dump", f16, "--prompt", "", "--positions", "32"]).stdout.decode())
    assert max(np.max(np.abs(g[2] - e[2])) for g, e in zip(got, expected)) < 0.05


def test_sampling_is_seeded(slm):
    args = [slm, "generate", "-m", STORIES / "stories260K.bin", "-p", "Once upon a time", "-n", "40",
            "--temp", "1.0", "--top-k", "40", "--top-p", "0.9", "--min-p", "0.01", "--repeat-penalty", "1.1"]
    a = run(args + ["--seed", "7"]).stdout
    b = run(args + ["--seed", "7"]).stdout
    c = run(args + ["--seed", "8"]).stdout
    assert a == b and a != c


def test_stop_string(slm):
    proc = run([slm, "generate", "-m", STORIES / "stories260K.bin", "--temp", "0", "--stop", "Lily", "-n", "100"])
    assert proc.stdout == b"Once upon a time, there was a little girl named \n"
    assert b"stop: stop string" in proc.stderr


def test_scalar_kernels_give_the_same_story(slm):
    """SLM_NO_SIMD=1 selects the scalar reference kernels: the same exact output."""
    expected = (STORIES / PROMPTS["Once upon a time, a small dog"][0]).read_bytes()
    proc = run([slm, "generate", "-m", STORIES / "stories260K.bin", "-p", "Once upon a time, a small dog", "--temp", "0",
                "--steps", "256"], env={"SLM_NO_SIMD": "1"})
    assert proc.stdout == expected
