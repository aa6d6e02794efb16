"""WordPiece (BERT uncased) tokenizer: slm's ids equal the tokenizers package's on 2,500
generated strings (mixed scripts, accents, CJK, punctuation, control characters, long words,
invalid UTF-8) for all-MiniLM-L6-v2's vocabulary, read from the Hugging Face folder and from
the GGUF slm convert writes; and llama.cpp's conformance case for its BERT vocabulary
(ggml-vocab-bert-bge.gguf.inp/.out) passes."""
import random

import pytest

from conftest import DATA, run
from minilm import minilm_path
from strings_gen import generate
from test_tokenizer_spm import read_vocab_case, salvage_token_strings, slm_tokenize_batch

tokenizers = pytest.importorskip("tokenizers")

ACCENTED = ["Café", "naïve", "façade", "Ångström", "Ελληνικά", "Crème Brûlée", "Þórr", "Øresund", "İstanbul", "ıi",
            "Straße", "ǅemal", "Ⅻ", "Å", "K", "ﬁne", "e\u0301te\u0301", "a\u0308\u0323", "Σίσυφος", "ΣΑΣ"]
CJK = ["中文分词", "日本語のテキスト", "한국어 문장", "漢字かな交じり文", "𠀀𠀁", "豈更", "中a文b", "ｶﾀｶﾅ", "〆"]
PUNCT = ["¿Qué?", "¡Hola!", "«quoted»", "“smart”", "a—b–c", "x…y", "§1.2", "50%", "$5", "a+b=c", "<tag>", "x^2",
         "`code`", "a|b", "~", "©®™", "½", "∑∫", "·•", "『括弧』", "【注】", "、。", "٫٬", "॥"]
CONTROL = ["\x00", "\x01", "\x07", "\x0b", "\x0c", "\x1b", "\x7f", "\u0085", "\u00ad", "\u200b", "\u200d", "\u2028",
           "\u2029", "\ufeff", "\ue000", "\U000e0001", "\u0378", "\ufffd", "\t", "\r\n"]
SPECIAL = ["[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]", "[unused1]", "[cls]", "x[SEP]y"]


def bert_strings(n, seed):
    """Strings aimed at the basic tokenizer: words from the lists above mixed with ASCII,
    words of 99 to 102 characters (the [UNK] limit is 100), and random code points."""
    rng = random.Random(seed)
    pools = [ACCENTED, CJK, PUNCT, CONTROL, SPECIAL, ["hello", "world", "unaffable", "tokenization", "GPU", "x86_64"]]
    out = []
    for length in (99, 100, 101, 102):
        out.append("a" * length)
        out.append("é" * length)
        out.append("ab" * (length // 2) + " tail")
    while len(out) < n:
        parts = []
        for _ in range(rng.randint(1, 10)):
            k = rng.random()
            if k < 0.85:
                parts.append(rng.choice(rng.choice(pools)))
            elif k < 0.95:
                parts.append("".join(chr(rng.choice([rng.randint(0x20, 0x7e), rng.randint(0xa0, 0x24f), rng.randint(0x300, 0x36f),
                                                    rng.randint(0x4e00, 0x9fff), rng.randint(0xac00, 0xd7a3)]))
                                     for _ in range(rng.randint(1, 6))))
            else:
                parts.append("w" * rng.randint(95, 105))
        out.append(rng.choice(["", " ", "  "]).join(parts))
    return [s.encode("utf-8") for s in out]


@pytest.fixture(scope="module")
def folder():
    return minilm_path()


@pytest.fixture(scope="module")
def vocab_gguf(slm, folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("wpm") / "minilm.gguf"
    run([slm, "convert", folder, out])
    return out


def hf_ids(folder, strings, add_special=True):
    tok = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    return [tok.encode(s.decode("utf-8", errors="replace"), add_special_tokens=add_special).ids for s in strings]


@pytest.mark.parametrize("source", ["hf_folder", "gguf"])
def test_matches_tokenizers(folder, vocab_gguf, tools, tmp_path, source):
    strings = generate(2000, seed=20261126) + bert_strings(500, seed=5)
    want = hf_ids(folder, strings)
    rows = slm_tokenize_batch(tools, folder if source == "hf_folder" else vocab_gguf, strings, tmp_path, "--bos", "--special")
    bad = [(s, ids, w) for s, (ids, _), w in zip(strings, rows, want) if ids != w]
    assert not bad, f"{len(bad)} of {len(strings)} differ; first: {bad[:3]}"


def test_decode_joins_pieces(folder, tools, tmp_path):
    strings = [b"Hello, world! unaffable tokenization", b"caf\xc3\xa9 [SEP] x"]
    rows = slm_tokenize_batch(tools, folder, strings, tmp_path, "--bos", "--special")
    assert rows[0][1] == b"hello , world ! unaffable tokenization"
    assert rows[1][1] == b"cafe x"


def test_llamacpp_conformance_bert_bge(slm, vocab_gguf, tools, tmp_path):
    """llama.cpp's case for its BERT vocabulary. The shared ggml-vocab-bert-bge.gguf is damaged
    at its source (non-UTF-8 bytes replaced by U+FFFD, see test_tokenizer_spm.py); its token
    strings survive and are exactly MiniLM's vocabulary in llama.cpp's "▁" convention, which the
    GGUF slm convert wrote must equal, so the cases run on that GGUF."""
    base, texts, expected = read_vocab_case("ggml-vocab-bert-bge.gguf")
    proc = run([slm, "tokenize", "-m", base, "hello"], check=False)
    vocab = base
    if proc.returncode != 0:
        gguf = pytest.importorskip("gguf")
        ours = gguf.GGUFReader(str(vocab_gguf)).fields["tokenizer.ggml.tokens"]
        ours = [bytes(ours.parts[i]) for i in ours.data]
        assert salvage_token_strings(base) == ours
        vocab = vocab_gguf
    rows = slm_tokenize_batch(tools, vocab, texts, tmp_path, "--special")
    bad = [(t, ids, want) for t, (ids, _), want in zip(texts, rows, expected) if ids != want]
    assert not bad, f"{len(bad)} of {len(texts)} cases differ; first: {bad[:3]}"
