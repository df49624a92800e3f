"""The reference PyTorch VDSR training loop (twtygqyy/pytorch-vdsr train.py: model, He init, SGD with
momentum and weight decay, MSELoss summed, clip_grad_norm_, DataLoader over an h5py dataset), timed for
a few steps; --width narrows the 64 channels (a pruned model), --bf16 runs the forward pass under CPU bf16
autocast (the loss in fp32). Prints one JSON line: {"runtime": "python", "precision": ..., "width": ...,
"patches_per_s": ..., "steps": ..., "batch": ...}."""
import argparse
import json
import math
import time

import h5py
import torch
import torch.nn as nn
import torch.utils.data as data


class DatasetFromHdf5(data.Dataset):
    def __init__(self, path):
        hf = h5py.File(path, "r")
        self.data = hf.get("data")
        self.target = hf.get("label")

    def __getitem__(self, index):
        return (torch.from_numpy(self.data[index, :, :, :]).float(),
                torch.from_numpy(self.target[index, :, :, :]).float())

    def __len__(self):
        return self.data.shape[0]


class ConvReLUBlock(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.conv = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.conv(x))


class Net(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.residual_layer = nn.Sequential(*[ConvReLUBlock(width) for _ in range(18)])
        self.input = nn.Conv2d(1, width, 3, 1, 1, bias=False)
        self.output = nn.Conv2d(width, 1, 3, 1, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.data.normal_(0, math.sqrt(2.0 / n))

    def forward(self, x):
        residual = x
        out = self.relu(self.input(x))
        out = self.residual_layer(out)
        return torch.add(self.output(out), residual)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=1, help="DataLoader workers (the reference's --threads, default 1)")
    p.add_argument("--width", type=int, default=64, help="channels of the 18 body layers")
    p.add_argument("--bf16", action="store_true", help="forward pass under torch.autocast('cpu', bfloat16)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    loader = data.DataLoader(DatasetFromHdf5(a.data), batch_size=a.batch, shuffle=True, num_workers=a.workers)
    model = Net(a.width)
    criterion = nn.MSELoss(reduction="sum")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    model.train()
    patches = 0
    start = time.perf_counter()
    for step, (x, y) in enumerate(loader, 1):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            out = model(x)
        loss = criterion(out.float(), y)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.4)
        optimizer.step()
        patches += x.shape[0]
        if step == a.steps:
            break
    seconds = time.perf_counter() - start
    print(json.dumps({"runtime": "python", "precision": "bf16" if a.bf16 else "fp32", "width": a.width,
                      "patches_per_s": patches / seconds, "steps": a.steps, "batch": a.batch,
                      "threads": a.threads, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
