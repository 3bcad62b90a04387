"""Write a gradscope trace (CSV) from any PyTorch model's training loop.

Usage (three lines in your loop):

    from torch_trace import GradTrace
    tracer = GradTrace(model, "trace.csv", setup={"opt": "adam", "lr": 1e-3})
    ...
    loss.backward()
    tracer.step(loss, lr=optimizer.param_groups[0]["lr"])   # after backward, before optimizer.step()
    optimizer.step()
    ...
    tracer.close()

then `gradscope plot trace.csv -o report.png` or `gradscope diagnose trace.csv`.

Layers are the model's modules that own a `weight` of two or more dimensions (nn.Linear,
nn.Conv*, ...), numbered 1..L in registration order (input side first, as gradscope does).
Columns follow gradscope's trace schema: step, layer, loss, lr, grad_norm, bias_grad_norm,
act_grad_norm (norm of dLoss/d(module output) over the batch), grad_max_abs, weight_norm,
update_ratio (||W_after - W_before|| / ||W_before||, known once the optimizer has stepped, so
each step's rows are written at the next call), nonfinite. Norms are accumulated in float64.
"""

import csv
import math
import os
import tempfile

import torch


class GradTrace:
    """Records per-layer gradient statistics of `model` into a gradscope trace CSV."""

    COLUMNS = ["step", "layer", "loss", "lr", "grad_norm", "bias_grad_norm", "act_grad_norm",
               "grad_max_abs", "weight_norm", "update_ratio", "nonfinite"]

    def __init__(self, model, path, setup=None, record_every=1):
        self.path = path
        self.record_every = max(1, int(record_every))
        self.layers = [m for m in model.modules()
                       if isinstance(getattr(m, "weight", None), torch.nn.Parameter)
                       and m.weight.dim() >= 2]
        if not self.layers:
            raise ValueError("model has no module with a 2-D (or larger) weight")
        self._act_sq = [0.0] * len(self.layers)
        self._hooks = [m.register_forward_hook(self._forward_hook(i))
                       for i, m in enumerate(self.layers)]
        directory = os.path.dirname(os.path.abspath(path))
        fd, self._tmp = tempfile.mkstemp(prefix=".trace.", suffix=".tmp", dir=directory)
        self._file = os.fdopen(fd, "w", newline="")
        self._file.write("# tool = torch_trace.py\n")
        for key, value in (setup or {}).items():
            self._file.write(f"# {key} = {value}\n")
        self._file.write(f"# depth = {len(self.layers) - 1}\n")
        self._writer = csv.writer(self._file)
        self._writer.writerow(self.COLUMNS)
        self._step = 0
        self._pending = None  # (rows, weights before the update)

    def _forward_hook(self, index):
        def hook(module, inputs, output):
            if torch.is_tensor(output) and output.requires_grad:
                def grad_hook(grad):
                    self._act_sq[index] += float(grad.detach().double().pow(2).sum())
                output.register_hook(grad_hook)
        return hook

    @staticmethod
    def _num(x):
        return "nan" if math.isnan(x) else ("inf" if x == math.inf else
                                            ("-inf" if x == -math.inf else repr(float(x))))

    def _flush_pending(self):
        if self._pending is None:
            return
        rows, before = self._pending
        for row, module, w0 in zip(rows, self.layers, before):
            w0n = float(w0.double().norm())
            dw = float((module.weight.detach().double() - w0.double()).norm())
            row[9] = dw / w0n if w0n > 0 else math.nan
            self._writer.writerow([self._num(v) if isinstance(v, float) else v for v in row])
        self._pending = None

    def step(self, loss, lr=math.nan):
        """Call once per training step, after loss.backward() and before optimizer.step()."""
        self._flush_pending()
        record = self._step % self.record_every == 0
        if record:
            loss_value = float(loss.detach()) if torch.is_tensor(loss) else float(loss)
            rows, before = [], []
            for i, m in enumerate(self.layers):
                g = m.weight.grad
                gd = g.detach().double() if g is not None else None
                b = getattr(m, "bias", None)
                bg = b.grad.detach().double() if b is not None and b.grad is not None else None
                nonfinite = 0
                if gd is not None:
                    nonfinite += int((~torch.isfinite(gd)).sum())
                if bg is not None:
                    nonfinite += int((~torch.isfinite(bg)).sum())
                rows.append([
                    self._step, i + 1, loss_value, float(lr),
                    float(gd.norm()) if gd is not None else math.nan,
                    float(bg.norm()) if bg is not None else math.nan,
                    math.sqrt(self._act_sq[i]) if self._act_sq[i] > 0 else math.nan,
                    float(gd.abs().max()) if gd is not None else math.nan,
                    float(m.weight.detach().double().norm()),
                    math.nan, nonfinite])
                before.append(m.weight.detach().clone())
            self._pending = (rows, before)
        self._act_sq = [0.0] * len(self.layers)
        self._step += 1

    def close(self):
        """Writes the last step and moves the finished file into place."""
        self._flush_pending()
        for h in self._hooks:
            h.remove()
        self._file.close()
        os.replace(self._tmp, self.path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
