#!/usr/bin/env python3
"""PyTorch-Python side of the forward-pass benchmark: the reference VDSR on the same weights and input
as the C++ side, NCHW and channels-last, printing one JSON line per (layout, size, threads)."""
import argparse
import json
import time

import torch
import torch.nn.functional as F


def forward(weights, x):
    h = x
    for w in weights[:-1]:
        h = F.relu(F.conv2d(h, w, padding=1))
    return F.conv2d(h, weights[-1], padding=1) + x


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--inputs", required=True, help="torch.save'd dict size -> [1,1,S,S] tensor")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--save-output", help="write the 256x256 output here (for a parity check)")
    args = p.parse_args()
    state = torch.load(args.model)
    names = ["input.weight"] + [f"residual_layer.{i}.conv.weight" for i in range(len(state) - 2)] + ["output.weight"]
    inputs = torch.load(args.inputs)
    with torch.inference_mode():
        for layout, fmt in (("nchw", torch.contiguous_format), ("channels_last", torch.channels_last)):
            weights = [state[n].contiguous(memory_format=fmt) for n in names]
            for size, x in inputs.items():
                x = x.contiguous(memory_format=fmt)
                for threads in args.threads:
                    torch.set_num_threads(threads)
                    out = forward(weights, x)  # warm-up
                    ms = []
                    for _ in range(args.runs):
                        t = time.perf_counter()
                        out = forward(weights, x)
                        ms.append((time.perf_counter() - t) * 1000)
                    print(json.dumps({"runtime": f"pytorch-python {layout}", "size": int(size), "threads": threads, "ms": ms}),
                          flush=True)
                    if args.save_output and int(size) == 256 and layout == "nchw":
                        torch.save(out.contiguous(), args.save_output)


if __name__ == "__main__":
    main()
