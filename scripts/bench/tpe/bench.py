"""TPE benchmark (not a test): vdsr-tune's TPE vs Optuna's TPESampler vs random search on the suite's
functions (functions.py: continuous unimodal, multimodal 2-6-D, log-scaled, integer and quantized,
categorical-heavy with strings, mixed, nested choice). Every run has 100 trials (the budget TPE's
defaults see); the best value found after 25, 50 and 100 of them is read off the same run. Prints, per
concurrency, function and checkpoint, the median best over the seeds for each method and the two-sided
Mann-Whitney rank-sum p-value of ours against Optuna and against random search.

    /usr/bin/python3 scripts/bench/tpe/bench.py [--bin build/bin] [--seeds 30] [--first-seed 0]
        [--concurrency 1 4] [--functions ...] [--variant NAME=TPE_ARGS_JSON ...] [--cache DIR]
        [--without-optuna]

Concurrency c: c trials always run, the oldest finishes first; ours uses its default constant liar
(worst, bad group only), Optuna constant_liar=True. Optuna's and random search's runs do not depend on
this project's TPE, so they are cached under --cache (delete it after changing functions.py); a seed
range is also joined from cached consecutive ranges (--seeds 60 from two 30-seed runs). --variant
adds TPE configurations (tpe_args) next to the defaults, for ablations; the summary also counts where a
variant's median moved against the defaults on the same seeds, and names the cells where that move has
p < 0.05; with --without-optuna only that comparison is made, which is fast enough for hundreds of
fresh seeds. Needs Debian's python3-optuna
(/usr/bin/python3) and a built vdsr-tpe-bench."""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from functions import FUNCTIONS, objective  # noqa: E402

CHECKPOINTS = [25, 50, 100]
TRIALS = 100


def mann_whitney_p(a, b):
    """Two-sided p of the rank-sum test: normal approximation with tie and continuity correction (as
    scipy.stats.mannwhitneyu's asymptotic method)."""
    n1, n2 = len(a), len(b)
    pooled = sorted([(v, 0) for v in a] + [(v, 1) for v in b])
    ranks, ties, i = [0.0] * len(pooled), 0.0, 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        t = j - i + 1
        ties += t ** 3 - t
        i = j + 1
    r1 = sum(r for r, (_, g) in zip(ranks, pooled) if g == 0)
    u = r1 - n1 * (n1 + 1) / 2
    n = n1 + n2
    var = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if var <= 0:
        return 1.0
    d = u - n1 * n2 / 2
    z = (abs(d) - 0.5) / math.sqrt(var) if d != 0 else 0.0
    return min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2)))


def run_lines(cmd, cwd=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=cwd).stdout
    return [json.loads(line) for line in out.splitlines()]


def ours(binary, f, tuner, a, conc):
    return run_lines([binary, "run", f, json.dumps(tuner), str(TRIALS), str(a.first_seed), str(a.seeds), str(conc)])


def cached_pieces(a, key):
    """The runs for seeds first..first+seeds-1 joined from cached runs of consecutive seed ranges (e.g.
    --seeds 60 from the 0+30 and 30+30 files: a seed's run does not depend on the others), or None."""
    prefix, runs, seed, end = f"{key}-t{TRIALS}-s", [], a.first_seed, a.first_seed + a.seeds
    names = os.listdir(a.cache) if os.path.isdir(a.cache) else []
    while seed < end:
        counts = [int(n[len(prefix):-5].split("+")[1]) for n in names
                  if n.startswith(f"{prefix}{seed}+") and n.endswith(".json")]
        counts = [k for k in counts if seed + k <= end]
        if not counts:
            return None
        with open(os.path.join(a.cache, f"{prefix}{seed}+{max(counts)}.json")) as fh:
            runs += json.load(fh)
        seed += max(counts)
    return runs


def cached(a, key, make):
    path = os.path.join(a.cache, f"{key}-t{TRIALS}-s{a.first_seed}+{a.seeds}.json")
    if os.path.exists(path):
        with open(path) as fh:
            return json.load(fh)
    runs = cached_pieces(a, key)
    if runs is not None:
        return runs
    runs = make()
    os.makedirs(a.cache, exist_ok=True)
    with open(path + ".tmp", "w") as fh:
        json.dump(runs, fh)
    os.replace(path + ".tmp", path)
    return runs


def check_same_objective(f, runs):
    """The C++ and Python formulas agree on the parameters the C++ side drew."""
    for p, y in zip(runs[0]["params"], runs[0]["values"]):
        z = objective(f, p)
        if abs(z - y) > 1e-9 * max(1.0, abs(y)):
            sys.exit(f"{f}: functions.py gives {z} where vdsr-tpe-bench gave {y} for {p}")


def bests(runs, c):
    return [min(r["values"][:c]) for r in runs]


def count_against_ours(s, m, base, cell):
    """A variant against the defaults on the same seeds: whether its median moved, and whether the move is
    significant (the cell counts against Optuna alone are noisy). Adds to the summary `s`; returns p."""
    p, med, ref = mann_whitney_p(m, base), statistics.median(m), statistics.median(base)
    s["better_than_ours"] += med < ref
    s["worse_than_ours"] += med > ref
    if p < 0.05:
        s["sig"] += f" {cell}:" + ("better" if med < ref else "worse")
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default="build/bin", help="folder with vdsr-tpe-bench (default build/bin)")
    ap.add_argument("--seeds", type=int, default=30, help="seeds per function and method (default 30)")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--functions", nargs="+", default=list(FUNCTIONS), choices=list(FUNCTIONS))
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=TPE_ARGS_JSON",
                    help="another TPE configuration to compare, e.g. 'startup10={\"n_startup_jobs\": 10}'")
    ap.add_argument("--cache", default="experiments/tpe-bench", help="where Optuna's and random runs are kept")
    ap.add_argument("--no-timing", action="store_true", help="skip the suggestion-time measurement")
    ap.add_argument("--without-optuna", action="store_true",
                    help="compare the --variant configurations with the defaults only (no Optuna or random runs: "
                         "fast, so many fresh seeds can be used for an ablation)")
    a = ap.parse_args()
    binary = os.path.join(a.bin, "vdsr-tpe-bench")
    variants = {"ours": {}}
    for v in a.variant:
        name, _, args = v.partition("=")
        variants[name] = json.loads(args)

    summary = {name: {"le": 0, "cells": 0, "worse": 0, "better_than_ours": 0, "worse_than_ours": 0, "sig": ""}
               for name in variants}
    for conc in a.concurrency:
        print(f"\n### concurrency {conc}: median best-so-far over {a.seeds} seeds ({a.first_seed}-"
              f"{a.first_seed + a.seeds - 1}); p: Mann-Whitney, two-sided\n")
        names = list(variants)
        if a.without_optuna:
            print("| function | trials | " + " | ".join(names) + " | "
                  + " | ".join(f"p {n} vs ours" for n in names[1:]) + " |")
            print("|---|---:|" + "---:|" * (2 * len(names) - 1))
        else:
            print("| function | trials | " + " | ".join(names) + " | Optuna | random | "
                  + " | ".join(f"p {n} vs Optuna" for n in names) + " | p ours vs random |")
            print("|---|---:|" + "---:|" * (2 * len(names) + 3))
        for f in a.functions:
            if not a.without_optuna:
                space = subprocess.run([binary, "space", f], check=True, capture_output=True, text=True).stdout.strip()
                optuna_runs = cached(a, f"optuna-{f}-c{conc}", lambda: run_lines(
                    ["/usr/bin/python3", os.path.join(HERE, "optuna_runs.py"), f, space, str(TRIALS),
                     str(a.first_seed), str(a.seeds), str(conc)], cwd=HERE))
                random_runs = cached(a, f"random-{f}",
                                     lambda: ours(binary, f, {"name": "Random", "classArgs": {}}, a, 1))
                check_same_objective(f, random_runs)
            mine = {n: ours(binary, f, {"name": "TPE", "classArgs": {"tpe_args": t}}, a, conc)
                    for n, t in variants.items()}
            for c in CHECKPOINTS:
                cells, ps = [], []
                base = bests(mine["ours"], c)
                if a.without_optuna:
                    for n, runs in mine.items():
                        m = bests(runs, c)
                        cells.append(f"{statistics.median(m):.4g}")
                        if n != "ours":
                            p = count_against_ours(summary[n], m, base, f"{f}@{c}/c{conc}")
                            ps.append(f"{p:.3f}" + (" *" if p < 0.05 else ""))
                    print(f"| {f} | {c} | " + " | ".join(cells + ps) + " |", flush=True)
                    continue
                o, r = bests(optuna_runs, c), bests(random_runs, c)
                for n, runs in mine.items():
                    m = bests(runs, c)
                    p = mann_whitney_p(m, o)
                    med = statistics.median(m)
                    worse = med > statistics.median(o)
                    cells.append(f"{med:.4g}" if worse else f"**{med:.4g}**")
                    ps.append(f"{p:.3f}" + (" (worse)" if worse and p < 0.05 else ""))
                    s = summary[n]
                    s["cells"] += 1
                    s["le"] += 0 if worse else 1
                    s["worse"] += 1 if worse and p < 0.05 else 0
                    if n != "ours":
                        count_against_ours(s, m, base, f"{f}@{c}/c{conc}")
                pr = mann_whitney_p(bests(mine["ours"], c), r)
                print(f"| {f} | {c} | " + " | ".join(cells) + f" | {statistics.median(o):.4g} | "
                      f"{statistics.median(r):.4g} | " + " | ".join(ps) + f" | {pr:.2g} |", flush=True)
    if a.without_optuna:
        print("\n| configuration | medians better / worse than ours | p < 0.05 against ours |")
        print("|---|---:|---|")
        for n, s in list(summary.items())[1:]:
            sig = s["sig"].split()
            print(f"| {n} {json.dumps(variants[n])} | {s['better_than_ours']} / {s['worse_than_ours']} | "
                  f"{sum(x.endswith('better') for x in sig)} better, {sum(x.endswith('worse') for x in sig)} worse: "
                  f"{' '.join(sig)} |")
    else:
        print("\n| configuration | cells with median <= Optuna's | cells significantly worse (p < 0.05) | "
              "medians better / worse than ours | p < 0.05 against ours |")
        print("|---|---:|---:|---:|---|")
        for n, s in summary.items():
            vs = "" if n == "ours" else f"{s['better_than_ours']} / {s['worse_than_ours']}"
            print(f"| {n} {json.dumps(variants[n])} | {s['le']} of {s['cells']} | {s['worse']} | {vs} | "
                  f"{s['sig'].strip()} |")
    if not a.no_timing:
        t = run_lines([binary, "timing", "1000", "100"])[0]
        print(f"\nvdsr TPE: {t['ms_per_suggestion']:.2f} ms per suggestion with {t['finished']} finished trials "
              "(seed-shaped 5-parameter space)")


if __name__ == "__main__":
    main()
