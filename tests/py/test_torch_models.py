"""python/gradscope's GradTrace on real small PyTorch models: names, kinds, execution order,
frozen / tied / reused / unused parameters, values against torch's own, the live file, a crash
mid-training, and `gradscope plot` / `gradscope diagnose` accepting every trace.
Exit 77 (skipped) when torch, pandas or sklearn is missing."""
import copy
import csv
import math
import os
import subprocess
import sys
import tempfile
import textwrap
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
PYDIR = os.path.join(HERE, "..", "..", "python")
sys.path.insert(0, PYDIR)
from gradscope import GradTrace, load_trace, read_meta  # noqa: E402

GS = os.environ.get("GS_BIN", os.path.join(HERE, "..", "..", "build", "gradscope"))
nn = torch.nn
F = torch.nn.functional
torch.set_num_threads(1)
DIGITS = sklearn.datasets.load_digits()  # bundled with sklearn: no download


def digits(n=256):
    x = torch.tensor(DIGITS.data[:n], dtype=torch.float32) / 16.0
    y = torch.tensor(DIGITS.target[:n], dtype=torch.long)
    return x, y


def train(model, path, batches, loss_fn, steps=12, lr=0.05, opt=None, **kw):
    """Trains with SGD (or opt), tracing every step; returns the trace's rows and metadata."""
    opt = opt or torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr)
    with GradTrace(model, path, **kw) as tracer:
        for s in range(steps):
            x, y = batches(s)
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            tracer.step(loss, lr=lr)
            opt.step()
    return read_rows(path), read_meta(path)


def read_rows(path):
    with open(path) as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def layers(rows):
    """[(layer, name, kind)] of the first recorded step."""
    first = rows[0]["step"]
    return [(int(r["layer"]), r["name"], r["kind"]) for r in rows if r["step"] == first]


def gradscope_accepts(path, d):
    """`gradscope plot` and `gradscope diagnose` both exit 0 on the trace."""
    png = os.path.join(d, os.path.basename(path) + ".png")
    for args in (["plot", path, "-o", png, "-q", "--size", "800x500"],
                 ["diagnose", path, "--json", os.path.join(d, "f.json")]):
        r = subprocess.run([GS, *args], capture_output=True, text=True)
        assert r.returncode == 0, (args, r.returncode, r.stderr)
    assert os.path.getsize(png) > 1000


def rel_close(a, b, tol=1e-5):
    return abs(a - b) <= tol * max(abs(a), abs(b), 1e-30)


# ---- models ---------------------------------------------------------------------------------
def test_mlp_digits(d):
    torch.manual_seed(0)
    x, y = digits()
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                          nn.Linear(32, 10))
    ref = copy.deepcopy(model)
    path = os.path.join(d, "mlp.csv")
    rows, meta = train(model, path, lambda s: (x[64 * (s % 4):64 * (s % 4 + 1)],
                                               y[64 * (s % 4):64 * (s % 4 + 1)]),
                       F.cross_entropy, steps=20, lr=0.1, classes=10, loss="xent",
                       update_every=4, act_every=5)
    assert layers(rows) == [(1, "0", "linear"), (2, "2", "linear"), (3, "4", "linear")]
    assert len(rows) == 20 * 3
    assert meta["writer"] == "gradscope.torch" and meta["torch_version"] == torch.__version__
    assert meta["classes"] == 10 and meta["loss"] == "xent" and meta["update_every"] == 4
    assert meta["complete"] == 1 and meta["end"] == "close" and meta["steps"] == 20
    assert meta["frozen"] == "" and meta["tied"] == "" and meta["unused"] == ""
    # the first batch's input statistics, against numpy (digits has all-zero pixel columns)
    xb = x[:64].numpy().astype(np.float64)
    std, mean = xb.std(0), xb.mean(0)
    assert meta["input_feature_std_min"] == 0.0
    assert rel_close(meta["input_feature_std_max"], std.max(), 1e-7)
    assert rel_close(meta["input_max_abs"], np.abs(xb).max(), 1e-7)
    assert rel_close(meta["input_mean_abs_max"], np.abs(mean).max(), 1e-7)
    assert len(meta["input_std"].split(",")) == 64
    # step 0 against torch's own gradients of the same initial model
    F.cross_entropy(ref(x[:64]), y[:64]).backward()
    g_all = torch.cat([p.grad.reshape(-1) for p in ref.parameters()])
    for r, lin in zip(rows[:3], (ref[0], ref[2], ref[4])):
        assert rel_close(float(r["grad_norm"]), float(lin.weight.grad.double().norm()))
        assert rel_close(float(r["bias_grad_norm"]), float(lin.bias.grad.double().norm()))
        assert rel_close(float(r["grad_max_abs"]), float(lin.weight.grad.abs().max()))
        assert rel_close(float(r["weight_norm"]), float(lin.weight.double().norm()))
        assert rel_close(float(r["global_grad_norm"]), float(g_all.double().norm()))
        assert r["nonfinite"] == "0" and float(r["act_grad_norm"]) > 0
        # plain SGD: ||dW|| / ||W|| = lr ||g|| / ||W||
        expect = 0.1 * float(r["grad_norm"]) / float(r["weight_norm"])
        assert rel_close(float(r["update_ratio"]), expect, 1e-4), (r["update_ratio"], expect)
    # weight norms and update ratios on every 4th recorded step only, activation gradients on
    # every 5th; empty cells elsewhere
    for r in rows:
        measured = int(r["step"]) % 4 == 0
        assert (r["update_ratio"] != "") == measured and (r["weight_norm"] != "") == measured
        assert (r["act_grad_norm"] != "") == (int(r["step"]) % 5 == 0)
    assert meta["act_every"] == 5
    gradscope_accepts(path, d)


def test_cnn_batchnorm(d):
    torch.manual_seed(0)
    x, y = digits(128)
    x = x.reshape(-1, 1, 8, 8)
    model = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                          nn.Conv2d(6, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                          nn.Linear(8 * 6 * 6, 10))
    path = os.path.join(d, "cnn.csv")
    rows, meta = train(model, path, lambda s: (x, y), F.cross_entropy, steps=8)
    assert layers(rows) == [(1, "0", "conv"), (2, "1", "norm"), (3, "3", "conv"),
                            (4, "4", "norm"), (5, "7", "linear")]
    assert all(r["bias_grad_norm"] != "" for r in rows)  # conv bias and the norms' shift
    assert meta["input_shape"] == "128x1x8x8" and meta["input_features"] == 1
    gradscope_accepts(path, d)


class SeqModel(nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.rnn = cell(5, 12, num_layers=2, batch_first=True)
        self.head = nn.Linear(12, 1)

    def forward(self, x):
        out = self.rnn(x)[0]
        return self.head(out[:, -1])


def test_recurrent(d):
    torch.manual_seed(0)
    x, y = torch.randn(16, 7, 5), torch.randn(16, 1)
    for cell in (nn.LSTM, nn.GRU, nn.RNN):
        model = SeqModel(cell)
        path = os.path.join(d, cell.__name__ + ".csv")
        rows, meta = train(model, path, lambda s: (x, y), F.mse_loss, steps=6, loss="mse")
        assert layers(rows) == [
            (1, "rnn.weight_ih_l0", "rnn_ih"), (2, "rnn.weight_hh_l0", "rnn_hh"),
            (3, "rnn.weight_ih_l1", "rnn_ih"), (4, "rnn.weight_hh_l1", "rnn_hh"),
            (5, "head", "linear")], (cell, layers(rows))
        step0 = rows[:5]
        b = model.rnn.bias_hh_l0  # after training: check presence, not value
        assert b is not None and all(r["bias_grad_norm"] != "" for r in step0)
        # one module holds several rows: its output gradient belongs to none of them alone
        assert all(r["act_grad_norm"] == "" for r in step0[:4])
        assert step0[4]["act_grad_norm"] != ""
        assert meta["input_features"] == 5  # (batch, time, features): the last dim
        gradscope_accepts(path, d)


class TinyTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 16)
        layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.head = nn.Linear(16, 20)

    def forward(self, tokens):
        return self.head(self.encoder(self.emb(tokens))).transpose(1, 2)


def test_transformer(d):
    torch.manual_seed(0)
    tokens = torch.randint(0, 20, (8, 6))
    model = TinyTransformer()
    path = os.path.join(d, "transformer.csv")
    rows, meta = train(model, path, lambda s: (tokens, tokens), F.cross_entropy, steps=6)
    L = "encoder.layers.0."
    # execution order: norm1 runs after attention and before the feed-forward linear1
    # (definition order would put linear1, linear2 first)
    assert layers(rows) == [
        (1, "emb", "embedding"), (2, L + "self_attn.in_proj", "attention"),
        (3, L + "self_attn.out_proj", "linear"), (4, L + "norm1", "norm"),
        (5, L + "linear1", "linear"), (6, L + "linear2", "linear"), (7, L + "norm2", "norm"),
        (8, "head", "linear")], layers(rows)
    assert all(r["grad_norm"] not in ("", "nan") for r in rows)
    assert rows[1]["bias_grad_norm"] != ""  # in_proj_bias beside in_proj_weight
    assert meta["input_dtype"] == "int64" and "input_feature_std_min" not in meta
    assert meta["unused"] == ""
    gradscope_accepts(path, d)


def test_frozen(d):
    torch.manual_seed(0)
    x, y = digits(64)
    model = nn.Sequential(nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 10))
    model[0].requires_grad_(False)
    path = os.path.join(d, "frozen.csv")
    rows, meta = train(model, path, lambda s: (x, y), F.cross_entropy, steps=5, update_every=1)
    assert meta["frozen"] == "0", meta["frozen"]
    for r in rows:
        if r["name"] == "0":
            # no gradient: empty cells, never "nan"; the weight itself is still measured
            for col in ("grad_norm", "bias_grad_norm", "act_grad_norm", "grad_max_abs",
                        "update_ratio", "nonfinite"):
                assert r[col] == "", (col, r[col])
            assert float(r["weight_norm"]) > 0
        else:
            assert float(r["grad_norm"]) > 0 and float(r["update_ratio"]) > 0
    with open(path) as f:
        assert "nan" not in f.read().lower()
    gradscope_accepts(path, d)


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 8)
        self.mid = nn.Linear(8, 8)
        self.out = nn.Linear(8, 10, bias=False)
        self.out.weight = self.emb.weight  # one tensor, two modules

    def forward(self, t):
        return self.out(torch.tanh(self.mid(self.emb(t))))


def test_tied(d):
    torch.manual_seed(0)
    t = torch.randint(0, 10, (32,))
    model = Tied()
    path = os.path.join(d, "tied.csv")
    rows, meta = train(model, path, lambda s: (t, t), F.cross_entropy, steps=5)
    assert layers(rows) == [(1, "emb", "embedding"), (2, "mid", "linear")]
    assert meta["tied"] == "emb=out", meta["tied"]
    # the row's gradient is the whole shared tensor's (both uses)
    assert rel_close(float(rows[0]["grad_norm"]) ** 2 + float(rows[1]["grad_norm"]) ** 2
                     + float(rows[1]["bias_grad_norm"]) ** 2,
                     float(rows[0]["global_grad_norm"]) ** 2, 1e-4)
    gradscope_accepts(path, d)


class Reused(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(4, 8)
        self.block = nn.Linear(8, 8)
        self.out = nn.Linear(8, 1)

    def forward(self, x):
        x = self.block(torch.relu(self.inp(x)))
        return self.out(self.block(torch.relu(x)))


def test_reused(d):
    torch.manual_seed(0)
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    model = Reused()
    path = os.path.join(d, "reused.csv")
    rows, meta = train(model, path, lambda s: (x, y), F.mse_loss, steps=5)
    assert layers(rows) == [(1, "inp", "linear"), (2, "block", "linear"), (3, "out", "linear")]
    assert meta["reused"] == "block"
    gradscope_accepts(path, d)


class HeadFirst(nn.Module):
    """The classifier is defined before the body, and one layer is never used."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(16, 3)
        self.spare = nn.Linear(3, 3)
        self.body = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh())

    def forward(self, x):
        return self.head(self.body(x))


def test_head_defined_first(d):
    torch.manual_seed(0)
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    model = HeadFirst()
    path = os.path.join(d, "headfirst.csv")
    rows, meta = train(model, path, lambda s: (x, y), F.cross_entropy, steps=5)
    assert layers(rows) == [(1, "body.0", "linear"), (2, "body.2", "linear"),
                            (3, "head", "linear"), (4, "spare", "linear")], layers(rows)
    assert meta["unused"] == "spare" and meta["frozen"] == "spare"
    assert all(r["grad_norm"] == "" for r in rows if r["name"] == "spare")
    gradscope_accepts(path, d)


def test_nonfinite(d):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    path = os.path.join(d, "nan.csv")
    with GradTrace(model, path) as tracer:
        for s in range(3):
            model.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            if s == 2:
                model[0].weight.grad[0, 0] = math.nan
                model[0].weight.grad[1, 1] = math.inf
            tracer.step(loss)
    rows = read_rows(path)
    bad = [r for r in rows if r["step"] == "2" and r["layer"] == "1"][0]
    assert bad["nonfinite"] == "2" and bad["grad_norm"] == "nan" and bad["grad_max_abs"] == "nan"
    assert bad["lr"] == "" and bad["global_grad_norm"] == "nan"
    gradscope_accepts(path, d)


# ---- the file while training runs, and after a crash -------------------------------------
def test_live_file(d):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    path = os.path.join(d, "live.csv")
    tracer = GradTrace(model, path, flush_every=1, update_every=3)
    seen = []
    for s in range(7):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        tracer.step(loss, lr=0.01)
        opt.step()
        if os.path.exists(path):
            frame, meta = load_trace(path)
            assert meta["complete"] == 0
            seen.append(int(frame["step"].max()))
            r = subprocess.run([GS, "diagnose", path], capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
    # rows of an update step (0, 3, 6) wait for the next call, which measures the update
    assert seen == [1, 2, 2, 4, 5, 5], seen
    tracer.close()
    frame, meta = load_trace(path)
    assert meta["complete"] == 1 and list(frame["step"].unique()) == list(range(7))
    assert sorted(os.listdir(d)) == ["live.csv"], os.listdir(d)


CRASH = textwrap.dedent("""
    import sys, torch
    sys.path.insert(0, sys.argv[2])
    from gradscope import GradTrace
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    tracer = GradTrace(model, sys.argv[1], flush_every=1000, flush_seconds=1000)
    for step in range(100):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        tracer.step(loss, lr=0.05)
        opt.step()
        if step == 6:
            raise RuntimeError("boom at step 6")
""")


def test_crash(d):
    path = os.path.join(d, "crash.csv")
    script = os.path.join(d, "crash.py")
    with open(script, "w") as f:
        f.write(CRASH)
    r = subprocess.run([sys.executable, script, path, PYDIR], capture_output=True, text=True)
    assert r.returncode == 1 and "boom at step 6" in r.stderr, (r.returncode, r.stderr)
    frame, meta = load_trace(path)
    assert list(frame["step"].unique()) == list(range(7)), frame["step"].unique()
    assert meta["complete"] == 1 and meta["end"] == "exception" and meta["steps"] == 7
    # step 0's update was measured (the optimizer stepped before the crash)
    assert frame[frame["step"] == 0]["update_ratio"].notna().all()
    assert sorted(os.listdir(d)) == ["crash.csv", "crash.py"], os.listdir(d)
    gradscope_accepts(path, d)


def test_load_trace_round_trip(d):
    torch.manual_seed(0)
    x, y = digits(64)
    model = nn.Sequential(nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 10))
    model[0].requires_grad_(False)
    path = os.path.join(d, "rt.csv")
    rows, _ = train(model, path, lambda s: (x, y), F.cross_entropy, steps=4, update_every=2,
                    setup={"run": "round trip", "seed": 0, "flag": True, "note": ""})
    frame, meta = load_trace(path)
    assert list(frame.columns) == list(rows[0].keys())
    assert len(frame) == len(rows) == 8
    assert frame["name"].tolist() == [r["name"] for r in rows]  # "0" stays a string
    assert frame["kind"].tolist() == ["linear"] * 8
    assert str(frame["nonfinite"].dtype) == "float64"  # empty cells (frozen) are NaN
    assert frame["grad_norm"].isna().tolist() == [r["grad_norm"] == "" for r in rows]
    for col in ("grad_norm", "loss", "global_grad_norm"):
        for v, r in zip(frame[col], rows):
            assert (math.isnan(v) and r[col] == "") or rel_close(v, float(r[col]), 1e-12)
    assert meta["run"] == "round trip" and meta["seed"] == 0 and meta["flag"] == 1
    assert meta["note"] == "" and isinstance(meta["input_feature_std_max"], float)
    assert meta["complete"] == 1 and isinstance(meta["complete"], int)
    # also a gradscope-written trace
    own = os.path.join(d, "own.csv")
    r = subprocess.run([GS, "run", "--depth", "3", "--width", "8", "--steps", "5", "--no-report",
                        "--trace", own, "-q"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    frame, meta = load_trace(own)
    assert len(frame) == 5 * 4 and meta["depth"] == 3 and meta["act"] == "tanh"


def test_bad_arguments(d):
    model = nn.Linear(2, 2)
    for kw in ({"every": 0}, {"update_every": 1.5}, {"loss": "hinge"}, {"classes": 1},
               {"flush_seconds": 0}):
        try:
            GradTrace(model, os.path.join(d, "x.csv"), **kw)
        except ValueError as e:
            assert list(kw)[0] in str(e), e
        else:
            raise AssertionError(f"accepted {kw}")
    try:
        GradTrace(nn.Sequential(nn.ReLU()), os.path.join(d, "x.csv"))
    except ValueError as e:
        assert "no weight" in str(e)
    else:
        raise AssertionError("accepted a model without weights")
    assert os.listdir(d) == []


def test_every_flush_and_drop(d):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    path = os.path.join(d, "every.csv")
    tracer = GradTrace(model, path, every=3, update_every=1, flush_every=1000,
                       flush_seconds=0.2)

    def one_step():
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        tracer.step(loss)
        opt.step()

    one_step()
    assert not os.path.exists(path)  # step 0's update is not measured yet
    tracer.after_step()  # ... now it is, and the first rows go out with the header
    assert read_rows(path)[0]["update_ratio"] != ""
    for _ in range(6):  # steps 1..6: 3 and 6 recorded
        one_step()
    assert {r["step"] for r in read_rows(path)} == {"0"}  # 3 is buffered (flush_every 1000)
    time.sleep(0.25)
    one_step()  # step 7: not recorded, but measures 6's update and the 0.2 s have passed
    assert [r["step"] for r in read_rows(path)] == ["0", "0", "3", "3", "6", "6"]
    # dropping the tracer without close() finishes the file and removes its hooks
    del tracer
    import gc
    gc.collect()
    meta = read_meta(path)
    assert meta["complete"] == 1 and meta["end"] == "not_closed" and meta["steps"] == 8
    assert meta["every"] == 3
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    gradscope_accepts(path, d)


def test_sparse_embedding(d):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(50, 8, sparse=True), nn.Flatten(), nn.Linear(24, 2))
    t, y = torch.randint(0, 50, (16, 3)), torch.randint(0, 2, (16,))
    ref = copy.deepcopy(model)
    path = os.path.join(d, "sparse.csv")
    rows, meta = train(model, path, lambda s: (t, y), F.cross_entropy, steps=4, update_every=1)
    assert layers(rows) == [(1, "0", "embedding"), (2, "2", "linear")]
    F.cross_entropy(ref(t), y).backward()
    g = ref[0].weight.grad.to_dense()
    assert rel_close(float(rows[0]["grad_norm"]), float(g.double().norm()))
    assert rel_close(float(rows[0]["grad_max_abs"]), float(g.abs().max()))
    assert float(rows[0]["update_ratio"]) > 0
    gradscope_accepts(path, d)


FORK = textwrap.dedent("""
    import os, sys, torch
    sys.path.insert(0, sys.argv[2])
    from gradscope import GradTrace, read_meta
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    tracer = GradTrace(model, sys.argv[1], flush_every=1)
    for step in range(3):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        tracer.step(None)
        opt.step()
    pid = os.fork()
    if pid == 0:
        sys.exit(0)  # a child exiting normally (its exit handlers run) leaves the file alone
    os.waitpid(pid, 0)
    assert read_meta(sys.argv[1])["complete"] == 0
    os.chdir("/")  # the relative path was resolved when the tracer was made
    tracer.close()
    print("parent done")
""")


def test_fork_and_chdir(d):
    with open(os.path.join(d, "fork.py"), "w") as f:
        f.write(FORK)
    r = subprocess.run([sys.executable, "fork.py", "t.csv", PYDIR], capture_output=True,
                       text=True, cwd=d)
    assert r.returncode == 0 and "parent done" in r.stdout, r.stderr
    frame, meta = load_trace(os.path.join(d, "t.csv"))
    assert meta["complete"] == 1 and meta["end"] == "close" and len(frame) == 3 * 2
    assert frame["loss"].isna().all()  # step(None): no loss given
    assert sorted(os.listdir(d)) == ["fork.py", "t.csv"]


LIVE = textwrap.dedent("""
    import sys, time, torch
    sys.path.insert(0, sys.argv[2])
    from gradscope import GradTrace
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    with GradTrace(model, sys.argv[1], flush_seconds=0.3) as tracer:
        for step in range(30):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            tracer.step(loss, lr=0.05)
            opt.step()
            time.sleep(0.05)
""")


def test_follow_a_training_run(d):
    """`gradscope plot --follow` started before the run renders while it trains and stops by
    itself once the tracer closes the trace."""
    path, png = os.path.join(d, "run.csv"), os.path.join(d, "run.png")
    with open(os.path.join(d, "live.py"), "w") as f:
        f.write(LIVE)
    follow = subprocess.Popen([GS, "plot", "--follow", path, "-o", png, "--size", "800x500"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        r = subprocess.run([sys.executable, os.path.join(d, "live.py"), path, PYDIR],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        out, err = follow.communicate(timeout=20)
    finally:
        if follow.poll() is None:
            follow.kill()
    assert follow.returncode == 0, (follow.returncode, err)
    renders = [line for line in out.splitlines() if line.startswith("gradscope plot:")]
    assert len(renders) >= 2, out  # at least one live render and the final one
    assert "30 steps x 2 layers" in renders[-1], renders
    assert os.path.getsize(png) > 1000


def main():
    if not os.path.exists(GS):
        print(f"{GS} not built: skipping")
        return 77
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
