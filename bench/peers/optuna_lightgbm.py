"""LightGBM tuned by Optuna's TPE sampler: the tuned peer of Rankwright's agent bench (bench venv, .bench/venv).

Same data path as lightgbm_peer.py (imported from it, not copied): the same reading, the same validation split
Rankwright uses (validation.tsv when given, else the last `validation_fraction` of train), the same native
categoricals, early stopping on validation log loss and the same test predictions at the early-stopped iteration.

Each of `--trials` trials (default 12, the agent's experiment budget) trains one booster from lightgbm_peer.PARAMS
with eight params sampled by TPE (the categorical ones included) and is scored by its best validation log loss (never test). The best trial's booster
is kept in memory and writes the test predictions: nothing is retrained. The first trial is lightgbm_peer.PARAMS
itself (a practitioner starts from known-good defaults), then TPE with `--startup-trials` random trials (default 4:
Optuna's default of 10 would leave 12 trials nearly random search) and a multivariate model. Prints a JSON summary.

    python optuna_lightgbm.py --train T --test X --out P [--validation V] [--validation-fraction 0.1] [--threads N]
                              [--trials 12] [--startup-trials 4] [--seed 1]
"""
import json
import sys
import time
import warnings

import lightgbm_peer as peer  # noqa: E402  (sets OMP_WAIT_POLICY before lightgbm loads)
import optuna  # noqa: E402

# Ranges a practitioner would search; each contains lightgbm_peer.PARAMS' value (the enqueued first trial).
SEARCH_SPACE = {
    "learning_rate": (0.01, 0.3),  # log
    "num_leaves": (15, 255),  # int, log
    "min_data_in_leaf": (20, 2000),  # int, log
    "feature_fraction": (0.4, 1.0),
    "lambda_l2": (1e-3, 100.0),  # log
    "cat_smooth": (1.0, 1000.0),  # log
    # How many rows a category needs to get its own side of a split, and how many categories one split may group: the
    # defaults (2000, 8) were chosen on planted logs with long-tailed fields of 1e3-1e5 values; a real log's users and
    # items (a few hundred rows each) need far fewer, and a practitioner tunes them.
    "min_data_per_group": (10, 5000),  # int, log
    "max_cat_threshold": (4, 64),  # int, log
}
TUNED = list(SEARCH_SPACE)


def sample(trial):
    s = SEARCH_SPACE
    return {
        "learning_rate": trial.suggest_float("learning_rate", *s["learning_rate"], log=True),
        "num_leaves": trial.suggest_int("num_leaves", *s["num_leaves"], log=True),
        "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", *s["min_data_in_leaf"], log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", *s["feature_fraction"]),
        "lambda_l2": trial.suggest_float("lambda_l2", *s["lambda_l2"], log=True),
        "cat_smooth": trial.suggest_float("cat_smooth", *s["cat_smooth"], log=True),
        "min_data_per_group": trial.suggest_int("min_data_per_group", *s["min_data_per_group"], log=True),
        "max_cat_threshold": trial.suggest_int("max_cat_threshold", *s["max_cat_threshold"], log=True),
    }


def main():
    ap = peer.data_arguments()
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--startup-trials", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    started = time.perf_counter()
    train, valid, test, read_seconds = peer.load_splits(args.train, args.test, args.validation, args.validation_fraction)
    best = {"logloss": float("inf"), "booster": None}
    trials = []

    def objective(trial):
        params = {**peer.PARAMS, "num_threads": args.threads, **sample(trial)}
        dtrain, dvalid = peer.make_datasets(train, valid)
        booster, seconds = peer.train_booster(params, dtrain, dvalid, log_every=0)
        logloss = peer.validation_logloss(booster)
        trials.append(
            {
                "number": trial.number,
                "params": {k: params[k] for k in TUNED},
                "validationLogloss": logloss,
                "bestIteration": booster.best_iteration,
                "trainSeconds": round(seconds, 2),
            }
        )
        print(f"trial {trial.number}: validation log loss {logloss:.6f}, {booster.best_iteration} rounds, {seconds:.1f} s", file=sys.stderr, flush=True)
        if logloss < best["logloss"]:
            best.update(logloss=logloss, booster=booster, number=trial.number)
        return logloss

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # multivariate TPE
    sampler = optuna.samplers.TPESampler(seed=args.seed, n_startup_trials=args.startup_trials, multivariate=True)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    study.enqueue_trial({k: peer.PARAMS[k] for k in TUNED})
    study.optimize(objective, n_trials=args.trials)

    booster = best["booster"]
    peer.write_predictions(booster, test, args.out)
    print(
        json.dumps(
            {
                "optuna": optuna.__version__,
                "lightgbm": peer.lgb.__version__,
                "sampler": f"TPE (seed {args.seed}, {args.startup_trials} startup trials, multivariate; trial 0 = lightgbm_peer.PARAMS)",
                "trainRows": len(train),
                "validationRows": len(valid),
                "testRows": len(test),
                "trials": len(trials),
                "bestTrial": best["number"],
                "bestParams": {k: v for k, v in study.best_params.items()},
                "bestIteration": booster.best_iteration,
                "validationLogloss": best["logloss"],
                "readSeconds": round(read_seconds, 2),
                "trainSeconds": round(sum(t["trainSeconds"] for t in trials), 2),
                "seconds": round(time.perf_counter() - started, 2),
                "threads": args.threads,
                "trialLog": trials,
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
