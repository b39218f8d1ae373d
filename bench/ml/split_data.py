"""The one way bench/ml's comparison scripts read a CSV, split it and write the halves.

Every script makes the same stratified split (33% test, seed 42 by default) of the same file, so
`aiot` and scikit-learn always see the same rows: `aiot` gets train.csv / test.csv (the original
lines, header included), scikit-learn the arrays.
"""
import os
import tempfile

import numpy as np
from sklearn.model_selection import train_test_split


class Split:
    """header, features, x (float), y (int), idx_train, idx_test, train_csv, test_csv, tmp."""


def split_csv(path, label, drop=(), features=None, test_size=0.33, seed=42, dtype=np.float64,
              prefix="aiot-bench-"):
    """Reads `path` (header row, comma separated, no quoting), keeps `features` (default: every
    column but `label` and `drop`), splits stratified on `label` and writes train.csv/test.csv to
    a fresh temporary directory."""
    with open(path) as f:
        header = f.readline().strip().split(",")
        lines = [l.strip() for l in f if l.strip()]
    cols = {name: i for i, name in enumerate(header)}
    if features is None:
        skip = set(drop) | {label}
        features = [c for c in header if c not in skip]
    rows = [l.split(",") for l in lines]
    s = Split()
    s.header, s.features = header, list(features)
    s.x = np.array([[float(r[cols[c]]) for c in features] for r in rows], dtype=dtype)
    s.y = np.array([int(float(r[cols[label]])) for r in rows])
    s.idx_train, s.idx_test = train_test_split(np.arange(len(rows)), test_size=test_size,
                                               random_state=seed, stratify=s.y)
    s.tmp = tempfile.mkdtemp(prefix=prefix)
    s.train_csv = os.path.join(s.tmp, "train.csv")
    s.test_csv = os.path.join(s.tmp, "test.csv")
    for out, idx in ((s.train_csv, s.idx_train), (s.test_csv, s.idx_test)):
        with open(out, "w") as f:
            f.write(",".join(header) + "\n")
            for i in idx:
                f.write(lines[i] + "\n")
    return s


def add_common_args(ap):
    """The arguments every fan.csv comparison takes: the aiot binary, the data, its label and the
    columns that are not features (defaults: this checkout's build and ../shared's fan.csv)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--aiot", default=os.path.join(root, "build", "rel", "src", "cli", "aiot"))
    ap.add_argument("--data", default=os.path.join(root, "..", "shared", "data", "fan-pdm", "fan.csv"))
    ap.add_argument("--label", default="Faulty")
    ap.add_argument("--drop", default="DeviceID,Time")
