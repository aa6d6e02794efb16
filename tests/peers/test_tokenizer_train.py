"""slm tokenizer train: the byte-level BPE trainer reproduces the CS336 reference run exactly and
its vocabulary encodes as Hugging Face's tokenizers does with the same vocab/merges; the
SentencePiece-style trainer round-trips text (seen and unseen), falls back to byte tokens for
unseen characters, and compresses about as well as the sentencepiece package's BPE trainer;
training is deterministic and independent of the number of threads."""
import json

import pytest

from conftest import DATA, run
from strings_gen import write_records

gguf = pytest.importorskip("gguf")

CS336 = DATA / "tokenizers" / "gpt2_bpe_cs336_fixtures"
CORPORA = DATA / "text_corpora"
STORIES = DATA / "tinystories" / "tinystories_train_head_2MiB.txt"
EOT = "<|endoftext|>"


def gpt2_byte_of_char():
    """GPT-2's bytes_to_unicode, inverted: printable Latin-1 stands for itself, the other 68
    bytes take U+0100 onwards in byte order."""
    printable = set(range(0x21, 0x7F)) | set(range(0xA1, 0xAD)) | set(range(0xAE, 0x100))
    out, extra = {}, 0
    for b in range(256):
        if b in printable:
            out[chr(b)] = b
        else:
            out[chr(256 + extra)] = b
            extra += 1
    return out


BYTE_OF_CHAR = gpt2_byte_of_char()


def to_bytes(token):
    return bytes(BYTE_OF_CHAR[c] for c in token)


def train(slm, out, files, vocab, kind="bpe", specials=(), threads=None):
    args = [slm, "tokenizer", "train", "--vocab-size", vocab, "--type", kind, *files, "-o", out]
    for s in specials:
        args += ["--special", s]
    if threads:
        args += ["-t", threads]
    return run(args).stderr.decode()


def read_vocab(path):
    """(tokens, merges, token types, other fields) of a vocabulary-only GGUF."""
    r = gguf.GGUFReader(str(path))
    fields = {k: f.contents() for k, f in r.fields.items() if not k.startswith("GGUF.")}
    return (fields.pop("tokenizer.ggml.tokens"), fields.pop("tokenizer.ggml.merges", []),
            fields.pop("tokenizer.ggml.token_type"), fields)


def tok_batch(tools, vocab, strings, tmp_path, *extra):
    """[(ids, detokenized bytes, streamed bytes)] for each string, from tests/tools/tok_batch."""
    rec = tmp_path / "records.bin"
    write_records(rec, strings)
    out = run([tools / "tok_batch", vocab, rec, "--stream", *extra]).stdout.decode().split("\n")
    rows = []
    for line in out[: len(strings)]:
        ids, decoded, streamed = line.split("\t")
        rows.append(([int(x) for x in ids.split()], bytes.fromhex(decoded), bytes.fromhex(streamed)))
    assert len(rows) == len(strings)
    return rows


# ------------------------------------------------------------------ byte-level BPE

@pytest.fixture(scope="module")
def cs336(slm, tmp_path_factory):
    out = tmp_path_factory.mktemp("cs336") / "tok.gguf"
    train(slm, out, [CS336 / "corpus.en"], 500, specials=[EOT])
    return out


def test_cs336_reference_run(cs336):
    """Vocab 500 with <|endoftext|> on corpus.en: the reference vocabulary (id for id, as bytes)
    and the reference merges (in order) exactly."""
    tokens, merges, types, fields = read_vocab(cs336)
    ref_vocab = json.loads((CS336 / "train-bpe-reference-vocab.json").read_text(encoding="utf-8"))
    ref_merges = [m for m in (CS336 / "train-bpe-reference-merges.txt").read_text(encoding="utf-8").split("\n") if m]
    want = {i: (t.encode() if t == EOT else to_bytes(t)) for t, i in ref_vocab.items()}
    got = {i: (t.encode() if i == 0 else to_bytes(t)) for i, t in enumerate(tokens)}
    assert got == want
    assert [tuple(map(to_bytes, m.split(" "))) for m in merges] == [tuple(map(to_bytes, m.split(" "))) for m in ref_merges]
    assert len(merges) == 243
    assert types[0] == 3 and set(types[1:]) == {1}  # the special token is a control token
    assert fields["tokenizer.ggml.model"] == "gpt2" and fields["tokenizer.ggml.pre"] == "gpt-2"
    assert fields["tokenizer.ggml.eos_token_id"] == 0


def test_bpe_agrees_with_hf_tokenizers(cs336, tools, tmp_path):
    """Hugging Face's tokenizers, loaded with the trained vocab and merges, encodes the corpus
    lines (and unseen text, and the special token) to the same ids; slm decodes them back."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    tokens, merges, _, _ = read_vocab(cs336)
    hf = Tokenizer(models.BPE({t: i for i, t in enumerate(tokens)}, [tuple(m.split(" ")) for m in merges]))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    hf.decoder = decoders.ByteLevel()
    hf.add_special_tokens([AddedToken(EOT, special=True)])
    lines = (CS336 / "corpus.en").read_text(encoding="utf-8").split("\n")
    texts = [t for t in lines if t] + [(CS336 / name).read_text(encoding="utf-8") for name in ("address.txt", "german.txt")]
    texts += ["Ünïcödé 日本語 🦙 tabs\tand  spaces\n\n", "   ", "x" * 500, f"one story.{EOT}\n\nThe next"]
    rows = tok_batch(tools, cs336, [t.encode() for t in texts], tmp_path, "--special")
    enc = [(t, ids, hf.encode(t).ids) for t, (ids, _, _) in zip(texts, rows)]
    enc = [e for e in enc if e[1] != e[2]]
    assert not enc, f"{len(enc)} of {len(texts)} encodings differ from Hugging Face; first: {enc[:2]}"
    assert rows[-1][0].count(0) == 1  # the special token, whole
    dec = [(t, d) for t, (_, d, s) in zip(texts, rows) if d != t.replace(EOT, "").encode() or s != d]
    assert not dec, f"{len(dec)} decodings differ; first: {dec[:2]}"
    print(f"{len(texts)} texts agree with Hugging Face tokenizers")


def test_deterministic_and_thread_independent(slm, tmp_path):
    """The same run twice, and with 1 and 2 threads, writes identical files (TinyStories, whose
    stories are separated by <|endoftext|>, for BPE; Shakespeare for SPM); the special token
    is never merged into other tokens."""
    for kind, source, vocab, specials in [("bpe", STORIES, 2000, [EOT]), ("spm", CORPORA / "tinyshakespeare.txt", 2000, [])]:
        outs = [tmp_path / f"{kind}-{i}.gguf" for i in range(3)]
        for out, threads in zip(outs, [2, 2, 1]):
            train(slm, out, [source], vocab, kind=kind, specials=specials, threads=threads)
        data = [o.read_bytes() for o in outs]
        assert data[0] == data[1], f"{kind}: two runs differ"
        assert data[0] == data[2], f"{kind}: 1 and 2 threads differ"
        tokens, _, _, _ = read_vocab(outs[0])
        assert len(tokens) == vocab
        if specials:
            assert tokens[0] == EOT and not any("endoftext" in t or "<|" in t for t in tokens[1:])


# ------------------------------------------------------------------ SentencePiece-style BPE

@pytest.fixture(scope="module")
def shakespeare(tmp_path_factory):
    """The first 600 kB of Tiny Shakespeare to train on, the last 200 kB as unseen text."""
    d = tmp_path_factory.mktemp("shk")
    text = (CORPORA / "tinyshakespeare.txt").read_bytes()
    (d / "train.txt").write_bytes(text[:600_000])
    (d / "test.txt").write_bytes(text[-200_000:])
    return d


@pytest.fixture(scope="module")
def spm_vocab(slm, shakespeare):
    out = shakespeare / "spm.gguf"
    train(slm, out, [shakespeare / "train.txt"], 2000, kind="spm")
    return out


def lines_of(path):
    return [line.encode() for line in path.read_text(encoding="utf-8").split("\n") if line]


def test_spm_layout(spm_vocab):
    tokens, merges, types, fields = read_vocab(spm_vocab)
    assert tokens[:3] == ["<unk>", "<s>", "</s>"] and types[:3] == [2, 3, 3]
    assert tokens[3:259] == [f"<0x{b:02X}>" for b in range(256)] and set(types[3:259]) == {6}
    assert len(tokens) == 2000 and not merges and set(types[259:]) == {1}
    assert fields["tokenizer.ggml.model"] == "llama" and fields["tokenizer.ggml.add_space_prefix"] is True
    scores = fields["tokenizer.ggml.scores"]
    assert all(a > b for a, b in zip(scores[259:], scores[260:])), "pieces in training order, scores decreasing"
    assert tokens[259] == "▁t"


def test_spm_round_trip_and_byte_fallback(spm_vocab, shakespeare, tools, tmp_path):
    """Training and unseen lines (and other languages, odd spacing) decode back to the text;
    characters it never saw become their UTF-8 bytes as byte tokens; invalid UTF-8 goes through
    byte tokens too (decoding gives U+FFFD, as SentencePiece, and the streamed bytes the raw
    ones)."""
    tokens, _, _, _ = read_vocab(spm_vocab)
    seen, unseen = lines_of(shakespeare / "train.txt")[:3000], lines_of(shakespeare / "test.txt")
    others = [(CS336 / "german.txt").read_bytes(), (CS336 / "address.txt").read_bytes(), "日本語 ☃ 🦙".encode(),
              b"  two leading, trailing  ", b"tab\there\n\nnew lines", b"x", b" "]
    texts = seen + unseen + others
    rows = tok_batch(tools, spm_vocab, texts, tmp_path)
    bad = [(t, d) for t, (_, d, s) in zip(texts, rows) if d != t or s != t]
    assert not bad, f"{len(bad)} of {len(texts)} texts do not round-trip; first: {bad[:2]}"
    ids = rows[texts.index("日本語 ☃ 🦙".encode())][0]
    want = ["▁"] + [f"<0x{b:02X}>" for b in "日本語".encode()] + ["▁"] + [f"<0x{b:02X}>" for b in "☃".encode()] + \
        ["▁"] + [f"<0x{b:02X}>" for b in "🦙".encode()]
    assert [tokens[i] for i in ids] == want
    (ids, decoded, streamed), = tok_batch(tools, spm_vocab, [b"ab\xffcd"], tmp_path)
    assert "<0xFF>" in [tokens[i] for i in ids]
    assert decoded == "ab\ufffdcd".encode() and streamed == b"ab\xffcd"


def test_spm_compression_vs_sentencepiece(spm_vocab, shakespeare, tools, tmp_path):
    """Tokens per byte on unseen lines, against the sentencepiece package's BPE trainer with the
    same text, vocabulary size, byte fallback, coverage and normalisation (none); most pieces
    are the same."""
    spm = pytest.importorskip("sentencepiece")
    spm.SentencePieceTrainer.train(
        input=str(shakespeare / "train.txt"), model_prefix=str(tmp_path / "sp"), model_type="bpe", vocab_size=2000,
        byte_fallback=True, character_coverage=0.9995, normalization_rule_name="identity",
        remove_extra_whitespaces=False, add_dummy_prefix=True, num_threads=1, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "sp.model"))
    unseen = lines_of(shakespeare / "test.txt")
    n_bytes = sum(len(t) for t in unseen)
    n_slm = sum(len(ids) for ids, _, _ in tok_batch(tools, spm_vocab, unseen, tmp_path))
    n_sp = sum(len(sp.encode(t.decode())) for t in unseen)
    tokens, _, _, _ = read_vocab(spm_vocab)
    shared = len(set(tokens) & {sp.id_to_piece(i) for i in range(sp.get_piece_size())})
    print(f"tokens per byte on {n_bytes} unseen bytes: slm {n_slm / n_bytes:.4f}, sentencepiece {n_sp / n_bytes:.4f} "
          f"(ratio {n_slm / n_sp:.3f}); {shared} of 2000 pieces shared")
    assert n_slm <= 1.05 * n_sp
    assert shared >= 1800


# ------------------------------------------------------------------ the command line

def test_cli(slm, tmp_path):
    assert b"train" in run([slm, "tokenizer", "--help"]).stdout
    assert run([slm, "tokenizer", "train", "--help"]).stdout.startswith(b"usage: slm tokenizer train")
    for args, code, message in [
        (["tokenizer"], 2, b"usage: slm tokenizer"),
        (["tokenizer", "frob"], 2, b"unknown tokenizer command"),
        (["tokenizer", "train", "x.txt"], 2, b"give --vocab-size N"),
        (["tokenizer", "train", "--vocab-size", "100", "x.txt", "-o", tmp_path / "t.gguf"], 2, b"at least 256"),
        (["tokenizer", "train", "--vocab-size", "1000", "--type", "wordpiece", "x", "-o", "y"], 2, b"expected bpe or spm"),
        (["tokenizer", "train", "--vocab-size", "1000", tmp_path / "missing.txt", "-o", tmp_path / "t.gguf"], 1,
         b"cannot open"),
    ]:
        proc = run([slm, *args], check=False)
        assert proc.returncode == code and message in proc.stderr, (args, proc)
