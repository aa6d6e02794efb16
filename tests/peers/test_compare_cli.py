"""`slm compare` end to end: a MiniLM classifier fine-tuned by compare itself (base=, its training
time recorded and the file reused on a second run) beside stories260K zero-shot and a missing
file: exit status 1, the failure named, the others measured; the JSON parses and agrees with the
Markdown table; the SVG is well-formed XML; bad options exit 2."""
import json
import xml.etree.ElementTree as ET

import pytest

from conftest import STORIES, run

GOOD = ["wonderful", "delightful", "brilliant", "moving", "charming", "superb"]
BAD = ["boring", "dreadful", "tedious", "awful", "clumsy", "dull"]
FRAMES = ["the film is {}", "a {} story", "what a {} movie", "the acting was {}"]


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    d = tmp_path_factory.mktemp("sets")
    rows = [(f.format(w), lab) for f in FRAMES for ws, lab in ((GOOD, "pos"), (BAD, "neg")) for w in ws]
    (d / "train.tsv").write_text("".join(f"{lab}\t{t}\n" for t, lab in rows[::2]))
    (d / "dev.tsv").write_text("".join(f"{lab}\t{t}\n" for t, lab in rows[1::2]))
    return d


def compare(slm, sets, out, *models, extra=()):
    return run([slm, "compare", "--data", sets / "dev.tsv", "--train", sets / "train.tsv", "--labels", "pos=good,neg=bad",
                "--template", "{text}. It was", "--speed-n", "4", "--repeats", "1", "--bootstrap", "100", "-t", "2",
                "-o", out, *extra, *[a for m in models for a in ("--model", m)]], check=False, timeout=900)


def test_stories_and_missing(slm, sets, tmp_path):
    out = tmp_path / "r"
    proc = compare(slm, sets, out, f"stories={STORIES / 'stories260K.bin'}", f"gone={tmp_path / 'nope.gguf'}")
    assert proc.returncode == 1, proc.stderr.decode()
    stdout = proc.stdout.decode()
    assert "gone" in stdout and "failed" in stdout and "nope.gguf" in stdout
    report = json.loads((tmp_path / "r.json").read_text())
    by_name = {c["name"]: c for c in report["candidates"]}
    assert by_name["stories"]["ok"] and by_name["stories"]["n"] == 24 and by_name["stories"]["kind"] == "zero-shot"
    assert not by_name["gone"]["ok"] and "nope.gguf" in by_name["gone"]["error"]
    md = (tmp_path / "r.md").read_text()
    acc = 100 * by_name["stories"]["score"]
    assert f"| stories | zero-shot | 24 | {acc:.2f}%" in md
    root = ET.parse(tmp_path / "r.svg").getroot()
    assert root.tag.endswith("svg") and any("not run: gone" in (t.text or "") for t in root.iter() if t.tag.endswith("text"))


def test_finetune_then_reuse(slm, sets, tmp_path):
    minilm_path = pytest.importorskip("minilm").minilm_path
    base = tmp_path / "minilm.gguf"
    run([slm, "convert", minilm_path(), base])
    clf = tmp_path / "clf.gguf"
    extra = ("--epochs", "2", "--lr", "2e-4", "--finetune-batch", "8", "--max-len", "16")
    proc = compare(slm, sets, tmp_path / "a", f"ft={clf},base={base}", extra=extra)
    assert proc.returncode == 0, proc.stderr.decode()
    first = json.loads((tmp_path / "a.json").read_text())["candidates"][0]
    assert first["ok"] and first["kind"] == "fine-tuned" and first["train_seconds"] > 0
    assert first["parameters"] > 20e6 and first["peak_rss_bytes"] > first["file_bytes"] / 4
    record = json.loads((tmp_path / "clf.gguf.train.json").read_text())
    assert record["seconds"] == pytest.approx(first["train_seconds"], abs=1e-3)
    # the second run reuses the file and its record, and scores the same
    proc = compare(slm, sets, tmp_path / "b", f"ft={clf},base={base}", extra=extra)
    assert proc.returncode == 0 and "reusing" in proc.stderr.decode()
    second = json.loads((tmp_path / "b.json").read_text())["candidates"][0]
    assert second["score"] == first["score"] and second["train_seconds"] == pytest.approx(first["train_seconds"], abs=1e-3)
    # data labels the classifier does not have: a clear failure
    (tmp_path / "other.tsv").write_text("happy\tthe film is good\nsad\tthe film is bad\n")
    proc = run([slm, "compare", "--data", tmp_path / "other.tsv", "--model", f"ft={clf}", "-o", tmp_path / "c",
                "--repeats", "1"], check=False)
    assert proc.returncode == 1
    assert "cannot score" in proc.stdout.decode() and "unknown label" in proc.stdout.decode()


@pytest.mark.parametrize("args,what", [
    ([], "--data"),
    (["--data", "x.tsv", "--model", "a=b,colour=red"], "unknown key"),
    (["--data", "x.tsv", "--model", "a", "--task", "tag"], "--task tag"),
    (["--data", "x.tsv", "--model", "a", "--repeats", "0"], "--repeats"),
])
def test_bad_options(slm, args, what):
    proc = run([slm, "compare", *args], check=False)
    assert proc.returncode == 2 and what in proc.stderr.decode(), proc.stderr.decode()
