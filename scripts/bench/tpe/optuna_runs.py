"""Runs Optuna's TPESampler (defaults: 10 startup trials, good set ceil(0.1 N) capped at 25, 24
candidates, independent per-parameter estimators; constant_liar=True when trials run concurrently) on a
benchmark function; one JSON line per seed, the format of `vdsr-tpe-bench run`. With concurrency c, c
trials are always running and the oldest finishes first, as vdsr-tpe-bench simulates it.

    /usr/bin/python3 optuna_runs.py FUNCTION SPACE_JSON TRIALS FIRST_SEED SEEDS CONCURRENCY

Needs Debian's python3-optuna: run with /usr/bin/python3."""
import collections
import json
import sys
import warnings

import optuna

from functions import objective, suggest


def main():
    name, space = sys.argv[1], json.loads(sys.argv[2])
    trials, first, seeds, concurrency = (int(x) for x in sys.argv[3:7])
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    for seed in range(first, first + seeds):
        sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=concurrency > 1)
        study = optuna.create_study(sampler=sampler)
        running = collections.deque()
        values, params, asked = [], [], 0
        while len(values) < trials:
            while asked < trials and len(running) < concurrency:
                t = study.ask()
                running.append((t, suggest(t, space)))
                asked += 1
            t, p = running.popleft()
            y = objective(name, p)
            study.tell(t, y)
            values.append(y)
            params.append(p)
        print(json.dumps({"seed": seed, "values": values, "params": params}), flush=True)


if __name__ == "__main__":
    main()
