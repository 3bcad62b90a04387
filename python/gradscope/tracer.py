"""GradTrace: records the per-layer gradient health of a PyTorch model's training into a
gradscope trace (CSV), cheaply enough to leave on, and readable while training runs."""

import math
import os
import shutil
import sys
import time
import warnings
import weakref

import numpy as np
import torch

from gradscope import hist as _hist
from gradscope._meta import format_value
from gradscope.rnn import SATURATION_ABS, is_recurrent, refusal, unrolled_forward

__all__ = ["GradTrace", "COLUMNS", "KINDS", "TIME_COLUMNS"]

COLUMNS = ("step", "layer", "name", "kind", "loss", "lr", "grad_norm", "bias_grad_norm",
           "act_grad_norm", "grad_max_abs", "weight_norm", "update_ratio", "nonfinite",
           "global_grad_norm")
KINDS = ("linear", "conv", "rnn_ih", "rnn_hh", "attention", "norm", "embedding", "other")
# Through-time series (recurrent modules): the columns a series row fills, after every other
# column. out_grad_norm (through_time="output" only) sits before t: it is not the total
# gradient at h_t, and no reader may take it for h_grad_norm.
TIME_COLUMNS = ("t", "h_grad_norm", "c_grad_norm", "h_mean", "h_std", "h_saturation")
OUTPUT_COLUMN = "out_grad_norm"

# Measured with bench/bench_torch_overhead.py (1 thread): the weight snapshot and, a step
# later, the difference to it cost ~8% of the MLP's step each, and the norms of the module
# outputs' gradients ~6% of the CNN's (its activations outnumber its weights 10:1); taking the
# first on every 32nd and the second on every 16th recorded step keeps their shares near 0.5%
# and 0.4%, beside the ~3-4% of the per-step norms.
DEFAULT_UPDATE_EVERY = 32
DEFAULT_ACT_EVERY = 16
# Input statistics are written per feature up to this many features, as summaries always.
_MAX_LISTED_FEATURES = 64


def _is_bias_name(pname):
    return pname == "bias" or pname.startswith("bias_") or pname.endswith("_bias")


def _bias_name(wname):
    """The bias that belongs beside a weight: weight -> bias, weight_ih_l0 -> bias_ih_l0,
    in_proj_weight -> in_proj_bias."""
    if wname == "weight":
        return "bias"
    if wname.startswith("weight_"):
        return "bias_" + wname[len("weight_"):]
    if wname.endswith("_weight"):
        return wname[: -len("_weight")] + "_bias"
    return None


def _row_name(key):
    for suffix in (".weight", "_weight"):
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)]
    return key


def _is_norm(mod):
    nn = torch.nn
    return isinstance(mod, (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm))


def _is_embedding(mod):
    return isinstance(mod, (torch.nn.Embedding, torch.nn.EmbeddingBag))


def _kind(mod, pname):
    nn = torch.nn
    if isinstance(mod, (nn.modules.rnn.RNNBase, nn.modules.rnn.RNNCellBase)):
        if pname.startswith("weight_ih"):
            return "rnn_ih"
        if pname.startswith("weight_hh"):
            return "rnn_hh"
        return "other"  # LSTM's projection weight_hr_l{k}
    if isinstance(mod, nn.MultiheadAttention):
        return "attention"
    if isinstance(mod, (nn.Linear, nn.Bilinear)):
        return "linear"
    if isinstance(mod, nn.modules.conv._ConvNd):
        return "conv"
    if _is_norm(mod):
        return "norm"
    if _is_embedding(mod):
        return "embedding"
    return "other"


class _Row:
    """One traced weight tensor (a trace layer) and what belongs to it."""

    __slots__ = ("param", "bias", "name", "kind", "key", "module", "owners", "layer")

    def __init__(self, param, key, module, pname):
        self.param = param
        self.bias = None
        self.name = _row_name(key)
        self.kind = _kind(module, pname)
        self.key = key
        self.module = module
        self.owners = [key]  # every state_dict key naming this tensor (tied weights)
        self.layer = 0


def _discover(model):
    """Rows (weight tensors, state_dict order), the remaining parameters (counted only in
    the global norm), and every module object once."""
    seen = {}  # id(param) -> _Row, or None for a parameter that is not a row
    rows, rest, modules = [], [], []
    mod_ids = set()
    biases = []  # (module, key, pname, param) resolved once every row is known
    for mpath, mod in model.named_modules(remove_duplicate=False):
        if id(mod) not in mod_ids:
            mod_ids.add(id(mod))
            modules.append((mpath, mod))
        for pname, p in mod._parameters.items():
            if p is None:
                continue
            key = f"{mpath}.{pname}" if mpath else pname
            if id(p) in seen:
                if seen[id(p)] is not None:
                    seen[id(p)].owners.append(key)
                continue
            is_row = not _is_bias_name(pname) and (
                p.dim() >= 2 or (p.dim() == 1 and (_is_norm(mod) or _is_embedding(mod))))
            if is_row:
                row = _Row(p, key, mod, pname)
                rows.append(row)
                seen[id(p)] = row
            else:
                seen[id(p)] = None
                biases.append((mod, pname, p))
    by_weight = {(id(r.module), r.key.rsplit(".", 1)[-1]): r for r in rows}
    for mod, pname, p in biases:
        owner = None
        if _is_bias_name(pname):
            for wname, bname in ((w, _bias_name(w)) for w in mod._parameters):
                if bname == pname:
                    owner = by_weight.get((id(mod), wname))
                    break
        if owner is not None and owner.bias is None:
            owner.bias = p
        else:
            rest.append(p)
    return rows, rest, modules


def _parse_hist(hist):
    """The recorded histogram kinds, in the side file's order, from None/False (none), a comma
    string or an iterable of kind names."""
    if hist is None or hist is False:
        return ()
    names = hist.split(",") if isinstance(hist, str) else list(hist)
    kinds = set()
    for n in names:
        if not isinstance(n, str) or n.strip() not in _hist.KINDS:
            raise ValueError(f"hist: unknown kind {n!r}: expected any of "
                             f"{', '.join(_hist.KINDS)}")
        kinds.add(n.strip())
    return tuple(k for k in _hist.KINDS if k in kinds)


def _fmt(v):
    # 9 significant digits, as the C writer; "nan", "inf", "-inf" for non-finite values
    if v.__class__ is float:
        return "%.9g" % v
    return "" if v is None else str(v)


def _recurrent_meta(mod):
    """The keys gradscope's own recurrent traces carry for the theory, for the one recurrent
    module of a model, from its weights now (the tracer is made before training): `cell`, and
    per layer k `rnn_sigma_max_l{k}` (largest singular value of the whole weight_hh_l{k}) and
    `rnn_spectral_radius_l{k}` (largest |eigenvalue| of the square block that carries the
    state: the candidate g of an LSTM, n of a GRU, all of an RNN's)."""
    cell = {"RNN_TANH": "rnn_tanh", "RNN_RELU": "rnn_relu", "LSTM": "lstm",
            "GRU": "gru"}.get(mod.mode)
    meta = {"cell": cell} if cell else {}
    H = mod.hidden_size
    block = {"LSTM": 2, "GRU": 2}.get(mod.mode, 0)
    if mod.bidirectional or getattr(mod, "proj_size", 0) or cell is None:
        return meta
    with torch.no_grad():
        for k in range(mod.num_layers):
            w = getattr(mod, f"weight_hh_l{k}").detach().double().cpu()
            meta[f"rnn_sigma_max_l{k}"] = float(torch.linalg.matrix_norm(w, 2))
            sq = w[block * H:(block + 1) * H]
            meta[f"rnn_spectral_radius_l{k}"] = float(torch.linalg.eigvals(sq).abs().max())
    return meta


class _Inert:
    """What a copy of a traced model (copy.deepcopy, pickle, torch.save) holds in place of the
    tracer's module hooks: a hook that does nothing, so the copy is not traced and never
    writes into the original's trace."""

    __slots__ = ()

    def __call__(self, *args):
        return None


class _Hook(_Inert):
    """A module hook of the tracer (calls fn); its copies are _Inert."""

    __slots__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args):
        return self.fn(*args)

    def __reduce__(self):  # pickle, and copy.deepcopy too
        return (_Inert, ())


class _OwnForward:
    """A module's own class forward: what a copy of a traced module (copy.deepcopy, pickle,
    torch.save) gets in place of _UnrolledForward, so the copy neither is traced nor runs the
    original's weights."""

    __slots__ = ("mod",)

    def __init__(self, mod):
        self.mod = mod

    def __call__(self, *args, **kwargs):
        return type(self.mod).forward(self.mod, *args, **kwargs)

    def __reduce__(self):
        # pickle and copy.deepcopy rebuild it around the copy of the module (the module being
        # copied is memoized before its state, which holds this object)
        return (_OwnForward, (self.mod,))


class _UnrolledForward(_OwnForward):
    """Instance forward of a traced recurrent module: the first call of a recorded step (with
    gradients enabled) runs unrolled_forward and hands its states to the recorder; every
    other call runs the module's own forward."""

    __slots__ = ("rec",)

    def __init__(self, mod, rec):
        super().__init__(mod)
        self.rec = weakref.ref(rec)  # the model must not keep a finished recorder alive

    def __call__(self, input, hx=None):
        r, mod = self.rec(), self.mod
        if r is not None and r._time_now() and torch.is_grad_enabled() and id(mod) not in r._tt:
            keep = []
            out = unrolled_forward(mod, input, hx, keep)
            r._tt[id(mod)] = keep
            return out
        return type(mod).forward(mod, input, hx)


class _Series:
    """A through-time series: layer k of a recurrent module (k None: the module's output)."""

    __slots__ = ("module", "k", "name", "kind", "layer")

    def __init__(self, module, k, name, kind):
        self.module, self.k, self.name, self.kind = module, k, name, kind
        self.layer = 0


class _Pending:
    """A recorded step whose rows wait for the optimizer's update to be measured."""

    __slots__ = ("rows", "versions", "weight_norms", "hist", "hslot")


_exception_seen = False
_prev_excepthook = None


def _excepthook(tp, value, tb):
    # Remembered so a trace closed at exit says the script died of an exception.
    global _exception_seen
    _exception_seen = True
    (_prev_excepthook or sys.__excepthook__)(tp, value, tb)


class _Recorder:
    """GradTrace's state and work. The hooks and the exit finalizer hold this object, never
    the user's GradTrace, so dropping the GradTrace finishes the file."""

    def __init__(self, model, path, every, update_every, act_every, flush_every, flush_seconds,
                 classes, loss, setup, through_time=False, hist=None, hist_every=1,
                 hist_live_every=None):
        if not isinstance(model, torch.nn.Module):
            raise ValueError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
        for opt, v in (("every", every), ("update_every", update_every),
                       ("act_every", act_every), ("flush_every", flush_every),
                       ("hist_every", hist_every)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{opt} = {v!r}: expected an integer >= 1")
        if not (isinstance(flush_seconds, (int, float)) and flush_seconds > 0):
            raise ValueError(f"flush_seconds = {flush_seconds!r}: expected a number > 0")
        if not (through_time is False or through_time is True or through_time == "output"):
            raise ValueError(f"through_time = {through_time!r}: expected False, True or "
                             "'output'")
        self._hkinds = _parse_hist(hist)
        if hist_live_every is not None and (isinstance(hist_live_every, bool) or not isinstance(
                hist_live_every, int) or hist_live_every < 1):
            raise ValueError(f"hist_live_every = {hist_live_every!r}: expected None or an "
                             "integer >= 1")
        self.hist_live_every = hist_live_every
        if loss is not None and loss not in ("xent", "mse"):
            raise ValueError(f"loss = {loss!r}: expected 'xent' or 'mse'")
        if classes is not None and (isinstance(classes, bool) or not isinstance(classes, int)
                                    or classes < 2):
            raise ValueError(f"classes = {classes!r}: expected an integer >= 2")
        self.path = os.fspath(path)
        # written by absolute path: the script may chdir while it trains
        self._abspath = os.path.abspath(self.path)
        self._pid = os.getpid()
        self.every, self.update_every, self.act_every = every, update_every, act_every
        self.flush_every, self.flush_seconds = flush_every, float(flush_seconds)
        self._extra = {}
        if classes is not None:
            self._extra["classes"] = classes
        if loss is not None:
            self._extra["loss"] = loss
        for k, v in (setup or {}).items():
            k = str(k).strip()
            if not k or "=" in k or "\n" in k:
                raise ValueError(f"setup key {k!r}: must be non-empty without '=' or newline")
            self._extra[k] = v

        self._rows, self._rest, modules = _discover(model)
        if not self._rows:
            raise ValueError("model has no weight tensor (a parameter of 2 or more dimensions, "
                             "or of a norm or embedding module)")
        if through_time is True:  # refused before any hook is placed on the model
            for mpath, mod in modules:
                why = refusal(mod, mpath) if is_recurrent(mod) else None
                if is_recurrent(mod) and "forward" in mod.__dict__:
                    why = (f"{mpath or 'the model'}: its forward is already replaced (by another "
                           "GradTrace through time?); one tracer through time per module")
                if why:
                    raise ValueError(why)
        self._model_name = type(model).__name__
        self._n_params = sum(p.numel() for p in model.parameters())

        # First forward pass: the order modules run in, how often, and the inputs.
        self._run_index = {}
        self._run_count = {}
        self._input = None
        self._order_hooks = [mod.register_forward_pre_hook(_Hook(self._order_hook))
                             for _, mod in modules]
        self._order_hooks.append(model.register_forward_pre_hook(_Hook(self._input_hook)))
        self._parent = {}
        for mpath, mod in modules:
            for cname, child in mod.named_children():
                self._parent.setdefault(id(child), mod)

        # Activation gradients dLoss/d(output) of modules that own exactly one untied row.
        per_module = {}
        for r in self._rows:
            per_module.setdefault(id(r.module), []).append(r)
        self._act = {}
        self._act_hooks = []
        for r in self._rows:
            if (len(per_module[id(r.module)]) == 1 and len(r.owners) == 1
                    and r.kind not in ("rnn_ih", "rnn_hh", "attention")):
                hook = _Hook(self._make_act_hook(r))
                self._act_hooks.append(r.module.register_forward_hook(hook))

        self._step = 0
        self._n_recorded = 0
        self._ordered = False
        self._pending = None
        self._ready = []  # formatted lines waiting for the next flush
        self._ready_steps = 0
        self._header_len = None  # bytes of metadata + header in the file, once written
        self._last_flush = time.monotonic()
        self._snap = None
        self._closed = False
        self._frozen = None  # names of rows without a gradient at the first recorded step
        self._unused = self._reused = []
        self._through_time = through_time
        self._series = []  # _Series, in trace order (layer ids above every weight row)
        self._patched = []  # modules whose forward the tracer replaced (restored at close)
        self._tt = {}  # id(module) -> this recorded step's states or output gradient norms
        if through_time:
            self._setup_series(modules)
        self.hist_every = hist_every
        if self._hkinds:
            self._setup_hist(modules, per_module)

    # ---- hooks -------------------------------------------------------------------------
    def _order_hook(self, module, inputs):
        key = id(module)
        if key not in self._run_index:
            self._run_index[key] = len(self._run_index)
        self._run_count[key] = self._run_count.get(key, 0) + 1

    def _input_hook(self, module, inputs):
        if self._input is not None:
            return
        for x in inputs:
            if torch.is_tensor(x):
                self._input = self._input_stats(x)
                return
        self._input = {}

    @staticmethod
    def _input_stats(x):
        """Per-feature mean and std of the first batch (features: dim 1 of 2-D or image
        inputs, the last dim of 3-D sequence inputs), as device tensors."""
        info = {"input_shape": "x".join(str(s) for s in x.shape), "input_dtype":
                str(x.dtype).replace("torch.", "")}
        if not x.is_floating_point() or x.dim() < 2 or x.numel() == 0:
            return info
        x = x.detach()
        if x.dim() == 3:
            flat = x.reshape(-1, x.shape[-1])
        else:
            flat = x.transpose(0, 1).reshape(x.shape[1], -1).t()
        flat = flat.double()
        info["_mean"] = flat.mean(0)
        info["_std"] = flat.std(0, unbiased=False)
        info["_maxabs"] = flat.abs().max()
        return info

    # ---- histograms (TRACE.hist.npy) ----------------------------------------------------
    def _setup_hist(self, modules, per_module):
        """Counters, and for `act` the hooks: a row module's output waits (_hpend) for an
        activation module that takes it as input; that module's output is the layer's h_l.
        An output no activation module took is histogrammed itself, when the next row module
        has run or at step()."""
        acts = [type(m).__name__.lower() for _, m in modules
                if type(m).__name__.lower() in _hist.ACT_MODULES]
        if self._through_time is True:  # the states of recurrent layers are histogrammed too
            acts += ["relu" if getattr(m, "mode", "") == "RNN_RELU" else "tanh"
                     for _, m in modules if is_recurrent(m)]
        # one range per trace (the side file's hist_act_range): [-1, 1] when every activation
        # module of the model is tanh, sigmoid or softsign (and every recurrent cell traced
        # through time has tanh-bounded states), else [-4, 4]
        self._hrange = 1.0 if acts and all(a in _hist.UNIT_RANGE for a in acts) else 4.0
        self._hcount = _hist.Counter(torch, self._hrange)
        self._hsteps = []  # per recorded step: (layers, 3, NB) float32 array, or None
        self._hside = _hist.side_path(self._abspath)
        self._hside_steps = None  # recorded steps in the side file on disk (None: not yet)
        self._n_emitted = 0
        self._hpend = {}  # id(output) -> (row, output) awaiting an activation module
        self._hact = {}  # id(row) -> [raw counts, linear counts] of this step (device)
        self._hsrc = {}  # id(row) -> what its act histogram is of: an activation or "output"
        if "act" not in self._hkinds:
            return
        for r in self._rows:
            if (len(per_module[id(r.module)]) == 1 and len(r.owners) == 1
                    and r.kind not in ("rnn_ih", "rnn_hh", "attention")):
                hook = _Hook(self._make_hist_row_hook(r))
                self._act_hooks.append(r.module.register_forward_hook(hook))
        seen = set()
        for _, m in modules:
            if type(m).__name__.lower() in _hist.ACT_MODULES and id(m) not in seen:
                seen.add(id(m))
                self._act_hooks.append(m.register_forward_hook(_Hook(self._hist_act_hook)))

    def _hist_now(self):
        """True while a step whose histograms are recorded is under way."""
        return (not self._closed and self._step % self.every == 0
                and self._n_recorded % self.hist_every == 0)

    def _make_hist_row_hook(self, row):
        def forward_hook(module, inputs, output):
            if not (torch.is_tensor(output) and torch.is_grad_enabled() and self._hist_now()):
                return  # evaluation passes (no_grad) are not training steps
            self._hist_resolve()
            self._hpend[id(output)] = (row, output)

        return forward_hook

    def _hist_act_hook(self, module, inputs, output):
        if not self._hpend or not inputs or not torch.is_tensor(output):
            return
        got = self._hpend.pop(id(inputs[0]), None)
        if got is None:
            return
        if got[1] is not inputs[0]:  # cannot happen while got[1] is alive; be safe
            self._hpend[id(got[1])] = got
            return
        self._hist_add_act(got[0], output, type(module).__name__.lower())

    def _hist_resolve(self):
        pend, self._hpend = self._hpend, {}
        for row, t in pend.values():
            self._hist_add_act(row, t, "output")

    def _hist_add_act(self, row, t, src):
        raw, lin = self._hcount.raw(t), self._hcount.lin(t)
        acc = self._hact.get(id(row))
        if acc is None:
            self._hact[id(row)] = [raw, lin]
        else:  # a module run twice in a step (a reused layer, gradient accumulation)
            acc[0] = acc[0] + raw
            acc[1] = acc[1] + lin
        self._hsrc.setdefault(id(row), src)

    def _hist_measure(self, g_list, have, scalars):
        """Queues this step's grad and act counts; returns their slots."""
        self._hist_resolve()
        if "act" in self._hkinds and self._through_time is True:
            self._hist_states()
        out = {}
        if "grad" in self._hkinds and g_list:
            out["grad"] = (have, scalars.add(torch.stack([self._hcount.raw(g) for g in g_list])))
        acts, self._hact = self._hact, {}
        if "act" in self._hkinds and acts:
            idx = [i for i, r in enumerate(self._rows) if id(r) in acts]
            out["act"] = (idx, scalars.add(torch.stack([acts[id(self._rows[i])][0]
                                                         for i in idx])),
                          scalars.add(torch.stack([acts[id(self._rows[i])][1] for i in idx])))
        return out

    def _hist_states(self):
        """act of recurrent weight rows (through_time=True): the layer's hidden states h_t over
        all t and the batch, the same on weight_ih_l{k} and weight_hh_l{k}."""
        for r in self._rows:
            got = self._tt.get(id(r.module)) if r.kind in ("rnn_ih", "rnn_hh") else None
            if not isinstance(got, list):
                continue
            k = r.key.rsplit("_l", 1)[-1]
            if not k.isdigit() or int(k) >= len(got) or not got[int(k)]["h"]:
                continue
            h = torch.stack([t.detach() for t in got[int(k)]["h"]])
            self._hist_add_act(r, h, "state")

    def _hist_finish(self, slots, values):
        """The recorded step's (layers, 3, NB) array from the counts read back."""
        arr = np.full((len(self._rows), len(_hist.KINDS), _hist.NB), np.nan, dtype=np.float32)
        nraw, nlin = _hist._NRAW, _hist._NLINRAW
        if "grad" in slots:
            rows, (lo, _) = slots["grad"]
            for j, i in enumerate(rows):
                arr[i, 0] = _hist.from_raw(values[lo + j * nraw: lo + (j + 1) * nraw])
        if "act" in slots:
            rows, (lo, _), (llo, _) = slots["act"]
            for j, i in enumerate(rows):
                arr[i, 1] = _hist.from_raw(values[lo + j * nraw: lo + (j + 1) * nraw],
                                           values[llo + j * nlin: llo + (j + 1) * nlin])
        return arr

    def _hist_meta(self):
        if not self._hkinds:
            return []
        return [("hist", ",".join(self._hkinds)),
                ("hist_file", os.path.basename(self._hside)),
                ("hist_bins", _hist.NB), ("hist_act_range", self._hrange),
                ("hist_log_edges", "-30:10:0.25"), ("hist_every", self.hist_every)] + (
                    [("hist_act", ",".join(self._hsrc.get(id(r), "") for r in self._rows))]
                    if "act" in self._hkinds else [])

    def _hist_write(self):
        """The side file with the recorded steps whose rows are in the CSV."""
        _hist.write_side(self._hside, self._hsteps[:self._n_emitted], len(self._rows),
                         os.getpid())
        self._hside_steps = self._n_emitted

    def _make_act_hook(self, row):
        def forward_hook(module, inputs, output):
            if not self._recording_now():
                return
            if torch.is_tensor(output) and output.requires_grad:
                output.register_hook(self._make_grad_hook(row))

        return forward_hook

    def _make_grad_hook(self, row):
        def grad_hook(grad):
            # a module run twice (a reused layer) adds its two calls' squared norms
            self._act.setdefault(id(row), []).append(torch.linalg.vector_norm(grad.detach()))

        return grad_hook

    def _setup_series(self, modules):
        """One series per recurrent layer (through_time=True: the unrolled forward keeps the
        states) or per recurrent module (through_time="output": a hook on its output)."""
        for mpath, mod in modules:
            if not is_recurrent(mod):
                continue
            if self._through_time is True:
                for k in range(mod.num_layers):
                    name = f"{mpath}.h_l{k}" if mpath else f"h_l{k}"
                    self._series.append(_Series(mod, k, name, "state"))
                self._patch(mod)
            else:
                name = f"{mpath}.output" if mpath else "output"
                self._series.append(_Series(mod, None, name, "rnn_output"))
                self._act_hooks.append(mod.register_forward_hook(_Hook(self._output_hook)))
        for s, ser in enumerate(self._series):
            ser.layer = len(self._rows) + 1 + s
        rnns = [mod for _, mod in modules if is_recurrent(mod)]
        if len(rnns) == 1:
            for key, v in _recurrent_meta(rnns[0]).items():
                self._extra.setdefault(key, v)  # a key given in setup= wins

    def _patch(self, mod):
        """Replaces mod.forward (an instance attribute, removed at close) by one that runs the
        unrolled forward on recorded steps and the module's own forward otherwise."""
        mod.forward = _UnrolledForward(mod, self)
        self._patched.append(mod)

    def _output_hook(self, module, inputs, output):
        if not self._time_now() or id(module) in self._tt:
            return
        out = output[0] if isinstance(output, tuple) else output
        if not (torch.is_tensor(out) and out.requires_grad):
            return  # a PackedSequence, or no gradient will come
        time_dim = 1 if (out.dim() == 3 and module.batch_first) else 0
        dims = tuple(d for d in range(out.dim()) if d != time_dim)
        slot = {}
        self._tt[id(module)] = slot

        def grad_hook(grad):
            if "out" not in slot:  # a second backward through the same graph: not counted
                slot["out"] = torch.linalg.vector_norm(grad.detach().double(), dim=dims)

        out.register_hook(grad_hook)

    def _time_now(self):
        """True during a recorded step's forward pass (through-time series are recorded on
        every recorded step)."""
        return not self._closed and self._step % self.every == 0

    def _recording_now(self):
        """True when the forward pass under way belongs to a step whose activation gradients are
        measured (recorded, and one of every act_every recorded steps)."""
        return (not self._closed and self._step % self.every == 0
                and self._n_recorded % self.act_every == 0)

    # ---- the training-loop calls ---------------------------------------------------------
    def step(self, loss=None, lr=None):
        """Records this training step (if it is one of every `every`): call after
        loss.backward() and before optimizer.step(). `loss` is a tensor or number; `lr` the
        learning rate used (empty in the trace when None). Measures the previous recorded
        step's update first. One host synchronisation per recorded step."""
        if self._closed:
            raise ValueError(f"{self.path}: step() after close()")
        if not self._ordered:
            self._fix_order()
        record = self._step % self.every == 0
        scalars = _Batch()  # device tensors, read back in one transfer
        pend = self._pending_delta(scalars) if self._pending is not None else None
        cur = self._measure(loss, scalars) if record else None
        values = scalars.read()
        if pend is not None:
            self._finish_pending(pend, values)
        if cur is not None:
            self._finish_current(cur, values, loss, lr)
        self._step += 1
        self._maybe_flush()

    def after_step(self):
        """Optional, after optimizer.step(): measures the update of the last recorded step now
        (otherwise the next step() or close() does), so its rows can be written."""
        if self._pending is not None and not self._closed:
            scalars = _Batch()
            pend = self._pending_delta(scalars)
            self._finish_pending(pend, scalars.read())
            self._maybe_flush()

    # ---- layer order ----------------------------------------------------------------------
    def _fix_order(self):
        """Numbers the rows in the order the first forward pass ran their modules; a
        parameter whose module never ran but that got a gradient was used by an ancestor
        (MultiheadAttention uses out_proj.weight directly) and takes its place; the rest
        come last and are listed as unused."""
        self._ordered = True
        for h in self._order_hooks:
            h.remove()
        self._order_hooks = []
        ran_any = bool(self._run_index)
        big = len(self._run_index) + 1
        keyed = []
        unused = []
        for i, r in enumerate(self._rows):
            idx = self._run_index.get(id(r.module))
            if idx is None and r.param.grad is not None:
                up = self._parent.get(id(r.module))
                while up is not None and id(up) not in self._run_index:
                    up = self._parent.get(id(up))
                idx = self._run_index.get(id(up)) if up is not None else None
            if idx is None and ran_any:
                unused.append(r.name)
                idx = big
            keyed.append(((idx if idx is not None else 0), i, r))
        keyed.sort(key=lambda t: (t[0], t[1]))
        self._rows = [r for _, _, r in keyed]
        for n, r in enumerate(self._rows, 1):
            r.layer = n
        self._unused = unused
        self._reused = [r.name for r in self._rows if self._run_count.get(id(r.module), 0) > 1]

    # ---- measuring ------------------------------------------------------------------------
    def _measure(self, loss, scalars):
        """Queues this step's norms as device tensors into scalars; returns their slots."""
        rows = self._rows
        grads = [r.param.grad for r in rows]
        have = [i for i, g in enumerate(grads) if g is not None]
        g_list = [_dense(grads[i]) for i in have]
        b_have = [i for i, r in enumerate(rows) if r.bias is not None and r.bias.grad is not None]
        b_list = [_dense(rows[i].bias.grad) for i in b_have]
        rest = [_dense(p.grad) for p in self._rest if p.grad is not None]
        cur = {"have": have, "b_have": b_have}
        hist_now = bool(self._hkinds) and self._n_recorded % self.hist_every == 0
        if hist_now:
            cur["hist"] = self._hist_measure(g_list, have, scalars)
        cur["g"] = scalars.add(torch._foreach_norm(g_list) if g_list else [])
        # max |g| from aminmax (a vectorized pass; _foreach_norm with ord=inf is ~10x slower
        # on CPU in torch 1.13)
        cur["gmax"] = scalars.add(_max_abs(g_list) if g_list else [])
        cur["b"] = scalars.add(torch._foreach_norm(b_list) if b_list else [])
        cur["rest"] = scalars.add(torch._foreach_norm(rest) if rest else [])
        acts = {}
        for i, r in enumerate(rows):
            lst = self._act.get(id(r))
            if lst:
                acts[i] = scalars.add(lst)
        self._act = {}
        cur["act"] = acts
        cur["series"] = self._measure_series(scalars)
        if torch.is_tensor(loss):
            cur["loss"] = scalars.add(loss.detach())
        if self._input is not None and "_mean" in self._input:
            inp = self._input
            cur["input"] = (scalars.add(inp.pop("_mean")), scalars.add(inp.pop("_std")),
                            scalars.add(inp.pop("_maxabs")))
        update = self._n_recorded % self.update_every == 0
        self._n_recorded += 1
        if update:
            w = [r.param.detach() for r in rows]
            if self._snap is None:
                self._snap = [t.clone() for t in w]
            else:
                for s, t in zip(self._snap, w):
                    s.copy_(t)
            cur["wn"] = scalars.add(torch._foreach_norm(self._snap))
            cur["versions"] = [r.param._version for r in rows]
            cur["hupd"] = hist_now and "update" in self._hkinds
        return cur

    def _measure_series(self, scalars):
        """Queues, per series that ran this step, its per-t values; returns
        [(series index, T, {column: slot})]."""
        out = []
        tt, self._tt = self._tt, {}
        for s, ser in enumerate(self._series):
            got = tt.get(id(ser.module))
            if got is None:
                continue
            if ser.k is None:  # through_time="output"
                if "out" in got:
                    out.append((s, got["out"].numel(), {OUTPUT_COLUMN: scalars.add(got["out"])}))
                continue
            layer = got[ser.k]
            # (T, batch x hidden) in double; two passes (reductions along the contiguous
            # last dim: ~10x faster than var_mean over dims (1, 2) on CPU in torch 1.13)
            hs = torch.stack([h.detach() for h in layer["h"]]).reshape(len(layer["h"]), -1)
            hs = hs.double()
            mean = hs.mean(1)
            slots = {"h_mean": scalars.add(mean),
                     "h_std": scalars.add((hs - mean[:, None]).square_().mean(1).sqrt_()),
                     "h_saturation": scalars.add(
                         (hs.abs_() > SATURATION_ABS).sum(1, dtype=torch.float64) / hs.shape[1])}
            for col, states in (("h_grad_norm", layer["h"]), ("c_grad_norm", layer["c"])):
                if states is None or all(h.grad is None for h in states):
                    continue  # an RNN/GRU has no cell state; no backward reached the states
                # a state whose gradient is None did not reach the loss: dLoss/dh_t = 0
                g = [h.grad.detach() if h.grad is not None else torch.zeros_like(h)
                     for h in states]
                slots[col] = scalars.add(torch.stack(torch._foreach_norm(g)))
            out.append((s, len(layer["h"]), slots))
        return out

    def _series_rows(self, found, values):
        rows = []
        cols = self._columns()
        width = len(cols)
        at = {c: cols.index(c) for c in cols}
        for s, T, slots in found:
            ser = self._series[s]
            for t in range(T):
                row = [None] * width
                row[0], row[1], row[2], row[3] = self._step, ser.layer, ser.name, ser.kind
                row[at["t"]] = t + 1
                for col, (lo, _) in slots.items():
                    row[at[col]] = values[lo + t]
                rows.append(row)
        return rows

    def _columns(self):
        if not self._series:
            return COLUMNS
        extra = (OUTPUT_COLUMN,) if self._through_time == "output" else ()
        return COLUMNS + extra + TIME_COLUMNS

    def _finish_current(self, cur, values, loss, lr):
        rows = self._rows
        n = len(rows)
        g = [None] * n
        gmax = [None] * n
        b = [None] * n
        for j, i in enumerate(cur["have"]):
            g[i] = values[cur["g"][0] + j]
            gmax[i] = values[cur["gmax"][0] + j]
        for j, i in enumerate(cur["b_have"]):
            b[i] = values[cur["b"][0] + j]
        rest = values[cur["rest"][0]:cur["rest"][1]]
        sq = sum(v * v for v in g if v is not None) + sum(v * v for v in b if v is not None)
        global_norm = math.sqrt(sq + sum(v * v for v in rest)) if cur["have"] or rest else None
        act = [None] * n
        for i, (lo, hi) in cur["act"].items():
            act[i] = math.sqrt(sum(v * v for v in values[lo:hi]))
        if "loss" in cur:
            loss_v = values[cur["loss"][0]]
        elif loss is None:
            loss_v = None
        else:
            loss_v = float(loss)
        lr_v = None if lr is None else float(lr)
        nonfinite = [None] * n
        for i in range(n):
            if g[i] is None and b[i] is None:
                continue
            bad = (g[i] is not None and not math.isfinite(g[i])) or (
                b[i] is not None and not math.isfinite(b[i]))
            # Only a non-finite norm can hide NaN/Inf entries, so only then are they counted
            # (a rare extra pass; the gradients are still those of this step).
            nonfinite[i] = self._count_nonfinite(rows[i]) if bad else 0
        if "input" in cur:
            self._set_input_meta(values, *cur["input"])
        if self._frozen is None:
            self._frozen = [r.name for i, r in enumerate(rows) if g[i] is None]
        data = []
        pad = [None] * (len(self._columns()) - len(COLUMNS))
        for i, r in enumerate(rows):
            data.append([self._step, r.layer, r.name, r.kind, loss_v, lr_v, g[i], b[i], act[i],
                         gmax[i], None, None, nonfinite[i], global_norm] + pad)
        # the through-time rows follow the step's weight rows (the update measured later
        # fills only those)
        data += self._series_rows(cur["series"], values)
        if self._hkinds:
            self._hsteps.append(self._hist_finish(cur["hist"], values) if "hist" in cur
                                else None)
        if "wn" in cur:
            p = _Pending()
            p.rows = data
            p.versions = cur["versions"]
            p.weight_norms = values[cur["wn"][0]:cur["wn"][1]]
            p.hist = len(self._hsteps) - 1 if cur.get("hupd") else None
            p.hslot = None
            self._pending = p
        else:
            self._emit(data)

    @staticmethod
    def _count_nonfinite(row):
        n = 0
        for t in (row.param.grad, row.bias.grad if row.bias is not None else None):
            if t is not None:
                n += int((~torch.isfinite(_dense(t))).sum())
        return n

    def _pending_delta(self, scalars):
        """Queues ||W_after - W_before|| of the pending step (the snapshot is overwritten)."""
        w = [r.param.detach() for r in self._rows]
        torch._foreach_sub_(self._snap, w)
        if self._pending.hist is not None:  # the entries of -dW (before - after)
            self._pending.hslot = scalars.add(
                torch.stack([self._hcount.raw(s) for s in self._snap]))
        return scalars.add(torch._foreach_norm(self._snap))

    def _finish_pending(self, slot, values):
        p, self._pending = self._pending, None
        deltas = values[slot[0]:slot[1]]
        for i, r in enumerate(self._rows):
            row = p.rows[i]
            wn = p.weight_norms[i]
            row[10] = wn
            if row[6] is None:
                continue  # no gradient, no update to judge
            d = deltas[i]
            if d == 0.0 and r.param._version == p.versions[i]:
                continue  # the optimizer has not stepped (yet): not measured
            row[11] = d / wn if wn > 0 else (math.nan if d == 0 else math.inf)
            if p.hslot is not None:
                lo, n = p.hslot[0] + i * _hist._NRAW, _hist._NRAW
                self._hsteps[p.hist][i, 2] = _hist.from_raw(values[lo:lo + n], negate=True)
        self._emit(p.rows)

    def _set_input_meta(self, values, mean, std, maxabs):
        m = values[mean[0]:mean[1]]
        s = values[std[0]:std[1]]
        info = self._input
        info["input_features"] = len(m)
        if s:
            info["input_feature_std_min"] = min(s)
            info["input_feature_std_max"] = max(s)
            info["input_mean_abs_max"] = max(abs(v) for v in m)
        info["input_max_abs"] = values[maxabs[0]]
        if len(m) <= _MAX_LISTED_FEATURES:
            info["input_mean"] = ",".join(_fmt(v) for v in m)
            info["input_std"] = ",".join(_fmt(v) for v in s)

    # ---- writing --------------------------------------------------------------------------
    def _emit(self, data):
        for row in data:
            self._ready.append(",".join(_fmt(v) for v in row) + "\n")
        self._ready_steps += 1
        if self._hkinds:
            self._n_emitted += 1

    def _metadata(self, complete, end=None):
        meta = [("complete", 1 if complete else 0), ("writer", "gradscope.torch"),
                ("torch_version", torch.__version__), ("model", self._model_name),
                ("parameters", self._n_params), ("layers", len(self._rows)),
                ("every", self.every), ("update_every", self.update_every),
                ("act_every", self.act_every)]
        if self._series:
            meta += [("through_time", "output" if self._through_time == "output" else 1),
                     ("series", len(self._series))]
        meta += [("frozen", ",".join(self._frozen or [])),
                 ("unused", ",".join(self._unused)),
                 ("tied", ",".join(f"{r.name}={_row_name(k)}" for r in self._rows
                                   for k in r.owners[1:])),
                 ("reused", ",".join(self._reused))]
        for k, v in (self._input or {}).items():
            if not k.startswith("_"):
                meta.append((k, v))
        meta += self._hist_meta()
        meta += list(self._extra.items())
        if end is not None:
            meta += [("end", end), ("steps", self._step)]
        lines = [f"# {k} = {format_value(v)}\n" for k, v in meta]
        return "".join(lines) + ",".join(self._columns()) + "\n"

    def _maybe_flush(self, force=False):
        if not self._ready:
            return
        now = time.monotonic()
        if not (force or self._header_len is None or self._ready_steps >= self.flush_every
                or now - self._last_flush >= self.flush_seconds):
            return
        chunk = "".join(self._ready).encode()
        if self._header_len is None:
            if self._hkinds:  # a side file left by an earlier run would not match this one
                try:
                    os.unlink(self._hside)
                except FileNotFoundError:
                    pass
            head = self._metadata(complete=False).encode()
            _write_atomic(self._abspath, [head, chunk])
            self._header_len = len(head)
        else:
            # One write() of whole rows: a reader sees the old or a longer complete trace (a
            # half-appended last line has no newline yet, and readers skip such a line).
            fd = os.open(self._abspath, os.O_WRONLY | os.O_APPEND)
            try:
                _write_all(fd, chunk)
            finally:
                os.close(fd)
        self._ready = []
        self._ready_steps = 0
        self._last_flush = now
        if (self._hkinds and self.hist_live_every is not None
                and self._n_emitted - (self._hside_steps or 0) >= self.hist_live_every):
            self._hist_write()

    def _finish(self, end):
        if self._closed:
            return
        try:
            if not self._ordered:
                self._fix_order()
            if self._pending is not None:
                scalars = _Batch()
                pend = self._pending_delta(scalars)
                self._finish_pending(pend, scalars.read())
        finally:
            self._closed = True
            for h in self._act_hooks + self._order_hooks:
                h.remove()
            self._act_hooks = self._order_hooks = []
            self._hpend = {}
            for mod in self._patched:
                if isinstance(mod.__dict__.get("forward"), _UnrolledForward):
                    del mod.__dict__["forward"]
            self._patched = []
            self._tt = {}
        if self._header_len is None and not self._ready:
            return  # never recorded a step: no file
        if self._hkinds:
            # before the CSV: once the finished CSV is seen, its side file is complete
            self._hist_write()
        # The whole file once more, atomically, with the final metadata in front.
        head = self._metadata(complete=True, end=end).encode()
        parts = [head]
        if self._header_len is not None:
            parts.append((self._abspath, self._header_len))  # the rows written so far
        parts.append("".join(self._ready).encode())
        self._ready = []
        _write_atomic(self._abspath, parts)

    def finish_unclosed(self):
        """Called when the GradTrace is dropped or the interpreter exits without close()."""
        if os.getpid() != self._pid:
            return  # a forked child (a DataLoader worker) exiting: the file is the parent's
        try:
            self._finish("exception" if _exception_seen else "not_closed")
        except OSError as e:  # at exit nobody can catch it: say so once, without a traceback
            warnings.warn(f"gradscope: could not finish the trace {self.path}: {e}",
                          RuntimeWarning, stacklevel=1)


class GradTrace:
    """Records per-layer gradient statistics of `model` into the gradscope trace at `path`.

    Call tracer.step(loss, lr=...) once per training step, after loss.backward() and before
    optimizer.step(); close() (or a `with` block) at the end. The file at `path` is a valid
    trace from the first flush on, and is finished at interpreter exit even after an
    uncaught exception.

    every          record every N-th training step (step 0 always).
    update_every   measure weight norms and update ratios ||dW||/||W|| on every N-th
                   recorded step (a weight snapshot before optimizer.step(); default 32).
    act_every      measure act_grad_norm (the gradient of each module's output) on every
                   N-th recorded step (default 16).
    flush_every    append the buffered rows after this many recorded steps ...
    flush_seconds  ... or once this many seconds have passed since the last write.
    classes, loss  optional facts for the diagnosis (number of classes; "xent" or "mse").
    setup          optional dict of further metadata (`# key = value` lines).
    through_time   recurrent modules (nn.RNN, nn.LSTM, nn.GRU) through time, on every recorded
                   step, as series rows (one per time step t = 1..T):
                   True      exact: on recorded steps the module runs unrolled, one step at a
                             time on its own weights (same results to float rounding), keeping
                             every h_t (and LSTM c_t); series `<module>.h_l{k}` (kind state)
                             per layer k with h_grad_norm = ||dLoss/dh_t|| (the total gradient
                             at h_t: from the output at t, from step t+1 and from the layer
                             above), c_grad_norm (LSTM), h_mean, h_std, h_saturation.
                             Bidirectional modules and proj_size are refused (ValueError).
                   "output"  cheap: a hook on the output sequence; series `<module>.output`
                             (kind rnn_output) with out_grad_norm = ||dLoss/d output_t||, the
                             gradient entering from outside at t only (no recurrence, and only
                             the top layer), never written as h_grad_norm.
                   False     (default) no series.
    hist           histograms per layer and recorded step into TRACE.hist.npy beside the CSV
                   (docs/DESIGN.md "Histograms"): any of "grad" (entries of dL/dW), "act"
                   (the layer's output over the batch: the output of the activation module
                   that takes the layer's output, else the layer's output itself; with
                   through_time=True a recurrent layer's states h_t over all t) and
                   "update" (entries of dW, on the steps whose update is measured: every
                   update_every-th recorded step), as a tuple or comma string; None (default):
                   none. Counted on the device, read back with the step's other values.
    hist_every     histograms on every N-th recorded step only (default 1: all); the others
                   hold NaN in the side file.
    hist_live_every  None (default): the side file is written when the trace is finished;
                   N: also rewritten while training runs, at a flush once N recorded steps were
                   added since its last version, with the steps then in the CSV. It lags the
                   growing CSV: load_hist/numpy read it, but the C reader requires equal step
                   counts and refuses the live trace while they differ.

    Raises ValueError for a model without a weight tensor or a bad option (or a recurrent
    module through_time=True cannot unroll), OSError when the
    trace cannot be written (at the first flush).
    """

    def __init__(self, model, path, every=1, update_every=DEFAULT_UPDATE_EVERY,
                 act_every=DEFAULT_ACT_EVERY, flush_every=50, flush_seconds=2.0, classes=None,
                 loss=None, setup=None, through_time=False, hist=None, hist_every=1,
                 hist_live_every=None):
        self._rec = _Recorder(model, path, every, update_every, act_every, flush_every,
                              flush_seconds, classes, loss, setup, through_time, hist,
                              hist_every, hist_live_every)
        global _prev_excepthook
        if _prev_excepthook is None and sys.excepthook is not _excepthook:
            _prev_excepthook = sys.excepthook
            sys.excepthook = _excepthook
        # Runs when this object is collected or, at the latest, at interpreter exit.
        self._finalizer = weakref.finalize(self, _Recorder.finish_unclosed, self._rec)

    @property
    def path(self):
        return self._rec.path

    @property
    def update_every(self):
        return self._rec.update_every

    @property
    def layers(self):
        """[(layer, name, kind)] in trace order (execution order after the first step)."""
        return [(r.layer, r.name, r.kind) for r in self._rec._rows]

    @property
    def series(self):
        """[(layer, name, kind)] of the through-time series (empty unless through_time)."""
        return [(s.layer, s.name, s.kind) for s in self._rec._series]

    def step(self, loss=None, lr=None):
        """Records this training step (if it is one of every `every`): call after
        loss.backward() and before optimizer.step(). `loss` is a tensor or number, `lr` the
        learning rate used (an empty cell when None). Also measures the previous recorded
        step's update. One host synchronisation per recorded step. Raises ValueError after
        close()."""
        self._rec.step(loss, lr)

    def after_step(self):
        """Optional, right after optimizer.step(): measures the last recorded step's update now
        (otherwise the next step() or close() does, which is the same unless something else
        changes the weights in between)."""
        self._rec.after_step()

    def close(self):
        """Measures the last update, writes the remaining rows and rewrites the file once,
        atomically, with `complete = 1`. Idempotent. Raises OSError when writing fails."""
        self._finalizer.detach()
        self._rec._finish("close")

    def __enter__(self):
        return self

    def __exit__(self, tp, value, tb):
        self._finalizer.detach()
        self._rec._finish("close" if tp is None else "exception")
        return False


def _dense(grad):
    """The gradient's stored values: a sparse gradient (Embedding(sparse=True)) has the same
    norm and largest entry as its coalesced values."""
    grad = grad.detach()
    return grad.coalesce().values() if grad.is_sparse else grad


def _max_abs(tensors):
    """Largest |entry| of each tensor as one 1-D tensor (NaN when the tensor holds one)."""
    lo, hi = zip(*(torch.aminmax(t) for t in tensors))
    return torch.maximum(torch.stack(hi), torch.stack(lo).neg())


class _Batch:
    """Device tensors queued for one device-to-host transfer (the one sync of a step)."""

    __slots__ = ("parts", "n")

    def __init__(self):
        self.parts = []
        self.n = 0

    def add(self, tensors):
        """Queues a list of 0-d tensors (or one tensor of any shape); returns the (start, end)
        slot of its values in read()'s list."""
        if isinstance(tensors, (list, tuple)):
            if not tensors:
                return self.n, self.n
            t = torch.stack(tensors)
        else:
            t = tensors.reshape(-1)
        lo = self.n
        self.parts.append(t)
        self.n += t.numel()
        return lo, self.n

    def read(self):
        if not self.parts:
            return []
        dev = self.parts[0].device
        flat = torch.cat([t.to(device=dev, dtype=torch.float64) for t in self.parts])
        return flat.tolist()


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _write_atomic(path, parts):
    """Writes parts (bytes, or (file, offset): that file's bytes from offset on, streamed) to
    a temporary file beside path and renames it over path; the temporary file is removed when
    anything fails."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            for p in parts:
                if isinstance(p, tuple):
                    with open(p[0], "rb") as src:
                        src.seek(p[1])
                        shutil.copyfileobj(src, f, 1 << 20)
                else:
                    f.write(p)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
