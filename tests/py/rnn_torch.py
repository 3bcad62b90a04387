"""Cross-checks gradscope's recurrent nets against PyTorch: the weights and batch that
tests/rnn_dump writes are loaded into nn.RNN/LSTM/GRU(batch_first=True) + nn.Linear by their
state_dict names; the loss, every parameter gradient and the through-time norms ||dL/dh_t||
(and ||dL/dc_t|| for LSTM) must agree to float32 tolerance. The norms come from the same
net unrolled step by step with nn.RNNCell/LSTMCell/GRUCell on the same weights, retaining
the gradient of every state (the total gradient reaching it), and once more as gradscope's
PyTorch tracer records them (GradTrace(through_time=True) on the nn.RNN/LSTM/GRU module: the
h_grad_norm and c_grad_norm columns of its trace). Truncated BPTT is rebuilt in
PyTorch by running the steps before each window under no_grad and starting the window from
the detached states. Exit 77 (skip) without torch.

    GS_RNN_DUMP=build/tests/rnn_dump /usr/bin/python3 tests/py/rnn_torch.py
"""
import copy
import os
import shutil
import subprocess
import sys
import tempfile

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"
try:
    import numpy as np
    import torch
except ImportError:
    print("torch (or numpy) is not installed: skipping")
    sys.exit(77)

torch.set_num_threads(1)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
from gradscope import GradTrace, load_trace  # noqa: E402

DUMP = os.environ.get("GS_RNN_DUMP") or (sys.argv[1] if len(sys.argv) > 1 else None)
if not DUMP:
    sys.exit("rnn_torch: set GS_RNN_DUMP to the rnn_dump test program")

H, T, B, D = 8, 6, 4, 3
GRAD_TOL = 1e-4  # max |difference| / max |gradient| per tensor, float32 against float32
LOSS_TOL = 1e-5
NORM_TOL = 1e-4


def module(cell, depth):
    if cell.startswith("rnn_"):
        return torch.nn.RNN(D, H, depth, nonlinearity=cell[4:], batch_first=True)
    return {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](D, H, depth, batch_first=True)


def cell_module(cell, n_in):
    if cell.startswith("rnn_"):
        return torch.nn.RNNCell(n_in, H, nonlinearity=cell[4:])
    return {"lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}[cell](n_in, H)


def term(z, y, s, head, loss, O):
    """Loss term of step s with the normalization of the whole mean loss."""
    if head == "last":
        return (torch.nn.functional.mse_loss(z, y) if loss == "mse"
                else torch.nn.functional.cross_entropy(z, y.long()))
    if loss == "mse":
        return ((z - y[:, s]) ** 2).sum() / (B * T * O)
    return torch.nn.functional.cross_entropy(z, y[:, s].long(), reduction="sum") / (B * T)


def check(cell, depth, head, loss, bptt, seed):
    O = 3
    d = tempfile.mkdtemp(prefix="gs_rnn_torch")
    try:
        subprocess.run([DUMP, cell, str(depth), head, loss, str(bptt), d, str(H), str(T), str(B),
                        str(D), str(O), str(seed)], check=True)
        ld = lambda name: torch.from_numpy(np.load(os.path.join(d, name + ".npy")))
        rnn, out = module(cell, depth), torch.nn.Linear(H, O)
        with torch.no_grad():
            for name, p in rnn.named_parameters():
                p.copy_(ld("rnn." + name))
            for name, p in out.named_parameters():
                p.copy_(ld("out." + name))
        x, y = ld("data.x"), ld("data.y")
        K = bptt if 0 < bptt < T else 0
        if K == 0:
            # (copies before any gradient, for the tracer's run)
            traced = torch.nn.ModuleDict({"rnn": copy.deepcopy(rnn), "out": copy.deepcopy(out)})
            L = full_loss(rnn, out, x, y, head, loss, O)
        else:
            L = 0
            for s in ([T - 1] if head == "last" else range(T)):
                lo = max(0, s - K + 1)
                state = None
                if lo > 0:
                    with torch.no_grad():
                        _, state = rnn(x[:, :lo])
                seq, _ = rnn(x[:, lo:s + 1], state)
                L = L + term(out(seq[:, -1]), y, s, head, loss, O)
        L.backward()
        what = f"{cell} depth {depth} {head} {loss} bptt {bptt}"
        worst = 0.0
        want_loss = float(ld("loss"))
        assert abs(L.item() - want_loss) <= LOSS_TOL * abs(L.item()), \
            f"{what}: loss {want_loss} vs torch {L.item()}"
        params = [("rnn." + n, p) for n, p in rnn.named_parameters()] + \
                 [("out." + n, p) for n, p in out.named_parameters()]
        for name, p in params:
            g = ld("grad." + name)
            assert g.shape == p.grad.shape, f"{what}: {name} shape {tuple(g.shape)}"
            scale = p.grad.abs().max().item()
            err = (g - p.grad).abs().max().item() / max(scale, 1e-12)
            worst = max(worst, err)
            assert err < GRAD_TOL, f"{what}: {name} differs by {err:.3g} of its largest entry"
        worst_norm = worst_traced = 0.0
        if K == 0:
            worst_norm = check_norms(cell, depth, head, loss, rnn, out, x, y, O, ld, what)
            worst_traced = check_traced(cell, depth, head, loss, traced, x, y, O, ld, what, d)
        return worst, worst_norm, worst_traced, abs(L.item() - want_loss) / abs(L.item())
    finally:
        shutil.rmtree(d)


def full_loss(rnn, out, x, y, head, loss, O):
    seq, _ = rnn(x)
    if head == "last":
        return term(out(seq[:, -1]), y, T - 1, head, loss, O)
    return sum(term(out(seq[:, s]), y, s, head, loss, O) for s in range(T))


def rel_diff(got, want):
    return float(np.max(np.abs(got - want) / np.maximum(want, 1e-6 * want.max())))


def check_traced(cell, depth, head, loss, model, x, y, O, ld, what, d):
    """The engine's through-time norms against the h_grad_norm / c_grad_norm series that
    GradTrace(through_time=True) writes for the same weights and batch."""
    path = os.path.join(d, "traced.csv")
    with GradTrace(model, path, through_time=True) as tracer:
        L = full_loss(model["rnn"], model["out"], x, y, head, loss, O)
        L.backward()
        tracer.step(L)
    frame, _ = load_trace(path)
    worst = 0.0
    for k in range(depth):
        ser = frame[frame.name == f"rnn.h_l{k}"].sort_values("t")
        assert list(ser.t) == list(range(1, T + 1)), f"{what}: t of rnn.h_l{k}: {list(ser.t)}"
        for kind, col in (("h", "h_grad_norm"), ("c", "c_grad_norm")):
            if kind == "c" and cell != "lstm":
                assert ser[col].isna().all(), f"{what}: {col} written for {cell}"
                continue
            want = ser[col].to_numpy()
            got = ld(f"{kind}norm_l{k}").numpy()
            err = rel_diff(got, want)
            worst = max(worst, err)
            assert err < NORM_TOL, f"{what}: ||dL/d{kind}_t|| layer {k}: {got} vs traced {want}"
    return worst


def check_norms(cell, depth, head, loss, rnn, out, x, y, O, ld, what):
    cells = []
    for k in range(depth):
        c = cell_module(cell, D if k == 0 else H)
        with torch.no_grad():
            for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(c, n).copy_(getattr(rnn, f"{n}_l{k}"))
        cells.append(c)
    state = [None] * depth
    hs = [[None] * T for _ in range(depth)]
    cs = [[None] * T for _ in range(depth)]
    L = 0
    for t in range(T):
        inp = x[:, t]
        for k in range(depth):
            if cell == "lstm":
                h, c = cells[k](inp, state[k])
                c.retain_grad()
                cs[k][t] = c
                state[k] = (h, c)
            else:
                h = cells[k](inp, state[k])
                state[k] = h
            h.retain_grad()
            hs[k][t] = h
            inp = h
        if head == "each" or t == T - 1:
            L = L + term(out(inp), y, t, head, loss, O)
    L.backward()
    worst = 0.0
    for k in range(depth):
        for kind, states in (("h", hs[k]), ("c", cs[k])):
            if kind == "c" and cell != "lstm":
                continue
            want = np.array([s.grad.norm().item() for s in states])
            got = ld(f"{kind}norm_l{k}").numpy()
            err = rel_diff(got, want)
            worst = max(worst, err)
            assert err < NORM_TOL, f"{what}: ||dL/d{kind}_t|| layer {k}: {got} vs torch {want}"
    return worst


def main():
    cases = []
    for cell in ("rnn_tanh", "rnn_relu", "lstm", "gru"):
        for depth in (1, 2):
            for head, loss in (("last", "mse"), ("each", "xent"), ("last", "xent"),
                               ("each", "mse")):
                cases.append((cell, depth, head, loss, 0))
        for head in ("last", "each"):
            cases.append((cell, 2, head, "mse", 2))
    wg = wn = wt = wl = 0.0
    for i, c in enumerate(cases):
        g, n, t, l = check(*c, seed=i + 1)
        wg, wn, wt, wl = max(wg, g), max(wn, n), max(wt, t), max(wl, l)
    print(f"{len(cases)} setups agree with PyTorch {torch.__version__}: worst gradient "
          f"difference {wg:.2g} of the tensor's largest entry, worst ||dL/dh_t|| (and "
          f"||dL/dc_t||) relative difference {wn:.2g} against the nn.*Cell unroll and {wt:.2g} "
          f"against GradTrace(through_time=True)'s trace, worst loss relative difference "
          f"{wl:.2g}")


if __name__ == "__main__":
    main()
