"""Random byte flips in the header of the real Gemma 3 270M GGUF (metadata with its 262,144-token
vocabulary, and the tensor infos): `slm info --no-model` on every case and `slm generate` on a
subset must either succeed or exit 1 with a message starting "error: ", never crash, hang or
trip a sanitizer. Flips are seeded; each is undone before the next."""
import os
import random
import shutil
import time

from conftest import SANITIZED, run
from gemma import gemma_path
from test_malformed import BAD_OUTPUT, gguf_fields

SEED = 20261126
CASES = 300 if SANITIZED else 400
GENERATE_EVERY = 4  # slm generate on every k-th case
TIMEOUT = 120 if SANITIZED else 30  # seconds; longer means a hang
SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def header_layout(path):
    """(infos_end, data_offset, fields): where the tensor infos end, where the data section
    starts, and (description, offset, size) of every structural header field and scalar
    metadata value."""
    with open(path, "rb") as f:
        head = f.read(16 << 20)  # Gemma 3 270M's header is 6.5 MB
    fields, kvs = gguf_fields(head)
    fields += [(f"kv {key}: value", off, SCALAR_SIZES[vtype]) for key, vtype, off in kvs if vtype in SCALAR_SIZES]
    assert not any(key == "general.alignment" for key, _, _ in kvs)
    end = max(off + size for _, off, size in fields)  # the last tensor's offset field
    return end, (end + 31) // 32 * 32, fields


def check(proc, what):
    err = proc.stderr
    assert not any(b in err for b in BAD_OUTPUT), f"{what}: {err[-2000:]!r}"
    assert proc.returncode in (0, 1), f"{what}: exit {proc.returncode}, stderr {err[-1000:]!r}"
    if proc.returncode == 1:
        assert err.startswith(b"error: "), f"{what}: {err[-1000:]!r}"
    return proc.returncode == 0


def test_header_byte_flips(slm, tmp_path):
    src = gemma_path()
    path = tmp_path / "gemma3-fuzz.gguf"
    shutil.copyfile(src, path)
    infos_end, data_offset, fields = header_layout(path)
    tensor_infos = min(off for desc, off, _ in fields if desc.startswith("tensor "))
    with open(src, "rb") as f:
        original = f.read(data_offset)
    assert original[infos_end:] == bytes(data_offset - infos_end), "no zero padding before the data section"
    for args in (["info", "--no-model", path], ["generate", "-m", path, "-n", "1", "--temp", "0"]):
        run([slm] + args, timeout=TIMEOUT)  # the unflipped copy works
    rng = random.Random(SEED)
    counts = {"info ok": 0, "info error": 0, "generate ok": 0, "generate error": 0}
    start = time.monotonic()
    fd = os.open(path, os.O_RDWR)
    try:
        for case in range(CASES):
            # a structural field or scalar value, anywhere in the tensor infos, or anywhere at all
            r = rng.random()
            if r < 0.45:
                desc, off, size = rng.choice(fields)
                off += rng.randrange(size)
            elif r < 0.75:
                desc, off = "tensor infos", rng.randrange(tensor_infos, data_offset)
            else:
                desc, off = "header", rng.randrange(0, data_offset)
            mask = rng.randrange(1, 256)
            what = f"case {case}: byte {off} ({desc}) ^= {mask:#04x}"
            old = original[off]
            os.pwrite(fd, bytes([old ^ mask]), off)
            try:
                proc = run([slm, "info", "--no-model", path], check=False, timeout=TIMEOUT)
                ok = check(proc, what + ", info")
                counts["info ok" if ok else "info error"] += 1
                if case % GENERATE_EVERY == 0:
                    proc = run([slm, "generate", "-m", path, "-n", "1", "--temp", "0"], check=False, timeout=TIMEOUT)
                    gen_ok = check(proc, what + ", generate")
                    assert ok or not gen_ok, f"{what}: info rejects the file but generate runs"
                    counts["generate ok" if gen_ok else "generate error"] += 1
            finally:
                os.pwrite(fd, bytes([old]), off)
    finally:
        os.close(fd)
    with open(path, "rb") as f:
        assert f.read(data_offset) == original, "a flip was not undone"
    seconds = time.monotonic() - start
    print(f"{CASES} flips in the first {data_offset} bytes in {seconds:.1f} s: {counts}")
    assert counts["info error"] >= CASES // 10, "few flips were caught: are they landing in the header?"
    if not SANITIZED:
        assert seconds < 60
