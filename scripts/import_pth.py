#!/usr/bin/env python3
"""Convert the reference PyTorch VDSR's legacy checkpoint into a plain state dict.

The reference implementation distributes `model_epoch_50.pth`, a pickle of the whole module:
{"epoch": 50, "model": vdsr.Net}. Loading it needs Python classes named `vdsr.Net` and
`vdsr.Conv_ReLU_Block`; this script provides minimal ones, loads the file, and writes the weights as a
plain dict (`input.weight`, `residual_layer.N.conv.weight`, `output.weight`) in PyTorch's zip format,
which every vdsr-* tool reads directly (--model).

    /usr/bin/python3 scripts/import_pth.py model_epoch_50.pth vdsr_x234_state_dict.pt

Needs PyTorch (Debian: python3-torch).
"""
import argparse
import os
import sys
import types
import warnings

import torch
import torch.nn as nn


def register_reference_classes():
    # Unpickling restores each module's __dict__ directly, so empty subclasses of nn.Module suffice.
    module = types.ModuleType("vdsr")
    module.Net = type("Net", (nn.Module,), {})
    module.Conv_ReLU_Block = type("Conv_ReLU_Block", (nn.Module,), {})
    sys.modules["vdsr"] = module


def load_legacy(path):
    register_reference_classes()
    # The pickle names classes whose source differs from this PyTorch's; those warnings are noise here.
    warnings.simplefilter("ignore")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except TypeError:  # PyTorch before 1.13 has no weights_only
        return torch.load(path, map_location="cpu")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="legacy .pth ({'epoch': N, 'model': vdsr.Net}) or any torch.save'd module")
    parser.add_argument("output", help="state dict to write (.pt)")
    args = parser.parse_args()
    try:
        obj = load_legacy(args.input)
    except Exception as e:  # report any unpickling problem as a user error
        print(f"error: {args.input}: cannot load ({e})", file=sys.stderr)
        return 2
    model = obj.get("model", obj) if isinstance(obj, dict) else obj
    state = model.state_dict() if isinstance(model, nn.Module) else model
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        print(f"error: {args.input}: no VDSR module or state dict inside", file=sys.stderr)
        return 2
    plain = {name: tensor.detach().float().contiguous() for name, tensor in state.items()}
    expected = {"input.weight", "output.weight"}
    if not expected <= set(plain):
        print(f"error: {args.input}: missing {sorted(expected - set(plain))}", file=sys.stderr)
        return 2
    tmp = args.output + ".tmp"
    torch.save(plain, tmp)
    os.replace(tmp, args.output)
    epoch = obj.get("epoch") if isinstance(obj, dict) else None
    print(f"wrote {args.output}: {len(plain)} tensors" + (f" (epoch {epoch})" if epoch is not None else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
