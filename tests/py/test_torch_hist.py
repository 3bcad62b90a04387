"""GradTrace(hist=...): the per-tensor counts against an independent NumPy float64 reference
(values at and beside every bin edge, zeros, NaN, +-Inf, denormals, float32/float64/float16),
the edge table against 60-digit decimals and the double-precision recipe the C side uses, and a
tanh MLP trained on sklearn's digits with all three kinds: the side file loads with numpy.load,
has the documented shape and metadata, and its grad/act/update counts at a step equal the
reference on tensors the test captured itself. Exit 77 (skipped) without torch or sklearn.

    /usr/bin/python3 tests/py/test_torch_hist.py
"""
import math
import os
import subprocess
import sys
import tempfile
from decimal import Decimal

try:
    import numpy as np
    import pandas  # noqa: F401  (load_trace needs it)
    import sklearn.datasets
    import torch
except ImportError as e:
    print(f"{e.name} is not installed: skipping")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
from gradscope import GradTrace, hist, load_hist, load_trace, read_meta  # noqa: E402

torch.set_num_threads(1)
NB = 228
GS = os.environ.get("GS_BIN", os.path.join(HERE, "..", "..", "build", "gradscope"))


EDGES = [hist.exact_edge(j) for j in range(161)]


def reference(x, A=None):
    """The 228 counts of the values of x (a numpy array of any float type), in float64: log10
    of |x|, and for the values whose (log10|x| + 30) * 4 lies within 1e-6 of an integer (float64
    log10 cannot resolve a float64 one ulp from an edge) the bin by exact decimal comparison
    with the 60-digit edges; linear bins by comparison with the edges -A + k*2A/64."""
    v = np.asarray(x).astype(np.float64).ravel()
    out = np.zeros(NB)
    out[0] = np.sum(v == 0)
    out[1] = np.sum(np.isnan(v))
    out[2] = np.sum(v == np.inf)
    out[3] = np.sum(v == -np.inf)
    fin = v[np.isfinite(v) & (v != 0)]
    q = (np.log10(np.abs(fin)) + 30.0) * 4.0
    j = np.clip(np.floor(q), 0, 159).astype(int)
    for n in np.nonzero(np.abs(q - np.round(q)) < 1e-6)[0]:
        m = Decimal(float(abs(fin[n])))
        k = int(round(q[n]))
        j[n] = min(max(k if m >= EDGES[min(max(k, 0), 160)] else k - 1, 0), 159)
    np.add.at(out, 4 + j, 1)
    if A is not None:
        f = v[np.isfinite(v)]
        edges = np.array([-A + k * (2.0 * A / 64) for k in range(65)])
        k = np.clip(np.searchsorted(edges, f, side="right") - 1, 0, 63)
        np.add.at(out, 164 + k, 1)
    return out


def counts(t, A=None):
    c = hist.Counter(torch, A if A is not None else 4.0)
    raw = c.raw(t).cpu().numpy()
    lin = c.lin(t).cpu().numpy() if A is not None else None
    return hist.from_raw(raw, lin).astype(np.float64)


def probe_values(dtype):
    """Every log edge, its neighbours one ulp either side, values around the linear edges of
    A = 1 and 4, log-uniform values over [1e-45, 1e38], and the special values."""
    e = hist.log_edges(dtype)
    vals = [e, np.nextafter(e, dtype(-np.inf)), np.nextafter(e, dtype(np.inf))]
    for A in (1.0, 4.0):
        le = hist.lin_edges(A).astype(dtype)
        vals += [le, np.nextafter(le, dtype(-np.inf)), np.nextafter(le, dtype(np.inf))]
    rng = np.random.default_rng(5)
    hi = 38 if dtype == np.float32 else 300
    lo = -45 if dtype == np.float32 else -320
    vals.append(10.0 ** rng.uniform(lo, hi, 4000))
    vals.append(rng.normal(0, 1.5, 4000))
    vals.append(np.array([0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, np.inf, 1e-45, 1e-40,
                          -1e-38, np.finfo(dtype).max, -np.finfo(dtype).max, 1e10, 1e-30]))
    v = np.concatenate([a.astype(dtype) for a in vals])
    return np.concatenate([v, -v[::3]])


def test_edges():
    """The float thresholds are the real edges rounded up (60 digits), the plain recipe
    `(float)pow(10, e)` raised by one ulp when below the double gives the same table, and the
    edges 10^k, k = 0..10, are exact."""
    for dtype in (np.float32, np.float64):
        e = hist.log_edges(dtype)
        assert e.shape == (161,) and np.all(np.diff(e) > 0)
        for j in range(161):
            exact = hist.exact_edge(j)
            assert Decimal(float(e[j])) >= exact, (dtype, j)
            below = np.nextafter(e[j], dtype(-np.inf))
            assert Decimal(float(below)) < exact, (dtype, j)
    e32 = hist.log_edges(np.float32)
    for j in range(161):
        d = math.pow(10.0, -30.0 + j * 0.25)
        f = np.float32(d)
        if float(f) < d:
            f = np.nextafter(f, np.float32(np.inf))
        assert f == e32[j], (j, f, e32[j])
    for k in range(11):
        assert e32[120 + 4 * k] == np.float32(10.0 ** k)
    print("edges: 161 float32 + 161 float64 thresholds exact; C recipe agrees")


def test_known_counts():
    """Hand-counted: zeros (both signs), NaN, +-Inf, a denormal, 1e10 and beyond."""
    x = torch.tensor([0.0, -0.0, float("nan"), float("inf"), float("-inf"), float("-inf"),
                      1e-40, 1.0, -1.0, 0.5, 1e10, 3e38, -2.0])
    got = counts(x, A=1.0)
    want = np.zeros(NB)
    want[[0, 1, 2, 3]] = [2, 1, 1, 2]
    want[4 + 0] = 1  # 1e-40: below 1e-30
    want[4 + 120] = 2  # |1| in [1, 10^0.25)
    want[4 + 118] = 1  # 0.5 in [10^-0.5, 10^-0.25)
    want[4 + 159] = 2  # 1e10 and 3e38: the top bin
    want[4 + 121] = 1  # 2.0 in [10^0.25, 10^0.5)
    # linear over [-1, 1], 64 bins of 1/32: zeros, 1e-40 and 0.5 -> bins 32, 32, 32, 48;
    # 1, 1e10, 3e38 clamp to 63; -1, -2 to 0
    want[164 + 32] = 3
    want[164 + 48] = 1
    want[164 + 63] = 3
    want[164 + 0] = 2
    assert np.array_equal(got, want), np.nonzero(got != want)
    print("known counts: exact")


def test_reference():
    for dtype, tdtype in ((np.float32, torch.float32), (np.float64, torch.float64)):
        v = probe_values(dtype)
        t = torch.from_numpy(v.copy())
        assert t.dtype == tdtype
        for A in (1.0, 4.0):
            got, want = counts(t, A), reference(v, A)
            bad = np.nonzero(got != want)[0]
            assert bad.size == 0, (dtype, A, bad, got[bad], want[bad])
        # a strided view (a transposed gradient) counts the same
        m = torch.from_numpy(v[: (v.size // 7) * 7].copy()).reshape(7, -1).t()
        assert np.array_equal(counts(m), reference(m.numpy()))
    with np.errstate(over="ignore"):  # the float32 values beyond 65504 become +-Inf
        h = probe_values(np.float32).astype(np.float16)
    assert np.array_equal(counts(torch.from_numpy(h), 4.0), reference(h, 4.0))
    print(f"reference: {probe_values(np.float32).size} float32 and "
          f"{probe_values(np.float64).size} float64 values, every edge +-1 ulp, equal")


def digits_mlp():
    X, y = sklearn.datasets.load_digits(return_X_y=True)
    X = torch.tensor(X / 16.0, dtype=torch.float32)
    y = torch.tensor(y)
    torch.manual_seed(3)
    net = torch.nn.Sequential(torch.nn.Linear(64, 48), torch.nn.Tanh(),
                              torch.nn.Linear(48, 32), torch.nn.Tanh(),
                              torch.nn.Linear(32, 10))
    return net, X, y


def test_digits(d):
    """All three kinds on a tanh MLP trained on digits (Adam), update_every 3: counts of the
    captured tensors at every step equal the reference; shapes, NaN pattern, metadata."""
    net, X, y = digits_mlp()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    path = os.path.join(d, "digits.csv")
    acts = {}

    def keep(i):
        def hook(m, inp, out):
            if torch.is_grad_enabled():
                acts[i] = out.detach().clone()
        return hook

    # the test's own hooks, placed before the tracer's (they see the same outputs)
    net[1].register_forward_hook(keep(0))
    net[3].register_forward_hook(keep(1))
    net[4].register_forward_hook(keep(2))
    steps, B = 40, 128
    want = np.full((steps, 3, 3, NB), np.nan)
    losses = []
    with GradTrace(net, path, hist=("grad", "act", "update"), update_every=3,
                   flush_every=5) as tr:
        for s in range(steps):
            idx = torch.randint(0, len(X), (B,))
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(X[idx]), y[idx])
            loss.backward()
            if s == 17:  # a NaN and an Inf in one gradient: counted, never an error
                net[2].weight.grad[0, 0] = float("nan")
                net[2].weight.grad[1, 1] = float("-inf")
            tr.step(loss, lr=3e-3)
            before = [net[i].weight.detach().clone() for i in (0, 2, 4)]
            if s == 17:
                net[2].weight.grad.nan_to_num_(0.0, 0.0, 0.0)
            opt.step()
            losses.append(float(loss))
            for li, i in enumerate((0, 2, 4)):
                g = net[i].weight.grad.detach().numpy()
                if s == 17 and li == 1:
                    g = g.copy()
                    g[0, 0], g[1, 1] = np.nan, -np.inf
                want[s, li, 0] = reference(g)
                want[s, li, 1] = reference(acts[li].numpy(), 1.0)
                if s % 3 == 0:
                    want[s, li, 2] = reference((net[i].weight.detach() - before[li]).numpy())
    got = np.load(os.path.join(d, "digits.hist.npy"))
    assert got.dtype == np.float32 and got.shape == (steps, 3, 3, NB), (got.dtype, got.shape)
    assert np.array_equal(load_hist(path), got, equal_nan=True)
    for s in range(steps):
        for li in range(3):
            for k in range(3):
                w, g = want[s, li, k], got[s, li, k]
                if np.isnan(w).all():
                    assert np.isnan(g).all(), (s, li, k)
                    continue
                bad = np.nonzero(w != g)[0]
                assert bad.size == 0, (s, li, k, bad, g[bad], w[bad])
    # what the counts add up to
    sizes = [64 * 48, 48 * 32, 32 * 10]
    assert np.array_equal(got[:, :, 0, :164].sum(2), np.tile(sizes, (steps, 1)))
    assert np.array_equal(got[:, :, 1, :164].sum(2), np.tile([B * 48, B * 32, B * 10], (steps, 1)))
    assert np.all(got[:, :, 0, 164:] == 0) and np.all(got[:, :, 2, 164:][::3] == 0)
    assert got[17, 1, 0, 1] == 1 and got[17, 1, 0, 3] == 1 and got[17, 0, 0, 1] == 0
    assert np.isnan(got[1::3, :, 2]).all() and not np.isnan(got[::3, :, 2]).any()
    # every finite activation is in a linear bin; the logits (output, A = 1) spill beyond +-1
    # into the end bins, the tanh outputs cannot
    assert np.array_equal(got[:, :, 1, 164:].sum(2), got[:, :, 1, :164].sum(2))
    assert got[-1, 2, 1, 164] + got[-1, 2, 1, 227] > 0
    tanh_out = np.concatenate([acts[0].numpy().ravel(), acts[1].numpy().ravel()])
    assert np.abs(tanh_out).max() < 1 - 1 / 32 or got[-1, :2, 1, [164, 227]].sum() > 0
    meta = read_meta(path)
    assert meta["hist"] == "grad,act,update" and meta["hist_file"] == "digits.hist.npy"
    assert meta["hist_bins"] == 228 and meta["hist_act_range"] == 1
    assert meta["hist_log_edges"] == "-30:10:0.25" and meta["hist_act"] == "tanh,tanh,output"
    # the gradscope binary reads the trace with its side file (a reader that loads side files
    # checks their shape against the trace)
    if os.path.exists(GS):
        for cmd in (["diagnose", path], ["plot", path, "-o", os.path.join(d, "digits.png")]):
            r = subprocess.run([GS] + cmd, capture_output=True, text=True)
            assert r.returncode == 0, (cmd, r.stdout, r.stderr)
    frame, _ = load_trace(path)
    assert len(frame) == 3 * steps and losses[-1] < losses[0] * 0.5, (losses[0], losses[-1])
    print(f"digits: {steps} steps x 3 layers x 3 kinds equal the reference; loss "
          f"{losses[0]:.3f} -> {losses[-1]:.3f}")


def test_options(d):
    """Off by default (no side file, no keys); hist_every; bad kinds refused; the activation
    range is 4 once any activation is not tanh/sigmoid/softsign; a ReLU model's act counts
    hold the dead units' exact zeros; evaluation passes under no_grad are not counted."""
    net, X, y = digits_mlp()
    plain = os.path.join(d, "plain.csv")
    with GradTrace(net, plain) as tr:
        loss = torch.nn.functional.cross_entropy(net(X[:32]), y[:32])
        loss.backward()
        tr.step(loss)
    assert not os.path.exists(os.path.join(d, "plain.hist.npy"))
    assert not any(k.startswith("hist") for k in read_meta(plain))
    for bad in ("grads", ("act", "weights"), (1,)):
        try:
            GradTrace(net, os.path.join(d, "x.csv"), hist=bad)
        except ValueError as e:
            assert "hist" in str(e)
        else:
            raise AssertionError(f"hist={bad!r} accepted")
    try:
        GradTrace(net, os.path.join(d, "x.csv"), hist="act", hist_every=0)
    except ValueError as e:
        assert "hist_every" in str(e)
    else:
        raise AssertionError("hist_every=0 accepted")
    torch.manual_seed(4)
    relu = torch.nn.Sequential(torch.nn.Linear(64, 40), torch.nn.ReLU(), torch.nn.Linear(40, 10))
    path = os.path.join(d, "relu")  # no extension: relu.hist.npy
    opt = torch.optim.SGD(relu.parameters(), lr=0.1)
    with torch.no_grad():
        pre = relu[0](X[:50])
    with GradTrace(relu, path, hist="act,grad", hist_every=2) as tr:
        for s in range(5):
            opt.zero_grad()
            out = relu(X[:50])
            loss = torch.nn.functional.cross_entropy(out, y[:50])
            loss.backward()
            with torch.no_grad():
                relu(X[50:80])  # an evaluation pass in between
            tr.step(loss)
            opt.step()
    got = np.load(os.path.join(d, "relu.hist.npy"))
    assert got.shape == (5, 2, 3, NB)
    assert np.isnan(got[1::2]).all() and np.isnan(got[:, :, 2]).all()
    assert not np.isnan(got[::2, :, :2]).any()
    meta = read_meta(path)
    assert meta["hist"] == "grad,act" and meta["hist_act_range"] == 4
    assert meta["hist_act"] == "relu,output" and meta["hist_every"] == 2
    # ReLU: every negative pre-activation of step 0 is an exact zero
    assert got[0, 0, 1, 0] == int((pre <= 0).sum()) > 0
    assert got[0, 0, 1, :164].sum() == 50 * 40  # the no_grad pass is not in it
    print("options: default off, hist_every, refusals, ReLU zeros, eval passes excluded")


def test_recurrent(d):
    """through_time=True: the act of an LSTM's two weight rows is its hidden states over all t
    and the batch (the module's own output sequence, counted once per row); A = 1."""
    torch.manual_seed(6)

    class Seq(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(5, 12, batch_first=True)
            self.out = torch.nn.Linear(12, 3)

        def forward(self, x):
            return self.out(self.rnn(x)[0][:, -1])

    net = Seq()
    x, y = torch.randn(6, 9, 5), torch.randint(0, 3, (6,))
    with torch.no_grad():
        states = net.rnn(x)[0].numpy()  # (6, 9, 12): h_t for every t, weights of step 0
    path = os.path.join(d, "lstm.csv")
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    with GradTrace(net, path, through_time=True, hist="act") as tr:
        for s in range(2):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(x), y)
            loss.backward()
            tr.step(loss)
            opt.step()
    got = load_hist(path)
    want = reference(states, 1.0)
    assert np.array_equal(got[0, 0, 1], want) and np.array_equal(got[0, 1, 1], want)
    assert got[0, 0, 1, :164].sum() == 6 * 9 * 12
    meta = read_meta(path)
    assert meta["hist_act"] == "state,state,output" and meta["hist_act_range"] == 1
    print("recurrent: LSTM states over all t on both weight rows, equal the reference")


def test_live(d):
    """A live trace's side file: a stale one is removed at the first flush; by default none
    until close; with hist_live_every=4 rewritten with exactly the steps in the CSV once 4
    steps were added; complete at close either way."""
    net, X, y = digits_mlp()
    for live in (None, 4):
        path = os.path.join(d, f"live{live}.csv")
        side = os.path.join(d, f"live{live}.hist.npy")
        np.save(side, np.zeros((1, 1, 3, NB), np.float32))  # from an earlier run
        opt = torch.optim.SGD(net.parameters(), lr=0.05)
        tr = GradTrace(net, path, hist="grad,update", flush_every=1, update_every=1,
                       hist_live_every=live)
        seen = []
        try:
            for s in range(10):
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(net(X[:40]), y[:40])
                loss.backward()
                tr.step(loss)
                opt.step()
                rows = len(load_trace(path)[0]) // 3 if os.path.exists(path) else 0
                n = np.load(side).shape[0] if os.path.exists(side) else None
                seen.append((rows, n))
        finally:
            tr.close()
        # update_every 1: a step's rows wait for its update, written at the next step(); the
        # stale file goes with the first write of the CSV
        assert seen[0] == (0, 1) and seen[1] == (1, None), seen
        if live is None:
            assert all(n is None for _, n in seen[1:]), seen
        else:
            assert all(n is None or n <= rows for rows, n in seen[1:]), seen
            assert (4, 4) in seen and (8, 8) in seen, seen
        got = np.load(side)
        assert got.shape == (10, 3, 3, NB) and not np.isnan(got[:, :, 2]).any()
        assert read_meta(path)["complete"] == 1
        print(f"live (hist_live_every={live}): (CSV steps, side-file steps) per step {seen}")
    try:
        GradTrace(net, os.path.join(d, "x.csv"), hist="grad", hist_live_every=0)
    except ValueError as e:
        assert "hist_live_every" in str(e)
    else:
        raise AssertionError("hist_live_every=0 accepted")


def test_diagnosis_from_histograms(d):
    """A PyTorch trace has no saturation or dead_frac column: with activation histograms the
    rules read the pile-up at tanh's ends and the spike at exact 0 instead. Real models on
    digits: tanh with N(0,1) weights saturates, tanh with PyTorch's init does not; ReLU with
    every bias at -1 is dead, with PyTorch's init it is not. The findings must be the causes the
    setups have, with their evidence, and the healthy models silent on both."""
    if not os.path.exists(GS):
        print("diagnosis from histograms: no gradscope binary, skipped")
        return
    import json
    X, y = sklearn.datasets.load_digits(return_X_y=True)
    X = torch.tensor((X - X.mean(0)) / (X.std(0) + 1e-6), dtype=torch.float32)
    y = torch.tensor(y)
    cases = [("tanh_randn", torch.nn.Tanh, "randn", "saturation", "max_pileup"),
             ("tanh_default", torch.nn.Tanh, None, None, None),
             ("relu_bias_neg", torch.nn.ReLU, "bias-1", "dead_units", "max_zero_share"),
             ("relu_default", torch.nn.ReLU, None, None, None)]
    for name, act, init, want, key in cases:
        torch.manual_seed(5)
        layers = []
        for i in range(6):
            layers += [torch.nn.Linear(64, 64), act()]
        net = torch.nn.Sequential(*layers, torch.nn.Linear(64, 10))
        with torch.no_grad():
            for m in net:
                if isinstance(m, torch.nn.Linear) and init == "randn":
                    m.weight.normal_(0.0, 1.0)
                    m.bias.zero_()
                if isinstance(m, torch.nn.Linear) and init == "bias-1":
                    torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                    m.bias.fill_(-1.0)
        opt = torch.optim.SGD(net.parameters(), lr=0.02)
        path = os.path.join(d, name + ".csv")
        with GradTrace(net, path, hist=("act",)) as tr:
            for s in range(30):
                idx = torch.randint(0, len(X), (128,))
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(net(X[idx]), y[idx])
                loss.backward()
                tr.step(loss, lr=0.02)
                opt.step()
        r = subprocess.run([GS, "diagnose", path, "--json", "-"], capture_output=True, text=True)
        assert r.returncode == 0, (name, r.stdout, r.stderr)
        found = {f["kind"]: f for f in json.loads(r.stdout)["findings"]}
        for kind in ("saturation", "dead_units"):
            if kind == want:
                assert kind in found, (name, sorted(found))
                ev = found[kind]["evidence"]
                assert ev[key] > ev["threshold"], (name, ev)
            else:
                assert kind not in found, (name, kind, found.get(kind))
        got = {k: found[k]["evidence"].get(key) for k in found if k == want}
        print(f"diagnosis from histograms: {name}: {sorted(found)} {got}")


def main():
    test_edges()
    test_known_counts()
    test_reference()
    with tempfile.TemporaryDirectory() as d:
        test_digits(d)
        test_options(d)
        test_recurrent(d)
        test_live(d)
        test_diagnosis_from_histograms(d)
    print("ok")


if __name__ == "__main__":
    main()
