#!/usr/bin/env python3
"""bench/keywords_fit.py — fits the stat keyword scorer's feature weights by L2-regularised
logistic regression (Newton's method, numpy) on `keywords_tune dump` output from a training
corpus (Inspec train), and prints them as C initialisers for kw_stat_default_weights and as
arguments for `keywords_tune eval`.

usage: bench/keywords_fit.py FEATURES.tsv [--l2 1.0] [--drop name,name]"""
import argparse

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tsv")
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument("--drop", default="")
    ap.add_argument("--listwise", action="store_true",
                    help="maximise the within-document softmax of the gold candidates instead")
    args = ap.parse_args()
    with open(args.tsv) as f:
        names = f.readline().rstrip("\n").split("\t")[2:]
    data = np.loadtxt(args.tsv, delimiter="\t", skiprows=1)
    doc, y, x = data[:, 0].astype(int), data[:, 1], data[:, 2:]
    keep = np.array([n not in args.drop.split(",") for n in names])
    mu, sd = x.mean(0), x.std(0)
    sd[sd == 0] = 1
    z = np.where(keep, (x - mu) / sd, 0.0)
    z = np.hstack([z, np.ones((len(z), 1))])
    w = np.zeros(z.shape[1])
    reg = args.l2 * np.eye(z.shape[1])
    reg[-1, -1] = 0
    if args.listwise:
        z = z[:, :-1]
        w = np.zeros(z.shape[1])
        reg = args.l2 * np.eye(z.shape[1])
        n_docs = doc.max() + 1
        n_pos = np.bincount(doc, weights=y, minlength=n_docs)
        for _ in range(40):
            s_ = z @ w
            m = np.full(n_docs, -np.inf)
            np.maximum.at(m, doc, s_)
            e = np.exp(s_ - m[doc])
            denom = np.bincount(doc, weights=e, minlength=n_docs)
            p = e / denom[doc]
            ez = np.zeros((n_docs, z.shape[1]))
            np.add.at(ez, doc, z * p[:, None])
            g = -(z * y[:, None]).sum(0) + (n_pos[:, None] * ez).sum(0) + reg @ w
            wz = z * (p * n_pos[doc])[:, None]
            h = z.T @ wz - sum(n_pos[d] * np.outer(ez[d], ez[d]) for d in range(n_docs)) + reg
            step = np.linalg.solve(h, g)
            w -= step
            if np.abs(step).max() < 1e-8:
                break
        raw = np.where(keep, w / sd, 0.0)
        print(f"# listwise, positives {int(y.sum())} of {len(y)}")
        for n, v in zip(names, raw):
            print(f"    w.w[KW_F_{n.upper()}] = {v:.4f};")
        print("args:", " ".join(f"{v:.4f}" for v in raw))
        return
    for _ in range(30):
        p = 1 / (1 + np.exp(-z @ w))
        g = z.T @ (p - y) + reg @ w
        h = (z * (p * (1 - p))[:, None]).T @ z + reg
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    raw = np.where(keep, w[:-1] / sd, 0.0)
    ll = np.mean(y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12))
    print(f"# mean log-likelihood {ll:.4f}, positives {int(y.sum())} of {len(y)}")
    for n, v in zip(names, raw):
        print(f"    w.w[KW_F_{n.upper()}] = {v:.4f};")
    print("args:", " ".join(f"{v:.4f}" for v in raw))


if __name__ == "__main__":
    main()
