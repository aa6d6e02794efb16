"""slm classify and slm eval end to end: malformed data files and label sets fail with the file
and line and a non-zero exit; zero-shot label probabilities on stories260K equal the softmax of
label log-likelihoods computed from the llama2.c reference logits; slm eval's accuracy, macro-F1,
per-class precision/recall/F1 and confusion matrix equal numpy's on the same predictions."""
import json

import numpy as np
import pytest

from conftest import STORIES, run

MODEL = STORIES / "stories260K.bin"
PROMPT = "Once upon a time, a small dog"
REF_LOGITS = STORIES / "expected_logits_prompt_once_upon_a_time_a_small_dog.tsv"


def eval_args(slm, data, *extra):
    return [slm, "eval", "-m", MODEL, "--labels", "0=happy,1=sad", "--data", data, "-t", "1", "-q", *extra]


def fails_with(proc, *needles):
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode != 0, f"expected a failure, got exit 0: {proc.stdout[:300]!r}"
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"
    assert "Sanitizer" not in err and "Segmentation" not in err


@pytest.mark.parametrize("name,content,where,what", [
    ("unknown.all", b"0 the dog ran .\n1 the cat sat .\n2 the bird flew .\n", 3, 'unknown label "2"'),
    ("empty.all", b"0 the dog ran .\n1\n", 2, "empty text"),
    ("empty.tsv", b"0\tthe dog ran .\n1\t  \n", 2, "empty text"),
    ("latin1.all", b"0 the dog ran .\n1 caf\xe9 time\n", 2, "invalid UTF-8"),
    ("bad.jsonl", b'{"text": "a dog", "label": 0}\n{"text": "a cat"}\n', 2, 'no "label" field'),
    ("bad.csv", b'label,text\n0,"a dog\n1,a cat\n', 2, "unterminated quoted field"),
    ("fields.tsv", b"0\ta dog\n1\ta\tcat\n", 2, "3 tab-separated fields"),
])
def test_malformed_data(slm, tmp_path, name, content, where, what):
    data = tmp_path / name
    data.write_bytes(content)
    proc = run(eval_args(slm, data), check=False)
    fails_with(proc, f"{data}:{where}:", what)


def test_invalid_utf8_options(slm, tmp_path):
    """--encoding latin1 and replace read the file that strict UTF-8 refuses."""
    data = tmp_path / "latin1.all"
    data.write_bytes(b"0 the dog ran .\n1 caf\xe9 time\n")
    for enc in ("latin1", "replace"):
        out = run(eval_args(slm, data, "--encoding", enc)).stdout.decode()
        assert "examples      2" in out


@pytest.mark.parametrize("labels,what", [
    ("happy", "at least two labels"),
    ("happy,,sad", "empty item"),
    ("a=happy,a=sad", "given twice"),
    ("=happy,b=sad", "empty on one side"),
])
def test_bad_label_sets(slm, labels, what):
    proc = run([slm, "classify", "-m", MODEL, "--labels", labels, "a dog"], check=False)
    fails_with(proc, what)


def test_no_labels_for_a_generative_model(slm):
    fails_with(run([slm, "classify", "-m", MODEL, "a dog"], check=False), "not a fine-tuned classifier", "--labels")


def test_missing_files(slm, tmp_path):
    fails_with(run(eval_args(slm, tmp_path / "nope.tsv"), check=False), "nope.tsv", "cannot open")
    fails_with(run([slm, "classify", "-m", tmp_path / "nope.gguf", "--labels", "a,b", "x"], check=False), "nope.gguf")


def reference_logprobs():
    """Log-softmax of the reference logits, row per position (after that position's token)."""
    rows = [line.split("\t") for line in REF_LOGITS.read_text().strip("\n").split("\n")]
    tokens = [int(r[1]) for r in rows]
    logits = np.array([np.array(r[2].split(), dtype=np.float64) for r in rows])
    m = logits.max(axis=1, keepdims=True)
    return tokens, logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))


def token_ids(slm, text):
    return [int(x) for x in run([slm, "tokenize", "-m", MODEL, "--ids", text]).stdout.split()]


def test_zeroshot_matches_reference_logits(slm):
    """Three labels after the prompt "{text}": "named Max" (3 tokens, the reference's greedy path),
    "named Lily" (2 tokens: scored after the cache was rewound past Max's) and "was" (1 token).
    Each label's log-likelihood is a sum of reference log-probabilities."""
    tokens, lp = reference_logprobs()
    prompt_ids = token_ids(slm, PROMPT)
    m = len(prompt_ids)
    assert tokens[:m] == prompt_ids
    labels = {"max": "named Max", "lily": "named Lily", "was": "was"}
    scores = {}
    for name, words in labels.items():
        ids = token_ids(slm, f"{PROMPT} {words}")
        assert ids[:m] == prompt_ids
        cont = ids[m:]
        # every scored token needs reference logits: the path up to its last token is the greedy one
        assert tokens[m:m + len(cont) - 1] == cont[:-1], (name, cont)
        scores[name] = sum(lp[m - 1 + j, t] for j, t in enumerate(cont))
    s = np.array(list(scores.values()))
    want = np.exp(s - s.max()) / np.exp(s - s.max()).sum()
    arg = ",".join(f"{k}={v}" for k, v in labels.items())
    out = run([slm, "classify", "-m", MODEL, "--labels", arg, "--template", "{text}", "-t", "2", PROMPT]).stdout
    rec = json.loads(out)
    got = np.array([rec["probs"][k] for k in labels])
    assert rec["text"] == PROMPT
    assert rec["label"] == list(labels)[int(np.argmax(want))]
    np.testing.assert_allclose(got, want, atol=2e-3)
    # length normalisation divides each sum by the label's token count
    counts = np.array([len(token_ids(slm, f"{PROMPT} {w}")) - m for w in labels.values()])
    sn = s / counts
    want_n = np.exp(sn - sn.max()) / np.exp(sn - sn.max()).sum()
    out = run([slm, "classify", "-m", MODEL, "--labels", arg, "--template", "{text}", "--length-norm", PROMPT]).stdout
    np.testing.assert_allclose([json.loads(out)["probs"][k] for k in labels], want_n, atol=2e-3)


def test_classify_file_and_batches(slm, tmp_path):
    """--file with one text per line: one JSON line each, probabilities summing to 1, the same
    answers with any --batch and as positional texts (the prompt cache carries over texts)."""
    texts = ["Lily was happy.", "The dog ran to the park.", "Tom was sad and cried.", "They played all day."]
    f = tmp_path / "texts.txt"
    f.write_text("\n".join(texts) + "\n")
    outs = []
    for batch in ("1", "3"):
        out = run([slm, "classify", "-m", MODEL, "--labels", "happy,sad", "--file", f, "--batch", batch]).stdout
        outs.append([json.loads(line) for line in out.decode().splitlines()])
    pos = run([slm, "classify", "-m", MODEL, "--labels", "happy,sad", *texts]).stdout
    outs.append([json.loads(line) for line in pos.decode().splitlines()])
    for recs in outs:
        assert [r["text"] for r in recs] == texts
        for r in recs:
            assert set(r["probs"]) == {"happy", "sad"}
            assert abs(sum(r["probs"].values()) - 1) < 1e-5
            assert r["label"] == max(r["probs"], key=r["probs"].get)
    for recs in outs[1:]:
        for a, b in zip(outs[0], recs):
            assert abs(a["probs"]["happy"] - b["probs"]["happy"]) < 1e-5


def test_eval_metrics_match_numpy(slm, tmp_path):
    """A 3-label JSONL set, zero-shot on stories260K: the JSON metrics equal numpy's on the
    predictions slm eval wrote."""
    rng = np.random.default_rng(5)
    words = ["happy", "sad", "big", "dog", "cat", "park", "ran", "sun", "ball", "mom"]
    labels = ["pos", "neg", "other"]
    lines = []
    for _ in range(60):
        text = " ".join(rng.choice(words, size=int(rng.integers(3, 9))))
        lines.append(json.dumps({"sentence": f"Lily saw a {text}.", "y": labels[int(rng.integers(0, 3))]}))
    data = tmp_path / "set.jsonl"
    data.write_text("\n".join(lines) + "\n")
    out_json, pred = tmp_path / "m.json", tmp_path / "pred.jsonl"
    proc = run([slm, "eval", "-m", MODEL, "--labels", "pos=happy,neg=sad,other=big", "--data", data, "--text-field",
                "sentence", "--label-field", "y", "--json", out_json, "--predictions", pred, "-q"])
    m = json.loads(out_json.read_text())
    recs = [json.loads(line) for line in pred.read_text().splitlines()]
    y = np.array([r["true"] for r in recs])
    p = np.array([r["pred"] for r in recs])
    assert len(recs) == 60 and m["n"] == 60 and m["labels"] == labels
    assert [labels[i] for i in y] == [json.loads(line)["y"] for line in lines]
    assert list(p) == [int(np.argmax(r["probs"])) for r in recs]
    k = len(labels)
    cm = np.zeros((k, k), dtype=int)
    np.add.at(cm, (y, p), 1)
    assert m["confusion"] == cm.tolist()
    assert m["accuracy"] == pytest.approx((y == p).mean(), abs=1e-12)
    tp = np.diag(cm).astype(float)
    prec = np.divide(tp, cm.sum(0), out=np.zeros(k), where=cm.sum(0) > 0)
    rec = np.divide(tp, cm.sum(1), out=np.zeros(k), where=cm.sum(1) > 0)
    f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros(k), where=prec + rec > 0)
    present = (cm.sum(0) + cm.sum(1)) > 0
    for i, name in enumerate(labels):
        c = m["per_class"][name]
        assert c["precision"] == pytest.approx(prec[i], abs=1e-12)
        assert c["recall"] == pytest.approx(rec[i], abs=1e-12)
        assert c["f1"] == pytest.approx(f1[i], abs=1e-12)
        assert c["support"] == int(cm[i].sum())
    assert m["macro_f1"] == pytest.approx(f1[present].mean(), abs=1e-12)
    assert m["macro_precision"] == pytest.approx(prec[present].mean(), abs=1e-12)
    lo, hi = m["ci95"]["accuracy"]
    assert lo <= m["accuracy"] <= hi
    text = proc.stdout.decode()
    assert f"accuracy      {m['accuracy']:.4f}" in text and "confusion" in text


def test_help_and_task_option(slm):
    for cmd in ("classify", "eval"):
        assert b"usage: slm " + cmd.encode() in run([slm, cmd, "--help"]).stdout
    fails_with(run([slm, "eval", "-m", MODEL, "--data", "x", "--task", "keywords"], check=False), "--task keywords")
