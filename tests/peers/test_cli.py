"""The slm command line: every command has --help, bad usage exits 2 with a message, and a
program linking libslm's shared library can do what the CLI does."""
import pytest

from conftest import ROOT, STORIES, run

COMMANDS = ["generate", "info", "tokenize", "convert", "tokenizer", "data", "train"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help(slm, command):
    proc = run([slm, command, "--help"])
    assert proc.stdout.startswith(b"usage: slm " + command.encode())
    assert b"--help" in proc.stdout


def test_top_level_help_lists_commands(slm):
    out = run([slm, "--help"]).stdout
    assert all(c.encode() in out for c in COMMANDS)
    assert run([slm], check=False).returncode == 2
    proc = run([slm, "frobnicate"], check=False)
    assert proc.returncode == 2 and b"unknown command" in proc.stderr


@pytest.mark.parametrize("args,message", [
    (["generate"], b"-m MODEL is required"),
    (["generate", "-m", "x", "--temp", "hot"], b"not a valid number"),
    (["generate", "-m", "x", "--bogus"], b"unknown option"),
    (["generate", "-m"], b"needs a value"),
    (["tokenize", "-m", "x"], b"give -m MODEL and TEXT"),
    (["info"], b"give one FILE"),
    (["convert", "a", "b"], b"CHECKPOINT.bin TOKENIZER.bin OUT.gguf"),
])
def test_bad_usage(slm, args, message):
    proc = run([slm, *args], check=False)
    assert proc.returncode == 2, proc
    assert message in proc.stderr


def test_bad_sampling_values(slm):
    proc = run([slm, "generate", "-m", STORIES / "stories260K.bin", "--top-p", "0"], check=False)
    assert proc.returncode == 1 and b"top-p" in proc.stderr
    proc = run([slm, "generate", "-m", STORIES / "stories260K.bin", "-p", "x" * 5000], check=False)
    assert proc.returncode == 1 and b"context" in proc.stderr


def test_info_lists_tensors(slm, stories_gguf):
    out = run([slm, "info", stories_gguf]).stdout.decode()
    assert "architecture: llama" in out and "parameters: 260032" in out
    assert "blk.0.attn_q.weight" in out and "tokenizer.ggml.tokens" in out
    out = run([slm, "info", STORIES / "stories260K.bin"]).stdout.decode()
    assert "format: llama2.c v0" in out and "wq" in out and "shared_classifier" in out


def test_tokenize_pieces(slm):
    out = run([slm, "tokenize", "-m", STORIES / "tok512.bin", "Once upon"]).stdout.decode()
    assert out.split("\n")[1].split("\t") == ["   403", "▁Once"]
    proc = run([slm, "tokenize", "-m", STORIES / "tok512.bin", "--stdin", "--ids", "--no-bos"], input=b"a\xffb")
    assert proc.returncode == 0 and proc.stdout.strip()


def test_shared_library_links(tmp_path):
    """A program using only include/slm.h, linked against libslm.so."""
    import shutil
    import subprocess
    cc = shutil.which("cc")
    libdir = next((p.parent for p in (ROOT / "build").glob("libslm.so*")), None)
    if not cc or libdir is None:
        pytest.skip("no C compiler or shared library")
    src = tmp_path / "main.c"
    src.write_text("""
#include <stdio.h>
#include "slm.h"
static int piece(const char *t, size_t n, void *u) { (void)u; fwrite(t, 1, n, stdout); return 0; }
int main(int argc, char **argv) {
    slm_model *m; slm_session *s;
    if (slm_model_load(argv[1], NULL, &m) != SLM_OK) { fprintf(stderr, "%s\\n", slm_last_error()); return 1; }
    if (slm_session_new(m, NULL, &s) != SLM_OK) return 1;
    slm_generate_params p = slm_generate_defaults();
    p.sampling.temperature = 0; p.max_positions = 256;
    if (slm_generate(s, "Once upon a time, a small dog", &p, piece, NULL, NULL) != SLM_OK) return 1;
    printf("\\n");
    slm_session_free(s); slm_model_free(m);
    return 0;
}
""")
    exe = tmp_path / "demo"
    subprocess.run([cc, "-std=c11", "-I", str(ROOT / "include"), str(src), "-L", str(libdir), "-lslm", "-o", str(exe)], check=True)
    import os
    env = dict(os.environ, LD_LIBRARY_PATH=str(libdir))
    out = subprocess.run([str(exe), str(STORIES / "stories260K.bin")], capture_output=True, env=env, check=True).stdout
    assert out == (STORIES / "expected_greedy_prompt_once_upon_a_time_a_small_dog.txt").read_bytes()


def test_prompt_filling_the_context(slm):
    """A prompt of exactly the context length still samples one token, then stops cleanly."""
    prompt = "Once upon a time " * 8
    n = len(run([slm, "tokenize", "-m", STORIES / "tok512.bin", "--ids", prompt]).stdout.split())
    proc = run([slm, "generate", "-m", STORIES / "stories260K.bin", "-p", prompt, "-c", str(n), "--temp", "0"])
    assert b"generation: 1 tokens" in proc.stderr and b"stop: length" in proc.stderr
