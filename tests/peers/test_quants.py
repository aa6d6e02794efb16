"""Quantised formats (tests/tools/quant_tool) against the gguf package: dequantisation is bit-exact
for every type, and so are the quantisers the package has; the K-quant quantisers keep their error
within bounds, and no worse than llama.cpp's reference quantisers when those are installed."""
import ctypes
import importlib.util
import pathlib

import numpy as np
import pytest

from conftest import TOOLS, run

gguf = pytest.importorskip("gguf")
Q = gguf.GGMLQuantizationType
TOOL = TOOLS / "quant_tool"

# type: (elements per block, bytes per block, byte offsets of the f16 scale fields). The sizes
# are ggml's (the package's table still gives q8_1 its old 40-byte layout; ggml's is 36).
FORMATS = {
    Q.F32: (1, 4, ()),
    Q.F16: (1, 2, ()),
    Q.BF16: (1, 2, ()),
    Q.Q4_0: (32, 18, (0,)),
    Q.Q4_1: (32, 20, (0, 2)),
    Q.Q5_0: (32, 22, (0,)),
    Q.Q5_1: (32, 24, (0, 2)),
    Q.Q8_0: (32, 34, (0,)),
    Q.Q8_1: (32, 36, (0, 2)),
    Q.Q2_K: (256, 84, (80, 82)),
    Q.Q3_K: (256, 110, (108,)),
    Q.Q4_K: (256, 144, (0, 2)),
    Q.Q5_K: (256, 176, (0, 2)),
    Q.Q6_K: (256, 210, (208,)),
    Q.Q8_K: (256, 292, ()),  # d is a float32 at offset 0
    Q.IQ4_NL: (32, 18, (0,)),
    Q.IQ4_XS: (256, 136, (0,)),
}
K_QUANTS = [Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K]
# Quantisers of our own design (the package has none), held to error bounds like the K-quants.
SEARCHED = K_QUANTS + [Q.IQ4_NL, Q.IQ4_XS]
PACKAGE_QUANTISERS = [Q.F32, Q.F16, Q.BF16, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0]

# Round-trip RMS error relative to the data's RMS on Gaussian data (measured: q8_0 0.54%,
# q4_0 8.5, q4_1 7.8, q5_0 4.2, q5_1 3.8, q2_K 28.3, q3_K 15.0, q4_K 7.1, q5_K 3.5, q6_K 1.77,
# q8_1 0.54, q8_K 0.68, iq4_nl 7.5, iq4_xs 7.7, bf16 0.17, f16 0.021; a little more on other
# seeds).
ERROR_BOUNDS = {
    Q.F32: 0.0, Q.F16: 0.0003, Q.BF16: 0.002,
    Q.Q4_0: 0.09, Q.Q4_1: 0.082, Q.Q5_0: 0.045, Q.Q5_1: 0.04, Q.Q8_0: 0.006, Q.Q8_1: 0.006,
    Q.Q2_K: 0.30, Q.Q3_K: 0.16, Q.Q4_K: 0.075, Q.Q5_K: 0.037, Q.Q6_K: 0.019, Q.Q8_K: 0.008,
    Q.IQ4_NL: 0.08, Q.IQ4_XS: 0.08,
}


def tool(mode, qtype, data, tmp_path):
    """Runs quant_tool on the bytes of data and returns the output bytes."""
    src, dst = tmp_path / "in.bin", tmp_path / "out.bin"
    np.ascontiguousarray(data).tofile(src)
    run([TOOL, mode, int(qtype), src, dst])
    return np.fromfile(dst, dtype=np.uint8)


def reference_dequantize(blocks, qtype):
    """The package's dequantiser, or for the two activation formats it lacks, the formula
    (x = d * q) in the same float32 operations."""
    if qtype == Q.Q8_1:
        d = blocks[:, 0:2].copy().view(np.float16).astype(np.float32)
        return (d * blocks[:, 4:].view(np.int8).astype(np.float32)).ravel()
    if qtype == Q.Q8_K:
        d = blocks[:, 0:4].copy().view(np.float32)
        return (d * blocks[:, 4:260].view(np.int8).astype(np.float32)).ravel()
    return gguf.quants.dequantize(blocks, qtype).ravel()


def random_halves(rng, n):
    """n random finite halves (both signs, subnormals included) as uint16."""
    return rng.integers(0, 0x7C00, n).astype(np.uint16) | (rng.integers(0, 2, n).astype(np.uint16) << 15)


def random_blocks(qtype, rng):
    """Random blocks of qtype (as a (blocks, bytes) uint8 array) whose scales are finite; the
    first blocks carry edge-case scales: zeros of both signs, the largest halves of both signs,
    the smallest and largest subnormals, one."""
    elems, size, scale_offsets = FORMATS[qtype]
    if qtype == Q.F16 or qtype == Q.BF16:  # every bit pattern, NaNs and infinities included
        return np.arange(65536, dtype=np.uint16).view(np.uint8).reshape(-1, 2)
    n = 8192 if elems == 1 else 1024 if elems == 32 else 256
    blocks = rng.integers(0, 256, (n, size), dtype=np.uint8)
    if qtype == Q.F32:
        return blocks
    edges = np.array([0x0000, 0x8000, 0x7BFF, 0xFBFF, 0x0001, 0x03FF, 0x3C00], dtype=np.uint16)
    for off in scale_offsets:
        h = random_halves(rng, n)
        h[: len(edges)] = edges
        h[len(edges): 2 * len(edges)] = np.roll(edges, 1 + off)  # other pairings of d and dmin
        blocks[:, off:off + 2] = h.view(np.uint8).reshape(n, 2)
    if qtype == Q.Q8_K:
        d = (rng.standard_normal(n) * 2.0 ** rng.integers(-30, 30, n)).astype(np.float32)
        d[:4] = [0.0, -0.0, np.finfo(np.float32).tiny, 1.0]
        blocks[:, 0:4] = d.view(np.uint8).reshape(n, 4)
    return blocks


@pytest.mark.parametrize("qtype", list(FORMATS), ids=lambda t: t.name)
def test_dequantize_bit_exact(qtype, tmp_path):
    rng = np.random.default_rng(1000 + int(qtype))
    blocks = random_blocks(qtype, rng)
    ours = tool("dequant", qtype, blocks, tmp_path).view(np.float32)
    ref = reference_dequantize(blocks, qtype)
    assert ours.shape == ref.shape
    diff = np.flatnonzero(ours.view(np.uint32) != ref.view(np.uint32))
    assert diff.size == 0, f"{diff.size} elements differ, first at {diff[0]}: {ours[diff[0]]!r} vs {ref[diff[0]]!r}"


def gaussian(rng, rows=64, cols=256, sigma=1.0):
    return (rng.standard_normal((rows, cols)) * sigma).astype(np.float32)


def edge_rows(rng):
    """Rows of 256 that exercise the corners of the 32-element quantisers."""
    rows = [
        np.zeros(256),
        np.where(np.arange(256) % 32 == 0, -0.0, 0.0),  # zeros led by a negative zero
        np.full(256, 0.7),
        np.full(256, -3.25),
        np.where(np.arange(256) == 77, 50.0, 0.01),  # one spike
        np.tile(np.r_[127.0, np.arange(-15, 16) + 0.5], 8),  # q8_0: d = 1, so every element a tie
        np.tile(np.r_[0.0, 15.0, np.arange(30) % 15 + 0.5], 8),  # q4_1: d = 1, halves in between
        np.tile(np.r_[2.0, -2.0, np.linspace(-1.9, 1.9, 30)], 8),  # +-max tie: the first wins
        np.tile(np.r_[-2.0, 2.0, np.linspace(-1.9, 1.9, 30)], 8),
        np.tile(np.arange(32) * 127.0 / 31 - 63.5, 8),
        rng.standard_normal(256) * 1e4,  # large: scales still finite halves
        rng.standard_normal(256) * 1e-5,  # small: scales are subnormal halves
        rng.uniform(0, 1, 256),  # one-signed
        -rng.uniform(0, 1, 256),
        rng.standard_t(2, 256),  # heavy tails
    ]
    return np.array(rows, dtype=np.float32)


def relative_rms(y, x):
    return float(np.sqrt(np.mean((y.astype(np.float64) - x) ** 2)) / np.sqrt(np.mean(x.astype(np.float64) ** 2)))


@pytest.mark.parametrize("qtype", PACKAGE_QUANTISERS, ids=lambda t: t.name)
def test_quantize_bit_exact(qtype, tmp_path):
    rng = np.random.default_rng(2000 + int(qtype))
    edges = edge_rows(rng)
    if qtype in (Q.Q4_1, Q.Q5_1):  # numpy's min of 0 and -0 depends on its SIMD path: no contract
        edges = edges[~np.all(edges == 0, axis=1)]
    x = np.concatenate([gaussian(rng), gaussian(rng, 16, sigma=1e-3), gaussian(rng, 16, sigma=300.0), edges])
    if qtype in (Q.F16, Q.BF16, Q.F32):  # every exponent, ties, infinities (not NaN: see below)
        bits = rng.integers(0, 2 ** 32, 65536, dtype=np.uint64).astype(np.uint32)
        bits[::7] &= np.uint32(0xFFFFE000) if qtype == Q.F16 else np.uint32(0xFFFF0000)
        bits[::7] |= np.uint32(0x1000) if qtype == Q.F16 else np.uint32(0x8000)  # exact ties
        wide = bits.view(np.float32)
        wide = wide[~np.isnan(wide)]
        wide = wide[: wide.size // 256 * 256].reshape(-1, 256)
        x = np.concatenate([x, wide, np.full((1, 256), np.inf, np.float32)])
    ours = tool("quant", qtype, x, tmp_path)
    with np.errstate(over="ignore"):  # f16 of values beyond its range: infinity
        ref = np.ascontiguousarray(gguf.quants.quantize(x, qtype)).view(np.uint8).ravel()
    assert ours.shape == ref.shape
    diff = np.flatnonzero(ours != ref)
    assert diff.size == 0, f"{diff.size} bytes differ, first at byte {diff[0]}"


def test_bf16_nan_is_quiet(tmp_path):
    """NaNs (signalling ones too) stay NaNs with their sign, as in the package."""
    x = np.array([0x7F800001, 0xFF800001, 0x7FC00000, 0x7FFFFFFF], dtype=np.uint32).view(np.float32)
    ours = tool("quant", Q.BF16, x, tmp_path).view(np.uint16)
    ref = gguf.quants.quantize(x, Q.BF16).view(np.uint16)
    assert np.array_equal(ours, ref)
    assert np.all(np.isnan(gguf.quants.dequantize(ours.view(np.uint8), Q.BF16)))


@pytest.mark.parametrize("qtype", list(FORMATS), ids=lambda t: t.name)
def test_round_trip_error(qtype, tmp_path):
    """dequantize(quantize(x)) on Gaussian data (at unit, small and large scale) stays within
    the type's bound; the package decodes the bytes (it has no K-quant or iq4 quantiser to
    compare)."""
    rng = np.random.default_rng(3000 + int(qtype))
    for sigma in (1.0, 0.01, 100.0):
        x = gaussian(rng, sigma=sigma)
        blocks = tool("quant", qtype, x, tmp_path).reshape(x.size // FORMATS[qtype][0], -1)
        y = reference_dequantize(blocks, qtype)
        err = relative_rms(y, x.ravel())
        assert err <= ERROR_BOUNDS[qtype] * (1.1 if sigma == 0.01 else 1.0), f"sigma {sigma}: error {err:.4%}"


@pytest.mark.parametrize("qtype", SEARCHED, ids=lambda t: t.name)
def test_k_quant_edge_rows(qtype, tmp_path):
    """Zeros give zeros, constants come back within a few half ulps, and the other edge rows
    within a multiple of the type's bound."""
    rng = np.random.default_rng(4000 + int(qtype))
    x = edge_rows(rng)
    y = reference_dequantize(tool("quant", qtype, x, tmp_path).reshape(x.shape[0], -1), qtype).reshape(x.shape)
    assert np.all(np.isfinite(y))
    for row in range(x.shape[0]):
        if np.all(x[row] == x[row, 0]):  # zeros and constants
            assert np.max(np.abs(y[row] - x[row])) <= 2e-3 * abs(x[row, 0]), f"constant row {x[row, 0]}"
        else:
            err = relative_rms(y[row], x[row])
            assert err <= 2.5 * ERROR_BOUNDS[qtype], f"edge row {row}: error {err:.4%}"


def test_q8_1_sum_and_quants(tmp_path):
    """q8_1 holds q8_0's d and quants, and s = sum(q) * d (d before its rounding to a half)."""
    rng = np.random.default_rng(5)
    x = np.concatenate([gaussian(rng), edge_rows(rng)])
    q81 = tool("quant", Q.Q8_1, x, tmp_path).reshape(-1, 36)
    q80 = tool("quant", Q.Q8_0, x, tmp_path).reshape(-1, 34)
    assert np.array_equal(q81[:, 0:2], q80[:, 0:2]) and np.array_equal(q81[:, 4:], q80[:, 2:])
    d = np.abs(x.reshape(-1, 32)).max(axis=1) / np.float32(127)
    sums = q81[:, 4:].view(np.int8).astype(np.int32).sum(axis=1)
    with np.errstate(over="ignore"):  # the 1e4 row's sums overflow a half, as they do in C
        s = (sums.astype(np.float32) * d).astype(np.float16)
    assert np.array_equal(q81[:, 2:4].copy().view(np.uint16).ravel(), s.view(np.uint16))


def test_q8_k_bsums_and_range(tmp_path):
    rng = np.random.default_rng(6)
    x = np.concatenate([gaussian(rng), edge_rows(rng)])
    blocks = tool("quant", Q.Q8_K, x, tmp_path).reshape(-1, 292)
    d = blocks[:, 0:4].copy().view(np.float32).ravel()
    q = blocks[:, 4:260].view(np.int8).astype(np.int32)
    bsums = blocks[:, 260:292].copy().view(np.int16).astype(np.int32)
    assert np.array_equal(bsums, q.reshape(-1, 16, 16).sum(axis=2))
    assert q.min() >= -127 and q.max() <= 127
    assert np.allclose(d, np.abs(x).max(axis=1) / 127, rtol=1e-6, atol=0)
    err = np.abs(d[:, None] * q - x)
    assert np.all(err <= 0.5 * d[:, None] * (1 + 1e-5))


def ggml_base():
    """llama.cpp's ggml base library from the llama_cpp package, or None."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        lib = pathlib.Path(folder) / "lib" / "libggml-base.so"
        if lib.exists():
            try:
                return ctypes.CDLL(str(lib))
            except OSError:
                return None
    return None


@pytest.mark.parametrize("qtype", SEARCHED, ids=lambda t: t.name)
def test_k_quants_as_good_as_llamacpp(qtype, tmp_path):
    """The round-trip error is no worse than that of llama.cpp's reference quantiser (on
    the same Gaussian data, both decoded by the package)."""
    lib = ggml_base()
    if lib is None:
        pytest.skip("llama_cpp's libggml-base is not installed")
    fn = getattr(lib, "quantize_row_" + qtype.name.lower().replace("_k", "_K") + "_ref", None)
    if fn is None:
        pytest.skip(f"libggml-base has no reference quantiser for {qtype.name}")
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    fn.restype = None
    rng = np.random.default_rng(7000 + int(qtype))
    x = gaussian(rng, rows=128)
    block, size = FORMATS[qtype][0], FORMATS[qtype][1]
    theirs = np.zeros(x.size // block * size, dtype=np.uint8)  # iq4_nl: blocks of 32, not 256
    fn(x.ctypes.data, theirs.ctypes.data, x.size)
    ours = tool("quant", qtype, x, tmp_path)
    err_ours = relative_rms(reference_dequantize(ours.reshape(-1, size), qtype), x.ravel())
    err_theirs = relative_rms(reference_dequantize(theirs.reshape(-1, size), qtype), x.ravel())
    assert err_ours <= 1.01 * err_theirs, f"slm {err_ours:.4%} vs llama.cpp {err_theirs:.4%}"
