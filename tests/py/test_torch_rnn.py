"""GradTrace through time on nn.RNN / nn.LSTM / nn.GRU: the unrolled forward against the
module's own (outputs, final states, parameter gradients), h_grad_norm / c_grad_norm against
torch.autograd.grad on an independent unroll with nn.*Cell, the series rows' format, the
refusals, the output-hook mode, and an LSTM trained on sklearn's digits read as 8-row
sequences. Exit 77 (skipped) when torch, pandas or sklearn is missing.

    /usr/bin/python3 tests/py/test_torch_rnn.py   (GS_BIN: the gradscope binary, optional)
"""
import csv
import math
import os
import subprocess
import sys
import tempfile
import time

try:
    import numpy as np
    import pandas  # noqa: F401
    import sklearn.datasets
    import torch
except ImportError as e:
    print(f"{e.name} is not installed: skipping")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
from gradscope import GradTrace, load_trace, read_meta  # noqa: E402
from gradscope.rnn import unrolled_forward  # noqa: E402
from gradscope.tracer import COLUMNS, TIME_COLUMNS  # noqa: E402

GS = os.environ.get("GS_BIN", os.path.join(HERE, "..", "..", "build", "gradscope"))
nn = torch.nn
F = torch.nn.functional
torch.set_num_threads(1)
CELLS = (("rnn_tanh", nn.RNN, {"nonlinearity": "tanh"}),
         ("rnn_relu", nn.RNN, {"nonlinearity": "relu"}),
         ("lstm", nn.LSTM, {}), ("gru", nn.GRU, {}))


def flat(out):
    """All tensors of a module's return value, as one flat vector."""
    seq, state = out
    parts = [seq] + (list(state) if isinstance(state, tuple) else [state])
    return torch.cat([p.reshape(-1) for p in parts])


def rel_err(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12 * np.abs(b).max() + 1e-30)))


def test_unrolled_equals_module(d):
    """Outputs, final states and every parameter gradient, batch_first both ways, 1-3 layers,
    unbatched input, a given initial state."""
    torch.manual_seed(1)
    worst = 0.0
    for cell, cls, kw in CELLS:
        for batch_first in (True, False):
            for layers in (1, 2, 3):
                mod = cls(5, 7, layers, batch_first=batch_first, **kw)
                x = torch.randn(4, 9, 5) if batch_first else torch.randn(9, 4, 5)
                h0 = torch.randn(layers, 4, 7)
                hx = (h0, torch.randn(layers, 4, 7)) if cell == "lstm" else h0
                for args in ((x,), (x, hx), (x[0] if batch_first else x[:, 0],)):
                    want = mod(*args)
                    got = unrolled_forward(mod, *args)
                    err = (flat(want) - flat(got)).abs().max().item()
                    worst = max(worst, err)
                    assert err < 1e-6, (cell, batch_first, layers, len(args), err)
                # parameter gradients of a loss on the outputs and the final state
                grads = []
                for fwd in (mod, lambda *a: unrolled_forward(mod, *a)):
                    mod.zero_grad()
                    seq, state = fwd(x, hx)
                    hn = state[0] if cell == "lstm" else state
                    ((seq ** 2).sum() + hn.sum()).backward()
                    grads.append([p.grad.clone() for p in mod.parameters()])
                for (name, _), a, b in zip(mod.named_parameters(), *grads):
                    err = (a - b).abs().max().item() / max(a.abs().max().item(), 1e-12)
                    assert err < 1e-5, (cell, batch_first, layers, name, err)
    print(f"  unrolled forward: worst |difference| {worst:.2g}")


class SeqNet(nn.Module):
    """A recurrent module and a linear head, the loss reading part of the output sequence
    and the final hidden state (so the total gradient at h_t has all three sources)."""

    def __init__(self, cls, kw, layers, batch_first, hidden=6, inputs=3):
        super().__init__()
        self.rnn = cls(inputs, hidden, layers, batch_first=batch_first, **kw)
        self.head = nn.Linear(hidden, 2)
        self.batch_first = batch_first

    def forward(self, x):
        seq, state = self.rnn(x)
        hn = state[0] if isinstance(state, tuple) else state
        if not self.batch_first:
            seq = seq.transpose(0, 1)
        return self.head(seq[:, -3:]).mean(1), hn


def seq_loss(z, hn, y):
    return F.mse_loss(z, y) + 0.1 * (hn ** 2).mean()


def hand_norms(net, cell, x_bt, y):
    """||dL/dh_t|| (and ||dL/dc_t||) per layer from an independent unroll in float64 written
    out from PyTorch's documented formulas (LSTM gates i, f, g, o; GRU r, z, n) on copies of
    the weights, by torch.autograd.grad on the list of states; with the h_t themselves."""
    rnn = net.rnn
    B, T, _ = x_bt.shape
    H = rnn.hidden_size
    sig, tanh = torch.sigmoid, torch.tanh
    W = [{n: getattr(rnn, f"{n}_l{k}").detach().double()
          for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
         for k in range(rnn.num_layers)]
    head_w, head_b = net.head.weight.detach().double(), net.head.bias.detach().double()
    hs = [[] for _ in W]
    cs = [[] for _ in W]
    # zero initial states that require a gradient: every later state is then in the graph
    h = [torch.zeros(B, H, dtype=torch.float64, requires_grad=True) for _ in W]
    c = [torch.zeros(B, H, dtype=torch.float64, requires_grad=True) for _ in W]
    for t in range(T):
        inp = x_bt[:, t].double()
        for k, w in enumerate(W):
            a_i = inp @ w["weight_ih"].t() + w["bias_ih"]
            a_h = h[k] @ w["weight_hh"].t() + w["bias_hh"]
            if cell == "lstm":
                i, f, g, o = (a_i + a_h).split(H, 1)
                c[k] = sig(f) * c[k] + sig(i) * tanh(g)
                h[k] = sig(o) * tanh(c[k])
                cs[k].append(c[k])
            elif cell == "gru":
                r = sig(a_i[:, :H] + a_h[:, :H])
                z = sig(a_i[:, H:2 * H] + a_h[:, H:2 * H])
                n = tanh(a_i[:, 2 * H:] + r * a_h[:, 2 * H:])
                h[k] = (1 - z) * n + z * h[k]
            else:
                h[k] = tanh(a_i + a_h) if cell == "rnn_tanh" else torch.relu(a_i + a_h)
            hs[k].append(h[k])
            inp = h[k]
    top = torch.stack(hs[-1], 1)
    z = (top[:, -3:] @ head_w.t() + head_b).mean(1)
    L = seq_loss(z, torch.stack(h), y.double())
    flat_states = [s for layer in hs for s in layer] + [s for layer in cs for s in layer]
    grads = torch.autograd.grad(L, flat_states)
    norms = [g.norm().item() for g in grads]
    n = len(W) * T
    hg = [norms[k * T:(k + 1) * T] for k in range(len(W))]
    cg = [norms[n + k * T:n + (k + 1) * T] for k in range(len(W))] if cell == "lstm" else None
    return hg, cg, [torch.stack(layer).detach() for layer in hs]


def series_table(path):
    """{(step, name): {column: [values by t]}} of a trace's series rows."""
    frame, _ = load_trace(path)
    out = {}
    for (step, name), g in frame[frame.t.notna()].groupby(["step", "name"], sort=False):
        g = g.sort_values("t")
        out[(int(step), name)] = {c: g[c].to_numpy() for c in g.columns}
    return out


def test_h_grad_norm_by_hand(d):
    torch.manual_seed(2)
    worst = 0.0
    for cell, cls, kw in CELLS:
        for layers in (1, 2):
            for batch_first in (True, False):
                net = SeqNet(cls, kw, layers, batch_first)
                x_bt, y = torch.randn(5, 8, 3), torch.randn(5, 2)
                x = x_bt if batch_first else x_bt.transpose(0, 1)
                hg, cg, hs = hand_norms(net, cell, x_bt, y)
                path = os.path.join(d, f"{cell}{layers}{batch_first}.csv")
                opt = torch.optim.SGD(net.parameters(), lr=0.1)
                with GradTrace(net, path, through_time=True) as tracer:
                    opt.zero_grad()
                    z, hn = net(x)
                    seq_loss(z, hn, y).backward()
                    tracer.step()
                    opt.step()
                table = series_table(path)
                for k in range(layers):
                    s = table[(0, f"rnn.h_l{k}")]
                    assert list(s["t"]) == list(range(1, 9)), s["t"]
                    e = rel_err(s["h_grad_norm"], hg[k])
                    worst = max(worst, e)
                    assert e < 1e-5, (cell, layers, batch_first, k, s["h_grad_norm"], hg[k])
                    if cell == "lstm":
                        e = rel_err(s["c_grad_norm"], cg[k])
                        worst = max(worst, e)
                        assert e < 1e-5, (cell, layers, k, s["c_grad_norm"], cg[k])
                    else:
                        assert np.isnan(s["c_grad_norm"]).all()  # empty: no cell state
                    h = hs[k].numpy()  # (T, B, H)
                    assert rel_err(s["h_mean"], h.mean((1, 2))) < 1e-5
                    assert rel_err(s["h_std"], h.std((1, 2))) < 1e-5
                    sat = (np.abs(h) > math.sqrt(0.95)).mean((1, 2))
                    assert np.allclose(s["h_saturation"], sat, rtol=1e-8, atol=0), (s, sat)
    print(f"  h_grad_norm / c_grad_norm against autograd.grad: worst relative {worst:.2g}")


def test_rows_and_header(d):
    """Header, layer ids above the weight rows, one row per t in each step's block after the
    weight rows, empty regular cells in series rows and empty time cells in weight rows,
    every > 1, the forward restored at close."""
    torch.manual_seed(3)
    net = SeqNet(nn.GRU, {}, 2, True)
    path = os.path.join(d, "gru.csv")
    x, y = torch.randn(4, 6, 3), torch.randn(4, 2)
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    w0 = [getattr(net.rnn, f"weight_hh_l{k}").detach().clone() for k in range(2)]
    with GradTrace(net, path, every=2, through_time=True) as tracer:
        assert "forward" in net.rnn.__dict__
        for _ in range(5):
            opt.zero_grad()
            z, hn = net(x)
            seq_loss(z, hn, y).backward()
            tracer.step()
            opt.step()
        # a forward under no_grad (an evaluation) records nothing and changes nothing
        with torch.no_grad():
            net(x)
        assert tracer.series == [(6, "rnn.h_l0", "state"), (7, "rnn.h_l1", "state")]
    assert "forward" not in net.rnn.__dict__  # the class's forward again
    with open(path) as f:
        lines = [ln for ln in f if not ln.startswith("#")]
    header = lines[0].strip().split(",")
    assert header == list(COLUMNS) + list(TIME_COLUMNS), header
    rows = list(csv.DictReader(lines))
    steps = sorted({int(r["step"]) for r in rows})
    assert steps == [0, 2, 4], steps
    regular = [c for c in COLUMNS if c not in ("step", "layer", "name", "kind")]
    for step in steps:
        block = [r for r in rows if int(r["step"]) == step]
        assert [int(r["layer"]) for r in block[:5]] == [1, 2, 3, 4, 5]
        assert all(r["t"] == "" and all(r[c] == "" for c in TIME_COLUMNS) for r in block[:5])
        ser = block[5:]
        assert [(int(r["layer"]), r["name"], r["kind"], int(r["t"])) for r in ser] == \
            [(6, "rnn.h_l0", "state", t) for t in range(1, 7)] + \
            [(7, "rnn.h_l1", "state", t) for t in range(1, 7)]
        assert all(r[c] == "" for r in ser for c in regular)
        assert all(float(r["h_grad_norm"]) > 0 and r["c_grad_norm"] == "" for r in ser)
    meta = read_meta(path)
    assert meta["through_time"] == 1 and meta["series"] == 2 and meta["layers"] == 5
    # the recurrent weights at construction, for the theory: sigma_max of all of weight_hh,
    # the spectral radius of the GRU's candidate (n) block
    assert meta["cell"] == "gru"
    for k in range(2):
        w = w0[k].double()
        assert rel_err(meta[f"rnn_sigma_max_l{k}"], torch.linalg.svdvals(w)[0]) < 1e-8
        rho = torch.linalg.eigvals(w[12:18]).abs().max()
        assert rel_err(meta[f"rnn_spectral_radius_l{k}"], rho) < 1e-8
    frame, _ = load_trace(path)
    assert len(frame[frame.t.isna()]) == 15 and len(frame[frame.t.notna()]) == 36


def test_untraced_model_unchanged(d):
    """Without through_time: no series, no time columns (the header of every other trace)."""
    net = SeqNet(nn.LSTM, {}, 1, True)
    path = os.path.join(d, "plain.csv")
    with GradTrace(net, path) as tracer:
        z, hn = net(torch.randn(2, 4, 3))
        seq_loss(z, hn, torch.randn(2, 2)).backward()
        tracer.step()
        assert tracer.series == []
    with open(path) as f:
        header = [ln for ln in f if not ln.startswith("#")][0].strip().split(",")
    assert header == list(COLUMNS)
    assert "through_time" not in read_meta(path)


def test_copies_of_a_traced_model(d):
    """copy.deepcopy and torch.save of a model mid-trace: the copy runs its own weights with
    the module's own forward (not the original's, not traced), and the trace goes on."""
    import copy
    import io

    torch.manual_seed(6)
    net = SeqNet(nn.LSTM, {}, 1, True)
    x, y = torch.randn(3, 5, 3), torch.randn(3, 2)
    path = os.path.join(d, "copy.csv")
    with GradTrace(net, path, through_time=True, act_every=1) as tracer:
        for step in range(3):
            z, hn = net(x)
            seq_loss(z, hn, y).backward()
            tracer.step()
            buf = io.BytesIO()
            torch.save(net, buf)
            buf.seek(0)
            for twin in (copy.deepcopy(net), torch.load(buf)):
                with torch.no_grad():
                    assert torch.equal(twin(x)[0], net(x)[0])
                    twin.rnn.weight_hh_l0.mul_(2.0)
                    assert not torch.allclose(twin(x)[0], net(x)[0])  # its own weights
                    want = type(twin.rnn).forward(twin.rnn, x)[0]
                    assert torch.equal(twin.rnn(x)[0], want)
                twin(x)[0].sum().backward()  # a forward with gradients: not recorded
            # nothing of the copies' passes reached the recorder (states, head output gradient)
            assert tracer._rec._tt == {} and tracer._rec._act == {}
    table = series_table(path)
    assert sorted(table) == [(0, "rnn.h_l0"), (1, "rnn.h_l0"), (2, "rnn.h_l0")]


def test_output_mode(d):
    """through_time="output": ||dLoss/d output_t|| from a hook on the output sequence, written
    as out_grad_norm (never h_grad_norm); bidirectional modules are fine here."""
    torch.manual_seed(4)
    for bidir in (False, True):
        rnn = nn.LSTM(3, 5, 2, bidirectional=bidir)  # (T, B, F)
        head = nn.Linear(10 if bidir else 5, 1)
        model = nn.ModuleDict({"rnn": rnn, "head": head})
        x = torch.randn(7, 4, 3)
        path = os.path.join(d, f"out{bidir}.csv")
        with GradTrace(model, path, through_time="output") as tracer:
            seq, _ = rnn(x)
            seq.retain_grad()
            L = head(seq[-2:]).pow(2).mean()
            L.backward()
            tracer.step(L)
        want = seq.grad.norm(dim=(1, 2)).numpy()
        s = series_table(path)[(0, "rnn.output")]
        assert list(s["t"]) == list(range(1, 8))
        assert rel_err(s["out_grad_norm"], want) < 1e-6, (s["out_grad_norm"], want)
        assert (s["out_grad_norm"][:5] == 0).all()  # the loss reads only t = 6, 7 directly
        assert np.isnan(s["h_grad_norm"]).all() and (s["kind"] == "rnn_output").all()
        with open(path) as f:
            header = [ln for ln in f if not ln.startswith("#")][0].strip().split(",")
        assert header == list(COLUMNS) + ["out_grad_norm"] + list(TIME_COLUMNS), header
        assert read_meta(path)["through_time"] == "output"
        if os.path.exists(GS) and _reader_has_series():
            gradscope_renders(path, d)  # the extra column and the rnn_output series are read


def test_refusals(d):
    path = os.path.join(d, "x.csv")
    cases = [(nn.Sequential(nn.LSTM(3, 4, bidirectional=True)), True, "0: bidirectional"),
             (nn.Sequential(nn.LSTM(3, 4, proj_size=2)), True, "0: proj_size = 2"),
             (nn.GRU(3, 4), "exact", "through_time = 'exact'"),
             (nn.GRU(3, 4), 1, "through_time = 1")]
    for model, tt, text in cases:
        try:
            GradTrace(model, path, through_time=tt)
        except ValueError as e:
            assert text in str(e), (text, str(e))
        else:
            raise AssertionError(f"accepted {text}")
        assert all(not m._forward_hooks and not m._forward_pre_hooks and
                   "forward" not in m.__dict__ for m in model.modules())  # left untouched
    twice = nn.Sequential(nn.GRU(3, 4))
    with GradTrace(twice, path, through_time=True):
        try:
            GradTrace(twice, path + "2", through_time=True)
        except ValueError as e:
            assert "0: its forward is already replaced" in str(e), str(e)
        else:
            raise AssertionError("two tracers through time on one module")
    rnn = nn.GRU(3, 4)
    packed = nn.utils.rnn.pack_padded_sequence(torch.randn(5, 2, 3), [5, 3])
    with GradTrace(rnn, path, through_time=True):
        try:
            rnn(packed)
        except RuntimeError as e:
            assert "PackedSequence" in str(e)
        else:
            raise AssertionError("a PackedSequence was unrolled")
    assert not os.path.exists(path)  # no step recorded: no file


def test_engine_trace_agrees(d):
    """gradscope's own recurrent run and this tracer on the same initial weights and step-0
    batch (`gradscope run --arch ... --export-weights`): the step-0 rows of the two traces —
    loss, per-tensor gradient norms, and every through-time column per (layer, t) — agree."""
    if not (os.path.exists(GS) and _reader_has_series()):
        print("  (gradscope binary without recurrent runs: skipped)")
        return
    worst = 0.0
    for arch, act in (("rnn", "tanh"), ("rnn", "relu"), ("lstm", None), ("gru", None)):
        for depth in (1, 2):
            tag = f"{arch}{act or ''}{depth}"
            exp, path = os.path.join(d, tag), os.path.join(d, tag + ".c.csv")
            args = [GS, "run", "--arch", arch, "--depth", str(depth), "--width", "12",
                    "--seq-len", "15", "--steps", "1", "--seed", str(depth), "--trace", path,
                    "--export-weights", exp, "--no-report", "-q"]
            r = subprocess.run(args + (["--act", act] if act else []), capture_output=True,
                               text=True)
            assert r.returncode == 0, (args, r.stderr)
            ld = lambda n: torch.from_numpy(np.load(os.path.join(exp, n + ".npy")))  # noqa
            x, y = ld("data.x"), ld("data.y")
            cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[arch]
            kw = {"nonlinearity": act} if act else {}
            model = nn.ModuleDict({"rnn": cls(x.shape[2], 12, depth, batch_first=True, **kw),
                                   "out": nn.Linear(12, y.shape[1])})
            with torch.no_grad():
                for name, p in model.named_parameters():
                    p.copy_(ld(name))
            mine = os.path.join(d, tag + ".torch.csv")
            with GradTrace(model, mine, through_time=True) as tracer:
                seq, _ = model["rnn"](x)
                loss = F.mse_loss(model["out"](seq[:, -1]), y)
                loss.backward()
                tracer.step(loss)
            c, _ = load_trace(path)
            t, _ = load_trace(mine)
            c, t = c[c.step == 0], t[t.step == 0]
            assert list(c.name) == list(t.name) and list(c.kind) == list(t.kind), tag
            assert list(c.layer) == list(t.layer) and c.t.equals(t.t), tag
            cols = ["loss", "grad_norm", "bias_grad_norm", "h_grad_norm", "c_grad_norm",
                    "h_mean", "h_std", "h_saturation"]
            for col in cols:
                # (the engine writes only the time columns it stores: no c_grad_norm without
                # an LSTM; this tracer writes them all)
                a = c[col].to_numpy() if col in c else np.full(len(c), np.nan)
                b = t[col].to_numpy()
                assert np.array_equal(np.isnan(a), np.isnan(b)), (tag, col)
                keep = ~np.isnan(a)
                if col == "h_mean":  # near 0: relative to the state's spread
                    e = np.max(np.abs(a[keep] - b[keep]) / c.h_std.to_numpy()[keep])
                else:
                    e = rel_err(a[keep], b[keep]) if keep.any() else 0.0
                worst = max(worst, e)
                assert e < 1e-4, (tag, col, a, b)
    print(f"  gradscope run's step-0 trace against GradTrace's: worst relative {worst:.2g}")


def gradscope_renders(path, d):
    """`gradscope plot` renders the trace (the C reader of through-time series)."""
    png = os.path.join(d, "report.png")
    r = subprocess.run([GS, "plot", path, "-o", png, "-q"], capture_output=True, text=True)
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert os.path.getsize(png) > 1000
    return png


def test_digits_lstm(d):
    """A real model on real data: an LSTM reads each 8x8 digit image row by row (8 steps of
    8 pixels) and classifies it from its last hidden state."""
    data = sklearn.datasets.load_digits()  # bundled with sklearn: no download
    x_all = torch.tensor(data.data, dtype=torch.float32).reshape(-1, 8, 8) / 16.0
    y_all = torch.tensor(data.target, dtype=torch.long)
    torch.manual_seed(5)

    class Reader(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(8, 32, 2, batch_first=True)
            self.out = nn.Linear(32, 10)

        def forward(self, x):
            return self.out(self.rnn(x)[0][:, -1])

    net = Reader()
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    path = os.path.join(d, "digits_lstm.csv")
    steps, B = 300, 64
    with GradTrace(net, path, every=10, update_every=3, through_time=True, classes=10,
                   loss="xent") as tracer:
        for s in range(steps):
            idx = torch.randint(0, 1500, (B,))
            opt.zero_grad()
            loss = F.cross_entropy(net(x_all[idx]), y_all[idx])
            loss.backward()
            tracer.step(loss, lr=0.01)
            opt.step()
    with torch.no_grad():
        acc = (net(x_all[1500:]).argmax(1) == y_all[1500:]).float().mean().item()
    assert acc > 0.8, acc  # learned: held-out images (10 classes, chance 0.1)
    frame, meta = load_trace(path)
    assert meta["complete"] == 1 and meta["steps"] == steps
    ser = frame[frame.t.notna()]
    recorded = sorted(ser.step.unique())
    assert recorded == list(range(0, steps, 10))
    for (step, name), g in ser.groupby(["step", "name"]):
        assert list(g.t) == list(range(1, 9))
        assert np.isfinite(g[["h_grad_norm", "c_grad_norm", "h_mean", "h_std"]].to_numpy()).all()
        assert (g.h_grad_norm > 0).all() and (g.c_grad_norm > 0).all()
    # many-to-one: the gradient is largest at the read-out step, t = T, of the top layer
    top0 = ser[(ser.step == 0) & (ser.name == "rnn.h_l1")]
    assert top0.h_grad_norm.idxmax() == top0.index[-1]
    loss = frame[frame.t.isna()].groupby("step").loss.first()
    assert loss.iloc[-3:].mean() < 0.5 * loss.iloc[0], loss
    last = ser[ser.step == recorded[-1]]
    print(f"  digits LSTM: held-out accuracy {acc:.3f}; ||dL/dh_1|| / ||dL/dh_8|| of layer 0 "
          f"at step 0 {decay(ser, 0):.3g}, at step {recorded[-1]} {decay(last, recorded[-1]):.3g}")
    if os.path.exists(GS) and _reader_has_series():
        png = gradscope_renders(path, d)
        keep = os.environ.get("GS_KEEP_PNG")
        if keep:
            os.replace(png, keep)
    else:
        print("  (gradscope binary without the through-time reader: checked with pandas only)")


def decay(ser, step):
    g = ser[(ser.step == step) & (ser.name == "rnn.h_l0")].sort_values("t").h_grad_norm
    return g.iloc[0] / g.iloc[-1]


def _reader_has_series():
    """Whether the C library declares the through-time series API (include/gradscope/trace.h
    of this source tree), i.e. `gradscope plot` is expected to read series rows."""
    header = os.path.join(HERE, "..", "..", "include", "gradscope", "trace.h")
    with open(header) as f:
        return "gs_trace_add_series" in f.read()


def main():
    tests = [v for k, v in globals().items() if k.startswith("test_")]
    t0 = time.monotonic()
    for t in tests:
        with tempfile.TemporaryDirectory() as d:
            t1 = time.monotonic()
            t(d)
            print(f"ok {t.__name__} ({time.monotonic() - t1:.1f} s)")
    print(f"{len(tests)} tests in {time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
