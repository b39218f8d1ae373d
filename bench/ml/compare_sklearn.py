#!/usr/bin/python3
"""Training time and accuracy: `aiot train` vs scikit-learn's MLPClassifier, same run, same split.

Both train the reference recipe on fan.csv: features Rotation, Temperature, Vibration, Sound
(DeviceID and Time dropped), hidden layers 60-30-10 with ReLU, Adam (lr 0.001), batch 32, 250
epochs, standardised inputs. The split is made here (stratified, 33% test, seed 42) and both
tools get the same train.csv; both are scored on the same test.csv.

usage: bench/ml/compare_sklearn.py [--aiot build/ml/src/cli/aiot] [--data ../shared/data/fan-pdm/fan.csv]
                                   [--epochs 250]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from split_data import split_csv

FEATURES = ["Rotation", "Temperature", "Vibration", "Sound"]


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser()
    ap.add_argument("--aiot", default=os.path.join(root, "build", "rel", "src", "cli", "aiot"))
    ap.add_argument("--data", default=os.path.join(root, "..", "shared", "data", "fan-pdm", "fan.csv"))
    ap.add_argument("--epochs", type=int, default=250)
    args = ap.parse_args()

    d = split_csv(args.data, "Faulty", features=FEATURES, prefix="aiot-sklearn-")
    x, y, idx_train, idx_test = d.x, d.y, d.idx_train, d.idx_test
    tmp, train_csv, test_csv = d.tmp, d.train_csv, d.test_csv

    # aiot: the whole CLI run (load CSV, train, export .tflite), then eval on the test file.
    model = os.path.join(tmp, "fan.tflite")
    t0 = time.perf_counter()
    out = subprocess.run([args.aiot, "train", "--data", train_csv, "--label", "Faulty", "--drop",
                          "DeviceID,Time", "--epochs", str(args.epochs), "--batch", "32",
                          "--test", "0", "--validation", "0", "--quiet", "--out", model],
                         check=True, capture_output=True, text=True).stdout
    aiot_wall = time.perf_counter() - t0
    aiot_train = json.loads(out)["train"]["seconds"]
    ev = json.loads(subprocess.run([args.aiot, "eval", "--model", model, "--data", test_csv],
                                   check=True, capture_output=True, text=True).stdout)
    aiot_acc = ev["report"]["accuracy"]

    # scikit-learn: same architecture, optimizer, batch and epochs on the same rows.
    scaler = StandardScaler().fit(x[idx_train])
    clf = MLPClassifier(hidden_layer_sizes=(60, 30, 10), activation="relu", solver="adam",
                        learning_rate_init=0.001, batch_size=32, max_iter=args.epochs,
                        tol=0.0, n_iter_no_change=args.epochs + 1, shuffle=True, random_state=42)
    t0 = time.perf_counter()
    clf.fit(scaler.transform(x[idx_train]), y[idx_train])
    sk_train = time.perf_counter() - t0
    sk_acc = float((clf.predict(scaler.transform(x[idx_test])) == y[idx_test]).mean())

    result = {
        "rows_train": int(len(idx_train)), "rows_test": int(len(idx_test)), "epochs": args.epochs,
        "aiot": {"train_seconds": round(aiot_train, 3), "wall_seconds": round(aiot_wall, 3),
                 "test_accuracy": round(aiot_acc, 4)},
        "sklearn": {"train_seconds": round(sk_train, 3), "epochs_run": int(clf.n_iter_),
                    "test_accuracy": round(sk_acc, 4)},
        "speedup_train": round(sk_train / aiot_train, 1),
        "speedup_wall": round(sk_train / aiot_wall, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
