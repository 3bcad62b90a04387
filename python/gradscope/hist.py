"""Per-tensor histograms of the gradscope trace side file (TRACE.hist.npy), computed on the
tensor's device, and the side file itself.

Layout of one histogram (NB = 228 counts, docs/DESIGN.md "Histograms"):
  [0] exact zeros, [1] NaN, [2] +Inf, [3] -Inf,
  [4 + j], j = 0..159: 10^(-30 + j/4) <= |x| < 10^(-30 + (j+1)/4) (nonzero |x| below 1e-30,
          denormals included, in j = 0; finite |x| >= 1e10 in j = 159),
  [164 + k], k = 0..63: activations only, -A + k*(2A/64) <= x < -A + (k+1)*(2A/64), values
          outside [-A, A] in the end bins, NaN/Inf not counted.

Edge rounding: the edges are compared exactly, as real numbers, with the tensor's values
(float32, or float64 for double tensors; half types are widened to float32 first, which is
exact). A float32 x is in log bin j iff x >= ceil32(10^(-30 + j/4)), ceil32 the smallest
float32 not below the real edge. No log10 is evaluated: the bin of each entry comes from its
bit pattern (sign, exponent and the top 4 mantissa bits select a block of 2^19 consecutive
float32 values; a table gives the block's bin and the bit pattern of the one edge the block may
contain), then one bincount per tensor. The linear bin is floor(x * 32/A) + 32, exact because
32/A is a power of two for A = 1 and 4.
"""

import math
import os
from decimal import Context, Decimal

import numpy as np

NB = 228
ZERO, NAN, PINF, NINF, LOG0, NLOG, LIN0, NLIN = 0, 1, 2, 3, 4, 160, 164, 64
LOG_LO, LOG_STEP = -30.0, 0.25
KINDS = ("grad", "act", "update")
# activation modules (lowercased class names) whose output lies in [-1, 1]
UNIT_RANGE = ("tanh", "sigmoid", "softsign")
ACT_MODULES = ("relu", "relu6", "leakyrelu", "prelu", "rrelu", "elu", "celu", "selu", "gelu",
               "silu", "mish", "softplus", "hardswish", "hardsigmoid", "hardtanh", "tanh",
               "sigmoid", "softsign", "tanhshrink", "softshrink", "hardshrink", "logsigmoid")

# raw bincount layout (device side): 0 zero, 1..160 log bins, 161 +Inf, 162 NaN (sign bit
# clear), 163 -Inf, 164 NaN (sign bit set)
_NRAW = 165
_NLINRAW = NLIN


def exact_edge(j):
    """10^(-30 + j/4) as a 60-digit Decimal."""
    ctx = Context(prec=60)
    return ctx.power(Decimal(10), Decimal(j - 120) / Decimal(4))


def _ceil_float(edge, dtype):
    """Smallest value of dtype (np.float32 / np.float64) not below the Decimal edge."""
    f = dtype(float(edge))
    while Decimal(float(f)) < edge:
        f = np.nextafter(f, dtype(np.inf))
    while Decimal(float(np.nextafter(f, dtype(-np.inf)))) >= edge:
        f = np.nextafter(f, dtype(-np.inf))
    return f


def log_edges(dtype=np.float32):
    """The 161 edges 10^(-30 + j/4), j = 0..160, each rounded up to dtype: the exact float
    thresholds of the log bins."""
    return np.array([_ceil_float(exact_edge(j), dtype) for j in range(NLOG + 1)], dtype=dtype)


def lin_edges(A):
    """The 65 edges of the linear bins over [-A, A]."""
    return np.array([-A + k * (2.0 * A / NLIN) for k in range(NLIN + 1)])


# Mantissa bits that, with sign and exponent, select a block of consecutive floats: a block
# spans at most a factor 1 + 2^-4 of magnitudes, far less than a bin (10^0.25 = 1.78), so it
# holds at most one edge. The float32 tables have 2^13 entries (32 KB each): they stay in the
# L1 cache, which with 2^19 entries (10 mantissa bits) cost 3x the time on real gradients.
_MANT_BITS = 4


def _tables(width):
    """(tbl, thr) over the blocks of `width`-bit floats (sign, exponent and the top
    _MANT_BITS mantissa bits; 2^13 blocks for float32, 2^16 for float64): tbl[h] = raw index
    of the block's first value, thr[h] = the largest signed bit pattern with that index when
    the block holds the next index too (its one edge), else the largest integer (so index =
    tbl[h] + (bits > thr[h]))."""
    itype, utype, ftype, mant = ((np.int32, np.uint32, np.float32, 23) if width == 32
                                 else (np.int64, np.uint64, np.float64, 52))
    shift = mant - _MANT_BITS
    inf_bits = ((1 << (width - 1 - mant)) - 1) << mant
    edges = log_edges(ftype)[1:NLOG].view(utype).astype(np.uint64)  # E_1 .. E_159

    def raw(m):  # raw index of magnitudes m (uint64), sign aside
        r = 1 + np.searchsorted(edges, m, side="right")
        r[m == 0] = 0
        r[m == inf_bits] = 161
        r[m > inf_bits] = 162
        return r

    lo = np.arange(1 << (width - 1 - shift), dtype=np.uint64) << np.uint64(shift)
    hi = lo + np.uint64((1 << shift) - 1)
    r0, r1 = raw(lo), raw(hi)
    assert np.all((r1 == r0) | (r1 == r0 + 1))
    # the first magnitude of the block with the next index: the edge inside it, or the first
    # denormal after zero, or the first NaN after Inf
    cut = edges[np.minimum(np.searchsorted(edges, lo, side="right"), len(edges) - 1)]
    cut = np.where(lo == 0, np.uint64(1), cut)
    cut = np.where(lo == inf_bits, np.uint64(inf_bits + 1), cut)
    change = r1 != r0
    assert np.all(~change | ((cut > lo) & (cut <= hi)))
    big = np.iinfo(itype).max
    sign = 1 << (width - 1)
    pos_thr = np.where(change, cut.astype(object) - 1, big)
    neg_thr = np.where(change, (cut.astype(object) | sign) - (1 << width) - 1, big)
    neg_r0 = np.where(r0 >= 161, r0 + 2, r0)
    tbl = np.concatenate([r0, neg_r0]).astype(np.int32)
    thr = np.concatenate([pos_thr, neg_thr]).astype(itype)
    return tbl, thr


_TABLES = {}  # (width, device) -> (tbl, thr) torch tensors


def _device_tables(torch, width, device):
    key = (width, str(device))
    t = _TABLES.get(key)
    if t is None:
        host = _TABLES.get((width, "numpy"))
        if host is None:
            host = _TABLES[(width, "numpy")] = _tables(width)
        t = _TABLES[key] = tuple(torch.from_numpy(a).to(device) for a in host)
    return t


class Counter:
    """Histograms of torch tensors as device tensors of raw counts (no host transfer)."""

    def __init__(self, torch, act_range):
        self.torch = torch
        self.A = float(act_range)
        self.scale = 32.0 / self.A
        assert self.scale == 2.0 ** round(math.log2(self.scale)), act_range

    def raw(self, x):
        """Counts (int64, 165) of zeros, log bins, +Inf, -Inf, NaN of the entries of x."""
        torch = self.torch
        x = x.detach()
        if x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()
        # in-place steps: half the time of the same ops allocating (torch 1.13, CPU)
        if x.dtype == torch.float64:
            b = x.reshape(-1).view(torch.int64)
            tbl, thr = _device_tables(torch, 64, x.device)
            h = b >> (52 - _MANT_BITS)
            h.bitwise_and_((1 << (12 + _MANT_BITS)) - 1)
        else:
            b = x.reshape(-1).view(torch.int32)
            tbl, thr = _device_tables(torch, 32, x.device)
            h = b >> (23 - _MANT_BITS)
            h.bitwise_and_((1 << (9 + _MANT_BITS)) - 1)
        i = tbl.index_select(0, h)
        s = thr.index_select(0, h)
        torch.gt(b, s, out=s)
        i.add_(s if s.dtype == i.dtype else s.to(i.dtype))
        return torch.bincount(i, minlength=_NRAW)

    def lin(self, x):
        """Counts (int64, 64) of the signed linear bins over [-A, A] of the entries of x with
        NaN in bin 32, +Inf in bin 63 and -Inf in bin 0: from_raw takes them out again (four
        passes fewer than masking them here)."""
        torch = self.torch
        x = x.detach().reshape(-1)
        if x.dtype not in (torch.float32, torch.float64):
            x = x.float()
        # floor before adding 32: x * 32/A is exact, x * 32/A + 32 would round (-1e-9 + 32)
        k = (x * self.scale).nan_to_num_(0.0).floor_().clamp_(-32, 31).add_(32)
        return torch.bincount(k.to(torch.int32), minlength=NLIN)


def from_raw(raw, lin=None, negate=False):
    """The NB counts (float32) from raw counts (165) and Counter.lin's counts (64) or None;
    negate swaps +Inf and -Inf (the tensor held -x)."""
    out = np.zeros(NB, dtype=np.float32)
    out[ZERO] = raw[0]
    out[NAN] = raw[162] + raw[164]
    out[PINF], out[NINF] = (raw[163], raw[161]) if negate else (raw[161], raw[163])
    out[LOG0:LOG0 + NLOG] = raw[1:161]
    if lin is not None:
        out[LIN0:LIN0 + NLIN] = lin[:NLIN]
        out[LIN0 + NLIN // 2] -= out[NAN]  # see Counter.lin
        out[LIN0 + NLIN - 1] -= out[PINF]
        out[LIN0] -= out[NINF]
    return out


def side_path(csv_path):
    """run.csv -> run.hist.npy; any other name gets .hist.npy appended (as the C writer)."""
    root = csv_path[:-4] if csv_path.endswith(".csv") else csv_path
    return root + ".hist.npy"


def write_side(path, steps, layers, tmp_suffix):
    """Writes the (S, layers, 3, NB) float32 array of `steps` (per recorded step an array
    (layers, 3, NB), or None: nothing recorded, all NaN) as .npy to a temporary file beside
    path and renames it over path."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{tmp_suffix}.tmp")
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype("<f4")), "fortran_order": False,
              "shape": (len(steps), layers, len(KINDS), NB)}
    empty = np.full((layers, len(KINDS), NB), np.nan, dtype="<f4").tobytes()
    try:
        with open(tmp, "wb") as f:
            np.lib.format.write_array_header_1_0(f, header)
            for s in steps:
                f.write(empty if s is None else np.ascontiguousarray(s, dtype="<f4").tobytes())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
