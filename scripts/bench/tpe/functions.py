"""Test functions and search spaces shared by the TPE benchmark (same formulas as tools/vdsr_tpe_bench.cpp)."""
import math

SPACES = {
    "branin": {"x1": ("uniform", -5, 10), "x2": ("uniform", 0, 15)},
    "hartmann6": {f"x{i}": ("uniform", 0, 1) for i in range(1, 7)},
    "seedlike": {
        "weight_decay": ("choice", [0.0001, 0.00001]),
        "lr": ("loguniform", 0.05, 1),
        "momentum": ("uniform", 0, 1),
        "batchSize": ("choice", [64, 128, 256, 512]),
        "clip": ("uniform", 0, 1),
    },
}

OPTIMUM = {"branin": 0.397887, "hartmann6": -3.32237, "seedlike": 0.0}

_A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
_P = [[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886], [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
      [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650], [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]]
_ALPHA = [1.0, 1.2, 3.0, 3.2]


def objective(name, p):
    if name == "branin":
        x1, x2 = p["x1"], p["x2"]
        b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
        return (x2 - b * x1 * x1 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10
    if name == "hartmann6":
        s = 0.0
        for i in range(4):
            inner = sum(_A[i][j] * (p[f"x{j + 1}"] - _P[i][j]) ** 2 for j in range(6))
            s += _ALPHA[i] * math.exp(-inner)
        return -s
    u = math.log10(p["lr"]) - math.log10(0.2)
    v = p["momentum"] - 0.9
    w = p["clip"] - 0.4
    bs_pen = {64: 0.3, 128: 0.1, 256: 0.0, 512: 0.2}[p["batchSize"]]
    wd_pen = 0.05 if p["weight_decay"] > 5e-5 else 0.0
    return 4 * u * u + 2 * u * v + 2 * v * v + w * w + bs_pen + wd_pen
