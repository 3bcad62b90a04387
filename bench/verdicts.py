#!/usr/bin/env python3
"""The verdict benchmark: a labelled corpus of setups, each run over several seeds, and a
confusion table of the expected primary finding against the one gradscope names.

  bench/verdicts.py ./build/gradscope [--quick] [--seeds 1,2,3] [--cores Haswell,SkylakeX]

Prints one line per case and seed, per-kind precision and recall of the primary cause,
primary-cause accuracy, and false alarms (any warning or error) on the healthy setups.
Foreign cases (PyTorch models through python/gradscope, hand-written CSVs) are diagnosed
with `gradscope diagnose`; the PyTorch ones need torch and sklearn. Exits 1 when a primary
cause is wrong or a healthy setup raises a warning (--quick is the
test suite's version: fewer steps)."""
import json, os, subprocess, sys, tempfile
from collections import Counter, defaultdict

# (name, options, expected primary kind or None = healthy); options "torch:CASE" and
# "csv:KIND" are foreign traces, diagnosed rather than run. Every pathology of the gallery
# from each of its causes, and healthy setups across activations, norms and residual nets.
CORPUS = [
    # vanishing: activation, init scale, depth
    ("sigmoid standard d20", "--depth 20 --act sigmoid --init standard", "vanishing"),
    ("sigmoid xavier d20", "--depth 20 --act sigmoid --init xavier_normal", "vanishing"),
    ("tanh standard d20", "--depth 20 --act tanh --init standard", "vanishing"),
    ("tanh normal:0.02 d12", "--depth 12 --act tanh --init normal:0.02", "vanishing"),
    ("relu xavier d30", "--depth 30 --act relu --init xavier_normal", "vanishing"),
    ("linear lecun*0.5 d20", "--depth 20 --act linear --init lecun_normal*0.5", "vanishing"),
    ("residual scale 0", "--depth 10 --act tanh --residual 1 --res-scale 0", "vanishing"),
    # exploding: init scale, activation
    ("relu normal:1 d10", "--depth 10 --act relu --init normal:1", "exploding"),
    ("selu he d20", "--depth 20 --act selu --init he_normal", "exploding"),
    ("relu he*2 d20", "--depth 20 --act relu --init he_normal*2", "exploding"),
    ("linear he d20", "--depth 20 --act linear --init he_normal", "exploding"),
    ("leaky he*1.8 d16", "--depth 16 --act leaky_relu --init he_normal*1.8", "exploding"),
    # input scale
    ("inputs x1000 relu", "--depth 10 --act relu --init he_normal --input-scale 1000", "inputs_unscaled"),
    ("inputs x1000 tanh", "--depth 10 --act tanh --input-scale 1000", "inputs_unscaled"),
    ("inputs x300 gelu", "--depth 8 --act gelu --init he_normal --input-scale 300", "inputs_unscaled"),
    # bias: dead units
    ("relu bias -1", "--depth 10 --act relu --init he_normal --bias-init const:-1", "dead_units"),
    ("relu bias -2 d6", "--depth 6 --act relu --init he_normal --bias-init const:-2", "dead_units"),
    # learning rate / optimizer
    ("relu lr 4", "--depth 6 --act relu --init he_normal --lr 4", "*lr"),
    ("tanh lr 20", "--depth 8 --act tanh --lr 20", "*lr"),
    ("adam lr 1", "--depth 6 --act relu --init he_normal --opt adam --lr 1", "*lr"),
    ("momentum lr 2", "--depth 6 --act tanh --opt momentum --lr 2", "*lr"),
    # not learning, with no gradient pathology
    ("sigmoid residual d20", "--depth 20 --act sigmoid --residual 2", "not_learning"),
    # healthy
    ("relu he d10", "--depth 10 --act relu --init he_normal", None),
    ("relu he d4", "--depth 4 --act relu --init he_normal", None),
    ("tanh xavier d6", "--depth 6 --act tanh --init xavier_normal", None),
    ("tanh xavier d8 lr0.1", "--depth 8 --act tanh --init xavier_normal --lr 0.1", None),
    ("leaky he d8", "--depth 8 --act leaky_relu --init he_normal", None),
    ("elu he d8", "--depth 8 --act elu --init he_normal", None),
    ("gelu he d8", "--depth 8 --act gelu --init he_normal", None),
    ("selu lecun d10", "--depth 10 --act selu --init lecun_normal", None),
    ("relu bn d10", "--depth 10 --act relu --init he_normal --norm batch", None),
    ("tanh ln d10", "--depth 10 --act tanh --norm layer", None),
    ("relu residual d10", "--depth 10 --act relu --init he_normal --residual 2 --res-scale 0.5", None),
    ("tanh residual d10", "--depth 10 --act tanh --residual 2 --res-scale 0.5", None),
    ("relu adam d8", "--depth 8 --act relu --init he_normal --opt adam --lr 0.001", None),
    ("tanh moons d4", "--depth 4 --act tanh --data moons", None),
    ("tanh sine d4", "--depth 4 --act tanh --data sine --lr 0.01", None),
    ("tanh teacher d6", "--depth 6 --act tanh --data teacher", None),
    ("relu clip d8", "--depth 8 --act relu --init he_normal --clip-norm 1", None),
    # recurrent nets on the adding problem (issue 11): through time at T 60, cured or short
    ("rnn tanh adding T60", "--arch rnn --seq-len 60", "vanishing_time"),
    ("lstm default T60", "--arch lstm --seq-len 60", "vanishing_time"),
    ("gru default T60", "--arch gru --seq-len 60", "vanishing_time"),
    ("rnn relu orth:2 T60", "--arch rnn --act relu --init-hh orthogonal:2 --seq-len 60",
     "exploding_time"),
    ("rnn tanh T5", "--arch rnn --seq-len 5", None),
    ("gru T10", "--arch gru --seq-len 10", None),
    ("lstm forget bias 1 T10", "--arch lstm --forget-bias 1 --seq-len 10", None),
    # foreign traces: real PyTorch models on sklearn's digits (bench/verdict_torch.py), and
    # hand-written CSVs of another tool
    ("torch sigmoid d10", "torch:sigmoid_deep", "vanishing"),
    ("torch tanh d16", "torch:tanh_deep", "vanishing"),
    ("torch relu he", "torch:relu_he", None),
    ("torch frozen layer", "torch:frozen", None),
    ("torch crash mid-run", "torch:crash", None),
    ("torch classifier first", "torch:classifier_first", None),
    ("torch inputs x1000", "torch:inputs_x1000", "inputs_unscaled"),
    ("torch lr 5", "torch:lr_high", "*lr"),
    ("csv frozen layer", "csv:frozen", None),
    ("csv cut off", "csv:cut", None),
]

# The fix a case's primary finding must offer (a substring of its options), where the fix
# is part of the verdict: a default LSTM needs its forget gate opened, not "use an LSTM".
FIX = {
    "rnn tanh adding T60": "--init-hh orthogonal",
    "lstm default T60": "--forget-bias",
    "gru default T60": "--forget-bias",
    "rnn relu orth:2 T60": "--clip-norm 1",
}

HERE = os.path.dirname(os.path.abspath(__file__))


def torch_ok():
    try:
        import torch  # noqa: F401
        import sklearn  # noqa: F401
        return True
    except ImportError:
        return False


def write_csv(kind, seed, steps, path):
    """Another tool's trace: no setup, plain columns; a frozen layer has empty gradient cells;
    a cut-off one ends mid-row (training crashed while writing)."""
    import math
    import random
    rnd = random.Random(seed)
    lines = ["step,layer,loss,grad_norm,weight_norm"]
    for s in range(steps):
        loss = 2.3 * math.exp(-s / (steps / 4.0)) + 0.05 * rnd.random()
        for layer in range(1, 6):
            g = "" if kind == "frozen" and layer == 1 else f"{0.3 * (1 + 0.1 * rnd.random()):.5g}"
            lines.append(f"{s},{layer},{loss:.5g},{g},{2.0 + 0.01 * s / steps:.5g}")
    text = "\n".join(lines) + "\n"
    if kind == "cut":
        text = text[: len(text) - 9]  # the last row loses its end and its newline
    with open(path, "w") as f:
        f.write(text)


def run(gs, opts, seed, steps, env, tmp):
    out = os.path.join(tmp, "f.json")
    if opts.startswith("torch:") or opts.startswith("csv:"):
        trace = os.path.join(tmp, "t.csv")
        kind = opts.split(":", 1)[1]
        if opts.startswith("torch:"):
            g = subprocess.run([sys.executable, os.path.join(HERE, "verdict_torch.py"), kind,
                                str(seed), str(steps), trace], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if g.returncode != 0:
                return "ERROR(" + g.stderr.strip()[-80:] + ")", [], ""
        else:
            write_csv(kind, seed, steps, trace)
        cmd = [gs, "diagnose", trace, "--json", out]
    else:
        cmd = [gs, "run", *opts.split(), "--seed", str(seed), "--steps", str(steps),
               "--no-report", "--json", out]
    r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode not in (0, 1):
        return "ERROR(" + r.stderr.strip()[:80] + ")", [], ""
    with open(out) as f:
        d = json.load(f)
    fs = d["findings"]
    prim = [x for x in fs if x.get("primary")]
    warn = [x["kind"] for x in fs if x["severity"] in ("warning", "error")]
    if not prim:
        return None, warn, ""
    # a primary that blames the step size in words and fix counts as the lr
    if "--lr" in prim[0]["options"] and "learning rate" in prim[0]["message"]:
        return "lr:" + prim[0]["kind"], warn, prim[0]["options"]
    return prim[0]["kind"], warn, prim[0]["options"]


LR_KINDS = {"update_too_large", "loss_diverging", "nonfinite"}


def matches(expected, got):
    if expected == "*lr":  # the step size: named as large updates, divergence or overflow
        return got in LR_KINDS or (got or "").startswith("lr:")
    return got == expected


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    gs = args[0]
    quick = "--quick" in args
    seeds = [1, 2, 3]
    cores = [None]
    for i, a in enumerate(args):
        if a == "--seeds":
            seeds = [int(s) for s in args[i + 1].split(",")]
        if a == "--cores":
            cores = args[i + 1].split(",")
    steps = 150 if quick else 400
    bad = 0
    tp, fp, fn = Counter(), Counter(), Counter()
    n = correct = healthy_runs = alarms = 0
    have_torch = torch_ok()
    if not have_torch:
        print("torch or sklearn not importable: the PyTorch cases are left out")
    with tempfile.TemporaryDirectory() as tmp:
        for core in cores:
            env = dict(os.environ)
            if core:
                env["OPENBLAS_CORETYPE"] = core
            for name, opts, exp in CORPUS:
                if opts.startswith("torch:") and not have_torch:
                    continue
                for seed in seeds:
                    got, warn, fix = run(gs, opts, seed, steps, env, tmp)
                    n += 1
                    if exp is None:
                        healthy_runs += 1
                        ok = not warn
                        alarms += 0 if ok else 1
                    else:
                        ok = matches(exp, got) and FIX.get(name, "") in fix
                    correct += ok
                    key = "lr (step size)" if exp == "*lr" else (exp or "healthy")
                    gkey = "lr (step size)" if exp == "*lr" and ok else (got or "healthy")
                    if ok:
                        tp[key] += 1
                    else:
                        fn[key] += 1
                        fp[gkey] += 1
                        bad += 1
                    print(f"{'ok  ' if ok else 'MISS'} {core or 'default':11s} seed {seed} "
                          f"{name:24s} expected {key:16s} primary {got or 'none':16s}"
                          + ("" if ok or exp else f" warnings: {','.join(warn)}")
                          + (f" fix: {fix}" if not ok and name in FIX else ""))
    print()
    print(f"{'kind':18s} {'precision':>9s} {'recall':>7s}")
    for k in sorted(set(tp) | set(fn) | set(fp)):
        p = tp[k] / (tp[k] + fp[k]) if tp[k] + fp[k] else float("nan")
        r = tp[k] / (tp[k] + fn[k]) if tp[k] + fn[k] else float("nan")
        print(f"{k:18s} {p:9.2f} {r:7.2f}")
    print(f"\nprimary-cause accuracy: {correct}/{n} = {100.0 * correct / n:.1f}%")
    print(f"false alarms on healthy setups: {alarms}/{healthy_runs}")
    print(f"{correct} passed, {n - correct} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
