"""What GradTrace costs a PyTorch training step: the same model trained with and without the
tracer in interleaved steps of one run (1 CPU thread), on an MLP, a small CNN and an LSTM
(the LSTM also with through_time=True and through_time="output"); with --hist also with the
histograms of grad, act and update (GradTrace(hist=...)): every recorded step, every 16th
(hist_every=16), and with update_every=1 (update histograms on every step too).

usage: /usr/bin/python3 bench/bench_torch_overhead.py [--cycles N] [--models mlp,...] [--hist]
Prints, per model, the median CPU time per step without and with the tracer and the overhead
(from pairs of steps run back to back, see bench())."""

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from gradscope import GradTrace  # noqa: E402


def mlp():
    # 8 hidden layers of 512 ReLU units on 512 inputs: 2.1M parameters
    layers, width = [], 512
    for _ in range(8):
        layers += [torch.nn.Linear(width, width), torch.nn.ReLU()]
    layers.append(torch.nn.Linear(width, 10))
    return torch.nn.Sequential(*layers), torch.randn(64, width), torch.randint(0, 10, (64,))


def cnn():
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(32 * 8 * 8, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10))
    return net, torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,))


class SeqClassifier(torch.nn.Module):
    def __init__(self, n_in, hidden, classes):
        super().__init__()
        self.rnn = torch.nn.LSTM(n_in, hidden, batch_first=True)
        self.out = torch.nn.Linear(hidden, classes)

    def forward(self, x):
        return self.out(self.rnn(x)[0][:, -1])


def lstm():
    # hidden 64, T 60, batch 64, 8 inputs, many-to-one over 10 classes
    return SeqClassifier(8, 64, 10), torch.randn(64, 60, 8), torch.randint(0, 10, (64,))


def one_step(net, opt, x, y, tracer):
    """CPU time of one training step (this process is single-threaded: other processes on a
    shared machine stretch wall time by far more than the few percent being measured)."""
    t0 = time.process_time()
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(net(x), y)
    loss.backward()
    if tracer is not None:
        tracer.step(loss, lr=0.01)
    opt.step()
    return time.process_time() - t0


def bench(name, build, cycles, directory, **trace_kw):
    """Two copies of one model, one traced for the whole run, stepped alternately (a plain
    step and a traced step form a pair, the order alternating). The tracer's cost depends on
    where a step falls in its cycle of update_every recorded steps (a snapshot at the first,
    the update measured at the next, activation gradients every act_every), so the overhead
    is the median pair ratio of each kind of step, weighted by its share of the cycle."""
    torch.manual_seed(0)
    net, x, y = build()
    plain_net = copy.deepcopy(net)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    plain_opt = torch.optim.SGD(plain_net.parameters(), lr=0.01, momentum=0.9)
    tracer = GradTrace(net, os.path.join(directory, "trace.csv"), **trace_kw)
    period = tracer.update_every
    for _ in range(period):  # warm up, and start the measured steps at a cycle's beginning
        one_step(plain_net, plain_opt, x, y, None)
        one_step(net, opt, x, y, tracer)
    # positions in the cycle whose cost differs: the snapshot (0), the update measured (1),
    # activation gradients (multiples of act_every); all others cost alike and are pooled
    act_every = tracer._rec.act_every
    # (with histograms, every hist_every-th step counts them)
    hist_steps = range(0, period, tracer._rec.hist_every) if tracer._rec._hkinds else ()
    special = sorted({0, 1 % period} | set(range(0, period, act_every)) | set(hist_steps))
    ratios = {p: [] for p in special + ["other"]}
    plain, traced = [], []
    for k in range(cycles * period):
        if k % 2 == 0:
            a = one_step(plain_net, plain_opt, x, y, None)
            b = one_step(net, opt, x, y, tracer)
        else:
            b = one_step(net, opt, x, y, tracer)
            a = one_step(plain_net, plain_opt, x, y, None)
        plain.append(a)
        traced.append(b)
        ratios[k % period if k % period in special else "other"].append(b / a)
    tracer.close()
    med = {p: statistics.median(r) - 1 for p, r in ratios.items() if r}
    med.setdefault("other", 0.0)  # every position is special (update_every 1)
    overhead = (sum(med[p] for p in special) + (period - len(special)) * med["other"]) / period
    params = sum(q.numel() for q in net.parameters())
    print(f"{name:4s} {params / 1e6:5.2f}M params  without {statistics.median(plain) * 1e3:7.2f} "
          f"ms/step  with {statistics.median(traced) * 1e3:7.2f} ms/step  overhead "
          f"{100 * overhead:+5.1f}%\n     (snapshot step {100 * med[0]:+.0f}%, update measured "
          f"{100 * med[1 % period]:+.0f}%, activation gradients "
          f"{100 * med.get(act_every, med[0]):+.0f}%, other steps "
          f"{100 * med['other']:+.1f}%; {cycles * period} pairs, update_every {period}, "
          f"act_every {act_every})", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=6,
                    help="measured cycles of update_every steps per model")
    ap.add_argument("--models", default="mlp,cnn,lstm",
                    help="comma list of mlp, cnn, lstm")
    ap.add_argument("--hist", action="store_true",
                    help="also with hist=(grad, act, update), at hist_every 1 and 16, and at "
                    "update_every=1")
    args = ap.parse_args()
    models = args.models.split(",")
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, every step recorded")
    kinds = ("grad", "act", "update")
    with tempfile.TemporaryDirectory() as d:
        for name, build in (("mlp", mlp), ("cnn", cnn)):
            if name not in models:
                continue
            bench(name, build, args.cycles, d)
            if args.hist:
                bench(f"{name} hist", build, args.cycles, d, hist=kinds)
                bench(f"{name} hist hist_every=16", build, args.cycles, d, hist=kinds,
                      hist_every=16)
                bench(f"{name} hist update_every=1", build, 32 * args.cycles, d,
                      hist=kinds, update_every=1)
        if "lstm" in models:
            bench("lstm", lstm, args.cycles, d)
            bench("lstm through_time='output'", lstm, args.cycles, d, through_time="output")
            bench("lstm through_time=True", lstm, args.cycles, d, through_time=True)


if __name__ == "__main__":
    main()
