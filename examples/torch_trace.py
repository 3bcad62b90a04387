"""Trains a small PyTorch classifier on sklearn's digits with gradscope's tracer on.

    /usr/bin/python3 examples/torch_trace.py [--act sigmoid] [--init default] [--depth 8]
    gradscope plot torch-trace.csv -o report.png     # or, while it runs: plot --follow

A deep sigmoid stack with PyTorch's default init (the default here) shows vanishing gradients;
`--act relu --init he` is the cure."""

import argparse
import os
import sys

import torch
from sklearn.datasets import load_digits

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from gradscope import GradTrace  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--act", choices=["sigmoid", "tanh", "relu"], default="sigmoid")
    ap.add_argument("--init", choices=["default", "he"], default="default")
    ap.add_argument("--depth", type=int, default=8)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("-o", "--trace", default="torch-trace.csv")
    args = ap.parse_args()

    torch.manual_seed(0)
    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target)
    act = {"sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[args.act]
    layers, width = [], 64
    for i in range(args.depth):
        layers += [torch.nn.Linear(64 if i == 0 else width, width), act()]
    model = torch.nn.Sequential(*layers, torch.nn.Linear(width, 10))
    if args.init == "he":
        for m in model:
            if isinstance(m, torch.nn.Linear):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                torch.nn.init.zeros_(m.bias)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)

    with GradTrace(model, args.trace, classes=10, loss="xent",
                   setup={"example": f"digits {args.depth}x{width} {args.act} {args.init}"}
                   ) as tracer:
        for step in range(args.steps):
            idx = torch.randint(0, len(x), (64,))
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            tracer.step(loss, lr=args.lr)  # after backward, before the optimizer step
            opt.step()
    print(f"final loss {loss.item():.3f}; trace in {args.trace}: "
          f"gradscope plot {args.trace} -o report.png")


if __name__ == "__main__":
    main()
