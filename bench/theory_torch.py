#!/usr/bin/env python3
"""The through-time theory against PyTorch: ||dL/dh_1|| / ||dL/dh_T|| at initialization for
nn.RNN / nn.LSTM / nn.GRU (hidden 64, T 60, batch 64, float64) on the adding problem (two
channels, Le et al. 2015), five seeds, beside `gradscope predict` (docs/THEORY.md, "Recurrent
nets through time").

  /usr/bin/python3 bench/theory_torch.py ./build/gradscope [--seeds 5]

For plain RNN cells with i.i.d. weights `predict` uses the spectral radius of the engine's own
weight_hh at seed 1, so its figure is one finite-width draw; the gated cells' prediction does
not depend on the draw."""
import json
import math
import subprocess
import sys

import torch

T, H, B = 60, 64, 64

CASES = [  # name, torch class, nonlinearity, forget bias, orthogonal W_hh, predict options
    ("tanh default", torch.nn.RNN, "tanh", None, False, "--arch rnn"),
    ("tanh orthogonal", torch.nn.RNN, "tanh", None, True, "--arch rnn --init-hh orthogonal"),
    ("relu default", torch.nn.RNN, "relu", None, False, "--arch rnn --act relu"),
    ("lstm default", torch.nn.LSTM, None, None, False, "--arch lstm"),
    ("lstm forget bias 1", torch.nn.LSTM, None, 1.0, False, "--arch lstm --forget-bias 1"),
    ("lstm forget bias 3", torch.nn.LSTM, None, 3.0, False, "--arch lstm --forget-bias 3"),
    ("gru default", torch.nn.GRU, None, None, False, "--arch gru"),
]


def adding(seed):
    """B sequences: values U[0,1) and a marker with one 1 in each half; target their sum."""
    g = torch.Generator().manual_seed(1000 + seed)
    x = torch.zeros(B, T, 2, dtype=torch.float64)
    x[:, :, 0] = torch.rand(B, T, generator=g, dtype=torch.float64)
    for b in range(B):
        i = int(torch.randint(0, T // 2, (1,), generator=g))
        j = int(torch.randint(T // 2, T, (1,), generator=g))
        x[b, i, 1] = x[b, j, 1] = 1.0
    return x, (x[:, :, 0] * x[:, :, 1]).sum(1, keepdim=True)


def measured(cls, nl, fb, orth, seed):
    torch.manual_seed(seed)
    kw = {"nonlinearity": nl} if nl else {}
    rnn = cls(2, H, batch_first=True, **kw).double()
    out = torch.nn.Linear(H, 1).double()
    with torch.no_grad():
        if fb is not None:
            rnn.bias_ih_l0[H:2 * H] = fb
            rnn.bias_hh_l0[H:2 * H] = 0.0
        if orth:
            for g in range(rnn.weight_hh_l0.shape[0] // H):
                torch.nn.init.orthogonal_(rnn.weight_hh_l0[g * H:(g + 1) * H])
    x, y = adding(seed)
    # step by step, so that every h_t is a tensor whose total gradient can be read
    h = torch.zeros(1, B, H, dtype=torch.float64)
    c = torch.zeros_like(h)
    hs = []
    for t in range(T):
        if cls is torch.nn.LSTM:
            _, (h, c) = rnn(x[:, t:t + 1], (h, c))
        else:
            _, h = rnn(x[:, t:t + 1], h)
        h.retain_grad()
        hs.append(h)
    ((out(hs[-1][0]) - y) ** 2).mean().backward()
    return (hs[0].grad.norm() / hs[-1].grad.norm()).item()


def predicted(gs, opts):
    r = subprocess.run([gs, "predict", *opts.split(), "--seq-len", str(T), "--width", str(H),
                        "--json", "-"], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)["ratio_first_last"]


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    gs = sys.argv[1]
    n = int(sys.argv[sys.argv.index("--seeds") + 1]) if "--seeds" in sys.argv else 5
    torch.set_num_threads(1)
    print(f"{'setup':20s} {'predicted':>10s} {'PyTorch geo-mean':>17s}  seeds 1..{n}")
    for name, cls, nl, fb, orth, opts in CASES:
        rs = [measured(cls, nl, fb, orth, s) for s in range(1, n + 1)]
        gm = math.exp(sum(math.log(r) for r in rs) / len(rs))
        print(f"{name:20s} {predicted(gs, opts):10.2e} {gm:17.2e}  "
              + " ".join(f"{r:.2e}" for r in rs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
