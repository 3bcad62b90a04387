#!/usr/bin/env python3
"""Writes one foreign trace of the verdict corpus: a real PyTorch model on scikit-learn's
digits, traced with python/gradscope's GradTrace (no download; torch and sklearn from Debian).

  bench/verdict_torch.py CASE SEED STEPS OUT.csv

Cases: sigmoid_deep, tanh_deep, relu_he, frozen, crash, classifier_first, inputs_x1000,
lr_high. Exit 0 when the trace is written (the crash case catches its own exception)."""
import os
import sys

import torch
from sklearn.datasets import load_digits

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from gradscope import GradTrace  # noqa: E402

CASES = ["sigmoid_deep", "tanh_deep", "relu_he", "frozen", "crash", "classifier_first",
         "inputs_x1000", "lr_high"]


class HeadFirst(torch.nn.Module):
    """The classifier is defined before the body: execution order must still put it last."""

    def __init__(self, width, depth):
        super().__init__()
        self.classifier = torch.nn.Linear(width, 10)
        layers = []
        for i in range(depth):
            layers += [torch.nn.Linear(64 if i == 0 else width, width), torch.nn.ReLU()]
        self.body = torch.nn.Sequential(*layers)

    def forward(self, x):
        return self.classifier(self.body(x))


def he(model):
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            torch.nn.init.zeros_(m.bias)


def mlp(act, depth, width=64):
    layers = []
    for i in range(depth):
        layers += [torch.nn.Linear(64 if i == 0 else width, width), act()]
    return torch.nn.Sequential(*layers, torch.nn.Linear(width, 10))


def main():
    case, seed, steps, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    if case not in CASES:
        sys.exit(f"unknown case {case!r}; cases: {', '.join(CASES)}")
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target)
    # ReLU nets at lr 0.03: updates near 3e-3 of the weights, well inside the healthy band
    # (at 0.1 they sit on the 1e-2 threshold); the saturating ones at 0.1
    lr = 0.03
    if case == "sigmoid_deep":
        lr = 0.1
        model = mlp(torch.nn.Sigmoid, 10)
    elif case == "tanh_deep":
        lr = 0.1
        model = mlp(torch.nn.Tanh, 16)
    elif case == "classifier_first":
        model = HeadFirst(64, 6)
        he(model)
    else:
        model = mlp(torch.nn.ReLU, 6)
        he(model)
    if case == "frozen":
        for p in model[0].parameters():
            p.requires_grad_(False)
    if case == "inputs_x1000":
        x = x * 1000.0
    if case == "lr_high":
        lr = 5.0
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr)
    try:
        with GradTrace(model, out, classes=10, loss="xent") as tracer:
            for step in range(steps):
                if case == "crash" and step == steps // 2:
                    raise RuntimeError("simulated crash mid-training")
                idx = torch.randint(0, len(x), (64,))
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
                loss.backward()
                tracer.step(loss, lr=lr)
                opt.step()
    except RuntimeError as e:
        if case != "crash":
            raise
        print(f"crashed as planned: {e}", file=sys.stderr)


if __name__ == "__main__":
    main()
