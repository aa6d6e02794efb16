"""`slm keywords` and its evaluation from the command line: hostile inputs (empty, no candidates,
invalid UTF-8, NUL bytes, 1 MB), JSONL in and out, bad options; and the evaluation protocol
(`slm keywords --eval`, the code behind `slm eval --task keywords`) against a Python port of it
on NLTK's PorterStemmer, on Inspec valid and the SemEval-2017 zip."""
import json
import zipfile

import pytest

from conftest import BIN, DATA, run

KP = DATA / "keyphrase_extraction"


def kw(*args, input=None, check=True):
    return run([BIN, "keywords", *args], input=input, check=check)


def test_empty_and_no_candidates(tmp_path):
    assert kw(input=b"").stdout == b""
    assert kw("the of and to in").stdout == b""
    assert kw("", "--format", "jsonl").stdout.strip() == b'{"keywords":[]}'


def test_invalid_utf8_and_nul(tmp_path):
    f = tmp_path / "bad.txt"
    f.write_bytes(b"\xff\xfe graph \x00 theory \xc3 spectral graph theory \xed\xa0\x80 matrices")
    out = kw("--file", f).stdout.decode("utf-8")  # output stays valid UTF-8
    assert "spectral graph theory" in out


def test_one_megabyte(tmp_path):
    text = ("Sparse matrix factorization speeds up sparse linear solvers. " * 17000)[:1 << 20]
    f = tmp_path / "big.txt"
    f.write_text(text)
    out = kw("--file", f, "--top", "3").stdout.decode().splitlines()
    assert len(out) == 3


def test_jsonl_in_and_out(tmp_path):
    f = tmp_path / "docs.jsonl"
    f.write_text(json.dumps({"id": "a", "text": "Support vector machines classify text documents."}) + "\n" +
                 json.dumps({"id": "b", "text": "the and of"}) + "\n")
    lines = kw("--jsonl", f, "--format", "jsonl", "-t", "2").stdout.decode().splitlines()
    recs = [json.loads(x) for x in lines]
    assert [r["id"] for r in recs] == ["a", "b"]
    assert "Support vector machines" in [k["phrase"] for k in recs[0]["keywords"]]
    assert recs[1]["keywords"] == []


@pytest.mark.parametrize("args", [["--method", "nope", "x"], ["--top", "0", "x"], ["--ngram", "3-1", "x"],
                                  ["--ngram", "1-9", "x"], ["--format", "xml", "x"], ["--jsonl", "/nonexistent"],
                                  ["--stopwords", "/nonexistent", "x"], ["--method", "embed", "x"]])
def test_bad_options(args):
    p = kw(*args, check=False)
    assert p.returncode != 0 and p.stderr.startswith(b"error:")


def porter_protocol(gold, pred):
    """The evaluation protocol in Python (NLTK PorterStemmer): mean P/R/F1 at 5, 10, 15."""
    from nltk.stem.porter import PorterStemmer
    ps = PorterStemmer()

    def norm(phrases):
        out = []
        for p in phrases:
            s = " ".join(ps.stem(w) for w in p.split())
            if s and s not in out:
                out.append(s)
        return out
    totals = {k: [0.0, 0.0, 0.0] for k in (5, 10, 15)}
    for g, p in zip(gold, pred):
        g, p = norm(g), norm(p)
        for k in totals:
            top = p[:k]
            m = sum(1 for x in top if x in g)
            prec = m / len(top) if top else 0.0
            rec = m / len(g) if g else 0.0
            f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
            for i, v in enumerate((prec, rec, f1)):
                totals[k][i] += v
    return {k: [v / len(gold) for v in vals] for k, vals in totals.items()}


def gold_of(path):
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            keys = {n.split("/")[-1][:-4]: zf.read(n).decode("utf-8") for n in zf.namelist()
                    if n.split("/")[-2:-1] == ["keys"] and n.endswith(".key")}
        return {k: [x.strip() for x in v.split("\n") if x.strip()] for k, v in keys.items()}
    gold = {}
    for line in open(path, encoding="utf-8"):
        r = json.loads(line)
        gold[str(r["paper_id"])] = r["extractive_keyphrases"] + r["abstractive_keyphrases"]
    return gold


@pytest.mark.parametrize("name", ["inspec_splits/valid.jsonl", "liaad_zips/SemEval2017.zip"])
def test_eval_matches_python_port(tmp_path, name):
    pytest.importorskip("nltk")
    gold_path = KP / name
    pred_path, scores_path = tmp_path / "pred.jsonl", tmp_path / "scores.json"
    run([BIN, "keywords", "--eval", gold_path, "--save-pred", pred_path, "--json", scores_path])
    preds = {}
    for line in open(pred_path, encoding="utf-8"):
        r = json.loads(line)
        preds[r["id"]] = r["keywords"]
    gold = gold_of(gold_path)
    ids = sorted(preds)
    assert sorted(gold) == ids
    want = porter_protocol([gold[i] for i in ids], [preds[i] for i in ids])
    got = json.load(open(scores_path))
    for k in (5, 10, 15):
        assert got["precision"][str(k)] == pytest.approx(want[k][0], abs=1e-9)
        assert got["recall"][str(k)] == pytest.approx(want[k][1], abs=1e-9)
        assert got["f1"][str(k)] == pytest.approx(want[k][2], abs=1e-9)
    # scoring the same predictions from the file gives the same numbers
    again = tmp_path / "again.json"
    run([BIN, "keywords", "--eval", gold_path, "--pred", pred_path, "--json", again])
    assert json.load(open(again))["f1"] == got["f1"]
