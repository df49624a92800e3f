"""Runs Optuna's TPESampler (default settings: 10 startup trials, good set ceil(0.1 N) capped at 25,
24 candidates, independent per-parameter estimators) on a benchmark function; one JSON line per seed,
the same format as `vdsr-tpe-bench run`. Needs Debian's python3-optuna: run with /usr/bin/python3."""
import json
import sys

import optuna

from functions import SPACES, objective


def main():
    name, trials, first, seeds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = SPACES[name]

    def obj(trial):
        p = {}
        for k, spec in space.items():
            if spec[0] == "uniform":
                p[k] = trial.suggest_float(k, spec[1], spec[2])
            elif spec[0] == "loguniform":
                p[k] = trial.suggest_float(k, spec[1], spec[2], log=True)
            else:
                p[k] = trial.suggest_categorical(k, spec[1])
        return objective(name, p)

    for seed in range(first, first + seeds):
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
        study.optimize(obj, n_trials=trials)
        print(json.dumps({"seed": seed, "values": [t.value for t in study.trials]}), flush=True)


if __name__ == "__main__":
    main()
