"""Recurrent modules through time: nn.RNN / nn.LSTM / nn.GRU run step by step on the module's
own parameters, keeping every hidden state h_t (and LSTM cell state c_t) so that the total
gradient reaching each of them, dLoss/dh_t, can be read after backward()."""

import math

import torch
from torch import _VF

__all__ = ["unrolled_forward", "is_recurrent", "refusal", "SATURATION_ABS"]

# |h| > sqrt(0.95) <=> 1 - h^2 < 0.05: tanh's derivative below 5% of its largest value, the
# same 5% rule as the C engine's saturation column.
SATURATION_ABS = math.sqrt(0.95)


def is_recurrent(mod):
    """True for the modules the tracer follows through time: nn.RNN, nn.LSTM, nn.GRU (and
    subclasses), not the single-step cells."""
    return isinstance(mod, (torch.nn.RNN, torch.nn.LSTM, torch.nn.GRU))


def refusal(mod, path):
    """Why `mod` cannot be unrolled (a message naming the module and the setting), or None."""
    where = path or "the model"
    if mod.bidirectional:
        return (f"{where}: bidirectional = True is not supported through time (each direction "
                "would need its own series); trace it with through_time=False, which records "
                "||dLoss/d output_t|| only")
    if getattr(mod, "proj_size", 0):
        return f"{where}: proj_size = {mod.proj_size} is not supported through time"
    if mod.mode not in ("RNN_TANH", "RNN_RELU", "LSTM", "GRU"):
        return f"{where}: mode {mod.mode!r} is not supported through time"
    return None


def _check_hx(name, hx, shape):
    if tuple(hx.shape) != shape:
        raise RuntimeError(f"expected {name} of shape {shape}, got {tuple(hx.shape)}")


def unrolled_forward(mod, input, hx=None, keep=None):
    """Runs the recurrent module `mod` as its forward() would (same arguments, same return
    value, results equal to float rounding) but one time step at a time with mod's own
    weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}, layer by layer as PyTorch does
    (dropout between layers applies to a whole layer's output sequence, with masks of its own).

    keep: None, or a list that receives, per layer k, a dict {"h": [h_1..h_T], "c": [c_1..c_T]
    or None}; each kept state is a (batch, hidden) tensor of the graph (retain_grad() is called
    on it when it requires a gradient), so after backward its .grad is the total dLoss/dh_t:
    from the layer above (or the output) at t, from step t+1, and from h_n.

    Raises RuntimeError for a PackedSequence input or shapes the module would refuse, and
    ValueError for a module refusal() names."""
    why = refusal(mod, type(mod).__name__)
    if why:
        raise ValueError(why)
    if isinstance(input, torch.nn.utils.rnn.PackedSequence):
        raise RuntimeError("through_time: a PackedSequence input is not supported (pad it, or "
                           "trace with through_time=False)")
    lstm = mod.mode == "LSTM"
    H, L = mod.hidden_size, mod.num_layers
    if input.dim() not in (2, 3):
        raise RuntimeError(f"{mod.mode}: expected a 2-D or 3-D input, got {input.dim()}-D")
    batched = input.dim() == 3
    x = input if batched else input.unsqueeze(1)  # unbatched: (T, D) -> (T, 1, D)
    if batched and mod.batch_first:
        x = x.transpose(0, 1)
    T, B = x.shape[0], x.shape[1]
    if x.shape[2] != mod.input_size:
        raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected "
                           f"{mod.input_size}, got {x.shape[2]}")
    if hx is None:
        zeros = x.new_zeros(L, B, H)
        h0, c0 = zeros, (zeros if lstm else None)
    else:
        h0, c0 = (hx if lstm else (hx, None))
        if not batched:
            h0 = h0.unsqueeze(1)
            c0 = c0.unsqueeze(1) if c0 is not None else None
        _check_hx("hx[0]" if lstm else "hx", h0, (L, B, H))
        if lstm:
            _check_hx("hx[1]", c0, (L, B, H))
    h_n, c_n = [], []
    seq = x
    cell = {"RNN_TANH": _VF.rnn_tanh_cell, "RNN_RELU": _VF.rnn_relu_cell,
            "GRU": _VF.gru_cell}.get(mod.mode)
    for k in range(L):
        w_ih = getattr(mod, f"weight_ih_l{k}")
        w_hh = getattr(mod, f"weight_hh_l{k}")
        b_ih = getattr(mod, f"bias_ih_l{k}") if mod.bias else None
        b_hh = getattr(mod, f"bias_hh_l{k}") if mod.bias else None
        h, c = h0[k], (c0[k] if lstm else None)
        hs, cs = [], ([] if lstm else None)
        # the cell functions nn.RNNCell / LSTMCell / GRUCell call: the same formulas (LSTM
        # gates i, f, g, o; GRU r, z, n) and kernels as the module's own cell step
        for t in range(T):
            if lstm:
                h, c = _VF.lstm_cell(seq[t], (h, c), w_ih, w_hh, b_ih, b_hh)
                cs.append(c)
            else:
                h = cell(seq[t], h, w_ih, w_hh, b_ih, b_hh)
            hs.append(h)
        if keep is not None:
            for s in hs + (cs or []):
                if s.requires_grad:
                    s.retain_grad()
            keep.append({"h": hs, "c": cs})
        h_n.append(h)
        if lstm:
            c_n.append(c)
        seq = torch.stack(hs)
        if mod.dropout and mod.training and k < L - 1:
            seq = torch.nn.functional.dropout(seq, mod.dropout, True)
    out = seq
    h_n = torch.stack(h_n)
    c_n = torch.stack(c_n) if lstm else None
    if batched and mod.batch_first:
        out = out.transpose(0, 1)
    if not batched:
        out, h_n = out.squeeze(1), h_n.squeeze(1)
        c_n = c_n.squeeze(1) if lstm else None
    return (out, (h_n, c_n)) if lstm else (out, h_n)
