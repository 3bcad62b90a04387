"""Cross-checks a gradscope trace against an independent NumPy (float64) implementation of
the same network, run on the weights gradscope exports: step-0 statistics of every layer for
plain, batch-norm and residual setups. Exit 77 (skip) without NumPy."""
import csv
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("numpy is not installed: skipping")
    sys.exit(77)

GS = os.environ.get("GS_BIN", "gradscope")


def act(name, z):
    if name == "tanh":
        return np.tanh(z), 1 - np.tanh(z) ** 2, 1.0, True
    if name == "relu":
        return np.maximum(z, 0), (z > 0).astype(float), 1.0, False
    if name == "sigmoid":
        s = 1 / (1 + np.exp(-z))
        return s, s * (1 - s), 0.25, True
    raise ValueError(name)


def reference(wdir, x, y, depth, a, norm, K, alpha, lr):
    """Forward/backward in float64; returns per-layer rows like the trace's."""
    L = depth + 1
    # the hidden layers are dense1..dense{depth}, the linear head is out (as the trace names it)
    names = [f"dense{l}" for l in range(1, L)] + ["out"]
    W = [np.load(f"{wdir}/{n}.weight.npy").astype(np.float64) for n in names]
    b = [np.load(f"{wdir}/{n}.bias.npy").astype(np.float64) for n in names]
    g = [np.load(f"{wdir}/norm{l}.weight.npy").astype(np.float64) if norm else None
         for l in range(1, L)]
    be = [np.load(f"{wdir}/norm{l}.bias.npy").astype(np.float64) if norm else None
          for l in range(1, L)]
    nblocks = (depth - 1) // K if K else 0

    def role(l):
        if not K or l < 2 or (l - 2) // K >= nblocks:
            return False, False
        return (l - 2) % K == 0, (l - 2) % K == K - 1

    B = x.shape[0]
    h_in, cache, block_in = x, [], None
    for l in range(1, L + 1):
        z = h_in @ W[l - 1].T + b[l - 1]
        if l == L:
            cache.append((h_in, z, None, None, None))
            break
        start, end = role(l)
        if start:
            block_in = h_in
        if norm:
            mu, var = z.mean(0), z.var(0)
            xh = (z - mu) / np.sqrt(var + 1e-5)
            yv = g[l - 1] * xh + be[l - 1]
        else:
            xh, var, yv = None, None, z
        h, d, dmax, can_sat = act(a, yv)
        out = block_in + alpha * h if end else h
        cache.append((h_in, z, (xh, var), yv, (h, d, dmax, can_sat, start, end, block_in)))
        h_in = out
    logits = cache[-1][1]
    diff = logits - y
    loss = (diff ** 2).mean()
    dz = 2 * diff / diff.size
    rows = [None] * L
    gstream, gskip = None, None
    for l in range(L, 0, -1):
        h_prev, z, nc, yv, ac = cache[l - 1]
        if l < L:
            h, d, dmax, can_sat, start, end, _ = ac
            gh = gstream
            if end:
                gskip = gstream.copy()
                gh = alpha * gstream
            dy = gh * d
            if norm:
                xh, var = nc
                dxh = dy * g[l - 1]
                dz = (dxh - dxh.mean(0) - xh * (dxh * xh).mean(0)) / np.sqrt(var + 1e-5)
            else:
                dz = dy
        dW, db = dz.T @ h_prev, dz.sum(0)
        gstream = dz @ W[l - 1]
        if l < L and ac[4]:
            gstream = gstream + gskip
        hout = ac[0] if l < L else z
        r = {"grad_norm": np.linalg.norm(dW), "bias_grad_norm": np.linalg.norm(db),
             "act_grad_norm": np.linalg.norm(dz), "grad_max_abs": np.abs(dW).max(),
             "weight_norm": np.linalg.norm(W[l - 1]),
             "update_ratio": lr * np.linalg.norm(dW) / np.linalg.norm(W[l - 1]),
             "act_mean": hout.mean(), "act_std": hout.std(), "loss": loss}
        if l < L:
            d, dmax, can_sat = ac[1], ac[2], ac[3]
            r["saturation"] = float((d < 0.05 * dmax).mean()) if can_sat else 0.0
            r["dead_frac"] = float((d == 0).all(0).mean())
        rows[l - 1] = r
    return rows


def check(setup, tol=2e-4):
    rng = np.random.default_rng(7)
    n, d_in = 48, 5
    x = rng.normal(size=(n, d_in))
    y = np.sin(x.sum(1, keepdims=True))
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data.csv")
        with open(data, "w") as f:
            f.write(",".join([f"x{i}" for i in range(d_in)] + ["y"]) + "\n")
            for i in range(n):
                f.write(",".join(repr(float(v)) for v in list(x[i]) + [y[i, 0]]) + "\n")
        trace, wdir = os.path.join(tmp, "t.csv"), os.path.join(tmp, "w")
        args = [GS, "run", "--data", data, "--loss", "mse", "--batch", "0", "--steps", "1",
                "--no-report", "-q", "--trace", trace, "--export-weights", wdir,
                "--opt", "sgd", "--lr", "0.1"] + setup.split()
        subprocess.run(args, check=True)
        with open(trace) as f:
            rows = list(csv.DictReader(l for l in f if not l.startswith("#")))
        # The CSV's values are float32-rounded on reading into the engine: use the same.
        x32 = x.astype(np.float32).astype(np.float64)
        y32 = y.astype(np.float32).astype(np.float64)
        opts = dict(zip(setup.split()[::2], setup.split()[1::2]))
        ref = reference(wdir, x32, y32, int(opts["--depth"]), opts.get("--act", "tanh"),
                        opts.get("--norm", "none") == "batch", int(opts.get("--residual", 0)),
                        float(opts.get("--res-scale", 1)), 0.1)
        worst = 0.0
        for row, r in zip(rows, ref):
            for key, want in r.items():
                got = float(row[key])
                # A true zero (the bias gradient before batch norm) shows up as float32
                # rounding of the other terms: it must stay tiny against the layer's scale.
                if "grad" in key and abs(want) < 1e-9 * r["act_grad_norm"]:
                    if abs(got) > 1e-3 * r["act_grad_norm"]:
                        sys.exit(f"{setup}: layer {row['layer']} {key}: {got!r}, expected 0")
                    continue
                scale = max(abs(want), 1e-30)
                err = abs(got - want) / scale if key not in ("saturation", "dead_frac") \
                    else abs(got - want)
                if key == "act_mean":
                    err = abs(got - want) / max(abs(want), float(row["act_std"]))
                worst = max(worst, err)
                # A float32 forward pass resolves an almost constant output (deep sigmoid
                # nets: h ~ 0.5 +- 1e-3) to ~1e-7 of its mean, so its std only to ~1e-4.
                if err > (2e-3 if key == "act_std" else tol):
                    sys.exit(f"{setup}: layer {row['layer']} {key}: gradscope {got!r}, "
                             f"numpy {want!r} (rel err {err:.2e})")
        print(f"ok  {setup}: {len(rows)} layers, worst relative difference {worst:.1e}")


check("--depth 4 --width 16 --act tanh --init xavier_normal")
check("--depth 5 --width 12 --act relu --init he_normal --bias-init normal:0.1")
check("--depth 3 --width 10 --act sigmoid --init standard")
check("--depth 4 --width 16 --act tanh --init xavier_normal --norm batch")
check("--depth 6 --width 8 --act relu --init he_normal --residual 2 --res-scale 0.5")
print("crosscheck ok")
