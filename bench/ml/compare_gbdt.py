#!/usr/bin/python3
"""F1 / ROC AUC / training time: `aiot train --model gbdt` vs `aiot train` (MLP) vs scikit-learn's
HistGradientBoostingClassifier, same run, same split.

The split is made here (stratified, 33% test, seed 42) and every model gets the same train.csv and
is scored on the same test.csv (aiot through `aiot eval`, i.e. its own runtime on the .tflite file).
Each aiot run keeps 10% of train.csv for validation (early stopping for gbdt); scikit-learn's
early stopping (on by default above 10,000 rows) also holds out 10%.

usage: bench/ml/compare_gbdt.py [--aiot build/rel/src/cli/aiot]
                                [--data ../shared/data/fan-pdm/fan.csv --label Faulty
                                 --drop DeviceID,Time] [--skip-mlp] [--threads 1]
"""
import argparse
import json
import shlex
import os
import subprocess
import sys
import time

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import f1_score, roc_auc_score

from split_data import add_common_args, split_csv


def run_aiot(args, train_csv, test_csv, model, extra):
    cmd = [args.aiot, "train", "--data", train_csv, "--label", args.label, "--drop", args.drop,
           "--test", "0", "--validation", "0.1", "--quiet", "--out", model] + extra
    t0 = time.perf_counter()
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    wall = time.perf_counter() - t0
    ev = json.loads(subprocess.run([args.aiot, "eval", "--model", model, "--data", test_csv],
                                   check=True, capture_output=True, text=True).stdout)["report"]
    r = {"train_seconds": round(out["train"]["seconds"], 3), "wall_seconds": round(wall, 3),
         "f1": round(ev["f1"], 4), "roc_auc": round(ev["roc_auc"], 4),
         "accuracy": round(ev["accuracy"], 4), "command": " ".join(cmd[1:])}
    if "trees" in out["train"]:
        r["trees"] = out["train"]["trees"]
    r["threshold"] = ev.get("threshold")
    if "auto" in out:
        r["auto_chosen"] = out["auto"]["chosen"]
        r["auto_candidates"] = {c["name"]: [round(c["mean"], 4), round(c["seconds"], 2)]
                                for c in out["auto"]["candidates"]}
    return r


def main():
    ap = argparse.ArgumentParser()
    add_common_args(ap)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-mlp", action="store_true")
    ap.add_argument("--aiot-args", default="",
                    help="extra `aiot train` flags for every aiot run, e.g. "
                         "'--threshold f1 --calibrate platt'")
    ap.add_argument("--aiot-gbdt-args", default="",
                    help="extra flags for the gbdt run only (e.g. '--derive \"p = a * b\"')")
    ap.add_argument("--auto", action="store_true", help="also run `aiot train --model auto`")
    args = ap.parse_args()

    d = split_csv(args.data, args.label, drop=args.drop.split(","), dtype=np.float32,
                  prefix="aiot-gbdt-")
    x, y, idx_train, idx_test = d.x, d.y, d.idx_train, d.idx_test
    tmp, train_csv, test_csv = d.tmp, d.train_csv, d.test_csv

    result = {"data": os.path.basename(args.data), "rows_train": int(len(idx_train)),
              "rows_test": int(len(idx_test)), "positives_test": int(y[idx_test].sum())}
    extra = shlex.split(args.aiot_args)
    result["aiot_gbdt"] = run_aiot(args, train_csv, test_csv, os.path.join(tmp, "gbdt.tflite"),
                                   ["--model", "gbdt", "--threads", str(args.threads)] + extra +
                                   shlex.split(args.aiot_gbdt_args))
    if not args.skip_mlp:
        result["aiot_mlp"] = run_aiot(args, train_csv, test_csv, os.path.join(tmp, "mlp.tflite"),
                                      extra)
    if args.auto:
        result["aiot_auto"] = run_aiot(args, train_csv, test_csv, os.path.join(tmp, "auto.tflite"),
                                       ["--model", "auto", "--threads", str(args.threads)] + extra +
                                       shlex.split(args.aiot_gbdt_args))

    hgb = HistGradientBoostingClassifier(random_state=42)
    t0 = time.perf_counter()
    hgb.fit(x[idx_train], y[idx_train])
    sk_train = time.perf_counter() - t0
    p = hgb.predict_proba(x[idx_test])[:, 1]
    result["sklearn_hgb"] = {"train_seconds": round(sk_train, 3),
                             "f1": round(float(f1_score(y[idx_test], p >= 0.5)), 4),
                             "roc_auc": round(float(roc_auc_score(y[idx_test], p)), 4),
                             "accuracy": round(float(((p >= 0.5) == y[idx_test]).mean()), 4),
                             "iterations": int(hgb.n_iter_)}
    # Inference: one row at a time (a device scoring each reading) and the whole test set at once.
    one = x[idx_test][:1]
    n = 200
    t0 = time.perf_counter()
    for _ in range(n):
        hgb.predict_proba(one)
    result["sklearn_hgb"]["predict_proba_single_us"] = round((time.perf_counter() - t0) / n * 1e6, 1)
    t0 = time.perf_counter()
    hgb.predict_proba(x[idx_test])
    result["sklearn_hgb"]["predict_proba_batch_us_per_row"] = round(
        (time.perf_counter() - t0) / len(idx_test) * 1e6, 3)
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
