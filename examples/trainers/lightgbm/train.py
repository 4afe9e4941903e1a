#!/usr/bin/env python3
"""An external trainer for Rankwright: gradient-boosted trees with LightGBM.

    python train.py JOB_JSON

JOB_JSON names the data (TSV files with a header: label, optional weight, dense and categorical columns), the knobs
to train with, and where to write the model, the validation and test predictions and metrics.json. See README.md.
Needs only numpy and lightgbm (requirements.txt). Exits 2 with a message on stderr when the job is malformed.
"""

import io
import json
import math
import os
import re
import sys
import time

import numpy as np

PROGRESS_EVERY = 25

DEFAULTS = {
    "objective": "binary",
    "metric": "binary_logloss",
    "learning_rate": 0.05,
    "num_leaves": 63,
    "min_data_in_leaf": 100,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbosity": -1,
    "num_threads": 2,
    "seed": 1,
}
# Knobs of this script, not of LightGBM: taken out of the params before they reach lightgbm.
SCRIPT_DEFAULTS = {
    "num_boost_round": 500,
    "early_stopping_rounds": 50,
    # A categorical value seen on fewer training rows than this shares one "other" code with unseen values.
    "min_category_count": 10,
}

# Types of the knobs a job most often sets; a value of the wrong type is refused by name before training starts.
# Any other name is passed to lightgbm as it is (lightgbm reports what it cannot use).
INT_PARAMS = {
    "num_boost_round", "early_stopping_rounds", "min_category_count", "num_leaves", "min_data_in_leaf",
    "bagging_freq", "max_depth", "num_threads", "max_bin", "seed", "max_cat_threshold", "max_cat_to_onehot",
    "min_data_per_group", "verbosity",
}
FLOAT_PARAMS = {
    "learning_rate", "feature_fraction", "bagging_fraction", "lambda_l1", "lambda_l2", "min_sum_hessian_in_leaf",
    "min_gain_to_split", "cat_smooth", "cat_l2", "scale_pos_weight",
}
STRING_PARAMS = {"objective", "metric", "boosting"}


class JobError(Exception):
    """A problem with the job itself (its file, its data, its params): reported on stderr, exit status 2."""


def fail(message):
    sys.stderr.write(f"train.py: {message}\n")
    sys.stderr.flush()
    sys.exit(2)


def log(line):
    print(line, flush=True)


# ---------------------------------------------------------------------------------------------------------------- job


def read_job(path):
    try:
        with open(path, encoding="utf-8") as f:
            job = json.load(f)
    except FileNotFoundError:
        raise JobError(f"job file not found: {path}")
    except json.JSONDecodeError as e:
        raise JobError(f"job file {path} is not JSON: {e}")
    if not isinstance(job, dict):
        raise JobError(f"job file {path}: expected an object")
    for key in ("data", "outputs"):
        if not isinstance(job.get(key), dict):
            raise JobError(f"job file {path}: missing object {key!r}")
    data, outputs = job["data"], job["outputs"]
    for key in ("train", "validation", "test"):
        if not isinstance(data.get(key), str):
            raise JobError(f"job file {path}: data.{key} must be a file path")
        if not os.path.isfile(data[key]):
            raise JobError(f"data.{key}: file not found: {data[key]}")
    if not isinstance(data.get("columns"), list) or not data["columns"]:
        raise JobError(f"job file {path}: data.columns must list the columns")
    for key in ("model", "metrics", "validationPredictions", "testPredictions"):
        if not isinstance(outputs.get(key), str):
            raise JobError(f"job file {path}: outputs.{key} must be a file path")
    params = job.get("params", {})
    if not isinstance(params, dict):
        raise JobError(f"job file {path}: params must be an object of knob: value")
    return job


def as_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or int(value) != value:
        raise JobError(f"param {name}: expected an integer, got {json.dumps(value)}")
    return int(value)


def as_float(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise JobError(f"param {name}: expected a number, got {json.dumps(value)}")
    return float(value)


def resolve_params(given):
    """LightGBM params (defaults, then the job's) and this script's own knobs, each checked against its type."""
    params = dict(DEFAULTS)
    script = dict(SCRIPT_DEFAULTS)
    for name, value in given.items():
        if name in INT_PARAMS:
            value = as_int(name, value)
        elif name in FLOAT_PARAMS:
            value = as_float(name, value)
        elif name in STRING_PARAMS and not isinstance(value, str):
            raise JobError(f"param {name}: expected a string, got {json.dumps(value)}")
        elif not isinstance(value, (str, int, float, bool)):
            raise JobError(f"param {name}: expected a number, string or boolean, got {json.dumps(value)}")
        (script if name in SCRIPT_DEFAULTS else params)[name] = value
    for name in ("num_boost_round", "min_category_count"):
        if script[name] < 1:
            raise JobError(f"param {name}: must be at least 1, got {script[name]}")
    return params, script


# --------------------------------------------------------------------------------------------------------------- data


def read_tsv(path, columns):
    """A TSV of the export as a float64 matrix (rows × columns): empty cells are NaN; uint32 hashes are exact."""
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        body = f.read()
    names = [c["name"] for c in columns]
    if header != names:
        raise JobError(f"{path}: header {header[:8]} does not match data.columns {names[:8]}")
    if not body.strip():
        return np.empty((0, len(names)))
    if not body.endswith("\n"):
        body += "\n"
    # Empty cells become "nan" so numpy's C parser reads the whole file (two passes cover runs of empty cells).
    body = "\n" + body
    body = body.replace("\t\t", "\tnan\t").replace("\t\t", "\tnan\t")
    body = body.replace("\n\t", "\nnan\t").replace("\t\n", "\tnan\n")
    try:
        m = np.loadtxt(io.StringIO(body[1:]), delimiter="\t", dtype=np.float64, ndmin=2)
    except ValueError as e:
        raise JobError(f"{path}: {e}")
    if m.shape[1] != len(names):
        raise JobError(f"{path}: {m.shape[1]} columns where data.columns lists {len(names)}")
    return m


class CategoryCodes:
    """One categorical column's hashes → dense codes by training frequency (0 = most frequent); rare and unseen
    values share the last code; missing stays NaN (LightGBM's missing)."""

    def __init__(self, train_column, min_count):
        seen = train_column[~np.isnan(train_column)]
        values, counts = np.unique(seen, return_counts=True)
        order = np.lexsort((values, -counts))
        order = order[counts[order] >= min_count]
        self.kept = order.size
        self.other = float(order.size)
        by_value = np.argsort(values[order], kind="stable")
        self.values = values[order][by_value]
        # Position j of `order` has code j: the i-th smallest kept value has code by_value[i].
        self.codes = by_value.astype(np.float64)

    def encode(self, column):
        out = np.full(column.shape, np.nan)
        present = ~np.isnan(column)
        x = column[present]
        if self.values.size == 0:
            out[present] = self.other
            return out
        idx = np.minimum(np.searchsorted(self.values, x), self.values.size - 1)
        hit = self.values[idx] == x
        out[present] = np.where(hit, self.codes[idx], self.other)
        return out


def feature_name(name, taken):
    """LightGBM refuses JSON's special characters in feature names ("interests[2]"): keep letters, digits, _."""
    clean = re.sub(r"[^0-9A-Za-z_]", "_", name) or "f"
    base, k = clean, 2
    while clean in taken:
        clean, k = f"{base}_{k}", k + 1
    taken.add(clean)
    return clean


def prepare(job, min_category_count):
    columns = job["data"]["columns"]
    roles = [c.get("role") for c in columns]
    if roles.count("label") != 1:
        raise JobError("data.columns must hold exactly one label column")
    unknown = sorted({r for r in roles if r not in ("label", "weight", "dense", "categorical")})
    if unknown:
        raise JobError(f"data.columns: unknown roles {unknown}")
    label_at = roles.index("label")
    weight_at = roles.index("weight") if "weight" in roles else None
    features = [i for i, r in enumerate(roles) if r in ("dense", "categorical")]
    if not features:
        raise JobError("data.columns holds no dense or categorical columns to train on")
    categorical = [k for k, i in enumerate(features) if roles[i] == "categorical"]

    splits = {}
    for split in ("train", "validation", "test"):
        m = read_tsv(job["data"][split], columns)
        expected = job["data"].get("rows", {}).get(split)
        if expected is not None and expected != m.shape[0]:
            raise JobError(f"data.{split}: {m.shape[0]} rows where data.rows says {expected}")
        splits[split] = m
    for split in ("train", "validation"):
        y = splits[split][:, label_at]
        if splits[split].shape[0] == 0:
            raise JobError(f"data.{split} has no rows")
        if np.isnan(y).any() or not np.isin(y, (0.0, 1.0)).all():
            raise JobError(f"data.{split}: every label must be 0 or 1")

    encoders = {k: CategoryCodes(splits["train"][:, features[k]], min_category_count) for k in categorical}
    out = {}
    for split, m in splits.items():
        x = m[:, features].copy()
        for k, enc in encoders.items():
            x[:, k] = enc.encode(x[:, k])
        w = m[:, weight_at] if weight_at is not None else None
        if w is not None and split != "test" and (np.isnan(w).any() or (w < 0).any()):
            raise JobError(f"data.{split}: weights must be numbers >= 0")
        out[split] = {"x": x, "y": m[:, label_at], "w": w}
    taken = set()
    names = [feature_name(columns[i]["name"], taken) for i in features]
    kept = {columns[features[k]]["name"]: enc.kept for k, enc in encoders.items()}
    return out, names, categorical, kept


# -------------------------------------------------------------------------------------------------------------- train


def logloss(p, y, w=None):
    p = np.clip(p, 1e-15, 1 - 1e-15)
    losses = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    return float(np.average(losses, weights=w))


def write_atomic(path, write):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    write(tmp)
    os.replace(tmp, path)


def write_predictions(path, p):
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("".join(f"{v!r}\n" for v in p.astype(float).tolist()))

    write_atomic(path, write)


def progress_callback(env):
    iteration = env.iteration + 1
    if iteration % PROGRESS_EVERY and iteration != env.end_iteration:
        return
    for data_name, metric, value, _ in env.evaluation_result_list or []:
        if data_name == "valid":
            log(f"[iteration {iteration}] valid {metric.replace('binary_', '')} {value:.6f}")
            break


def main(argv):
    started = time.time()
    if len(argv) != 2:
        raise JobError("usage: python train.py JOB_JSON")
    job = read_job(argv[1])
    params, script = resolve_params(job.get("params", {}))

    import lightgbm as lgb  # after the checks: a malformed job fails fast

    data, names, categorical, kept = prepare(job, script["min_category_count"])
    train, valid, test = data["train"], data["validation"], data["test"]
    log(
        f"job {job.get('jobId', '?')}: {train['x'].shape[0]} train, {valid['x'].shape[0]} validation, "
        f"{test['x'].shape[0]} test rows; {len(names)} features ({len(categorical)} categorical"
        + (f", codes kept {sum(kept.values())}" if kept else "")
        + ")"
    )
    dtrain = lgb.Dataset(
        train["x"], label=train["y"], weight=train["w"], feature_name=names, categorical_feature=categorical,
        free_raw_data=False,
    )
    dvalid = lgb.Dataset(valid["x"], label=valid["y"], weight=valid["w"], reference=dtrain)
    callbacks = [progress_callback]
    if script["early_stopping_rounds"] > 0:
        callbacks.append(lgb.early_stopping(script["early_stopping_rounds"], verbose=False))
    try:
        booster = lgb.train(
            params, dtrain, num_boost_round=script["num_boost_round"], valid_sets=[dvalid], valid_names=["valid"],
            callbacks=callbacks,
        )
    except lgb.basic.LightGBMError as e:
        raise JobError(f"lightgbm refused the params: {e}")
    best = booster.best_iteration if booster.best_iteration > 0 else booster.current_iteration()

    outputs = job["outputs"]
    write_atomic(outputs["model"], lambda tmp: booster.save_model(tmp, num_iteration=best))
    p_valid = booster.predict(valid["x"], num_iteration=best)
    p_test = booster.predict(test["x"], num_iteration=best)
    write_predictions(outputs["validationPredictions"], p_valid)
    write_predictions(outputs["testPredictions"], p_test)
    metrics = {
        "validation": {"logloss": logloss(p_valid, valid["y"], valid["w"]), "rows": int(valid["x"].shape[0])},
        "bestIteration": int(best),
        "seconds": round(time.time() - started, 3),
    }

    def write_metrics(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(metrics, f, indent=2)
            f.write("\n")

    write_atomic(outputs["metrics"], write_metrics)
    log(f"done: best iteration {best}, valid logloss {metrics['validation']['logloss']:.6f}, {metrics['seconds']} s")


if __name__ == "__main__":
    try:
        main(sys.argv)
    except JobError as e:
        fail(str(e))
