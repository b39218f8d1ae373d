#!/usr/bin/python3
"""F1 of `aiot train --model gbdt` vs scikit-learn's HistGradientBoostingClassifier over several
split seeds, like for like: mean and spread, not one draw.

For each seed S the data are split stratified (33% test, seed S; bench/ml/split_data.py) and every
variant sees the same train/test rows:
  aiot            `aiot train --model gbdt --test 0 --validation 0.1 --seed S` on train.csv (10% of it
                  for early stopping), `aiot eval` on test.csv (threshold 0.5)
  aiot_f1         the same with `--threshold f1` (the F1-optimal threshold on those 10%)
  aiot_derived    the same as aiot with the derived features of --derive (default: three ratios /
                  products of the fan readings)
  aiot_derived_f1 both
  sk              HistGradientBoostingClassifier(random_state=S) on train (its own early stopping on
                  10%), threshold 0.5
  sk_f1           fitted on the same 90% as aiot's training rows is not reproducible here (aiot's
                  validation draw is its own), so: a stratified 90/10 split of train (seed S), fit
                  on the 90%, the F1-optimal threshold on the 10%, applied to test
  sk_derived      sk on the raw + derived columns (computed in float32 like aiot)
Prints one JSON object: per variant the per-seed F1 / AUC and their mean and standard deviation,
and the paired differences aiot - sk.

usage: bench/ml/f1_seeds.py [--aiot build/rel/src/cli/aiot] [--seeds 1,2,3,4,5]
"""
import argparse
import json
import os
import shlex
import subprocess
import sys

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import f1_score, precision_recall_curve, roc_auc_score
from sklearn.model_selection import train_test_split

from split_data import add_common_args, split_csv

DEFAULT_DERIVE = ["vr = Vibration / Rotation", "tr = Temperature / Rotation",
                  "sv = Sound * Vibration"]


def aiot_run(args, d, seed, extra):
    model = os.path.join(d.tmp, "m.tflite")
    cmd = [args.aiot, "train", "--data", d.train_csv, "--label", args.label, "--drop", args.drop,
           "--test", "0", "--validation", "0.1", "--seed", str(seed), "--quiet", "--model", "gbdt",
           "--out", model] + extra
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    ev = json.loads(subprocess.run([args.aiot, "eval", "--model", model, "--data", d.test_csv],
                                   check=True, capture_output=True, text=True).stdout)["report"]
    return {"f1": ev["f1"], "roc_auc": ev["roc_auc"], "threshold": ev.get("threshold"),
            "trees": out["train"].get("trees")}


def f1_threshold(y, p):
    """The threshold maximising F1 on (y, p); ties to the higher threshold, like aiot's rule."""
    prec, rec, thr = precision_recall_curve(y, p)
    f1 = np.where(prec + rec > 0, 2 * prec * rec / np.maximum(prec + rec, 1e-12), 0)[:-1]
    best = np.flatnonzero(f1 == f1.max())[-1]
    return float(thr[best])


def derived(x, features, definitions):
    """The derived columns of `a op b` definitions, in float32 like aiot's graph."""
    col = {name: x[:, i].astype(np.float32) for i, name in enumerate(features)}
    out = []
    for d in definitions:
        name, expr = [s.strip() for s in d.split("=", 1)]
        a, op, b = expr.split()
        va, vb = col[a], col[b]
        v = {"*": va * vb, "/": va / vb, "+": va + vb, "-": va - vb}[op].astype(np.float32)
        col[name] = v
        out.append(v)
    return np.column_stack([x] + out)


def sk_run(x, y, tr, te, seed, tune_threshold):
    if not tune_threshold:
        m = HistGradientBoostingClassifier(random_state=seed).fit(x[tr], y[tr])
        p = m.predict_proba(x[te])[:, 1]
        return {"f1": float(f1_score(y[te], p >= 0.5)), "roc_auc": float(roc_auc_score(y[te], p)),
                "threshold": 0.5}
    fit, val = train_test_split(tr, test_size=0.1, random_state=seed, stratify=y[tr])
    m = HistGradientBoostingClassifier(random_state=seed).fit(x[fit], y[fit])
    t = f1_threshold(y[val], m.predict_proba(x[val])[:, 1])
    p = m.predict_proba(x[te])[:, 1]
    return {"f1": float(f1_score(y[te], p >= t)), "roc_auc": float(roc_auc_score(y[te], p)),
            "threshold": t}


def main():
    ap = argparse.ArgumentParser()
    add_common_args(ap)
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("--derive", action="append", help="derived feature (default: three for fan.csv)")
    args = ap.parse_args()
    definitions = args.derive or DEFAULT_DERIVE
    derive_flags = [a for d in definitions for a in ("--derive", d)]
    runs = {k: [] for k in ("aiot", "aiot_f1", "aiot_derived", "aiot_derived_f1", "sk", "sk_f1",
                            "sk_derived")}
    for seed in [int(s) for s in args.seeds.split(",")]:
        d = split_csv(args.data, args.label, drop=args.drop.split(","), seed=seed, dtype=np.float32,
                      prefix="aiot-f1-")
        xd = derived(d.x, d.features, definitions)
        tr, te = d.idx_train, d.idx_test
        runs["aiot"].append(aiot_run(args, d, seed, []))
        runs["aiot_f1"].append(aiot_run(args, d, seed, ["--threshold", "f1"]))
        runs["aiot_derived"].append(aiot_run(args, d, seed, derive_flags))
        runs["aiot_derived_f1"].append(aiot_run(args, d, seed, derive_flags + ["--threshold", "f1"]))
        runs["sk"].append(sk_run(d.x, d.y, tr, te, seed, False))
        runs["sk_f1"].append(sk_run(d.x, d.y, tr, te, seed, True))
        runs["sk_derived"].append(sk_run(xd, d.y, tr, te, seed, False))
        print("seed", seed, {k: round(v[-1]["f1"], 4) for k, v in runs.items()}, file=sys.stderr,
              flush=True)
    summary = {}
    for k, v in runs.items():
        f1 = np.array([r["f1"] for r in v])
        auc = np.array([r["roc_auc"] for r in v])
        summary[k] = {"f1": [round(x, 4) for x in f1], "f1_mean": round(float(f1.mean()), 4),
                      "f1_std": round(float(f1.std(ddof=1)) if len(f1) > 1 else 0.0, 4),
                      "auc_mean": round(float(auc.mean()), 4),
                      "auc_std": round(float(auc.std(ddof=1)) if len(auc) > 1 else 0.0, 4)}
    diff = np.array([a["f1"] - s["f1"] for a, s in zip(runs["aiot"], runs["sk"])])
    summary["aiot_minus_sk_f1"] = {"per_seed": [round(x, 4) for x in diff],
                                   "mean": round(float(diff.mean()), 4),
                                   "std": round(float(diff.std(ddof=1)) if len(diff) > 1 else 0.0, 4)}
    summary["derive"] = definitions
    summary["command"] = " ".join(shlex.quote(a) for a in sys.argv)
    print(json.dumps(summary))


if __name__ == "__main__":
    sys.exit(main())
