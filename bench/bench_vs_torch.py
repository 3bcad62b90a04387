"""Whole-run training throughput of `gradscope run` against PyTorch (CPU, float32, one thread)
on the same MLP, measured in the same run. A benchmark, not a test: it prints, it does not
assert.

    /usr/bin/python3 bench/bench_vs_torch.py [build/gradscope] [--quick] [--seconds S]
                                             [--act tanh,relu] [--rnn]

gradscope side: the whole `gradscope run` process (start-up, teacher data generation, the
training with every step recorded, the trace written with --trace to a temporary directory,
--no-report), timed from outside with nothing subtracted. The step count is chosen so that
this run lasts at least --seconds (default 3 s).

PyTorch side, at its best settings for this job: torch.set_num_threads(1), one fixed batch,
opt.zero_grad(set_to_none=True), SGD with foreach updates; and, to be fair to what gradscope
records, every step the per-layer gradient L2 norms (torch._foreach_norm over every weight
and bias gradient, with the loss) stacked into one tensor and appended to a Python list with
.tolist(). Its whole run is timed as gradscope's is, apart from the interpreter's start-up
and `import torch` (about a second, which would flatter gradscope): building the model with
the same he_normal init, the batch, and the same number of steps. The steady rate of its
steps after the fifth is printed beside it.

Grid: depth {10, 50} x width {64, 256, 1024} x batch {64, 256} (--quick: depth 10, batch 64),
for each activation of --act (default tanh; e.g. --act tanh,relu to also run relu). Shapes:
gradscope's teacher data has 8 inputs and 1 output, so both nets are 8 -> width x depth -> 1.
Goals per width (gradscope / PyTorch): >= 4x at 64, >= 1.4x at 256, >= 1.0x at 1024, judged
on the lowest ratio of that width.

--rnn then runs the recurrent comparison, bench/bench_rnn_torch.py, unchanged (it needs the
bench_rnn binary next to gradscope, in build/bench/).
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

# One thread everywhere, set before torch loads its BLAS/OpenMP runtimes.
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

try:
    import torch
except ImportError:
    sys.exit("bench_vs_torch: PyTorch is not installed (Debian: apt-get install python3-torch)")

GOALS = {64: 4.0, 256: 1.4, 1024: 1.0}


def parse_args():
    """The command line: gradscope binary, grid size, time per run, activations, --rnn."""
    ap = argparse.ArgumentParser(description="gradscope run vs PyTorch training throughput")
    ap.add_argument("gradscope", nargs="?", default="build/gradscope",
                    help="the gradscope binary (default build/gradscope)")
    ap.add_argument("--quick", action="store_true", help="only depth 10, batch 64")
    ap.add_argument("--seconds", type=float, default=3.0,
                    help="least duration of each gradscope run (default 3)")
    ap.add_argument("--act", default="tanh",
                    help="comma list of activations out of tanh,relu (default tanh)")
    ap.add_argument("--widths", default="64,256,1024",
                    help="comma list of widths out of 64,256,1024 (default all)")
    ap.add_argument("--rnn", action="store_true",
                    help="afterwards run bench/bench_rnn_torch.py (recurrent comparison)")
    a = ap.parse_args()
    a.acts = [s for s in a.act.split(",") if s]
    try:
        a.widths = tuple(int(w) for w in a.widths.split(",") if w)
    except ValueError:
        ap.error("--widths takes a comma list of 64, 256 and 1024")
    if not a.widths or any(w not in GOALS for w in a.widths):
        ap.error("--widths takes a comma list of 64, 256 and 1024")
    if not a.acts or any(s not in ("tanh", "relu") for s in a.acts):
        ap.error("--act takes a comma list of tanh and relu")
    return a


def torch_blas_library():
    """The BLAS shared library PyTorch has mapped (Debian's build links the system BLAS)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
        return ", ".join(sorted(os.path.basename(p) for p in libs)) or "none mapped"
    except OSError:
        return "unknown"


def torch_run(depth, width, batch, act, steps):
    """PyTorch's whole run of `steps` training steps, recording per-layer grad norms: the
    model built and initialized as gradscope's (he_normal weights, zero biases), the batch
    made, then the steps; timed from building the model (Python's start-up and `import
    torch` left out). Returns (steps/s of the whole, steps/s of the steps after the fifth)."""
    t0 = time.perf_counter()
    torch.manual_seed(1)
    layers, n_in = [], 8
    for _ in range(depth):
        lin = torch.nn.Linear(n_in, width)
        torch.nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
        torch.nn.init.zeros_(lin.bias)
        layers += [lin, torch.nn.Tanh() if act == "tanh" else torch.nn.ReLU()]
        n_in = width
    head = torch.nn.Linear(n_in, 1)
    torch.nn.init.kaiming_normal_(head.weight, nonlinearity="relu")
    torch.nn.init.zeros_(head.bias)
    model = torch.nn.Sequential(*layers, head)
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=1e-4, foreach=True)
    x, y = torch.randn(batch, 8), torch.randn(batch, 1)
    record = []

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        with torch.no_grad():
            norms = torch._foreach_norm([p.grad for p in params])
            record.append(torch.stack([*norms, loss.detach()]).tolist())
        opt.step()

    warm = min(5, steps - 1)
    for _ in range(warm):
        step()
    t1 = time.perf_counter()
    for _ in range(steps - warm):
        step()
    t2 = time.perf_counter()
    return steps / (t2 - t0), (steps - warm) / (t2 - t1)


def gs_run(gs, depth, width, batch, act, steps, trace):
    """Seconds of one whole `gradscope run` recording every step, trace written to `trace`."""
    args = [gs, "run", "--data", "teacher", "--samples", str(batch), "--batch", "0",
            "--depth", str(depth), "--width", str(width), "--act", act, "--init", "he_normal",
            "--lr", "1e-4", "--steps", str(steps), "--record-every", "1", "--threads", "1",
            "--trace", trace, "--no-report", "-q"]
    t0 = time.perf_counter()
    subprocess.run(args, check=True)
    return time.perf_counter() - t0


def gs_steps_per_s(gs, depth, width, batch, act, seconds, trace):
    """Steps and steps/s of a gradscope run lasting at least `seconds`: short probe runs
    (doubling the steps until one lasts 0.1 s) estimate the rate, then the counted run is
    repeated with more steps if it still ended too soon."""
    steps, t = 10, 0.0
    while True:
        t = gs_run(gs, depth, width, batch, act, steps, trace)
        if t >= 0.1 or steps >= 1 << 22:
            break
        steps *= 2
    while True:
        steps = max(steps, int(steps * seconds / t * 1.1) + 1)
        t = gs_run(gs, depth, width, batch, act, steps, trace)
        if t >= seconds:
            return steps, steps / t


def blas_core(trace):
    """gradscope's OpenBLAS kernel set, from the trace's `# blas_core = ...` metadata."""
    with open(trace) as f:
        for line in f:
            if not line.startswith("#"):
                break
            if line.startswith("# blas_core"):
                return line.split("=", 1)[1].strip()
    return "unknown"


def main():
    a = parse_args()
    torch.set_num_threads(1)
    depths = (10,) if a.quick else (10, 50)
    widths = a.widths
    batches = (64,) if a.quick else (64, 256)
    ratios = {w: [] for w in widths}
    with tempfile.TemporaryDirectory(prefix="gs-bench-") as tmp:
        trace = os.path.join(tmp, "trace.csv")
        header = False
        for act in a.acts:
            for depth in depths:
                for width in widths:
                    for batch in batches:
                        steps, gs = gs_steps_per_s(a.gradscope, depth, width, batch, act,
                                                   a.seconds, trace)
                        if not header:
                            print(f"# PyTorch {torch.__version__}, 1 thread, BLAS "
                                  f"{torch_blas_library()}; gradscope {a.gradscope}, OpenBLAS "
                                  f"core {blas_core(trace)}, 1 thread")
                            print("# gradscope: whole `gradscope run` process (start-up "
                                  "included, every step recorded, trace written); PyTorch: "
                                  "model build + he_normal init + the same steps, per-layer "
                                  "grad norms every step (torch_steady/s: its steps after "
                                  "the fifth alone)")
                            print(f"{'act':>5} {'depth':>5} {'width':>5} {'batch':>5} "
                                  f"{'steps':>7} {'torch_steps/s':>13} {'gs_steps/s':>10} "
                                  f"{'ratio':>6} {'goal':>5} {'torch_steady/s':>14}")
                            header = True
                        ts, steady = torch_run(depth, width, batch, act, steps)
                        r = gs / ts
                        ratios[width].append(r)
                        mark = "ok" if r >= GOALS[width] else "miss"
                        print(f"{act:>5} {depth:>5} {width:>5} {batch:>5} {steps:>7} "
                              f"{ts:13.1f} {gs:10.1f} {r:6.2f} {mark:>5} {steady:14.1f}",
                              flush=True)
    print("# goals (lowest gradscope/PyTorch ratio of each width):")
    for w in widths:
        worst = min(ratios[w])
        print(f"#   width {w:>4}: goal >= {GOALS[w]:.1f}x, lowest {worst:.2f}x  "
              f"{'PASS' if worst >= GOALS[w] else 'MISS'}")
    sys.stdout.flush()
    if a.rnn:
        here = os.path.dirname(os.path.abspath(__file__))
        bench_rnn = os.path.join(os.path.dirname(a.gradscope), "bench", "bench_rnn")
        print()
        sys.stdout.flush()
        subprocess.run([sys.executable, os.path.join(here, "bench_rnn_torch.py"), bench_rnn,
                        str(a.seconds), a.gradscope], check=True)


if __name__ == "__main__":
    main()
