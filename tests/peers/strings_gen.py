"""A seeded generator of tokenizer test strings (bytes): ASCII words, mixed scripts, emoji,
runs of spaces and newlines, digits, punctuation, the empty string and invalid UTF-8."""
import random

WORDS = ["the", "a", "Hello", "world", "tokenizer", "Once", "upon", "time", "don't", "it's",
         "I'm", "café", "naïve", "über", "Straße", "self-attention", "GPU", "llama.cpp", "x86_64",
         "e.g.", "U.S.A.", "http://example.com/a?b=c", "user@example.org", "C++", "#hashtag"]
SCRIPTS = [
    "Привет мир", "Съешь же ещё этих мягких французских булок", "Γειά σου Κόσμε", "שלום עולם",
    "مرحبا بالعالم", "नमस्ते दुनिया", "こんにちは世界", "你好，世界", "안녕하세요 세계", "สวัสดีชาวโลก",
    "Tiếng Việt có dấu", "Ǆemal ǅ ǆ", "ﬁ ﬂ ﬃ", "Ａｂｃ１２３", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "ÅÄÖ åäö", "ŁÓDŹ", "Ελληνικά",
]
EMOJI = ["🦙", "😀", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "❤️", "🤖", "✨", "🔥", "🧪", "☕", "🏳️‍🌈"]
PUNCT = list(".,;:!?'\"()[]{}<>-_/\\|@#$%^&*+=~`…—–«»“”‘’•·")
SPACES = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\u00a0", "\u3000", "\u2003", "\u200b"]
INVALID = [b"\xff", b"\xfe", b"\x80", b"\xbf", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80",
           b"\xf4\x90\x80\x80", b"\xe2\x82", b"\xf0\x9f\xa6", b"\xc3", b"\xf8\x88\x80\x80\x80"]


def _piece(rng):
    kind = rng.random()
    if kind < 0.30:
        return rng.choice(WORDS).encode()
    if kind < 0.45:
        return rng.choice(SCRIPTS).encode()
    if kind < 0.55:
        return rng.choice(EMOJI).encode()
    if kind < 0.67:
        return rng.choice(SPACES).encode() * rng.randint(1, 4)
    if kind < 0.77:
        return str(rng.randint(0, 10 ** rng.randint(1, 12))).encode()
    if kind < 0.87:
        return "".join(rng.choice(PUNCT) for _ in range(rng.randint(1, 3))).encode()
    if kind < 0.93:
        return rng.choice(INVALID)
    if kind < 0.97:
        return bytes(rng.randint(1, 255) for _ in range(rng.randint(1, 4)))
    return chr(rng.choice([rng.randint(0x20, 0x7e), rng.randint(0xa0, 0x2fff), rng.randint(0x1f300, 0x1faff)])).encode()


def generate(n=2000, seed=1234):
    """n byte strings, always including the empty string and some fixed edge cases."""
    rng = random.Random(seed)
    fixed = [b"", b" ", b"  ", b"\n", b"\n\n\n", b"\t", b" Hello", b"Hello world", b"   leading spaces",
             b"trailing spaces   ", b"0123456789", b"\xff\xfe", b"a\xffb", "🦙🦙🦙".encode()]
    out = list(fixed)
    while len(out) < n:
        parts = [_piece(rng) for _ in range(rng.randint(1, 12))]
        sep = b"" if rng.random() < 0.3 else b" "
        out.append(sep.join(parts))
    return out


def write_records(path, strings):
    """Writes strings as (u32 length, bytes) records for tests/tools/tok_batch."""
    with open(path, "wb") as f:
        for s in strings:
            f.write(len(s).to_bytes(4, "little"))
            f.write(s)
