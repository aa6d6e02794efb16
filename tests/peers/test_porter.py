"""The Porter stemmer (slm_porter_stem) against NLTK's PorterStemmer (default mode) on every
distinct word of the shared keyphrase corpora: Inspec (train + valid) and every LIAAD zip's
documents and keys, words split at whitespace and also at non-alphanumeric characters."""
import json
import re
import zipfile

import pytest

from conftest import DATA, TOOLS, run

nltk_porter = pytest.importorskip("nltk.stem.porter")
KP = DATA / "keyphrase_extraction"


def corpus_words():
    texts = []
    for split in ("train", "valid"):
        for line in open(KP / "inspec_splits" / f"{split}.jsonl", encoding="utf-8"):
            rec = json.loads(line)
            texts.append(" ".join(rec["document"]))
            texts.extend(rec["extractive_keyphrases"] + rec["abstractive_keyphrases"])
    for z in sorted((KP / "liaad_zips").glob("*.zip")):
        with zipfile.ZipFile(z) as zf:
            for name in zf.namelist():
                if ("/docsutf8/" in name or "/keys/" in name) and not name.endswith("/"):
                    texts.append(zf.read(name).decode("utf-8", errors="replace"))
    words = set()
    for t in texts:
        for w in t.split():
            words.add(w)
            words.update(x for x in re.split(r"[\W_]+", w) if x)
    return sorted(w for w in words if "\n" not in w and "\r" not in w)


def test_porter_matches_nltk():
    words = corpus_words()
    assert len(words) > 50000
    stemmer = nltk_porter.PorterStemmer()
    want = [stemmer.stem(w) for w in words]
    out = run([TOOLS / "porter_stem"], input="\n".join(words).encode() + b"\n").stdout.decode("utf-8")
    got = out.split("\n")[:-1]
    assert len(got) == len(words)
    bad = [(w, g, e) for w, g, e in zip(words, got, want) if g != e]
    assert not bad, f"{len(bad)} of {len(words)} differ, e.g. {bad[:20]}"
