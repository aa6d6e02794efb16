"""Malformed model files: every header field of the converted stories260K GGUF and of the
llama2.c checkpoint is corrupted in turn, and the files (and the tokenizer) are truncated at 50
points. Each case must end with a clear error message naming the file and a non-zero exit:
never a crash, a hang, a sanitizer report or a silent success."""
import struct

import pytest

from conftest import STORIES, run

BAD_OUTPUT = (b"Sanitizer", b"runtime error", b"Segmentation", b"core dumped")


def gguf_fields(data):
    """Offsets of the header fields of a GGUF file: (description, offset, size) tuples."""
    fields = [("magic", 0, 4), ("version", 4, 4), ("n_tensors", 8, 8), ("n_kv", 16, 8)]
    n_tensors, n_kv = struct.unpack_from("<QQ", data, 8)
    pos = 24
    scalar = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def skip_value(pos, vtype):
        if vtype == 8:
            (n,) = struct.unpack_from("<Q", data, pos)
            return pos + 8 + n
        if vtype == 9:
            etype, count = struct.unpack_from("<IQ", data, pos)
            pos += 12
            for _ in range(count):
                pos = skip_value(pos, etype)
            return pos
        return pos + scalar[vtype]

    kvs = []
    for i in range(n_kv):
        (klen,) = struct.unpack_from("<Q", data, pos)
        key = data[pos + 8:pos + 8 + klen].decode()
        fields.append((f"kv {key}: key length", pos, 8))
        pos += 8 + klen
        (vtype,) = struct.unpack_from("<I", data, pos)
        fields.append((f"kv {key}: type", pos, 4))
        if vtype in (8, 9):
            fields.append((f"kv {key}: {'length' if vtype == 8 else 'array element type'}", pos + 4, 8 if vtype == 8 else 4))
            if vtype == 9:
                fields.append((f"kv {key}: array count", pos + 8, 8))
        kvs.append((key, vtype, pos + 4))
        pos = skip_value(pos + 4, vtype)
    for i in range(n_tensors):
        (nlen,) = struct.unpack_from("<Q", data, pos)
        name = data[pos + 8:pos + 8 + nlen].decode()
        fields.append((f"tensor {name}: name length", pos, 8))
        pos += 8 + nlen
        (n_dims,) = struct.unpack_from("<I", data, pos)
        fields.append((f"tensor {name}: n_dims", pos, 4))
        pos += 4
        for d in range(n_dims):
            fields.append((f"tensor {name}: ne[{d}]", pos, 8))
            pos += 8
        fields.append((f"tensor {name}: type", pos, 4))
        fields.append((f"tensor {name}: offset", pos + 4, 8))
        pos += 12
    return fields, kvs


# Values that no reader may accept for a field of this size.
def corruptions(desc, size):
    if size == 4:
        if desc == "magic":
            return [b"GGUX"]
        if desc == "version":
            return [struct.pack("<I", 1), struct.pack("<I", 99)]
        if desc.endswith("n_dims"):
            return [struct.pack("<I", 0), struct.pack("<I", 9)]
        return [struct.pack("<I", 0xDEADBEEF)]
    if desc.endswith("offset"):
        return [struct.pack("<Q", 2 ** 63 + 32), struct.pack("<Q", 1)]
    if desc.endswith("ne[0]") or desc.endswith("ne[1]"):
        return [struct.pack("<Q", 2 ** 62), struct.pack("<Q", 3)]
    return [struct.pack("<Q", 2 ** 63 - 1), struct.pack("<Q", 0x123456789)]


# Scalar metadata values that must be validated (value, then a wrong replacement).
VALUE_CORRUPTIONS = {
    "llama.embedding_length": struct.pack("<I", 65), "llama.feed_forward_length": struct.pack("<I", 0),
    "llama.block_count": struct.pack("<I", 6), "llama.attention.head_count": struct.pack("<I", 7),
    "llama.attention.head_count_kv": struct.pack("<I", 3), "llama.rope.dimension_count": struct.pack("<I", 4),
    "llama.context_length": struct.pack("<I", 0), "tokenizer.ggml.bos_token_id": struct.pack("<I", 70000),
    "tokenizer.ggml.eos_token_id": struct.pack("<I", 0xFFFFFFFF), "tokenizer.ggml.unknown_token_id": struct.pack("<I", 512),
    "tokenizer.ggml.add_bos_token": b"\x07", "llama.attention.layer_norm_rms_epsilon": struct.pack("<f", -1.0),
}


def expect_clean_error(slm, path, what):
    proc = run([slm, "generate", "-m", path, "-n", "4", "--temp", "0", "--no-echo"], check=False, timeout=120)
    assert proc.returncode == 1, f"{what}: exit {proc.returncode}, stderr {proc.stderr[-500:]!r}"
    assert proc.stderr.startswith(b"error: "), f"{what}: {proc.stderr[-500:]!r}"
    assert not any(b in proc.stderr for b in BAD_OUTPUT), f"{what}: {proc.stderr[-2000:]!r}"
    return proc.stderr.decode(errors="replace")


def test_every_gguf_header_field(slm, stories_gguf, tmp_path):
    data = stories_gguf.read_bytes()
    fields, kvs = gguf_fields(data)
    assert len(fields) > 100
    cases = 0
    for desc, off, size in fields:
        for value in corruptions(desc, size):
            bad = bytearray(data)
            bad[off:off + size] = value
            path = tmp_path / "bad.gguf"
            path.write_bytes(bytes(bad))
            msg = expect_clean_error(slm, path, f"{desc} = {value.hex()}")
            assert str(path) in msg, f"{desc}: message does not name the file: {msg}"
            cases += 1
    for key, vtype, value_off in kvs:
        if key not in VALUE_CORRUPTIONS:
            continue
        bad = bytearray(data)
        value = VALUE_CORRUPTIONS[key]
        bad[value_off:value_off + len(value)] = value
        path = tmp_path / "bad.gguf"
        path.write_bytes(bytes(bad))
        expect_clean_error(slm, path, f"value of {key}")
        cases += 1
    print(f"{cases} corrupted GGUF headers rejected")


def test_every_llama2c_header_field(slm, tmp_path):
    data = (STORIES / "stories260K.bin").read_bytes()
    names = ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"]
    for i, name in enumerate(names):
        for value in (0, -5, 2 ** 31 - 1, 65 if name != "seq_len" else 2 ** 20):
            bad = bytearray(data)
            bad[4 * i:4 * i + 4] = struct.pack("<i", value)
            path = tmp_path / "bad.bin"
            path.write_bytes(bytes(bad))
            (tmp_path / "tok512.bin").write_bytes((STORIES / "tok512.bin").read_bytes())
            msg = expect_clean_error(slm, path, f"{name} = {value}")
            assert str(path) in msg or "tok" in msg, msg


@pytest.mark.parametrize("which", ["gguf", "bin", "tokenizer"])
def test_truncation_at_50_points(slm, stories_gguf, tmp_path, which):
    src = {"gguf": stories_gguf, "bin": STORIES / "stories260K.bin", "tokenizer": STORIES / "tok512.bin"}[which]
    data = src.read_bytes()
    points = sorted({int(len(data) * k / 50) for k in range(50)} | {1, 3, 27, len(data) - 1})
    for cut in points:
        if which == "tokenizer":
            model = tmp_path / "stories260K.bin"
            model.write_bytes((STORIES / "stories260K.bin").read_bytes())
            (tmp_path / "tok512.bin").write_bytes(data[:cut])
            (tmp_path / "tok512.model").unlink(missing_ok=True)
            path = model
        else:
            path = tmp_path / f"cut.{which}"
            path.write_bytes(data[:cut])
        msg = expect_clean_error(slm, path, f"{which} cut at {cut} of {len(data)}")
        assert "truncated" in msg or "not a model" in msg or "out of range" in msg or "shorter" in msg, f"cut {cut}: {msg}"


def test_not_a_model(slm, tmp_path):
    for name, content in [("empty.gguf", b""), ("text.gguf", b"hello world, not a model\n" * 10)]:
        path = tmp_path / name
        path.write_bytes(content)
        expect_clean_error(slm, path, name)
    proc = run([slm, "generate", "-m", tmp_path / "missing.gguf"], check=False)
    assert proc.returncode == 1 and b"cannot open" in proc.stderr
