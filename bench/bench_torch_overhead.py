"""What GradTrace costs a PyTorch training step: the same model trained with and without the
tracer in interleaved rounds of one run (1 CPU thread), on an MLP and a small CNN.

usage: PYTHONPATH=python /usr/bin/python3 bench/bench_torch_overhead.py [--rounds N] [--steps N]
Prints, per model, the median CPU time per step without and with the tracer and the median
ratio of paired rounds as the overhead."""

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from gradscope import GradTrace  # noqa: E402


def mlp():
    # 8 hidden layers of 512 ReLU units on 512 inputs: 2.1M parameters
    layers, width = [], 512
    for _ in range(8):
        layers += [torch.nn.Linear(width, width), torch.nn.ReLU()]
    layers.append(torch.nn.Linear(width, 10))
    return torch.nn.Sequential(*layers), torch.randn(64, width), torch.randint(0, 10, (64,))


def cnn():
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(32 * 8 * 8, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10))
    return net, torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,))


def train(net, opt, x, y, steps, tracer):
    # CPU time of this (single-threaded) process: other processes on a shared machine stretch
    # wall time by far more than the few percent being measured
    t0 = time.process_time()
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        if tracer is not None:
            tracer.step(loss, lr=0.01)
        opt.step()
    return (time.process_time() - t0) / steps


def bench(name, build, rounds, steps, directory):
    """Two copies of one model, one traced for the whole run, trained in alternating rounds
    of `steps` steps (a multiple of update_every, so every traced round holds its share of
    weight snapshots); the overhead is the median ratio of paired rounds."""
    torch.manual_seed(0)
    net, x, y = build()
    plain_net = copy.deepcopy(net)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    plain_opt = torch.optim.SGD(plain_net.parameters(), lr=0.01, momentum=0.9)
    tracer = GradTrace(net, os.path.join(directory, f"{name}.csv"))
    train(net, opt, x, y, steps, tracer)  # warm up (and the tracer's first-step set-up)
    train(plain_net, plain_opt, x, y, steps, None)
    plain, traced = [], []
    for r in range(rounds):
        # alternate which goes first so drift in the machine's speed hits both alike
        if r % 2 == 0:
            plain.append(train(plain_net, plain_opt, x, y, steps, None))
            traced.append(train(net, opt, x, y, steps, tracer))
        else:
            traced.append(train(net, opt, x, y, steps, tracer))
            plain.append(train(plain_net, plain_opt, x, y, steps, None))
    tracer.close()
    p, t = statistics.median(plain), statistics.median(traced)
    # the pairs ran side by side, so their ratios cancel slow drifts of the machine
    ratio = statistics.median(b / a for a, b in zip(plain, traced))
    params = sum(q.numel() for q in net.parameters())
    print(f"{name:4s} {params / 1e6:5.2f}M params  without {p * 1e3:7.2f} ms/step  "
          f"with {t * 1e3:7.2f} ms/step  overhead {100 * (ratio - 1):+5.1f}%  "
          f"(median of {rounds} paired rounds x {steps} steps, CPU time, "
          f"update_every {tracer.update_every})", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=16)
    ap.add_argument("--steps", type=int, default=16)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, every step recorded")
    with tempfile.TemporaryDirectory() as d:
        bench("mlp", mlp, args.rounds, args.steps, d)
        bench("cnn", cnn, args.rounds, args.steps, d)


if __name__ == "__main__":
    main()
