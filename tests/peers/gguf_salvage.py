"""Reads the metadata of a GGUF file whose every non-UTF-8 byte sequence was replaced by U+FFFD
(llama.cpp's ggml-vocab-*.gguf as shared here). Strings survive; a count or length field keeps
its bytes below 0x80, and each U+FFFD stands for one byte in 0x80..0xFF (for a count, possibly
for two or three bytes of one incomplete sequence). Such fields are resolved by what must follow
them; every other damaged value is skipped and reported as None."""
import re

FFFD = b"\xef\xbf\xbd"
KEY = re.compile(rb"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+")
MAX_TOKEN_BYTES = 4096


class Damaged(ValueError):
    """The file cannot be salvaged (the message says where and why)."""


def _key_at(raw, pos):
    """(key, value type, position of the value) if a metadata key starts at pos, else None."""
    n = int.from_bytes(raw[pos:pos + 8], "little")
    if not 3 <= n < 128 or pos + 12 + n > len(raw):
        return None
    key = raw[pos + 8:pos + 8 + n]
    vtype = int.from_bytes(raw[pos + 8 + n:pos + 12 + n], "little")
    return (key.decode(), vtype, pos + 12 + n) if KEY.fullmatch(key) and vtype <= 12 else None


def _fields(raw, pos, size=8, widths=(1,)):
    """Readings of a damaged little-endian field of size bytes at pos: (bytes, None where
    unknown; end position) for each number of bytes a U+FFFD may stand for."""
    def walk(p, vals):
        if len(vals) >= size:
            if len(vals) == size:
                yield vals, p
            return
        if raw[p:p + 3] == FFFD:
            for w in widths:
                yield from walk(p + 3, vals + [None] * w)
        else:
            yield from walk(p + 1, vals + [raw[p]])
    yield from walk(pos, [])


def _values(vals):
    """The integers a damaged field can hold (unknown bytes in 0x80..0xFF), or None if too many."""
    out = [0]
    for i, v in enumerate(vals):
        out = [o + (c << (8 * i)) for o in out for c in ([v] if v is not None else range(0x80, 0x100))]
        if len(out) > 1 << 16:
            return None
    return out


def _is_text(b):
    if b"\x00" in b:
        return False
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _element_fits(raw, pos, depth=2):
    """Whether a string element (or the next key, or the end) can start at pos, looking depth
    elements ahead."""
    if pos == len(raw) or _key_at(raw, pos) is not None:
        return True
    for vals, p in _fields(raw, pos):
        for n in _values(vals) or []:
            if n <= MAX_TOKEN_BYTES and _is_text(raw[p:p + n]) and (depth == 0 or _element_fits(raw, p + n, depth - 1)):
                return True
    return False


def _string_array(raw, pos, key):
    heads = [(v, p) for v, p in _fields(raw, pos, widths=(1, 2, 3)) if _element_fits(raw, p)]
    if len(heads) != 1:
        raise Damaged(f"{key}: the element count at byte {pos} cannot be read")
    count_vals, pos = heads[0]
    out = []
    while pos < len(raw) and _key_at(raw, pos) is None:
        head = raw[pos:pos + 8]
        if head[0] < 0x80 and head[1:] == bytes(7):  # the usual case: an intact length below 128
            n, p = head[0], pos + 8
        else:
            (vals, p), = _fields(raw, pos)
            fits = [n for n in _values(vals) or [] if n <= MAX_TOKEN_BYTES and _is_text(raw[p:p + n]) and _element_fits(raw, p + n)]
            if len(fits) != 1:
                raise Damaged(f"{key}[{len(out)}]: the length at byte {pos} is ambiguous ({fits[:4]})")
            n = fits[0]
        out.append(raw[p:p + n])
        pos = p + n
    counts = _values(count_vals)
    if counts is None or len(out) not in counts:
        raise Damaged(f"{key}: read {len(out)} strings but the count field holds {count_vals}")
    return out, pos


def _i32_array(raw, pos, key):
    for count_vals, start in _fields(raw, pos, widths=(1, 2, 3)):
        end = start
        while end < len(raw) and _key_at(raw, end) is None:
            end += 4
        if end <= len(raw) and (end - start) // 4 in (_values(count_vals) or []):
            return [int.from_bytes(raw[i:i + 4], "little", signed=True) for i in range(start, end, 4)], end
    raise Damaged(f"{key}: the element count at byte {pos} cannot be read")


def salvage_metadata(path):
    """{key: value} of a damaged GGUF: strings as bytes, string arrays as lists of bytes, i32
    arrays as lists of ints, anything else None. Raises Damaged when the layout is lost."""
    raw = path.read_bytes()
    if raw[:4] != b"GGUF":
        raise Damaged(f"{path.name}: no GGUF magic")
    n_kv = int.from_bytes(raw[16:24], "little")
    pos, kv = 24, {}
    for _ in range(n_kv):
        k = _key_at(raw, pos)
        if k is None:
            raise Damaged(f"{path.name}: lost the metadata layout at byte {pos}")
        key, vtype, pos = k
        etype = int.from_bytes(raw[pos:pos + 4], "little")
        if vtype == 8:
            n = int.from_bytes(raw[pos:pos + 8], "little")
            kv[key], pos = raw[pos + 8:pos + 8 + n], pos + 8 + n
        elif vtype == 9 and etype == 8:
            kv[key], pos = _string_array(raw, pos + 4, key)
        elif vtype == 9 and etype == 5:  # i32: token types are small, so the elements survive
            kv[key], pos = _i32_array(raw, pos + 4, key)
        else:
            end = pos
            while end < len(raw) and _key_at(raw, end) is None:
                end += 1
            kv[key], pos = None, end
    return kv
