"""LightGBM peer for Rankwright's quality bench (runs in the bench-only venv, .bench/venv).

Reads Criteo-layout TSVs (label, I1..I13, C1..C26), trains LightGBM with native categoricals (pandas category
columns; categories fixed on train, unseen validation/test values become NaN = missing) and early stopping on the
same validation split Rankwright uses: validation.tsv when given, else the last `validation_fraction` of train by
position (floor(rows * (1 - fraction)) is the cut, as ranking/data/load-data.ts does). One set of default params
for every scenario (no per-scenario tuning). Writes one test probability per line; prints a JSON summary.

With --schema (a Rankwright declared schema, JSON) it reads CSV tables with a header instead, each column by its
role: label, dense (float), categorical (pandas category, native categorical handling as above), multiCategorical
(a list in one cell) as a multi-hot of the list's LIST_TOP_VALUES most frequent values on train, one 0/1 column per
kept value: LightGBM has no list type, a value's effect is the same in any position of the list (as in Rankwright's
bag), and the rare values a column per value would add are left to the categorical columns' regularisation.
Columns the schema ignores, or does not name, are not read.

    python lightgbm_peer.py --train T --test X --out P [--validation V] [--validation-fraction 0.1] [--threads N]
                            [--params JSON] [--schema SCHEMA.json]

OpenMP threads wait passively (OMP_WAIT_POLICY=PASSIVE unless set): on a shared machine spinning threads starve
each other (measured on 2 busy cores: 78 s spinning vs 4 s passive for the same 128 rounds).

Importable: optuna_lightgbm.py reuses load_splits / make_datasets / train_booster / write_predictions, so the tuned
peer reads, splits, trains and predicts exactly as this one does.
"""
import argparse
import json
import math
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before libgomp loads (with lightgbm)

import lightgbm as lgb  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

DENSE = [f"I{i}" for i in range(1, 14)]
CATEGORICAL = [f"C{i}" for i in range(1, 27)]
COLUMNS = ["label"] + DENSE + CATEGORICAL

PARAMS = {
    "objective": "binary",
    "metric": "binary_logloss",
    "learning_rate": 0.05,
    "num_leaves": 63,
    "min_data_in_leaf": 100,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    # Categorical handling for long-tailed fields (1e3-1e5 values). LightGBM's own defaults (cat_smooth 10,
    # min_data_per_group 100, max_cat_threshold 32) overfit them: early stopping ended after 22-180 rounds and
    # validation log loss was 3-13% worse. Chosen once, for every scenario, by validation log loss (never test) on
    # wide-three-way, wide-crosses and wide-sparse-highcard among five settings (the defaults; 200/50/32;
    # 1000/100/16 with cat_l2 10 or 100; 2000/200/8): best mean rank.
    "cat_smooth": 200.0,
    "cat_l2": 10.0,
    "max_cat_threshold": 8,
    "min_data_per_group": 2000,
    "max_cat_to_onehot": 4,
    "max_bin": 255,
    "seed": 1,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}
MAX_ROUNDS = 1000
EARLY_STOPPING_ROUNDS = 50


def read_tsv(path):
    dtypes = {"label": np.int8, **{c: np.float64 for c in DENSE}, **{c: str for c in CATEGORICAL}}
    return pd.read_csv(path, sep="\t", header=None, names=COLUMNS, dtype=dtypes, keep_default_na=False, na_values=[""], quoting=3)


def load_splits(train_path, test_path, validation_path=None, validation_fraction=0.1):
    """Reads train / validation / test the way Rankwright splits them: validation.tsv when given, else the last
    `validation_fraction` of train by position. Categoricals become pandas categories fixed on train (unseen values
    are NaN = missing). Returns (train, valid, test, read_seconds)."""
    t0 = time.perf_counter()
    train = read_tsv(train_path)
    if validation_path:
        valid = read_tsv(validation_path)
    else:
        cut = math.floor(len(train) * (1 - validation_fraction))
        valid = train.iloc[cut:].reset_index(drop=True)
        train = train.iloc[:cut].reset_index(drop=True)
    test = read_tsv(test_path)
    for c in CATEGORICAL:
        categories = pd.Index(train[c].dropna().unique())
        for df in (train, valid, test):
            df[c] = pd.Categorical(df[c], categories=categories)
    return train, valid, test, time.perf_counter() - t0


FEATURES = DENSE + CATEGORICAL
LIST_TOP_VALUES = 32


def role_of(spec):
    return spec if isinstance(spec, str) else spec["role"]


def load_declared_splits(schema, train_path, test_path, validation_path=None, validation_fraction=0.1):
    """A declared CSV table's splits, read by the schema's roles, with its label as "label" and its features laid out
    for LightGBM (see the module's docstring). Returns (train, valid, test, read_seconds, features, categorical)."""
    t0 = time.perf_counter()
    columns = schema["columns"]

    def by_role(role):
        return [c for c, spec in columns.items() if role_of(spec) == role]

    label, dense, categorical, lists = by_role("label")[0], by_role("dense"), by_role("categorical"), by_role("multiCategorical")
    dtypes = {label: np.int8, **{c: np.float64 for c in dense}, **{c: str for c in categorical + lists}}

    def read(path):
        df = pd.read_csv(path, usecols=list(dtypes), dtype=dtypes, keep_default_na=False, na_values={c: [""] for c in dense + categorical})
        return df.rename(columns={label: "label"})

    train = read(train_path)
    if validation_path:
        valid = read(validation_path)
    else:
        cut = math.floor(len(train) * (1 - validation_fraction))
        valid = train.iloc[cut:].reset_index(drop=True)
        train = train.iloc[:cut].reset_index(drop=True)
    test = read(test_path)
    for c in categorical:
        categories = pd.Index(train[c].dropna().unique())
        for df in (train, valid, test):
            df[c] = pd.Categorical(df[c], categories=categories)
    multi_hot = []
    for c in lists:
        separator = columns[c].get("separator", ",") if isinstance(columns[c], dict) else ","
        counts = train[c].str.split(separator).explode().value_counts()
        kept = [v for v in counts.index if v][:LIST_TOP_VALUES]
        names = [f"{c}={v}" for v in kept]
        for df in (train, valid, test):
            values = df[c].str.split(separator).explode()
            values = values[values.isin(kept)]
            hot = np.zeros((len(df), len(kept)), dtype=np.int8)
            hot[values.index.to_numpy(), pd.Categorical(values, categories=kept).codes] = 1  # frames have a RangeIndex
            df[names] = hot
        multi_hot += names
    return train, valid, test, time.perf_counter() - t0, dense + categorical + multi_hot, categorical


def make_datasets(train, valid, features=FEATURES, categorical=CATEGORICAL):
    """LightGBM datasets of the two splits (validation binned like train). Lazy: binning happens in lgb.train, so
    make fresh ones for each training with different params (min_data_in_leaf also filters features at binning)."""
    dtrain = lgb.Dataset(train[features], label=train["label"], categorical_feature=categorical, free_raw_data=True)
    dvalid = lgb.Dataset(valid[features], label=valid["label"], categorical_feature=categorical, reference=dtrain)
    return dtrain, dvalid


def train_booster(params, dtrain, dvalid, log_every=100):
    """Trains up to MAX_ROUNDS with early stopping on validation log loss. Returns (booster, train_seconds)."""
    t1 = time.perf_counter()
    callbacks = [lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)]
    if log_every:
        callbacks.append(lgb.log_evaluation(log_every))
    booster = lgb.train(params, dtrain, num_boost_round=MAX_ROUNDS, valid_sets=[dvalid], valid_names=["validation"], callbacks=callbacks)
    return booster, time.perf_counter() - t1


def validation_logloss(booster):
    return booster.best_score.get("validation", {}).get("binary_logloss")


def write_predictions(booster, test, out, features=FEATURES):
    """One test probability per line, in test-file order (at the early-stopped iteration)."""
    predictions = booster.predict(test[features], num_iteration=booster.best_iteration)
    with open(out, "w") as f:
        f.write("\n".join(f"{p:.7g}" for p in predictions))
        f.write("\n")


def data_arguments():
    """The arguments every LightGBM peer takes: the files, where predictions go, the validation split, threads."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--validation")
    ap.add_argument("--validation-fraction", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    return ap


def main():
    ap = data_arguments()
    ap.add_argument("--params", default="{}", help="JSON object of LightGBM params that replace the defaults (the bench passes none)")
    ap.add_argument("--schema", help="a declared schema (JSON): read CSV tables with a header by its roles")
    args = ap.parse_args()

    if args.schema:
        with open(args.schema) as f:
            schema = json.load(f)
        train, valid, test, read_seconds, features, categorical = load_declared_splits(
            schema, args.train, args.test, args.validation, args.validation_fraction
        )
    else:
        train, valid, test, read_seconds = load_splits(args.train, args.test, args.validation, args.validation_fraction)
        features, categorical = FEATURES, CATEGORICAL
    params = {**PARAMS, "num_threads": args.threads, **json.loads(args.params)}
    dtrain, dvalid = make_datasets(train, valid, features, categorical)
    booster, train_seconds = train_booster(params, dtrain, dvalid)
    write_predictions(booster, test, args.out, features)
    print(
        json.dumps(
            {
                "lightgbm": lgb.__version__,
                "trainRows": len(train),
                "validationRows": len(valid),
                "testRows": len(test),
                "bestIteration": booster.best_iteration,
                "stoppedEarly": booster.best_iteration < MAX_ROUNDS,
                "validationLogloss": validation_logloss(booster),
                "readSeconds": round(read_seconds, 2),
                "trainSeconds": round(train_seconds, 2),
                "threads": args.threads,
                "features": len(features),
                "paramOverrides": json.loads(args.params),
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
