"""Recurrent training-step throughput of gradscope against PyTorch (CPU, float32, one
thread), measured in the same run: forward + loss + full BPTT backward of a many-to-one
RNN/LSTM on adding-problem shapes (2 inputs, T 50, batch 64, a linear head, mse), hidden 64
and 256. A benchmark, not a test.

    /usr/bin/python3 bench/bench_rnn_torch.py build/bench/bench_rnn [SECONDS [GRADSCOPE]]

With GRADSCOPE (the gradscope binary), a second table compares whole training runs: `gradscope
run --arch ...` recording every step (one row per weight tensor and the through-time series at
every t, the SGD step, the trace written to a file) against PyTorch's forward + backward + SGD
step with nothing recorded.

Both sides use the system OpenBLAS (PyTorch's Debian build links it too). OpenBLAS 0.3.21
may not recognise a recent CPU and fall back to its SSE3 (Prescott) kernels; check with
OPENBLAS_VERBOSE=2 and compare with OPENBLAS_CORETYPE=SkylakeX (or Haswell) set for both.
"""
import os
import re
import subprocess
import sys
import time

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"
try:
    import torch
except ImportError:
    sys.exit("bench_rnn_torch: PyTorch is not installed (Debian: apt-get install python3-torch)")

BENCH = sys.argv[1] if len(sys.argv) > 1 else "build/bench/bench_rnn"
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
GRADSCOPE = sys.argv[3] if len(sys.argv) > 3 else None
T, B, D = 50, 64, 2
torch.set_num_threads(1)


def torch_steps_per_s(cell, hidden, train=False):
    """Forward + backward steps/s; with train, the SGD update too (a whole training step)."""
    rnn = (torch.nn.LSTM(D, hidden, batch_first=True) if cell == "lstm"
           else torch.nn.RNN(D, hidden, nonlinearity=cell[4:], batch_first=True))
    out = torch.nn.Linear(hidden, 1)
    params = list(rnn.parameters()) + list(out.parameters())
    opt = torch.optim.SGD(params, lr=0.01)
    x, y = torch.rand(B, T, D), torch.rand(B, 1)

    def step():
        opt.zero_grad(set_to_none=True)
        seq, _ = rnn(x)
        torch.nn.functional.mse_loss(out(seq[:, -1]), y).backward()
        if train:
            opt.step()

    for _ in range(3):
        step()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < SECONDS:
        step()
        n += 1
    return n / (time.perf_counter() - t0)


def gs_steps_per_s(cell, hidden):
    out = subprocess.run([BENCH, cell, str(hidden), str(T), str(B), str(SECONDS)], check=True,
                         capture_output=True, text=True).stdout
    return float(re.search(r"([0-9.]+) steps/s", out).group(1))


print(f"forward + backward steps/s, T {T}, batch {B}, {D} inputs, one thread, "
      f"PyTorch {torch.__version__}")
print(f"{'cell':<9} {'hidden':>6} {'gradscope':>10} {'pytorch':>10} {'ratio':>6}")
for cell in ("rnn_tanh", "lstm"):
    for hidden in (64, 256):
        g, p = gs_steps_per_s(cell, hidden), torch_steps_per_s(cell, hidden)
        print(f"{cell:<9} {hidden:>6} {g:>10.1f} {p:>10.1f} {g / p:>6.2f}")


def torch_train_steps_per_s(cell, hidden):
    """PyTorch's whole training step (forward, backward, SGD update), nothing recorded."""
    return torch_steps_per_s(cell, hidden, train=True)


def gs_run_steps_per_s(cell, hidden, steps):
    """`gradscope run` recording every step, timed whole (process start and data included)."""
    arch = ["--arch", "lstm"] if cell == "lstm" else ["--arch", "rnn", "--act", cell[4:]]
    cmd = [GRADSCOPE, "run", *arch, "--width", str(hidden), "--seq-len", str(T), "--batch",
           str(B), "--samples", str(4 * B), "--steps", str(steps), "--lr", "0.01", "--no-report",
           "--trace", os.devnull, "--quiet"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return steps / (time.perf_counter() - t0)


if GRADSCOPE:
    print("\nwhole training steps/s: gradscope run recording every step vs PyTorch training "
          "(nothing recorded)")
    print(f"{'cell':<9} {'hidden':>6} {'gradscope':>10} {'pytorch':>10} {'ratio':>6}")
    for cell in ("rnn_tanh", "lstm"):
        for hidden in (64, 256):
            p = torch_train_steps_per_s(cell, hidden)
            g = gs_run_steps_per_s(cell, hidden, max(20, int(p * SECONDS * 2)))
            print(f"{cell:<9} {hidden:>6} {g:>10.1f} {p:>10.1f} {g / p:>6.2f}")
