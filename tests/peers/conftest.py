"""Shared fixtures for the peer tests: where the slm binary, the test tools and the data are."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = pathlib.Path(os.environ.get("SLM_DATA", ROOT.parent / "shared" / "data")).resolve()
BIN = pathlib.Path(os.environ.get("SLM_BIN", ROOT / "build" / "slm"))
TOOLS = pathlib.Path(os.environ.get("SLM_TOOLS", ROOT / "build" / "tests"))
SANITIZED = os.environ.get("SLM_SANITIZE", "OFF") in ("ON", "1", "TRUE", "true")
STORIES = DATA / "tiny_lm_models" / "stories260K"


def run(args, check=True, input=None, timeout=300, env=None):
    """Runs a command, returning the CompletedProcess (stdout/stderr as bytes). env: extra
    environment variables."""
    full_env = dict(os.environ, **env) if env else None
    proc = subprocess.run([str(a) for a in args], input=input, capture_output=True, timeout=timeout, env=full_env)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")
    return proc


@pytest.fixture(scope="session")
def slm():
    assert BIN.exists(), f"{BIN} not built"
    return BIN


@pytest.fixture(scope="session")
def tools():
    return TOOLS


@pytest.fixture(scope="session")
def stories_gguf(tmp_path_factory, slm):
    """stories260K converted to GGUF by slm convert."""
    out = tmp_path_factory.mktemp("conv") / "stories260K.gguf"
    run([slm, "convert", STORIES / "stories260K.bin", STORIES / "tok512.bin", out])
    return out
