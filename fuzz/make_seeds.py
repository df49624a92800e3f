#!/usr/bin/env python3
"""Writes the generated seeds of fuzz/corpus/ (the others are copies of committed configs and reports).

torch_file seeds need PyTorch: run with Debian's interpreter, `/usr/bin/python3 fuzz/make_seeds.py`.
Each seed is small (a few KB); the corpus is committed, so rerunning is only needed to change it.
"""
import collections
import json
import os
import shutil
import struct
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def out(harness, name, data):
    folder = os.path.join(CORPUS, harness)
    os.makedirs(folder, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(os.path.join(folder, name), mode) as f:
        f.write(data)


def copy(harness, name, source):
    os.makedirs(os.path.join(CORPUS, harness), exist_ok=True)
    shutil.copyfile(os.path.join(ROOT, source), os.path.join(CORPUS, harness, name))


def torch_seeds():
    import io
    import torch

    torch.manual_seed(0)

    def save(name, obj):
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        out("torch_file", name, buffer.getvalue())

    conv = torch.nn.Conv2d(1, 2, 3)
    save("state_dict.pt", conv.state_dict())                        # OrderedDict with _metadata
    save("tensor.pt", torch.arange(6, dtype=torch.float32).reshape(2, 3))
    base = torch.arange(12, dtype=torch.float64)
    save("views.pt", [base[2:8].reshape(2, 3).t(), base[::3], base[5]])  # offsets, strides, a scalar
    save("dtypes.pt", {t: torch.ones(2, dtype=getattr(torch, t)) for t in
                       ["float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool"]})
    save("parameter.pt", {"w": torch.nn.Parameter(torch.zeros(2, 2))})
    save("checkpoint.pt", {"version": 1, "meta": json.dumps({"arch": [1, 2, 1]}),
                           "weights": collections.OrderedDict(a=torch.ones(1), b=torch.zeros(0)),
                           "state": {"step": torch.tensor(3)}})
    save("scalars.pt", (None, True, False, 1, -200, 70000, 2**40, -2**62, 1.5, "text", b"raw".decode()))
    shared = torch.ones(4)
    save("shared.pt", {"a": shared, "b": shared, "c": shared[1:]})  # one storage, three tensors

    # torch_pickle seeds: data.pkl alone, over the harness's storages "0" (four floats) and "1" (empty).
    def pickle_of(name, obj):
        import zipfile
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        with zipfile.ZipFile(buffer) as z:
            out("torch_pickle", name, z.read(next(n for n in z.namelist() if n.endswith("/data.pkl"))))

    four = torch.arange(4, dtype=torch.float32)
    pickle_of("state_dict.pkl", collections.OrderedDict(w=four, b=four[1:3], e=torch.zeros(0)))
    pickle_of("nested.pkl", {"version": 1, "weights": {"w": four.reshape(2, 2).t()}, "l": [four[3], (1.5, None)]})
    pickle_of("parameter.pkl", [torch.nn.Parameter(four), True, "x" * 3])


def png(width, height, channels, pixel):
    colour = {1: 0, 3: 2, 4: 6}[channels]
    rows = b"".join(b"\0" + bytes(pixel(x, y, c) for x in range(width) for c in range(channels))
                    for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def bmp(width, height):
    stride = (width * 3 + 3) // 4 * 4
    pixels = b"".join(bytes(b for x in range(width) for b in (x * 30 % 256, y * 30 % 256, 128)) +
                      b"\0" * (stride - width * 3) for y in range(height))
    header = struct.pack("<2sIHHI", b"BM", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return header + info + pixels


def image_seeds():
    out("image", "rgb.png", png(5, 4, 3, lambda x, y, c: (x * 50 + y * 20 + c * 70) % 256))
    out("image", "gray.png", png(3, 3, 1, lambda x, y, c: x * 80))
    out("image", "rgba.png", png(2, 2, 4, lambda x, y, c: 255 if c == 3 else x * 100 + c))
    out("image", "rgb.bmp", bmp(3, 2))


def json_seeds():
    copy("config_list", "prune.json", "configs/prune.json")
    out("config_list", "global.json", json.dumps([
        {"total_sparsity": 0.5, "op_types": ["Conv2d"], "max_sparsity_per_layer": 0.8},
        {"exclude": True, "op_names": ["input", "output"]}]))
    out("config_list", "names.json", json.dumps([
        {"sparsity_per_layer": 0.25, "op_names_re": ["residual_layer\\.1[0-9]\\.conv"]},
        {"sparse_ratio": 0.3, "op_partial_names": ["residual_layer.2"], "exclude_op_names": ["residual_layer.2.conv"]}]))
    copy("prune_config", "prune.json", "configs/prune.json")
    copy("prune_config", "prune_finetune.json", "configs/prune_finetune.json")
    copy("search_space", "search_space.json", "configs/search_space.json")
    out("search_space", "nested.json", json.dumps({
        "optimizer": {"_type": "choice", "_value": [
            {"_name": "sgd", "momentum": {"_type": "quniform", "_value": [0.5, 0.99, 0.01]}},
            {"_name": "adam", "beta": {"_type": "qloguniform", "_value": [0.001, 0.1, 0.001]}}]},
        "steps": {"_type": "randint", "_value": [1, 5]},
        "noise": {"_type": "qnormal", "_value": [0, 1, 0.1]},
        "scale": {"_type": "lognormal", "_value": [0, 1]}}))
    with open(os.path.join(ROOT, "configs", "experiment.json")) as f:
        experiment = json.load(f)
    out("experiment_config", "experiment.json", json.dumps(experiment, indent=1))
    del experiment["searchSpaceFile"]
    with open(os.path.join(ROOT, "configs", "search_space.json")) as f:
        experiment["searchSpace"] = json.load(f)
    experiment["trialCommand"] = "true"
    out("experiment_config", "inline.json", json.dumps(experiment, indent=1))
    out("experiment_config", "grid.json", json.dumps({
        "searchSpace": {"a": {"_type": "choice", "_value": [1, 2]}}, "trialCommand": "true",
        "trialConcurrency": 1, "maxTrialNumber": 2, "tuner": {"name": "GridSearch"}}))
    copy("pipeline_config", "pipeline.json", "configs/pipeline.json")
    for stage in ["train", "tune", "data"]:
        copy("report", stage + ".json", "experiments/results/pipeline-default/%s/report.json" % stage)
    copy("report", "eval.json", "experiments/results/pipeline-default/eval/original_Set5.json")
    copy("report", "bench.json", "experiments/results/pipeline-default/bench/pruned.json")
    out("metrics_line", "final.json", '{"type": "final", "value": 33.1}\n')
    out("metrics_line", "intermediate.json", '{"type": "intermediate", "value": 30.5, "step": 2}')
    out("metrics_line", "dict.json", '{"type": "final", "value": {"default": 33.2, "loss": 0.01, "psnr": 33.2}}')
    out("int8_scales", "scales.json", json.dumps({
        "format": "vdsr-int8-scales", "version": 1, "method": "percentile", "percentile": 99.99, "patches": 4,
        "seed": 0, "calibration_data": "train.h5", "model_sha256": "",
        "layers": [{"name": "input", "int8": False, "input_scale": 0.0039, "input_unsigned": True,
                    "weight_scales": [0.01, 0.02]},
                   {"name": "residual_layer.0.conv", "int8": True, "input_scale": 0.05, "input_unsigned": True,
                    "weight_scales": [0.001, 0.002]},
                   {"name": "output", "int8": False, "input_scale": 0.0003, "input_unsigned": True,
                    "weight_scales": [0.004]}]}, indent=1))


if __name__ == "__main__":
    json_seeds()
    image_seeds()
    try:
        torch_seeds()
    except ImportError:
        print("no PyTorch here: torch_file seeds not written (use /usr/bin/python3)")
