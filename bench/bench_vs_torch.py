"""Training-step throughput of gradscope against PyTorch (CPU, float32, one thread) on the
same MLP, measured in the same run. A benchmark, not a test.

    /usr/bin/python3 bench/bench_vs_torch.py build/gradscope

For each (depth, width, batch) it times PyTorch's forward + backward + SGD step on a fixed
batch, and `gradscope run` on the same shapes (teacher data: 8 inputs, 1 output, the whole
batch every step) twice: recording every step, and recording only the first and last
step. The gradscope timings include process start-up, data generation and trace assembly, so
the steps are chosen to make a run last about a second.
"""
import os
import subprocess
import sys
import time

# One thread everywhere, set before torch loads its BLAS/OpenMP runtimes.
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

try:
    import torch
except ImportError:
    sys.exit("bench_vs_torch: PyTorch is not installed (Debian: apt-get install python3-torch)")

GS = sys.argv[1] if len(sys.argv) > 1 else "build/gradscope"
torch.set_num_threads(1)
env = dict(os.environ, OPENBLAS_NUM_THREADS="1")


def torch_steps_per_s(depth, width, batch, act, seconds=1.0):
    layers, n_in = [], 8
    for _ in range(depth):
        layers += [torch.nn.Linear(n_in, width), torch.nn.Tanh() if act == "tanh" else torch.nn.ReLU()]
        n_in = width
    model = torch.nn.Sequential(*layers, torch.nn.Linear(n_in, 1))
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)
    x, y = torch.randn(batch, 8), torch.randn(batch, 1)

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step()
        n += 1
    return n / (time.perf_counter() - t0)


def gs_steps_per_s(depth, width, batch, act, steps, record_every):
    args = [GS, "run", "--data", "teacher", "--samples", str(batch), "--batch", "0",
            "--depth", str(depth), "--width", str(width), "--act", act, "--init", "he_normal",
            "--lr", "1e-4", "--steps", str(steps), "--record-every", str(record_every),
            "--threads", "1", "--no-report", "-q"]
    t0 = time.perf_counter()
    subprocess.run(args, check=True, env=env)
    return steps / (time.perf_counter() - t0)


print(f"# PyTorch {torch.__version__}, 1 thread; gradscope {GS}, OpenBLAS 1 thread")
print(f"{'act':>5} {'depth':>5} {'width':>5} {'batch':>5} {'torch/s':>9} {'gs/s':>9} "
      f"{'gs_norec/s':>10} {'gs/torch':>8} {'norec/torch':>11}")
for act in ("tanh", "relu"):
    for depth, width, batch in ((10, 64, 64), (10, 256, 64), (10, 256, 256), (10, 1024, 256)):
        ts = torch_steps_per_s(depth, width, batch, act)
        steps = max(20, int(ts * 1.0))
        g = gs_steps_per_s(depth, width, batch, act, steps, 1)
        gn = gs_steps_per_s(depth, width, batch, act, steps, steps)
        print(f"{act:>5} {depth:>5} {width:>5} {batch:>5} {ts:9.1f} {g:9.1f} {gn:10.1f} "
              f"{g / ts:8.2f} {gn / ts:11.2f}", flush=True)
