#!/usr/bin/python3
"""Choosing `aiot train --model gbdt`'s defaults without looking at the test rows.

For each split seed S the data are split stratified (33% test, seed S; bench/ml/split_data.py,
the same rows as f1_seeds.py). Only the training part is used to choose: it is cut into --folds
stratified folds (seed S), and every configuration of the grid is trained by `aiot train --model
gbdt --test 0 --validation 0.1 --seed S` on k-1 folds and scored by `aiot eval` on the k-th;
scikit-learn's HistGradientBoostingClassifier(random_state=S) gets the same folds, as a yardstick.
The configuration with the highest cross-validated ROC AUC over all seeds (ties: F1) is the one to
make the default. Then, and only to report, every configuration and scikit-learn are trained on
the whole training part and scored on the test part (threshold 0.5), with training times
(aiot: the report's train.seconds, the boosting loop; scikit-learn: fit()).

Prints one JSON object: per configuration the CV and test figures per seed, their means and
standard deviations, the paired differences to scikit-learn, and the configuration chosen by CV.

usage: bench/ml/gbdt_defaults.py [--aiot build/rel/src/cli/aiot] [--data CSV --label L --drop A,B]
                                 [--seeds 1,2,3,4,5] [--folds 3] [--configs NAME=FLAGS;...]
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import time

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from split_data import add_common_args, split_csv

# name -> extra `aiot train` flags (on top of --model gbdt)
GRID = {
    "d6_lr0.1 (old default)": "",
    "d4_lr0.1": "--max-depth 4",
    "d3_lr0.1": "--max-depth 3",
    "d2_lr0.1": "--max-depth 2",
    "d3_lr0.1_mcw5": "--max-depth 3 --min-child-weight 5",
    "d4_lr0.1_mcw5": "--max-depth 4 --min-child-weight 5",
    "d3_lr0.05_es50": "--max-depth 3 --learning-rate 0.05 --early-stopping-rounds 50 --trees 600",
    "d4_lr0.05_es50": "--max-depth 4 --learning-rate 0.05 --early-stopping-rounds 50 --trees 600",
    "d3_lr0.1_sub0.8": "--max-depth 3 --subsample 0.8 --colsample 0.8",
    "d6_lr0.1_mcw5": "--min-child-weight 5",
    "d6_lr0.1_mcw20": "--min-child-weight 20",
    "d4_lr0.1_mcw20": "--max-depth 4 --min-child-weight 20",
    "d6_lr0.05_es50": "--learning-rate 0.05 --early-stopping-rounds 50 --trees 600",
    "d4_lr0.05_mcw5_es50": "--max-depth 4 --learning-rate 0.05 --min-child-weight 5 "
                           "--early-stopping-rounds 50 --trees 600",
}


def write_rows(path, header, lines, idx):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for i in idx:
            f.write(lines[i] + "\n")


def aiot_fit_eval(args, train_csv, eval_csv, seed, flags, tmp):
    model = os.path.join(tmp, "m.tflite")
    cmd = [args.aiot, "train", "--data", train_csv, "--label", args.label, "--drop", args.drop,
           "--test", "0", "--validation", "0.1", "--seed", str(seed), "--quiet", "--model",
           "gbdt", "--out", model] + shlex.split(flags)
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    ev = json.loads(subprocess.run([args.aiot, "eval", "--model", model, "--data", eval_csv],
                                   check=True, capture_output=True, text=True).stdout)["report"]
    return {"f1": ev["f1"], "roc_auc": ev["roc_auc"], "seconds": out["train"]["seconds"],
            "trees": out["train"].get("trees")}


def sk_fit_eval(x, y, fit, ev, seed):
    t0 = time.perf_counter()
    m = HistGradientBoostingClassifier(random_state=seed).fit(x[fit], y[fit])
    secs = time.perf_counter() - t0
    p = m.predict_proba(x[ev])[:, 1]
    return {"f1": float(f1_score(y[ev], p >= 0.5)), "roc_auc": float(roc_auc_score(y[ev], p)),
            "seconds": secs, "trees": int(m.n_iter_)}


def stats(v):
    v = np.asarray(v, dtype=float)
    return round(float(v.mean()), 4), round(float(v.std(ddof=1)) if len(v) > 1 else 0.0, 4)


def main():
    ap = argparse.ArgumentParser()
    add_common_args(ap)
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--configs", help="NAME=FLAGS;NAME=FLAGS (default: the built-in grid)")
    ap.add_argument("--skip-test", action="store_true", help="cross-validation only")
    args = ap.parse_args()
    grid = GRID
    if args.configs:
        grid = dict(c.split("=", 1) for c in args.configs.split(";"))
    seeds = [int(s) for s in args.seeds.split(",")]
    names = list(grid) + ["sklearn_hgb"]
    cv = {n: [] for n in names}    # per seed: mean over folds of {"f1","roc_auc"}
    test = {n: [] for n in names}  # per seed
    for seed in seeds:
        d = split_csv(args.data, args.label, drop=args.drop.split(","), seed=seed,
                      dtype=np.float32, prefix="aiot-gbdt-defaults-")
        with open(d.train_csv) as f:
            header = f.readline().strip().split(",")
            lines = [l.strip() for l in f if l.strip()]
        tr = d.idx_train  # lines[i] is the row d.idx_train[i]
        folds = list(StratifiedKFold(args.folds, shuffle=True, random_state=seed)
                     .split(np.zeros(len(tr)), d.y[tr]))
        per = {n: [] for n in names}
        for k, (fit, held) in enumerate(folds):
            fcsv = os.path.join(d.tmp, "fold_fit.csv")
            hcsv = os.path.join(d.tmp, "fold_held.csv")
            write_rows(fcsv, header, lines, fit)
            write_rows(hcsv, header, lines, held)
            for n, flags in grid.items():
                per[n].append(aiot_fit_eval(args, fcsv, hcsv, seed, flags, d.tmp))
            per["sklearn_hgb"].append(sk_fit_eval(d.x, d.y, tr[fit], tr[held], seed))
        for n in names:
            cv[n].append({m: float(np.mean([r[m] for r in per[n]])) for m in ("f1", "roc_auc")})
        if not args.skip_test:
            for n, flags in grid.items():
                test[n].append(aiot_fit_eval(args, d.train_csv, d.test_csv, seed, flags, d.tmp))
            test["sklearn_hgb"].append(sk_fit_eval(d.x, d.y, d.idx_train, d.idx_test, seed))
        print("seed", seed, "cv auc", {n: round(cv[n][-1]["roc_auc"], 4) for n in names},
              file=sys.stderr, flush=True)
    summary = {"data": os.path.basename(args.data), "seeds": seeds, "folds": args.folds,
               "configs": grid, "command": " ".join(shlex.quote(a) for a in sys.argv)}
    aiot_names = list(grid)
    chosen = max(aiot_names, key=lambda n: (np.mean([r["roc_auc"] for r in cv[n]]),
                                            np.mean([r["f1"] for r in cv[n]])))
    summary["chosen_by_cv"] = chosen
    rows = {}
    for n in names:
        row = {}
        for m in ("roc_auc", "f1"):
            row["cv_" + m] = stats([r[m] for r in cv[n]])
            row["cv_" + m + "_per_seed"] = [round(r[m], 4) for r in cv[n]]
            if n != "sklearn_hgb":
                row["cv_" + m + "_minus_sk"] = stats(
                    [a[m] - s[m] for a, s in zip(cv[n], cv["sklearn_hgb"])])
        if test[n]:
            for m in ("roc_auc", "f1", "seconds"):
                row["test_" + m] = stats([r[m] for r in test[n]])
                row["test_" + m + "_per_seed"] = [round(r[m], 4) for r in test[n]]
                if n != "sklearn_hgb":
                    row["test_" + m + "_minus_sk"] = stats(
                        [a[m] - s[m] for a, s in zip(test[n], test["sklearn_hgb"])])
            row["trees"] = [r["trees"] for r in test[n]]
        rows[n] = row
    summary["results"] = rows
    print(json.dumps(summary))


if __name__ == "__main__":
    sys.exit(main())
