"""Checks examples/torch_trace.py against a small PyTorch model; exit 77 (skip) without torch."""
import csv
import os
import subprocess
import sys
import tempfile

try:
    import torch
except ImportError:
    print("torch is not installed: skipping")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_trace import GradTrace  # noqa: E402

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Sigmoid(),
                            torch.nn.Linear(16, 16), torch.nn.Sigmoid(),
                            torch.nn.Linear(16, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
x, y = torch.randn(32, 4), torch.randn(32, 1)
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "trace.csv")
    tracer = GradTrace(model, path, setup={"opt": "sgd", "lr": 0.1})
    for _ in range(5):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        tracer.step(loss, lr=0.1)
        opt.step()
    tracer.close()
    with open(path) as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    assert len(rows) == 15, len(rows)
    first = rows[0]
    g = model[0].weight  # after training; check structure, not values
    assert first["layer"] == "1" and first["step"] == "0"
    assert float(first["grad_norm"]) > 0 and float(first["act_grad_norm"]) > 0
    # update ratio of SGD = lr * ||g|| / ||W||
    ratio = float(first["update_ratio"])
    expect = 0.1 * float(first["grad_norm"]) / float(first["weight_norm"])
    assert abs(ratio - expect) < 1e-5 * expect, (ratio, expect)
    gs = os.environ.get("GS_BIN")
    if gs:
        out = os.path.join(d, "r.png")
        subprocess.run([gs, "plot", path, "-o", out, "-q"], check=True)
        assert os.path.getsize(out) > 1000
print("torch_trace ok")
