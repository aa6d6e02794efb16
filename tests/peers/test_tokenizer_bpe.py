"""Byte-level BPE tokenizer: slm agrees with the Hugging Face tokenizers package on generated
strings (encode, decode, the streaming pieces) for GPT-2 and Llama 3.2 vocabularies (turned into
vocabulary-only GGUF files here with the gguf package), for each pre-tokenizer slm knows, with
special tokens, on invalid UTF-8 (U+FFFD per bad byte) and long runs; and passes llama.cpp's
conformance cases for the BPE vocabularies it ships (salvaged from the damaged shared copies)."""
import json
import random
import time

import pytest

from conftest import DATA, SANITIZED, run
from gguf_salvage import Damaged, salvage_metadata
from strings_gen import generate, write_records

gguf = pytest.importorskip("gguf")
tokenizers = pytest.importorskip("tokenizers")
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers  # noqa: E402

GPT2 = DATA / "tokenizers" / "gpt2_bpe_cs336_fixtures"
LLAMA3 = DATA / "tokenizers" / "llama3.2_bpe"
VOCAB_TESTS = DATA / "llamacpp_vocab_tests"

GPT2_RE = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
             r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_RE = LLAMA3_RE.replace(r"\p{N}{1,3}", r"\p{N}")
CJK_RE = r"[\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+"
DEEPSEEK_LETTERS = (
    r"A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293}\x{295}-\x{2AF}\x{370}-\x{373}"
    r"\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}"
    r"\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}"
    r"\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}"
    r"\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}"
    r"\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}"
    r"\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}"
    r"\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}"
    r"\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}"
    r"\x{A722}-\x{A76F}\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}"
    r"\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}"
    r"\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}")


def split(pattern):
    return pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False)


def byte_level(use_regex):
    return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=use_regex)


# Each pre-tokenizer slm knows, built from the Hugging Face components the models'
# tokenizer.json files use: (tokenizer.ggml.pre, pre-tokenizer, ignore_merges).
HF_PRE = {
    "gpt-2": (lambda: byte_level(True), False),
    "llama-bpe": (lambda: pre_tokenizers.Sequence([split(LLAMA3_RE), byte_level(False)]), True),
    "qwen2": (lambda: pre_tokenizers.Sequence([split(QWEN2_RE), byte_level(False)]), False),
    "starcoder": (lambda: pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level(True)]), False),
    "falcon": (lambda: pre_tokenizers.Sequence([
        pre_tokenizers.Punctuation(behavior="contiguous"), byte_level(True),
        pre_tokenizers.Digits(individual_digits=False), split("[0-9][0-9][0-9]")]), False),
    "deepseek-coder": (lambda: pre_tokenizers.Sequence([
        split(r"[\r\n]"), split(r"\s?\p{L}+"), split(r"\s?\p{P}+"), split(CJK_RE),
        pre_tokenizers.Digits(individual_digits=True), byte_level(False)]), False),
    "deepseek-llm": (lambda: pre_tokenizers.Sequence([
        split(r"[\r\n]"), split(r"\s?[" + DEEPSEEK_LETTERS + "]+"),
        split(r"\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+"), split(r"\s+$"),
        split(CJK_RE), pre_tokenizers.Digits(individual_digits=False), byte_level(False)]), False),
}


# ------------------------------------------------------------------ vocabularies

def read_vocab(name):
    """(tokens by id, merges "a b", {special: id}) of a shared vocabulary."""
    if name == "gpt2":
        vocab = json.loads((GPT2 / "gpt2_vocab.json").read_text(encoding="utf-8"))
        merges = (GPT2 / "gpt2_merges.txt").read_text(encoding="utf-8").split("\n")
        specials = {"<|endoftext|>": 50256}  # already in the vocabulary, as in GPT-2
    else:
        vocab = json.loads((LLAMA3 / "encoder.json").read_text(encoding="utf-8"))
        merges = (LLAMA3 / "vocab.bpe").read_text(encoding="utf-8").split("\n")
        # Llama 3's first special tokens; the rest of its 256 reserved ids are left out.
        specials = {"<|begin_of_text|>": 128000, "<|end_of_text|>": 128001, "<|start_header_id|>": 128006,
                    "<|end_header_id|>": 128007, "<|eot_id|>": 128009}
    merges = [m for m in merges if m and not m.startswith("#version")]
    tokens = [None] * (max(max(vocab.values()), max(specials.values())) + 1)
    for text, i in {**vocab, **specials}.items():
        tokens[i] = text
    for i, t in enumerate(tokens):  # gaps in the special range
        if t is None:
            tokens[i] = f"<|reserved_{i}|>"
            specials[tokens[i]] = i
    return tokens, merges, specials


def write_vocab_gguf(path, tokens, merges, types, pre, bos=None, eos=None):
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    if bos is not None:
        w.add_bos_token_id(bos)
    if eos is not None:
        w.add_eos_token_id(eos)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def hf_tokenizer(tokens, merges, specials, pre):
    make, ignore_merges = HF_PRE[pre]
    vocab = {t: i for i, t in enumerate(tokens) if t not in specials}
    tk = Tokenizer(models.BPE(vocab, [tuple(m.split(" ", 1)) for m in merges], ignore_merges=ignore_merges))
    tk.pre_tokenizer = make()
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens([AddedToken(s, special=True) for s in sorted(specials, key=specials.get)])
    return tk


class Vocab:
    """A vocabulary as a GGUF file for slm and as a Hugging Face tokenizer."""

    def __init__(self, name, pre, directory):
        self.tokens, self.merges, self.specials = read_vocab(name)
        types = [3 if t in self.specials else 1 for t in self.tokens]
        self.path = directory / f"{name}-{pre}.gguf"
        first = min(self.specials.values())
        write_vocab_gguf(self.path, self.tokens, self.merges, types, pre, bos=first, eos=first)
        self.hf = hf_tokenizer(self.tokens, self.merges, self.specials, pre)


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    return Vocab("gpt2", "gpt-2", tmp_path_factory.mktemp("gpt2"))


@pytest.fixture(scope="module")
def llama3(tmp_path_factory):
    return Vocab("llama3", "llama-bpe", tmp_path_factory.mktemp("llama3"))


# ------------------------------------------------------------------ helpers

def slm_batch(tools, vocab_path, strings, tmp_path, *extra):
    """[(ids, detokenized bytes, streamed bytes)] from tests/tools/tok_batch."""
    rec = tmp_path / "records.bin"
    write_records(rec, strings)
    out = run([tools / "tok_batch", vocab_path, rec, "--stream", *extra]).stdout.decode()
    rows = []
    for line in out.split("\n")[: len(strings)]:
        ids, decoded, streamed = line.split("\t")
        rows.append(([int(x) for x in ids.split()], bytes.fromhex(decoded), bytes.fromhex(streamed)))
    assert len(rows) == len(strings)
    return rows


def sanitize(b):
    """What slm tokenizes for bytes b: each byte that does not start a valid UTF-8 character
    becomes U+FFFD (one per byte, unlike Python's errors="replace")."""
    if is_utf8(b):
        return b.decode()
    out, i = [], 0
    while i < len(b):
        for n in (1, 2, 3, 4):
            try:
                ch = b[i:i + n].decode("utf-8")
            except UnicodeDecodeError:
                continue
            if len(ch) == 1:
                out.append(ch)
                i += n
                break
        else:
            out.append("\ufffd")
            i += 1
    return "".join(out)


def is_utf8(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def valid_and_invalid(seed):
    strings = generate(3600, seed=seed)
    valid = [s for s in strings if is_utf8(s)]
    assert len(valid) >= 2000
    return valid, [s for s in strings if not is_utf8(s)]


def compare(vocab, strings, rows, hf=None):
    """Mismatch lists (encode, decode, stream) against Hugging Face for the texts slm was given."""
    hf = hf or vocab.hf
    enc, dec, stream = [], [], []
    for s, (ids, decoded, streamed) in zip(strings, rows):
        text = sanitize(s)
        want = hf.encode(text).ids
        if ids != want:
            enc.append((s, ids, want))
        if decoded != text.encode() or decoded != hf.decode(want).encode():
            dec.append((s, decoded, text))
        if streamed != decoded:
            stream.append((s, streamed, decoded))
    return enc, dec, stream


def assert_agree(enc, dec, stream, n):
    assert not enc, f"{len(enc)} of {n} encodings differ from Hugging Face; first: {enc[:3]}"
    assert not dec, f"{len(dec)} of {n} decodings differ; first: {dec[:3]}"
    assert not stream, f"{len(stream)} of {n} streamed decodings differ; first: {stream[:3]}"


# ------------------------------------------------------------------ agreement with Hugging Face

@pytest.mark.parametrize("name", ["gpt2", "llama3"])
def test_matches_hf_tokenizers(name, request, tools, tmp_path):
    """At least 2,000 valid UTF-8 strings: the same ids as Hugging Face, and decoding gives the
    text back (also when put together from slm_token_to_bytes)."""
    vocab = request.getfixturevalue(name)
    valid, _ = valid_and_invalid(20261127)
    rows = slm_batch(tools, vocab.path, valid, tmp_path)
    print(f"{name}: {len(valid)} strings compared")
    assert_agree(*compare(vocab, valid, rows), len(valid))


@pytest.mark.parametrize("name", ["gpt2", "llama3"])
def test_invalid_utf8_is_replacement_per_byte(name, request, tools, tmp_path):
    """Strings with invalid UTF-8 do not crash; slm encodes them as if each bad byte were
    U+FFFD, which is what Hugging Face gives for that text."""
    vocab = request.getfixturevalue(name)
    _, invalid = valid_and_invalid(20261127)
    invalid += [b"\xff", b"\x80\x80\x80", b"a\xc3", b"\xe2\x82", b"\xed\xa0\x80x", b"\xf8\x88\x80\x80\x80", b"\xc0\xaf"]
    rows = slm_batch(tools, vocab.path, invalid, tmp_path)
    print(f"{name}: {len(invalid)} invalid UTF-8 strings compared")
    assert_agree(*compare(vocab, invalid, rows), len(invalid))


@pytest.mark.parametrize("pre", sorted(HF_PRE))
def test_pre_tokenizers_match_hf(pre, gpt2, tools, tmp_path):
    """Every pre-tokenizer slm knows, on the GPT-2 vocabulary, against the same pre-tokenizer
    built from Hugging Face's components (regex splits, Digits, Punctuation, ByteLevel)."""
    path = tmp_path / f"gpt2-{pre}.gguf"
    write_vocab_gguf(path, gpt2.tokens, gpt2.merges, [3 if t in gpt2.specials else 1 for t in gpt2.tokens], pre)
    hf = hf_tokenizer(gpt2.tokens, gpt2.merges, gpt2.specials, pre)
    valid, _ = valid_and_invalid(7 + len(pre))
    extra = ["12345678 ½ ²³ x¹ 1,234.5", "a\r\nb\n\n  c  \n", "“quoted” ‘x’ ！？ 　end", "$+<=>^`|~ ok", "  trailing  "]
    strings = valid[:600] + [s.encode() for s in extra]
    rows = slm_batch(tools, path, strings, tmp_path)
    assert_agree(*compare(gpt2, strings, rows, hf), len(strings))


@pytest.mark.parametrize("name", ["gpt2", "llama3"])
def test_special_tokens(name, request, tools, tmp_path):
    """Special tokens written in the text are recognised with --special (as Hugging Face does by
    default) and are plain text without it (Hugging Face's encode_special_tokens)."""
    vocab = request.getfixturevalue(name)
    rng = random.Random(5)
    names = sorted(vocab.specials)[:6]
    strings = []
    for s in valid_and_invalid(99)[0][:400]:
        text = s.decode()
        for _ in range(rng.randint(1, 3)):
            at = rng.randint(0, len(text))
            text = text[:at] + rng.choice(names) + text[at:]
        strings.append(text.encode())
    rows = slm_batch(tools, vocab.path, strings, tmp_path, "--special")
    enc = [(s, ids, vocab.hf.encode(s.decode()).ids) for s, (ids, _, _) in zip(strings, rows)]
    enc = [e for e in enc if e[1] != e[2]]
    assert not enc, f"{len(enc)} of {len(strings)} encodings with specials differ; first: {enc[:3]}"
    # control tokens decode to nothing, as Hugging Face's decode skips special tokens
    dec = [(s, d) for s, (ids, d, _) in zip(strings, rows) if d != vocab.hf.decode(ids).encode()]
    assert not dec, f"{len(dec)} decodings differ; first: {dec[:3]}"
    rows = slm_batch(tools, vocab.path, strings, tmp_path)
    vocab.hf.encode_special_tokens = True
    try:
        enc = [(s, ids) for s, (ids, d, _) in zip(strings, rows) if ids != vocab.hf.encode(s.decode()).ids or d != s]
    finally:
        vocab.hf.encode_special_tokens = False
    assert not enc, f"{len(enc)} of {len(strings)} encodings without --special differ; first: {enc[:3]}"


def test_bos_from_metadata(llama3, tools, tmp_path):
    """--bos prepends tokenizer.ggml.bos_token_id; a byte-level vocabulary adds none by default."""
    rows = slm_batch(tools, llama3.path, [b"Hello"], tmp_path, "--bos")
    assert rows[0][0] == [128000] + llama3.hf.encode("Hello").ids
    assert rows[0][1] == b"Hello"


@pytest.mark.parametrize("name", ["gpt2", "llama3"])
def test_long_runs_are_fast(name, request, tools, tmp_path):
    """100 kB runs (one letter, spaces, digits, newlines, emoji, words) encode quickly and as
    Hugging Face does: no quadratic merging or regex backtracking."""
    vocab = request.getfixturevalue(name)
    runs = [b"a" * 100000, b" " * 100000, b"7" * 100000, b"\n" * 100000, "🦙".encode() * 25000,
            b"ab" * 50000, b"hello world " * 8000, b" " * 99999 + b"x", b"!" * 100000]
    start = time.monotonic()
    rows = slm_batch(tools, vocab.path, runs, tmp_path)
    elapsed = time.monotonic() - start
    assert elapsed < (30 if SANITIZED else 3), f"{len(runs)} runs of 100 kB took {elapsed:.1f} s"
    assert_agree(*compare(vocab, runs, rows), len(runs))


# ------------------------------------------------------------------ llama.cpp's conformance cases

def read_vocab_case(base):
    inp = (base.parent / (base.name + ".inp")).read_bytes().decode("utf-8")
    out = (base.parent / (base.name + ".out")).read_text(encoding="utf-8")
    texts = inp.split("\n__ggml_vocab_test__\n")
    if texts and texts[-1] == "":
        texts.pop()
    expected = [[int(x) for x in line.split()] for line in out.split("\n")[: len(texts)]]
    assert len(texts) == len(expected)
    return [t.encode("utf-8") for t in texts], expected


CONFORMANCE = ["gpt-2", "llama-bpe", "qwen2", "deepseek-coder", "deepseek-llm", "falcon", "mpt", "starcoder",
               "refact", "bert-bge", "llama-spm", "phi-3"]


@pytest.mark.parametrize("name", CONFORMANCE)
def test_llamacpp_conformance(name, slm, tools, tmp_path):
    """llama.cpp's ggml-vocab-<name>.gguf cases (.inp texts, .out ids without BOS, made by
    Hugging Face's tokenizers).

    The shared GGUF files are damaged at their source: every byte sequence that was not valid
    UTF-8 was replaced by U+FFFD, so neither slm nor the gguf package can read them. Strings
    survive, and so do the token and merge arrays once their damaged count and length fields
    are resolved (gguf_salvage.py); the test rebuilds a clean vocabulary-only GGUF from them."""
    base = VOCAB_TESTS / f"ggml-vocab-{name}.gguf"
    if not base.exists():
        pytest.skip(f"{base.name} is not in the shared data")
    texts, expected = read_vocab_case(base)
    if run([slm, "tokenize", "-m", base, "hello"], check=False).returncode == 0:
        vocab = base  # an intact copy: use it as it is
    else:
        with pytest.raises(Exception):
            gguf.GGUFReader(str(base))
        try:
            kv = salvage_metadata(base)
        except Damaged as e:
            pytest.skip(f"{base.name} cannot be salvaged: {e}")
        model = kv.get("tokenizer.ggml.model")
        if model == b"bert":
            pytest.skip(f"{base.name}: WordPiece (tokenizer.ggml.model = bert) is not a byte-level BPE; not in scope")
        if model == b"llama":
            pytest.skip(f"{base.name}: a SentencePiece vocabulary (tokenizer.ggml.model = llama), not byte-level BPE; "
                        "llama-spm runs in test_tokenizer_spm.py")
        assert model == b"gpt2", model
        tokens, merges = kv["tokenizer.ggml.tokens"], kv.get("tokenizer.ggml.merges")
        types = kv.get("tokenizer.ggml.token_type")
        if not merges or not types or len(types) != len(tokens):
            pytest.skip(f"{base.name}: merges or token types were not salvaged")
        if name == "gpt-2":  # the salvage is exact: it gives back GPT-2's published vocabulary
            gpt2_tokens, gpt2_merges, _ = read_vocab("gpt2")
            assert [t.decode() for t in tokens] == gpt2_tokens
            assert [m.decode() for m in merges] == gpt2_merges
        vocab = tmp_path / base.name
        write_vocab_gguf(vocab, [t.decode() for t in tokens], [m.decode() for m in merges], types,
                         kv["tokenizer.ggml.pre"].decode())
    rows = slm_batch(tools, vocab, texts, tmp_path)
    bad = [(t, ids, want) for t, (ids, _, _), want in zip(texts, rows, expected) if ids != want]
    assert not bad, f"{len(bad)} of {len(texts)} cases differ; first: {bad[:3]}"
    undecoded = [(t, d) for t, (_, d, _) in zip(texts, rows) if d != t]
    assert not undecoded, f"{len(undecoded)} of {len(texts)} cases do not decode back; first: {undecoded[:3]}"
