"""TPE benchmark (not a test): vdsr-tune's TPE vs its random search vs Optuna's TPESampler on Branin,
Hartmann-6 and a 5-parameter mixed space shaped like the seed's. Prints, per function and method, the
median [first quartile, third quartile] of the best value found after 25, 50 and 100 trials over the
seeds, then the time per TPE suggestion with 1000 finished trials.

    /usr/bin/python3 scripts/bench/tpe/bench.py [--bin build/bin] [--trials 100] [--seeds 20] [--first-seed 0]

Our TPE runs in three configurations (settings in CONFIGS): NNI's defaults with the default joint model,
the same with independent per-parameter estimators (NNI's model), and Optuna's settings (10 startup trials,
good set ceil(0.1 N)) so that both TPEs are compared on equal terms.

Needs Debian's python3-optuna (apt-get install -y python3-optuna) and a built vdsr-tpe-bench."""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FUNCTIONS = ["branin", "hartmann6", "seedlike"]
CHECKPOINTS = [25, 50, 100]


CONFIGS = {
    "vdsr TPE, NNI defaults": {},
    "vdsr TPE, NNI defaults, multivariate false": {"multivariate": False},
    "vdsr TPE, Optuna's settings": {"n_startup_jobs": 10, "gamma_mode": "linear", "gamma": 0.1},
    "vdsr TPE, Optuna's settings, 48 candidates": {"n_startup_jobs": 10, "gamma_mode": "linear", "gamma": 0.1,
                                                   "n_ei_candidates": 48},
}


def runs_ours(binary, name, tuner, trials, first, seeds):
    out = subprocess.run([binary, "run", name, json.dumps(tuner), str(trials), str(first), str(seeds)],
                         check=True, capture_output=True, text=True).stdout
    return [json.loads(line)["values"] for line in out.splitlines()]


def runs_optuna(name, trials, first, seeds):
    out = subprocess.run([sys.executable, os.path.join(HERE, "optuna_runs.py"), name, str(trials), str(first),
                          str(seeds)],
                         check=True, capture_output=True, text=True, cwd=HERE).stdout
    return [json.loads(line)["values"] for line in out.splitlines()]


def quartiles(xs):
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[1], q[0], q[2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/bin")
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=0)
    a = ap.parse_args()
    binary = os.path.join(a.bin, "vdsr-tpe-bench")
    methods = {}
    for label, tpe_args in CONFIGS.items():
        cfg = {"name": "TPE", "classArgs": {"tpe_args": tpe_args}}
        methods[label] = lambda f, cfg=cfg: runs_ours(binary, f, cfg, a.trials, a.first_seed, a.seeds)
    methods["vdsr Random"] = lambda f: runs_ours(binary, f, {"name": "Random", "classArgs": {}}, a.trials,
                                                 a.first_seed, a.seeds)
    methods["Optuna 3.1 TPESampler(seed=s)"] = lambda f: runs_optuna(f, a.trials, a.first_seed, a.seeds)
    checkpoints = [c for c in CHECKPOINTS if c <= a.trials]
    print(f"best-so-far, median [q1, q3] over {a.seeds} seeds\n")
    print("| function | method | " + " | ".join(f"{c} trials" for c in checkpoints) + " |")
    print("|---|---|" + "---|" * len(checkpoints))
    for f in FUNCTIONS:
        for m, run in methods.items():
            runs = run(f)
            cells = []
            for c in checkpoints:
                med, q1, q3 = quartiles([min(r[:c]) for r in runs])
                cells.append(f"{med:.4g} [{q1:.4g}, {q3:.4g}]")
            print(f"| {f} | {m} | " + " | ".join(cells) + " |", flush=True)
    timing = json.loads(subprocess.run([binary, "timing", "1000", "100"], check=True, capture_output=True,
                                       text=True).stdout)
    print(f"\nvdsr TPE: {timing['ms_per_suggestion']:.2f} ms per suggestion with {timing['finished']} finished trials "
          "(seed-shaped 5-parameter space)")


if __name__ == "__main__":
    main()
