"""Objectives of the TPE benchmark, the same formulas as tools/vdsr_tpe_bench.cpp (bench.py checks that
both give the same values on the same parameters). The search spaces come from `vdsr-tpe-bench space`,
so there is one copy of them; `suggest` turns an NNI-format space into Optuna suggestions."""
import math

# name: (what the function stands for in the suite, its optimum)
FUNCTIONS = {
    "ellipsoid5": ("continuous unimodal, 5-D", 0.0),
    "branin": ("multimodal 2-D, three global minima", 0.397887),
    "levy3": ("multimodal 3-D", 0.0),
    "styblinski4": ("multimodal 4-D", -156.6646),
    "hartmann6": ("multimodal 6-D", -3.32237),
    "logscale3": ("log-scaled, 3 loguniform", 0.0),
    "intquant4": ("randint, quniform, qloguniform", None),
    "categorical5": ("4 string choices + loguniform", 0.0),
    "mixed5": ("loguniform, 6-way numeric choice, quniform, randint, string choice", 0.0),
    "nested": ("nested choice of three sub-spaces", 0.0),
    "seedlike": ("the seed experiment's shape", 0.0),
}


def sq(x):
    return x * x


def branin(p):
    x1, x2 = p["x1"], p["x2"]
    b, c, t = 5.1 / (4 * math.pi * math.pi), 5 / math.pi, 1 / (8 * math.pi)
    return sq(x2 - b * x1 * x1 + c * x1 - 6) + 10 * (1 - t) * math.cos(x1) + 10


_A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
_P = [[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886], [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
      [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650], [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]]
_ALPHA = [1.0, 1.2, 3.0, 3.2]


def hartmann6(p):
    s = 0.0
    for i in range(4):
        inner = 0.0
        for j in range(6):
            inner += _A[i][j] * sq(p[f"x{j + 1}"] - _P[i][j])
        s += _ALPHA[i] * math.exp(-inner)
    return -s


def ellipsoid5(p):
    shift = [1.2, -2.3, 0.7, 3.1, -0.4]
    s = 0.0
    for i in range(5):
        s += (i + 1) * sq(p[f"x{i + 1}"] - shift[i])
    return s


def styblinski4(p):
    s = 0.0
    for i in range(1, 5):
        x = p[f"x{i}"]
        s += x * x * x * x - 16 * x * x + 5 * x
    return 0.5 * s


def levy3(p):
    w = [1 + (p[f"x{i + 1}"] - 1) / 4 for i in range(3)]
    s = sq(math.sin(math.pi * w[0]))
    for i in range(2):
        s += sq(w[i] - 1) * (1 + 10 * sq(math.sin(math.pi * w[i] + 1)))
    return s + sq(w[2] - 1) * (1 + sq(math.sin(2 * math.pi * w[2])))


def logscale3(p):
    u, v, w = math.log10(p["lr"]) + 2.5, math.log10(p["wd"]) + 4, math.log10(p["eps"]) + 8
    return u * u + 0.5 * v * v + 0.2 * w * w + 0.5 * u * v


def intquant4(p):
    return (sq((p["layers"] - 11) / 6) + 0.5 * sq(math.log2(p["width"]) - math.log2(192.0))
            + sq((p["dropout"] - 0.35) / 0.2) + 0.3 * (1 - math.cos(2 * math.pi * (p["batch"] - 40) / 64)))


_OPT_PEN = {"sgd": 0.3, "momentum": 0.1, "adam": 0.05, "adamw": 0.0, "rmsprop": 0.2, "adagrad": 0.4}
_OPT_LR = {"sgd": -1, "momentum": -1.5, "adam": -3, "adamw": -3, "rmsprop": -2.5, "adagrad": -1.5}
_ACT_PEN = {"relu": 0.1, "gelu": 0.0, "tanh": 0.3, "sigmoid": 0.6, "elu": 0.15, "silu": 0.05}
_NORM_PEN = {"none": 0.4, "batch": 0.0, "layer": 0.1, "group": 0.2}


def categorical5(p):
    opt, act, norm, init = p["optimizer"], p["activation"], p["norm"], p["init"]
    rectifier = act in ("relu", "elu", "silu", "gelu")
    init_pen = 0.1 if init == "xavier" else (0.0 if rectifier else 0.2) if init == "kaiming" else 0.05
    plain_sgd = 0.3 if norm == "none" and opt in ("sgd", "momentum") else 0.0
    return (_OPT_PEN[opt] + _ACT_PEN[act] + _NORM_PEN[norm] + init_pen + plain_sgd
            + 0.5 * sq(math.log10(p["lr"]) - _OPT_LR[opt]))


def nested(p):
    m = p["model"]
    f = sq(p["scale"] - 0.6)
    if m["_name"] == "linear":
        return f + 0.5 + 0.3 * sq(math.log10(m["lr"]) + 2) + 0.1 * sq(math.log10(m["l2"]) + 3)
    if m["_name"] == "tree":
        return f + 0.2 + 0.5 * sq((m["depth"] - 6) / 3) + 0.2 * sq((m["eta"] - 0.3) / 0.2)
    return (f + 0.3 * sq((m["layers"] - 4) / 2) + {32: 0.3, 64: 0.1, 128: 0.0, 256: 0.05}[m["width"]]
            + 0.2 * sq((m["dropout"] - 0.2) / 0.3))


def mixed5(p):
    act = p["act"]
    return (0.5 * sq(math.log10(p["lr"]) - {"relu": -2, "tanh": -1, "gelu": -2.5}[act])
            + {"relu": 0.05, "tanh": 0.2, "gelu": 0.0}[act] + 0.05 * sq(math.log2(p["units"]) - 7)
            + 2 * sq(p["drop"] - 0.3) + 0.03 * sq(p["layers"] - 3))


def seedlike(p):
    u = math.log10(p["lr"]) - math.log10(0.2)
    v = p["momentum"] - 0.9
    w = p["clip"] - 0.4
    bs = p["batchSize"]
    bs_pen = 0.3 if bs == 64 else 0.1 if bs == 128 else 0.0 if bs == 256 else 0.2
    wd_pen = 0.05 if p["weight_decay"] > 5e-5 else 0.0
    return 4 * u * u + 2 * u * v + 2 * v * v + w * w + bs_pen + wd_pen


def objective(name, p):
    return globals()[name](p)


def suggest(trial, space, prefix=""):
    """Parameters in the shape vdsr-tune gives a trial, drawn through Optuna's define-by-run API. Nested
    choices pick the sub-space's `_name` first; its parameters are Optuna parameters of their own.
    qloguniform has no Optuna form (step and log exclude each other): a log draw rounded as NNI does."""
    p = {}
    for key, spec in space.items():
        name, kind, v = prefix + key, spec["_type"], spec["_value"]
        if kind == "choice":
            if isinstance(v[0], dict):
                chosen = trial.suggest_categorical(name, [o["_name"] for o in v])
                sub = next(o for o in v if o["_name"] == chosen)
                p[key] = {"_name": chosen, **suggest(trial, {k: s for k, s in sub.items() if k != "_name"},
                                                     f"{name}/{chosen}/")}
            else:
                p[key] = trial.suggest_categorical(name, v)
        elif kind == "randint":
            p[key] = trial.suggest_int(name, v[0], v[1] - 1)
        elif kind == "uniform":
            p[key] = trial.suggest_float(name, v[0], v[1])
        elif kind == "quniform":
            p[key] = trial.suggest_float(name, v[0], v[1], step=v[2])
        elif kind == "loguniform":
            p[key] = trial.suggest_float(name, v[0], v[1], log=True)
        elif kind == "qloguniform":
            x = trial.suggest_float(name, v[0], v[1], log=True)
            p[key] = min(max(round(x / v[2]) * v[2], v[0]), v[1])
        else:
            raise ValueError(f"{name}: type {kind} is not in the benchmark")
    return p
