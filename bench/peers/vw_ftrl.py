"""Vowpal Wabbit's FTRL-Proximal: the speed peer of Rankwright's `lr` (runs in the bench-only venv, .bench/venv).

The textbook FTRL recipe (bench/peers/textbook-ftrl.ts) run by VW: one pass, the same features (a bias, each dense
count bucketed by floor(log2(1+x)) with its field, each categorical value with its field, a missing value being a
feature of its own), a 2^22 hash space (-b 22) and the same hyperparameters (--ftrl_alpha 0.05 --ftrl_beta 1
--l1 0.5 --l2 1), logistic loss. Writes one test probability per line in test-file order; prints a JSON summary.

    python vw_ftrl.py --train T --test X --out P [--work DIR] [--bits 22]

Two steps, timed apart so that VW's own speed is not charged with Python's:
  1. conversion: each TSV streamed, line by line, to VW's text format (`1 |i i1_3 ... |c c1_f9421d9b ...`) in DIR;
  2. VW: learns from train.vw through its own C++ parser (`--data`, run_parser), saves the model, then predicts
     test.vw with it (`-t -p`, logistic link = probabilities).
The summary gives training examples per second for VW alone (step 2's training) and with train's conversion.
"""
import argparse
import json
import math
import os
import sys
import tempfile
import time
from importlib.metadata import version

from vowpalwabbit import pyvw

DENSE = 13
CATEGORICAL = 26
FIELDS = 1 + DENSE + CATEGORICAL
HYPERPARAMETERS = "--ftrl --ftrl_alpha 0.05 --ftrl_beta 1 --l1 0.5 --l2 1 --loss_function logistic --link logistic"
# Characters VW's text format reserves (separators, namespaces, values): replaced in a value that holds one.
RESERVED = str.maketrans({" ": "_", "\t": "_", "|": "_", ":": "_"})


def dense_bucket(text):
    """floor(log2(1+max(0,x))) as the textbook computes it (integers exactly, via bit_length)."""
    try:
        v = int(text)
        return str((1 + v).bit_length() - 1) if v > 0 else "0"
    except ValueError:
        try:
            x = float(text)  # a float count, "nan", "inf": the textbook's Number() path
        except ValueError:
            return "NaN"
        if math.isnan(x):
            return "NaN"
        return "Infinity" if math.isinf(x) and x > 0 else str(math.floor(math.log2(1 + max(0.0, x))))


def convert(src, dst):
    """Streams a Criteo TSV to VW text lines; returns the row count. Dense buckets are memoized per field (counts
    repeat), so a row costs one split and one join."""
    dense_tokens = [dict() for _ in range(DENSE)]
    dense_prefix = [f"i{f + 1}_" for f in range(DENSE)]
    cat_prefix = [f"c{f + 1}_" for f in range(CATEGORICAL)]
    rows = 0
    with open(src, encoding="utf-8", errors="replace", newline="") as f, open(dst, "w", encoding="utf-8") as out:
        for line in f:
            line = line.rstrip("\r\n")
            if not line:
                continue
            cols = line.split("\t")
            if len(cols) < FIELDS:
                cols += [""] * (FIELDS - len(cols))
            parts = ["1 |i" if cols[0] == "1" else "-1 |i"]
            for f in range(DENSE):
                text = cols[1 + f]
                token = dense_tokens[f].get(text)
                if token is None:
                    token = dense_tokens[f][text] = dense_prefix[f] + (dense_bucket(text) if text else "")
                parts.append(token)
            parts.append("|c")
            values = cols[1 + DENSE : FIELDS]
            if any(c in line for c in " |:"):
                values = [v.translate(RESERVED) for v in values]
            parts.extend([p + v for p, v in zip(cat_prefix, values)])
            out.write(" ".join(parts))
            out.write("\n")
            rows += 1
    return rows


def run_vw(args):
    """One VW workspace over its --data file in VW's own driver (its parser and learner, no Python per row)."""
    vw = pyvw.Workspace(args + " --quiet")
    vw.run_parser()
    vw.finish()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", help="where the converted files and the model go (default: a temporary folder, removed)")
    ap.add_argument("--bits", type=int, default=22)
    a = ap.parse_args()

    with tempfile.TemporaryDirectory(dir=a.work) as work:
        train_vw, test_vw, model = (os.path.join(work, n) for n in ("train.vw", "test.vw", "model.vw"))
        t0 = time.perf_counter()
        train_rows = convert(a.train, train_vw)
        t1 = time.perf_counter()
        test_rows = convert(a.test, test_vw)
        t2 = time.perf_counter()
        run_vw(f"{HYPERPARAMETERS} -b {a.bits} --passes 1 --data {train_vw} -f {model}")
        t3 = time.perf_counter()
        run_vw(f"-t -i {model} --link logistic --data {test_vw} -p {a.out}")
        t4 = time.perf_counter()

    convert_train, train_seconds = t1 - t0, t3 - t2
    print(
        json.dumps(
            {
                "vowpalwabbit": version("vowpalwabbit"),
                "trainRows": train_rows,
                "testRows": test_rows,
                "convertTrainSeconds": round(convert_train, 3),
                "convertTestSeconds": round(t2 - t1, 3),
                "trainSeconds": round(train_seconds, 3),
                "testSeconds": round(t4 - t3, 3),
                # VW's own rate (its parser of the .vw text and its learner), and with the conversion it needs.
                "examplesPerSec": round(train_rows / train_seconds),
                "examplesPerSecWithConversion": round(train_rows / (convert_train + train_seconds)),
                "args": f"{HYPERPARAMETERS} -b {a.bits} --passes 1",
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
