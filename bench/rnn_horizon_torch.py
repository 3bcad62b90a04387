"""How far back the gradient reaches at initialization, measured with PyTorch through
gradscope's tracer: ||dL/dh_1|| / ||dL/dh_T|| (the total gradient at the first and the last
hidden state, GradTrace(through_time=True)) of a one-layer net on the adding problem, for a
tanh RNN, an LSTM with PyTorch's default init, LSTMs with forget bias 1 and 3, and a tanh RNN
with orthogonal recurrent weights; several seeds (each a new init and a new batch), median
and range. A measurement, not a test. (Seed 1 gives issue 11's figures: 5.5e-16, 6.6e-13,
1.8e-5, 0.11 and 6.2e-3 where the issue says 6.4e-3 for the orthogonal init.)

    /usr/bin/python3 bench/rnn_horizon_torch.py [--seeds N] [--hidden 64] [--T 60]
        [--batch 64] [--double] [--train STEPS [--lr 0.001]]

--train STEPS then trains each setup (seed 0, Adam, a new batch every step) and prints, at
the start, the middle and the end, the loss, the ratio and for an LSTM its forget gate
sigma(f) (mean over batch, units and time; the fraction of units open above 0.9), to show
whether the gradient's reach grows in training and whether the gates open.

Adding problem in the two-channel form of Le, Jaitly & Hinton 2015 (after Hochreiter &
Schmidhuber 1997), as gradscope's `adding` data: channel 0 holds values U[0,1], channel 1 a
marker 1 at one position of the first half and one of the second half; the target is the sum
of the two marked values; a linear head on h_T; mse. Forget bias C: the forget-gate slice of
bias_ih_l0 set to C and of bias_hh_l0 to 0 (Gers et al. 2000; Jozefowicz et al. 2015).
"""
import argparse
import math
import os
import statistics
import sys
import tempfile

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from gradscope import GradTrace, load_trace  # noqa: E402

SETUPS = ("tanh RNN", "LSTM default", "LSTM forget bias 1", "LSTM forget bias 3",
          "tanh RNN orthogonal W_hh")


def adding_batch(B, T, gen):
    x = torch.zeros(B, T, 2)
    x[:, :, 0] = torch.rand(B, T, generator=gen)
    half = T // 2
    a = torch.randint(0, half, (B,), generator=gen)
    b = torch.randint(half, T, (B,), generator=gen)
    rows = torch.arange(B)
    x[rows, a, 1] = 1.0
    x[rows, b, 1] = 1.0
    y = (x[rows, a, 0].double() + x[rows, b, 0].double()).float().unsqueeze(1)
    return x, y


def build(setup, H):
    if setup.startswith("tanh RNN"):
        rnn = torch.nn.RNN(2, H, nonlinearity="tanh", batch_first=True)
        if "orthogonal" in setup:
            torch.nn.init.orthogonal_(rnn.weight_hh_l0)
    else:
        rnn = torch.nn.LSTM(2, H, batch_first=True)
        if "forget bias" in setup:
            fb = float(setup.rsplit(" ", 1)[1])
            with torch.no_grad():  # gates i, f, g, o: f is the second slice
                rnn.bias_ih_l0[H:2 * H] = fb
                rnn.bias_hh_l0[H:2 * H] = 0.0
    return torch.nn.ModuleDict({"rnn": rnn, "out": torch.nn.Linear(H, 1)})


def ratio(setup, seed, H, T, B, dtype, directory):
    torch.manual_seed(seed)
    model = build(setup, H).to(dtype)
    x, y = adding_batch(B, T, torch.Generator().manual_seed(1000 + seed))
    x, y = x.to(dtype), y.to(dtype)
    path = os.path.join(directory, "h.csv")
    with GradTrace(model, path, through_time=True) as tracer:
        seq, _ = model["rnn"](x)
        loss = torch.nn.functional.mse_loss(model["out"](seq[:, -1]), y)
        loss.backward()
        tracer.step(loss)
    frame, _ = load_trace(path)
    g = frame[frame.name == "rnn.h_l0"].sort_values("t").h_grad_norm.to_numpy()
    assert len(g) == T
    return g[0] / g[-1]


def forget_gate_mean(rnn, x):
    """The LSTM's forget gate on the batch x: its mean over batch, units and time steps, and
    the fraction of units whose mean over batch and time exceeds 0.9 (open: such a unit's
    cell keeps 0.9^60 = 0.2% of itself over 60 steps, a closed one at 0.5 keeps 1e-18)."""
    from gradscope.rnn import unrolled_forward

    H = rnn.hidden_size
    with torch.no_grad():
        keep = []
        unrolled_forward(rnn, x, None, keep)
        hs = torch.stack(keep[0]["h"])  # (T, B, H)
        prev = torch.cat([torch.zeros_like(hs[:1]), hs[:-1]])
        xt = x.transpose(0, 1)
        a = (xt @ rnn.weight_ih_l0[H:2 * H].t() + rnn.bias_ih_l0[H:2 * H]
             + prev @ rnn.weight_hh_l0[H:2 * H].t() + rnn.bias_hh_l0[H:2 * H])
        f = torch.sigmoid(a)  # (T, B, H)
        return f.mean().item(), (f.mean((0, 1)) > 0.9).double().mean().item()


def train(setup, steps, lr, H, T, B, directory):
    torch.manual_seed(0)
    model = build(setup, H)
    gen = torch.Generator().manual_seed(7)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    path = os.path.join(directory, "train.csv")
    every = max(1, steps // 100)
    probe_x, _ = adding_batch(B, T, torch.Generator().manual_seed(99))
    lstm = isinstance(model["rnn"], torch.nn.LSTM)
    gates = {0: forget_gate_mean(model["rnn"], probe_x)} if lstm else {}
    with GradTrace(model, path, every=every, through_time=True) as tracer:
        for s in range(steps):
            x, y = adding_batch(B, T, gen)
            opt.zero_grad()
            seq, _ = model["rnn"](x)
            loss = torch.nn.functional.mse_loss(model["out"](seq[:, -1]), y)
            loss.backward()
            tracer.step(loss, lr=lr)
            opt.step()
            if lstm and s + 1 in (steps // 2, steps):
                gates[s + 1] = forget_gate_mean(model["rnn"], probe_x)
    frame, _ = load_trace(path)
    ser = frame[frame.name == "rnn.h_l0"]
    rows = frame[frame.t.isna()].groupby("step").loss.first()
    recorded = sorted(ser.step.unique())
    out = []
    for step in (recorded[0], recorded[len(recorded) // 2], recorded[-1]):
        g = ser[ser.step == step].sort_values("t").h_grad_norm.to_numpy()
        # loss: the mean over the recorded steps up to this one's window (one batch is noisy)
        window = rows[(rows.index <= step) & (rows.index > step - 5 * every)]
        out.append((step, window.mean(), g[0] / g[-1]))
    # solved: the first recorded step from which on the loss of every recorded step stays
    # below 0.05 (constant prediction: 1/6; a net that ignores the early marker: ~1/12)
    below = rows < 0.05
    solved = next((int(i) for i in rows.index if below[below.index >= i].all()), None)
    return out, gates, solved


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--T", type=int, default=60)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--double", action="store_true", help="float64 nets and data")
    ap.add_argument("--train", type=int, default=0, help="then train each setup STEPS steps")
    ap.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate (--train)")
    ap.add_argument("--setups", default=",".join(str(i) for i in range(len(SETUPS))),
                    help="comma list of setup numbers, 0.." + str(len(SETUPS) - 1) + ": " +
                    "; ".join(f"{i} {n}" for i, n in enumerate(SETUPS)))
    a = ap.parse_args()
    try:
        chosen = [SETUPS[int(i)] for i in a.setups.split(",")]
    except (ValueError, IndexError):
        ap.error(f"--setups {a.setups!r}: expected numbers 0..{len(SETUPS) - 1}")
    torch.set_num_threads(1)
    dtype = torch.float64 if a.double else torch.float32
    print(f"||dL/dh_1|| / ||dL/dh_{a.T}|| at init, hidden {a.hidden}, T {a.T}, batch "
          f"{a.batch}, adding problem, {str(dtype).replace('torch.', '')}, seeds 0..{a.seeds - 1}, "
          f"torch {torch.__version__}")
    print(f"{'setup':<26} {'median':>9} {'min':>9} {'max':>9} {'seed 0':>9} {'seed 1':>9}")
    with tempfile.TemporaryDirectory() as d:
        for setup in chosen:
            r = [ratio(setup, s, a.hidden, a.T, a.batch, dtype, d) for s in range(a.seeds)]
            print(f"{setup:<26} {statistics.median(r):9.2g} {min(r):9.2g} {max(r):9.2g} "
                  f"{r[0]:9.2g} {r[1] if len(r) > 1 else math.nan:9.2g}", flush=True)
        if a.train:
            print(f"\ntraining {a.train} steps, Adam lr {a.lr}, seed 0 (mean loss of the recorded "
                  f"steps over the last 5 records; constant prediction: 1/6 = 0.167)")
            for setup in chosen:
                pts, gates, solved = train(setup, a.train, a.lr, a.hidden, a.T, a.batch, d)
                text = "  ".join(f"step {s}: loss {l:.3g} ratio {r:.2g}" for s, l, r in pts)
                if gates:
                    text += "  forget gate mean " + " -> ".join(f"{v[0]:.3f}" for v in
                                                                gates.values())
                    text += ", units open (>0.9) " + " -> ".join(f"{v[1]:.2f}" for v in
                                                                 gates.values())
                text += f"  solved (loss < 0.05 from then on) at step {solved}"
                print(f"{setup:<26} {text}", flush=True)


if __name__ == "__main__":
    main()
