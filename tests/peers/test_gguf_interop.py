"""GGUF interoperability with the gguf package (the format's reference implementation):
a file the package writes, with every metadata type and nested arrays, reads back in slm with
identical metadata and tensors; and a file slm's writer produces reads back in the package
with identical metadata and tensors."""
import json
import math

import numpy as np
import pytest

from conftest import run

gguf = pytest.importorskip("gguf")
T = gguf.GGUFValueType

# key -> (value, GGUF type, array element type)
METADATA = {
    "test.u8": (200, T.UINT8, None),
    "test.i8": (-100, T.INT8, None),
    "test.u16": (60000, T.UINT16, None),
    "test.i16": (-30000, T.INT16, None),
    "test.u32": (4000000000, T.UINT32, None),
    "test.i32": (-2000000000, T.INT32, None),
    "test.f32": (3.25, T.FLOAT32, None),
    "test.bool_true": (True, T.BOOL, None),
    "test.bool_false": (False, T.BOOL, None),
    "test.string": ("héllo wörld 🦙\n\"quoted\"", T.STRING, None),
    "test.empty_string": ("", T.STRING, None),
    "test.u64": (2 ** 63 + 12345, T.UINT64, None),
    "test.i64": (-(2 ** 62) - 7, T.INT64, None),
    "test.f64": (-1.0e-300, T.FLOAT64, None),
    "test.arr_u8": ([0, 1, 255], T.ARRAY, T.UINT8),
    "test.arr_i16": ([-32768, 0, 32767], T.ARRAY, T.INT16),
    "test.arr_i32": ([1, -2, 3, -4], T.ARRAY, T.INT32),
    "test.arr_f32": ([0.5, -1.25, 1e-30], T.ARRAY, T.FLOAT32),
    "test.arr_u64": ([0, 2 ** 64 - 1], T.ARRAY, T.UINT64),
    "test.arr_f64": ([math.pi, -math.e], T.ARRAY, T.FLOAT64),
    "test.arr_bool": ([True, False, True], T.ARRAY, T.BOOL),
    "test.arr_str": (["a", "", "▁token", "日本"], T.ARRAY, T.STRING),
    "test.nested": ([[1, 2, 3], [4], [5, 6]], T.ARRAY, T.ARRAY),
    "test.nested_str": ([["x", "y"], ["z"]], T.ARRAY, T.ARRAY),
}

RNG = np.random.default_rng(42)
TENSORS = {
    "t.f32": RNG.standard_normal((3, 5)).astype(np.float32),
    "t.f16": RNG.standard_normal((4, 8)).astype(np.float16),
    "t.vec": RNG.standard_normal(7).astype(np.float32),
    "t.i8": RNG.integers(-128, 127, (2, 3), dtype=np.int8),
    "t.i32": RNG.integers(-1000, 1000, (2, 2, 2), dtype=np.int32),
    "t.f64": RNG.standard_normal(3).astype(np.float64),
}


def write_with_package(path):
    w = gguf.GGUFWriter(str(path), "testarch")
    for key, (value, vtype, sub) in METADATA.items():
        if vtype == T.ARRAY and sub == T.ARRAY:
            w.add_array(key, value)
        elif vtype == T.ARRAY:
            w.add_key_value(key, value, vtype, sub_type=sub)
        else:
            w.add_key_value(key, value, vtype)
    for name, arr in TENSORS.items():
        w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def slm_view_of(value, vtype, sub):
    """What gguf_tool dump prints for a metadata value."""
    if vtype == T.STRING:
        return value.encode().hex()
    if vtype == T.ARRAY:
        if sub == T.ARRAY:
            elem = T.get_type(value[0][0]) if value and value[0] else T.INT32
            return [slm_view_of(v, T.ARRAY, elem) for v in value]
        return [slm_view_of(v, sub, None) for v in value]
    if vtype in (T.FLOAT32,):
        return float(np.float32(value))
    return value


def unwrap(v):
    if v["type"] == "array":
        return [unwrap(x) if isinstance(x, dict) else x for x in v["value"]["items"]]
    return v["value"]


def test_slm_reads_package_file(tools, tmp_path):
    path = tmp_path / "from_package.gguf"
    write_with_package(path)
    dump = json.loads(run([tools / "gguf_tool", "dump", path]).stdout)
    meta = dump["metadata"]
    assert meta["general.architecture"]["value"] == b"testarch".hex()
    for key, (value, vtype, sub) in METADATA.items():
        got = unwrap(meta[key])
        want = slm_view_of(value, vtype, sub)
        if key == "test.nested_str":
            want = [[s.encode().hex() for s in inner] for inner in value]
        assert got == want, key
        assert meta[key]["type"] == vtype.name.lower().replace("uint", "u").replace("int", "i").replace("float", "f"), key
    tensors = {t["name"]: t for t in dump["tensors"]}
    assert list(tensors) == list(TENSORS)
    for name, arr in TENSORS.items():
        t = tensors[name]
        assert t["shape"] == list(reversed(arr.shape)), name
        assert bytes.fromhex(t["data"]) == arr.tobytes(), name


def field_value(field):
    return field.contents()


def test_package_reads_slm_file(tools, tmp_path):
    src, copy = tmp_path / "a.gguf", tmp_path / "b.gguf"
    write_with_package(src)
    run([tools / "gguf_tool", "copy", src, copy])
    a, b = gguf.GGUFReader(str(src)), gguf.GGUFReader(str(copy))
    keys_a = [k for k in a.fields if not k.startswith("GGUF.")]
    keys_b = [k for k in b.fields if not k.startswith("GGUF.")]
    assert keys_a == keys_b
    for k in keys_a:
        fa, fb = a.fields[k], b.fields[k]
        assert fa.types == fb.types, k
        assert field_value(fa) == field_value(fb), k
    assert [t.name for t in a.tensors] == [t.name for t in b.tensors]
    for ta, tb in zip(a.tensors, b.tensors):
        assert ta.tensor_type == tb.tensor_type and list(ta.shape) == list(tb.shape), ta.name
        assert np.asarray(ta.data).tobytes() == np.asarray(tb.data).tobytes(), ta.name


def test_converted_model_reads_in_package(slm, stories_gguf):
    r = gguf.GGUFReader(str(stories_gguf))
    assert r.fields["general.architecture"].contents() == "llama"
    assert r.fields["llama.block_count"].contents() == 5
    assert len(r.fields["tokenizer.ggml.tokens"].contents()) == 512
    names = {t.name for t in r.tensors}
    assert "token_embd.weight" in names and "blk.4.ffn_down.weight" in names and "output.weight" not in names
